"""Constructor arguments + environment -> validated settings.

Everything a user can get wrong is checked here, at construction, with a
message that names the fix. Nothing here touches the network.
"""

from __future__ import annotations

import difflib
import inspect
import ipaddress
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from functools import lru_cache
from typing import Any, Optional
from urllib.parse import urlparse

from .policy import DEFAULT_DEFER_MAX_BYTES, CapturePolicy, check_sampling, resolve_capture
from .redaction import Redactor, build_redactor
from .spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_MAX_BYTES
from .spool import default_spool_dir

DEFAULT_BASE_URL = "https://api.roark.ai"
#: Stereo chunk size Roark expects ("about 256 KiB").
DEFAULT_CHUNK_BYTES = 256 * 1024
#: Upper bound on the time finalization may take once the call has ended.
DEFAULT_FINALIZE_TIMEOUT_SECS = 10.0
#: Words that turn something off, in arguments and environment variables alike.
_FALSY = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Settings:
    agent_id: str
    api_key: Optional[str]
    base_url: str
    agent_name: Optional[str] = None
    agent_prompt: Optional[str] = None
    integration_id: Optional[str] = None
    is_test: bool = False
    metadata: Optional[dict[str, Any]] = None
    capture_audio: bool = True
    sample_rate: Optional[int] = None
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    max_uploads_in_flight: int = 4
    finalize_timeout_secs: float = DEFAULT_FINALIZE_TIMEOUT_SECS
    request_timeout_secs: float = 5.0
    #: Where undeliverable events and chunks wait for replay; None: no spool.
    spool_dir: Optional[Path] = None
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    #: False when the kill switch is set or no key is available for a
    #: remote Roark: the observer then does nothing at all.
    enabled: bool = True
    disabled_reason: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: ``redact=``: applied to everything carrying words or tool data before it
    #: leaves the process (None: off).
    redactor: Optional[Redactor] = field(default=None, repr=False)
    #: What leaves the process (policy.py); ``capture_audio`` above always
    #: equals ``capture.audio``.
    capture: CapturePolicy = field(default_factory=CapturePolicy)
    #: Fraction of calls shipped (by call id; test calls always).
    sampling: float = 1.0
    #: ``defer_audio=True``: hold the recording in memory until allow_audio().
    defer_audio: bool = False
    defer_audio_max_bytes: int = DEFAULT_DEFER_MAX_BYTES
    #: ``capture_logs``: the lowest level collected (loguru level name).
    log_level: str = "WARNING"

    def __repr__(self) -> str:  # never print the key
        return f"Settings(agent_id={self.agent_id!r}, base_url={self.base_url!r}, enabled={self.enabled})"


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_value(env: Mapping[str, str], name: str) -> Optional[str]:
    """An environment variable, stripped; empty or blank means unset.

    A ``.env`` copied from ``.env.example`` has ``NAME=`` lines: they must
    behave as if the line were absent, not as an empty key or URL.
    """
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


@lru_cache(maxsize=None)
def init_argument_names(cls: type) -> frozenset[str]:
    """Every keyword argument some ``__init__`` in ``cls``'s MRO declares.

    For RoarkObserver that is its own arguments plus what Pipecat's
    ``BaseObserver`` / ``BaseObject`` take (``name``, ``observe_every_push``
    on 1.12+, ``task_manager`` on 1.x), whichever Pipecat is installed.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # pragma: no cover - C-level __init__
            continue
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return frozenset(names)


#: Pipecat observer arguments accepted whatever Pipecat is installed:
#: ``observe_every_push`` arrived in 1.12, and older versions' ``BaseObject``
#: swallows it harmlessly, so code written for 1.12+ still constructs there.
PIPECAT_OBSERVER_ARGUMENTS = frozenset({"name", "observe_every_push"})


def observer_argument_names(cls: type) -> frozenset[str]:
    """What ``cls(**kwargs)`` accepts: its MRO's arguments plus Pipecat's observer ones."""
    return init_argument_names(cls) | PIPECAT_OBSERVER_ARGUMENTS


def check_unknown_kwargs(kwargs: Mapping[str, Any], known_names: Iterable[str], owner: str = "RoarkObserver") -> None:
    """Raise TypeError naming every argument not in ``known_names``.

    Pipecat's ``BaseObject`` swallows unknown keyword arguments, so without
    this a typo such as ``api_kye=`` would be accepted silently and the real
    argument left at its default. Each unknown name gets the closest known
    one as a suggestion.
    """
    known = sorted(set(known_names))
    unknown = [name for name in kwargs if name not in known]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        parts.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    noun = "an unexpected keyword argument" if len(unknown) == 1 else "unexpected keyword arguments"
    raise TypeError(f"{owner} got {noun}: {', '.join(parts)}. Valid arguments: {', '.join(known)}")


def _opt_str(name: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"RoarkObserver: {name} must be a string, got {type(value).__name__}")
    return value


def _check_base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(
            f"RoarkObserver: base_url {url!r} is not an http(s) URL; "
            f"leave it unset for Roark ({DEFAULT_BASE_URL}) or use e.g. http://127.0.0.1:8790"
        )
    if parsed.scheme != "https" and not is_loopback_url(url):
        raise ValueError(
            f"RoarkObserver: base_url {url!r} must use https unless it points at this machine "
            "(127.0.0.1 / localhost); the API key would otherwise travel in clear text"
        )
    return url.rstrip("/")


def _check_metadata(metadata: Any) -> Optional[dict[str, Any]]:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"RoarkObserver: metadata must be a dict of JSON values, got {type(metadata).__name__}"
        )
    try:
        # Round-trip so later mutation of the caller's dict cannot change
        # what is sent, and so NaN/sets/objects fail here, not mid-call.
        return json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"RoarkObserver: metadata must be JSON-serializable (str, numbers, bools, None, lists, dicts): {e}"
        ) from None


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def call_id_from_runner_args(runner_args: Any) -> Optional[str]:
    """SmallWebRTC's peer connection id, else the Pipecat Cloud session id."""
    pc_id = _get(_get(runner_args, "webrtc_connection"), "pc_id")
    if isinstance(pc_id, str) and pc_id:
        return pc_id
    session_id = _get(runner_args, "session_id")
    if session_id:
        return str(session_id)
    return None


def resolve_call_id(pipecat_call_id: Optional[str], runner_args: Any) -> str:
    if pipecat_call_id is not None:
        if not isinstance(pipecat_call_id, str) or not pipecat_call_id.strip():
            raise ValueError("RoarkObserver: pipecat_call_id must be a non-empty string")
        return pipecat_call_id
    return call_id_from_runner_args(runner_args) or str(uuid.uuid4())


def resolve_spool_dir(spool_dir: Any, env: Mapping[str, str]) -> Optional[Path]:
    """None: the default (``ROARK_SPOOL_DIR`` or a per-user directory); False: no spool.

    The words that turn the spool off in ``ROARK_SPOOL_DIR`` (``off``,
    ``false``, ``no``, ``0``, any case) turn it off as ``spool_dir=`` too,
    rather than naming a directory called ``off``.
    """
    if spool_dir is False:
        return None
    if spool_dir is None or spool_dir is True:
        if (env_value(env, "ROARK_SPOOL_DIR") or "").lower() in _FALSY:
            return None
        return default_spool_dir(env)
    if isinstance(spool_dir, str) and spool_dir.strip().lower() in _FALSY:
        return None
    if isinstance(spool_dir, (str, os.PathLike)) and str(spool_dir).strip():
        return Path(spool_dir).expanduser()
    raise TypeError(
        f"RoarkObserver: spool_dir must be a directory path, or False to turn the disk spool off (got {spool_dir!r})"
    )


def _check_spool_max_bytes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024 * 1024:
        raise ValueError(
            f"RoarkObserver: spool_max_bytes must be an int of at least 1 MiB (1048576), got {value!r}; "
            "use spool_dir=False to turn the spool off"
        )
    return value


def observability_enabled(env: Mapping[str, str]) -> bool:
    value = env_value(env, "ROARK_OBSERVABILITY_ENABLED")
    return value is None or value.lower() not in _FALSY


@dataclass(frozen=True)
class CaptureSettings:
    capture: CapturePolicy
    sampling: float
    defer_audio: bool
    defer_audio_max_bytes: int
    log_level: str


#: ``ROARK_LOG_LEVEL``: the fleet default of ``log_level=`` (capture_logs).
LOG_LEVEL_ENV = "ROARK_LOG_LEVEL"


def check_log_level(value: Any, env: Mapping[str, str]) -> str:
    """A loguru level name (argument, else ROARK_LOG_LEVEL, else WARNING), upper-cased and checked."""
    where = "log_level"
    if value is None:
        value = env.get(LOG_LEVEL_ENV) or "WARNING"
        where = LOG_LEVEL_ENV if env.get(LOG_LEVEL_ENV) else where
    if not isinstance(value, str):
        raise TypeError(f"RoarkObserver: {where} must be a level name such as \"WARNING\", got {value!r}")
    from loguru import logger

    name = value.strip().upper()
    try:
        logger.level(name)
    except ValueError:
        raise ValueError(
            f"RoarkObserver: {where}={value!r} is not a log level; use TRACE, DEBUG, INFO, SUCCESS, WARNING, "
            "ERROR or CRITICAL"
        ) from None
    return name


def build_capture_settings(
    *,
    capture: Any = None,
    capture_audio: Any = None,
    trace: Any = None,
    capture_logs: Any = None,
    sampling: Any = None,
    defer_audio: Any = False,
    defer_audio_max_bytes: Any = DEFAULT_DEFER_MAX_BYTES,
    log_level: Any = None,
    env: Mapping[str, str],
) -> CaptureSettings:
    """The capture policy arguments + environment, validated (see policy.py for precedence)."""
    policy = resolve_capture(capture, capture_audio=capture_audio, trace=trace, capture_logs=capture_logs, env=env)
    if not isinstance(defer_audio, bool):
        raise TypeError(f"RoarkObserver: defer_audio must be True or False, got {defer_audio!r}")
    if defer_audio and not policy.audio:
        raise ValueError(
            "RoarkObserver: defer_audio=True asks to hold a recording that the capture policy turns off "
            "(capture_audio=False, capture={'audio': False} or ROARK_CAPTURE); drop one of them"
        )
    if isinstance(defer_audio_max_bytes, bool) or not isinstance(defer_audio_max_bytes, int) or defer_audio_max_bytes < 1024 * 1024:
        raise ValueError(
            f"RoarkObserver: defer_audio_max_bytes must be an int of at least 1 MiB (1048576), got {defer_audio_max_bytes!r}"
        )
    return CaptureSettings(
        capture=policy,
        sampling=check_sampling(sampling, env),
        defer_audio=defer_audio,
        defer_audio_max_bytes=defer_audio_max_bytes,
        log_level=check_log_level(log_level, env),
    )


def build_settings(
    *,
    agent_id: Any,
    api_key: Any = None,
    agent_name: Any = None,
    agent_prompt: Any = None,
    roark_integration_id: Any = None,
    is_test: Any = False,
    metadata: Any = None,
    capture_audio: Any = True,
    base_url: Any = None,
    sample_rate: Any = None,
    finalize_timeout_secs: Any = DEFAULT_FINALIZE_TIMEOUT_SECS,
    spool_dir: Any = None,
    spool_max_bytes: Any = DEFAULT_SPOOL_MAX_BYTES,
    redact: Any = None,
    capture: Any = None,
    trace: Any = None,
    capture_logs: Any = None,
    sampling: Any = None,
    defer_audio: Any = False,
    defer_audio_max_bytes: Any = DEFAULT_DEFER_MAX_BYTES,
    log_level: Any = None,
    env: Optional[Mapping[str, str]] = None,
) -> Settings:
    env = os.environ if env is None else env
    if agent_id is not None and not isinstance(agent_id, str):
        raise TypeError(
            f"RoarkObserver: agent_id must be a string, got {type(agent_id).__name__} ({agent_id!r}); "
            f"e.g. agent_id=\"support-bot-v3\" (or agent_id=str({agent_id!r}))"
        )
    if agent_id is None or not agent_id.strip():
        raise ValueError(
            "RoarkObserver: agent_id is required: a stable id for this agent, e.g. agent_id=\"support-bot-v3\""
        )
    for name, value in (("is_test", is_test), ("capture_audio", capture_audio)):
        if not isinstance(value, bool):
            raise TypeError(f"RoarkObserver: {name} must be True or False, got {value!r}")
    if sample_rate is not None and (not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or not 8000 <= sample_rate <= 96000):
        raise ValueError("RoarkObserver: sample_rate must be an int between 8000 and 96000 (or None for the pipeline's rate)")
    if (
        not isinstance(finalize_timeout_secs, (int, float))
        or isinstance(finalize_timeout_secs, bool)
        or not math.isfinite(finalize_timeout_secs)
        or finalize_timeout_secs <= 0
    ):
        raise ValueError("RoarkObserver: finalize_timeout_secs must be a positive number of seconds")
    redactor = build_redactor(redact)
    cap = build_capture_settings(
        capture=capture, capture_audio=capture_audio, trace=trace, capture_logs=capture_logs, sampling=sampling,
        defer_audio=defer_audio, defer_audio_max_bytes=defer_audio_max_bytes, log_level=log_level, env=env,
    )

    api_key = _opt_str("api_key", api_key) or env_value(env, "ROARK_API_KEY")
    integration_id = _opt_str("roark_integration_id", roark_integration_id) or env_value(env, "ROARK_INTEGRATION_ID")
    url = _opt_str("base_url", base_url) or env_value(env, "ROARK_BASE_URL") or DEFAULT_BASE_URL
    url = _check_base_url(url)

    enabled, reason = True, None
    if not observability_enabled(env):
        enabled, reason = False, "ROARK_OBSERVABILITY_ENABLED is off"
    elif not api_key and not is_loopback_url(url):
        enabled, reason = False, "no API key"

    headers = {}
    if api_key:
        headers = {"x-roark-api-key": api_key, "Authorization": f"Bearer {api_key}"}

    return Settings(
        agent_id=agent_id,
        api_key=api_key,
        base_url=url,
        agent_name=_opt_str("agent_name", agent_name),
        agent_prompt=_opt_str("agent_prompt", agent_prompt),
        integration_id=integration_id,
        is_test=is_test,
        metadata=_check_metadata(metadata),
        capture_audio=cap.capture.audio,
        sample_rate=sample_rate,
        finalize_timeout_secs=float(finalize_timeout_secs),
        spool_dir=resolve_spool_dir(spool_dir, env),
        spool_max_bytes=_check_spool_max_bytes(spool_max_bytes),
        enabled=enabled,
        disabled_reason=reason,
        headers=headers,
        redactor=redactor,
        capture=cap.capture,
        sampling=cap.sampling,
        defer_audio=cap.defer_audio,
        defer_audio_max_bytes=cap.defer_audio_max_bytes,
        log_level=cap.log_level,
    )
