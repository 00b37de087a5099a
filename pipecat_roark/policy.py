"""What a call may send: the capture switches, sampling, and the audio consent gate.

Pure logic, no I/O and no Pipecat: the observer asks these questions and acts.

Capture switches (``capture=``)
-------------------------------
``audio``, ``transcript``, ``tools``, ``metrics``, ``logs``, ``traces``, each on
or off. Built-in defaults: the first four on, ``logs`` and ``traces`` off (both
cost something and were opt-in before: ``capture_logs=``, ``trace=``).

Where a switch gets its value, lowest to highest:

1. the built-in default;
2. ``ROARK_CAPTURE``, for fleets: a comma list applied left to right, ``name``
   or ``+name`` turns a switch on, ``-name`` off, ``all`` / ``none`` set every
   switch (``ROARK_CAPTURE="none,+transcript"``: the words only);
3. the older arguments, when they ask for something else than their default:
   ``capture_audio=False`` (audio off), ``trace=True`` (traces on),
   ``capture_logs=True`` (logs on). Passing a default value (``capture_audio=
   True``) says nothing, so it never undoes the environment;
4. ``capture=`` (a dict, a :class:`CapturePolicy`, or a string in the
   ``ROARK_CAPTURE`` syntax): only the switches it names. Naming a switch
   that contradicts an older argument (``capture={"audio": True},
   capture_audio=False``) is an error: there is no good guess.

Arguments win over the environment, as for ``ROARK_API_KEY``.

Sampling (``sampling=`` / ``ROARK_SAMPLING``)
---------------------------------------------
A fraction in [0, 1]; a call is shipped when the SHA-256 of its id, read as a
number in [0, 1), is below it. The same id always gets the same answer, in
every process and on every machine (Python's ``hash()`` is salted per process,
so it is not used). Test calls (``is_test=True``) are always shipped. Calls
left out are counted in :data:`SAMPLING_COUNTS`.

Consent gate (``defer_audio=True``)
-----------------------------------
See :class:`AudioConsentGate`: chunks are held in memory (never on disk) until
``allow()``; ``discard()`` frees them for good.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Optional

#: The switches, in the order they are documented.
SWITCHES = ("audio", "transcript", "tools", "metrics", "logs", "traces")
CAPTURE_ENV = "ROARK_CAPTURE"
SAMPLING_ENV = "ROARK_SAMPLING"
#: Memory a deferred call may hold before consent: about 5.5 minutes of
#: 24 kHz stereo, 8 minutes of 16 kHz. Per call, so a fleet's worst case is bounded.
DEFAULT_DEFER_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CapturePolicy:
    """Which parts of a call leave the process. Immutable."""

    audio: bool = True
    transcript: bool = True
    tools: bool = True
    metrics: bool = True
    logs: bool = False
    traces: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool):
                raise TypeError(f"RoarkObserver: capture switch {f.name!r} must be True or False, got {value!r}")

    def as_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in SWITCHES}

    def replace(self, **changes: bool) -> "CapturePolicy":
        return CapturePolicy(**{**self.as_dict(), **changes})


def _unknown_switch(name: Any, where: str) -> ValueError:
    close = difflib.get_close_matches(str(name).lower(), SWITCHES, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"RoarkObserver: unknown capture switch {name!r} in {where}{hint} "
        f"The switches are: {', '.join(SWITCHES)}"
    )


def parse_capture_spec(spec: str, where: str = CAPTURE_ENV) -> dict[str, bool]:
    """``"audio,-tools,+logs"`` -> the switches it sets, in order (``all``/``none`` expand)."""
    out: dict[str, bool] = {}
    for raw in spec.split(","):
        token = raw.strip().lower()
        if not token:
            continue
        on = not token.startswith("-")
        name = token.lstrip("+-").strip()
        if name in ("all", "none"):
            value = (name == "all") == on
            out.update({s: value for s in SWITCHES})
            continue
        if name not in SWITCHES:
            raise _unknown_switch(name, where)
        out[name] = on
    return out


def _capture_argument(capture: Any) -> dict[str, bool]:
    """The switches ``capture=`` names (and only those)."""
    if capture is None:
        return {}
    if isinstance(capture, CapturePolicy):
        return capture.as_dict()
    if isinstance(capture, str):
        return parse_capture_spec(capture, "capture=")
    if dataclasses.is_dataclass(capture) and not isinstance(capture, type):
        capture = {f.name: getattr(capture, f.name) for f in dataclasses.fields(capture)}  # a user's own
    if isinstance(capture, Mapping):
        out = {}
        for name, value in capture.items():
            if not isinstance(name, str) or name.lower() not in SWITCHES:
                raise _unknown_switch(name, "capture=")
            if not isinstance(value, bool):
                raise TypeError(f"RoarkObserver: capture[{name!r}] must be True or False, got {value!r}")
            out[name.lower()] = value
        return out
    raise TypeError(
        f"RoarkObserver: capture must be a dict of switches such as {{'audio': False}}, a CapturePolicy "
        f"or a string such as 'all,-audio' (got {type(capture).__name__})"
    )


def _legacy(name: str, value: Any, default: bool) -> Optional[bool]:
    """An older argument's value when it says something (differs from its default); None otherwise."""
    if value is None:
        return None
    if not isinstance(value, bool):
        raise TypeError(f"RoarkObserver: {name} must be True or False, got {value!r}")
    return None if value == default else value


def resolve_capture(
    capture: Any = None,
    *,
    capture_audio: Any = None,
    trace: Any = None,
    capture_logs: Any = None,
    env: Mapping[str, str],
) -> CapturePolicy:
    """Built-in defaults < ``ROARK_CAPTURE`` < older arguments < ``capture=`` (see the module doc)."""
    values = CapturePolicy().as_dict()
    spec = env.get(CAPTURE_ENV)
    if spec is not None and spec.strip():
        values.update(parse_capture_spec(spec, f"{CAPTURE_ENV}={spec!r}"))
    legacy = {
        "audio": ("capture_audio", _legacy("capture_audio", capture_audio, True)),
        "traces": ("trace", _legacy("trace", trace, False)),
        "logs": ("capture_logs", _legacy("capture_logs", capture_logs, False)),
    }
    for switch, (_, value) in legacy.items():
        if value is not None:
            values[switch] = value
    for switch, value in _capture_argument(capture).items():
        arg_name, old = legacy.get(switch, (None, None))
        if old is not None and old != value:
            raise ValueError(
                f"RoarkObserver: capture={{'{switch}': {value}}} contradicts {arg_name}={old}; "
                f"pass only one of them (capture= is the newer way)"
            )
        values[switch] = value
    return CapturePolicy(**values)


# -- sampling ------------------------------------------------------------------


def check_sampling(sampling: Any, env: Mapping[str, str]) -> float:
    """``sampling=`` (wins) or ``ROARK_SAMPLING`` or 1.0, as a float in [0, 1]."""
    where = "sampling"
    if sampling is None:
        raw = env.get(SAMPLING_ENV)
        if raw is None or not raw.strip():
            return 1.0
        where = f"{SAMPLING_ENV}={raw!r}"
        try:
            sampling = float(raw)
        except ValueError:
            raise ValueError(f"RoarkObserver: {where} must be a number between 0 and 1, e.g. 0.1") from None
    if isinstance(sampling, bool) or not isinstance(sampling, (int, float)) or not 0.0 <= sampling <= 1.0:
        raise ValueError(
            f"RoarkObserver: {where} must be a number between 0 and 1 (the fraction of calls to ship, "
            f"e.g. 0.1), got {sampling!r}"
        )
    return float(sampling)


def sample_point(call_id: str) -> float:
    """Where a call id falls in [0, 1): the first 8 bytes of its SHA-256. Stable everywhere."""
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def should_ship(call_id: str, rate: float, is_test: bool = False) -> bool:
    """Is this call in the sample? Deterministic by id; test calls always are."""
    if is_test or rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return sample_point(call_id) < rate


class SamplingCounts:
    """Process-wide tally of sampling decisions (thread-safe), for the observer to log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shipped = 0
        self.skipped = 0

    def decide(self, call_id: str, rate: float, is_test: bool = False) -> bool:
        """:func:`should_ship`, counted."""
        ship = should_ship(call_id, rate, is_test)
        with self._lock:
            if ship:
                self.shipped += 1
            else:
                self.skipped += 1
        return ship

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"shipped": self.shipped, "skipped": self.skipped}

    def reset(self) -> None:
        with self._lock:
            self.shipped = self.skipped = 0


SAMPLING_COUNTS = SamplingCounts()


# -- the consent gate ------------------------------------------------------------

PENDING, ALLOWED, DISCARDED = "pending", "allowed", "discarded"


class AudioConsentGate:
    """Holds a deferred call's recording chunks until the caller consents.

    - ``pending`` (the start): :meth:`hold` keeps chunks in memory and
      releases nothing. Nothing is written to disk: the spool must not see a
      chunk before consent, so the owner sends released chunks only.
    - :meth:`allow` -> every held chunk, in index order, once; from then on
      :meth:`hold` releases each chunk as it comes.
    - :meth:`discard` frees every held chunk and drops every later one;
      final (a later :meth:`allow` releases nothing).

    Memory is bounded by ``max_bytes``. A chunk that would exceed it is
    dropped, and so is every later chunk, even after consent: chunks are
    numbered without gaps and a missing one would shift all later audio
    against the transcript, so the recording is cut at the overflow instead
    (``truncated``; the audio kept stays exact). Dropped chunks are counted.
    """

    def __init__(self, max_bytes: int = DEFAULT_DEFER_MAX_BYTES):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"AudioConsentGate: max_bytes must be a positive int, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.state = PENDING
        self._held: dict[int, bytes] = {}
        self.held_bytes = 0
        self.truncated = False
        self.dropped_chunks = 0
        self.dropped_bytes = 0
        self.released_chunks = 0

    @property
    def recording_wanted(self) -> bool:
        """False once discarded or cut: the recorder can stop storing audio."""
        return self.state != DISCARDED and not self.truncated

    def _drop(self, data: bytes) -> None:
        self.dropped_chunks += 1
        self.dropped_bytes += len(data)

    def hold(self, index: int, data: bytes) -> list[tuple[int, bytes]]:
        """A chunk from the recorder -> the chunks that may be sent now (in index order)."""
        if self.state == DISCARDED:
            return []  # not counted as a loss: the caller refused
        if self.truncated:
            self._drop(data)
            return []
        if self.state == ALLOWED:
            self.released_chunks += 1
            return [(index, data)]
        if self.held_bytes + len(data) > self.max_bytes:
            self.truncated = True
            self._drop(data)
            return []
        if index in self._held:  # a re-sent index replaces the earlier bytes
            self.held_bytes -= len(self._held[index])
        self._held[index] = bytes(data)
        self.held_bytes += len(data)
        return []

    def allow(self) -> list[tuple[int, bytes]]:
        """Consent given: the held chunks, in index order (empty after a discard or a second allow)."""
        if self.state != PENDING:
            return []
        self.state = ALLOWED
        out = sorted(self._held.items())
        self._held = {}
        self.held_bytes = 0
        self.released_chunks += len(out)
        return out

    def discard(self) -> int:
        """Consent refused: forget every held chunk (returns the bytes freed) and every later one.

        After :meth:`allow`, what was released has left already: the
        recording stops there and the consent reads ``revoked``.
        """
        if self.state == ALLOWED:
            self.revoked = True
        freed = self.held_bytes
        self._held = {}
        self.held_bytes = 0
        self.state = DISCARDED
        return freed

    revoked = False

    def drop_held(self) -> int:
        """The call is over without consent: free the held chunks (the state stays ``pending``). Bytes freed."""
        freed = self.held_bytes
        self._held = {}
        self.held_bytes = 0
        return freed

    def consent_field(self) -> str:
        """The ``audioConsent`` extension of call-ended: granted / discarded / revoked / not_given."""
        if self.revoked:
            return "revoked"
        return {ALLOWED: "granted", DISCARDED: "discarded", PENDING: "not_given"}[self.state]


# -- applying the switches to what is sent -----------------------------------------

#: call-ended fields each switch governs (wire names).
_ENDED_FIELDS = {
    "transcript": ("transcript", "agentSpokeFirst", "lastSpeaker"),
    "tools": ("toolCalls",),
    "metrics": ("metrics",),
    "logs": ("logs",),
}


def filter_ended(payload: dict[str, Any], policy: CapturePolicy) -> dict[str, Any]:
    """A copy of a call-ended wire payload without what the policy turned off.

    Audio is governed upstream (no chunk is produced or sent); this removes
    the words, tool data, metrics and logs and records what was left out in
    ``captureOff`` so the call page can say "not captured" rather than "none".
    """
    out = dict(payload)
    # Listed: the parts a call normally has. logs/traces are opt-in, so
    # their absence needs no explanation.
    off = [name for name in SWITCHES[:4] if not getattr(policy, name)]
    for name in SWITCHES:
        if getattr(policy, name):
            continue
        for key in _ENDED_FIELDS.get(name, ()):
            out.pop(key, None)
    if not policy.transcript and isinstance(out.get("metrics"), list):
        # A metric's turnIndex points into the transcript that is not sent.
        out["metrics"] = [{k: v for k, v in m.items() if k != "turnIndex"} if isinstance(m, dict) else m
                          for m in out["metrics"]]
    summary = out.get("callSummary")
    if isinstance(summary, dict):
        # The summary holds counts only; still, "tools off" / "metrics off"
        # should not leave tool outcomes or token usage behind.
        drop = (("toolCalls",) if not policy.tools else ()) + (("usage", "metricsDropped") if not policy.metrics else ())
        out["callSummary"] = {k: v for k, v in summary.items() if k not in drop}
    if off:
        out["captureOff"] = off
    return out
