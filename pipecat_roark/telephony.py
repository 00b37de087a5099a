"""The phone call behind a pipeline: the ``telephony`` object of call-started.

Two sources, both read without side effects and without importing any
provider's package:

- the pipeline's processors: the websocket transport's input or output
  processor holds ``_params.serializer``, one of Pipecat's telephony
  serializers (Twilio, Telnyx, Plivo, Exotel, Vonage, Genesys AudioHook),
  which knows the call and stream ids and the carrier's sample rate;
- the runner arguments: on 1.x ``runner_args.call_data`` (the parsed
  handshake, with ``from``/``to`` where the provider sends them) and
  ``runner_args.transport_type``; on 0.0.10x the ``(transport_type,
  call_data)`` pair ``parse_telephony_websocket()`` returned, passed here
  by the user; Daily dial-in (``body["dialin_settings"]`` with ``From``/``To``)
  and dial-out (``body["dialout_settings"]``).

The serializer's values win; the runner's fill what it lacks. Attribute
names are those of 0.0.108 and 1.14 (private ones: read with ``getattr``,
never required). Credentials the serializers hold (auth tokens, API keys)
are never read. Phone numbers land in ``fromNumber`` / ``toNumber``, which
the redactor replaces when redaction is on.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from .models import Telephony
from .text import clean_text

#: Transport events that mean the caller is gone (for the outcome's "caller_hung_up").
DISCONNECT_EVENTS = ("on_client_disconnected", "on_participant_left", "on_dialin_stopped", "on_dialout_stopped")

_MAX_DEPTH = 8
_MAX_PROCESSORS = 2000

# serializer class name -> provider, and where each field lives on the
# serializer (instance attributes first, then ``_params``).
_SERIALIZERS: dict[str, tuple[str, dict[str, tuple[str, ...]], Optional[str]]] = {
    "TwilioFrameSerializer": ("twilio", {
        "call_id": ("_call_sid",), "stream_id": ("_stream_sid",), "account_id": ("_account_sid",),
        "carrier_sample_rate": ("_twilio_sample_rate", "twilio_sample_rate"),
    }, "PCMU"),
    "TelnyxFrameSerializer": ("telnyx", {
        "call_id": ("_call_control_id",), "stream_id": ("_stream_id",),
        "carrier_sample_rate": ("_telnyx_sample_rate", "telnyx_sample_rate"),
        "encoding": ("outbound_encoding",),
    }, None),
    "PlivoFrameSerializer": ("plivo", {
        "call_id": ("_call_id",), "stream_id": ("_stream_id",),
        "carrier_sample_rate": ("_plivo_sample_rate", "plivo_sample_rate"),
    }, "PCMU"),
    "ExotelFrameSerializer": ("exotel", {
        "call_id": ("_call_sid",), "stream_id": ("_stream_sid",),
        "carrier_sample_rate": ("_exotel_sample_rate", "exotel_sample_rate"),
    }, "L16"),
    "VonageFrameSerializer": ("vonage", {
        "carrier_sample_rate": ("_vonage_sample_rate", "vonage_sample_rate"),
    }, "L16"),
    "GenesysAudioHookSerializer": ("genesys", {
        "call_id": ("_conversation_id",),
        "carrier_sample_rate": ("_genesys_sample_rate", "genesys_sample_rate"),
        "encoding": ("media_format",),
    }, None),
}

#: Providers Pipecat's runner names in ``transport_type``.
PROVIDERS = ("twilio", "telnyx", "plivo", "exotel", "vonage", "genesys", "daily")


def _text(value: Any, limit: int = 200) -> Optional[str]:
    if value is None or isinstance(value, (dict, list, tuple, set)):
        return None
    value = getattr(value, "value", value)  # enums (KeypadEntry, AudioHookMediaFormat)
    text = clean_text(value, limit).strip()
    return text or None


def _rate(value: Any) -> Optional[int]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def _get(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _class_names(obj: Any) -> list[str]:
    try:
        return [c.__name__ for c in type(obj).__mro__]
    except Exception:
        return []


def provider_of(serializer: Any) -> Optional[str]:
    """The provider a serializer talks to (by its class or a base class), or None."""
    for name in _class_names(serializer):
        if name in _SERIALIZERS:
            return _SERIALIZERS[name][0]
    return None


# --------------------------------------------------------------------------- #
# Finding the serializer and the transport
# --------------------------------------------------------------------------- #


def iter_processors(processors: Any, _depth: int = 0) -> Iterator[Any]:
    """Every processor in a pipeline, a worker, or a list of either, sub-pipelines included (bounded)."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(processors, _depth)]
    count = 0
    while stack and count < _MAX_PROCESSORS:
        obj, depth = stack.pop()
        if obj is None or id(obj) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            stack.extend((p, depth) for p in reversed(obj))
            continue
        inner = _get(obj, "_pipeline")  # a PipelineWorker / PipelineTask
        if inner is not None and _get(obj, "processors") is None:
            stack.append((inner, depth + 1))
            continue
        count += 1
        yield obj
        subs = _get(obj, "processors")
        if isinstance(subs, (list, tuple)) and subs:
            stack.extend((p, depth + 1) for p in reversed(subs))


def find_serializer(processors: Any) -> Optional[Any]:
    """The first telephony serializer a transport processor of the pipeline holds."""
    for proc in iter_processors(processors):
        for owner in (_get(proc, "_params"), _get(_get(proc, "_transport"), "_params")):
            serializer = _get(owner, "serializer") if owner is not None else None
            if serializer is not None and provider_of(serializer):
                return serializer
    return None


def find_transport(processors: Any) -> Optional[Any]:
    """The transport object (``transport.input()``'s parent) whose events tell of a disconnect.

    Register with ``transport.add_event_handler(name, handler)`` for the names
    of :data:`DISCONNECT_EVENTS` the transport knows (``name in
    transport._event_handlers``); Pipecat calls every handler of an event.
    """
    for proc in iter_processors(processors):
        transport = _get(proc, "_transport")
        if transport is not None and callable(_get(transport, "add_event_handler")):
            return transport
    return None


def find_worker(processors: Any) -> Optional[Any]:
    """The PipelineWorker (PipelineTask on 0.0.10x) that runs these processors, or None.

    An observer never gets the worker; but the worker's own source processor
    (``data.source`` of the first hop of the ``StartFrame``) pushes through a
    bound method of it. Needed for ``on_idle_timeout`` on 0.0.10x, whose idle
    cancel carries no reason.
    """
    for proc in iter_processors(processors):
        owner = _get(_get(proc, "_upstream_push_frame"), "__self__")
        if owner is not None and {"PipelineWorker", "PipelineTask"} & set(_class_names(owner)):
            return owner
    return None


# --------------------------------------------------------------------------- #
# Reading them
# --------------------------------------------------------------------------- #


def from_serializer(serializer: Any) -> dict[str, Any]:
    """Fields (snake_case) a telephony serializer knows; empty if it is not one."""
    entry = None
    for name in _class_names(serializer):
        if name in _SERIALIZERS:
            entry = _SERIALIZERS[name]
            break
    if entry is None:
        return {}
    provider, fields, encoding = entry
    params = _get(serializer, "_params")
    out: dict[str, Any] = {"provider": provider}
    for field, names in fields.items():
        value = None
        for name in names:
            value = _get(serializer, name)
            if value is None and params is not None:
                value = _get(params, name)
            if value is not None:
                break
        value = _rate(value) if field == "carrier_sample_rate" else _text(value)
        if value is not None:
            out[field] = value
    if encoding and "encoding" not in out:
        out["encoding"] = encoding
    if provider == "genesys":
        participant = _get(serializer, "_participant")
        if isinstance(participant, Mapping):
            out.update(_numbers(participant.get("ani"), participant.get("dnis")))
        # Its session id is a local placeholder until the carrier's "open" message.
        if out.get("call_id"):
            sid = _text(_get(serializer, "_session_id"))
            if sid:
                out["stream_id"] = sid
    return out


def _numbers(from_number: Any, to_number: Any) -> dict[str, str]:
    out = {}
    for key, value in (("from_number", from_number), ("to_number", to_number)):
        text = _text(value, 100)
        if text and text.lower().startswith("tel:"):
            text = text[4:] or None
        if text:
            out[key] = text
    return out


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    dump = _get(value, "model_dump")
    if callable(dump):
        try:
            return dict(dump(by_alias=True))
        except TypeError:
            return dict(dump())
        except Exception:
            return {}
    return {}


def _direction(value: Any) -> Optional[str]:
    text = (_text(value) or "").lower()
    if text.startswith("inbound") or text in ("incoming", "dialin", "dial-in"):
        return "inbound"
    if text.startswith("outbound") or text in ("outgoing", "dialout", "dial-out"):
        return "outbound"
    return None


def from_runner(
    runner_args: Any = None, *, transport_type: Optional[str] = None, call_data: Any = None
) -> dict[str, Any]:
    """Fields (snake_case) the runner arguments / the parsed handshake know; empty if none."""
    call_data = call_data if call_data is not None else _get(runner_args, "call_data")
    transport_type = transport_type or _get(runner_args, "transport_type")
    data = _as_dict(call_data)
    body = _as_dict(data.get("body")) or _as_dict(_get(runner_args, "body"))
    out: dict[str, Any] = {}

    dialin = _as_dict(body.get("dialin_settings") or body.get("dialinSettings"))
    dialout = body.get("dialout_settings") or body.get("dialoutSettings")
    if isinstance(dialout, list) and dialout:
        dialout = dialout[0]
    dialout = _as_dict(dialout)
    if dialin and (dialin.get("call_id") or dialin.get("callId") or dialin.get("From") or dialin.get("To")):
        out["provider"] = "daily"
        out["direction"] = "inbound"
        call_id = _text(dialin.get("call_id") or dialin.get("callId"))
        if call_id:
            out["call_id"] = call_id
        out.update(_numbers(dialin.get("From") or dialin.get("from"), dialin.get("To") or dialin.get("to")))
        return out
    if dialout and (dialout.get("phone_number") or dialout.get("phoneNumber") or dialout.get("sip_uri")):
        out["provider"] = "daily"
        out["direction"] = "outbound"
        out.update(_numbers(dialout.get("caller_id") or dialout.get("callerId"),
                            dialout.get("phone_number") or dialout.get("phoneNumber") or dialout.get("sip_uri")))
        return out

    provider = (_text(transport_type) or "").lower()
    if provider not in PROVIDERS or not data:
        return {}
    out["provider"] = provider
    call_id = _text(data.get("call_id") or data.get("call_control_id"))
    stream_id = _text(data.get("stream_id"))
    if call_id:
        out["call_id"] = call_id
    if stream_id:
        out["stream_id"] = stream_id
    account = _text(data.get("account_sid"))
    if account:
        out["account_id"] = account
    encoding = _text(data.get("outbound_encoding"))
    if encoding:
        out["encoding"] = encoding
    # Twilio sends no numbers itself: apps pass them as stream parameters,
    # which Pipecat 1.x maps to from/to and 0.0.10x leaves in "body".
    out.update(_numbers(data.get("from") or body.get("from_number") or body.get("from"),
                        data.get("to") or body.get("to_number") or body.get("to")))
    direction = _direction(data.get("direction") or body.get("direction"))
    if direction:
        out["direction"] = direction
    return out


def telephony_context(
    processors: Any = None,
    runner_args: Any = None,
    *,
    transport_type: Optional[str] = None,
    call_data: Any = None,
) -> Optional[Telephony]:
    """The ``telephony`` object for the call, or None when it is not a phone call.

    ``processors``: the pipeline, the worker, or a list of processors.
    ``runner_args``: Pipecat's runner arguments. ``transport_type`` /
    ``call_data``: what ``parse_telephony_websocket()`` returned (0.0.10x).
    Never raises.
    """
    try:
        ser = find_serializer(processors) if processors is not None else None
        fields = from_serializer(ser) if ser is not None else {}
        runner = from_runner(runner_args, transport_type=transport_type, call_data=call_data)
        if runner and (not fields or runner.get("provider") == fields.get("provider")):
            for key, value in runner.items():
                fields.setdefault(key, value)
        if not fields.get("provider"):
            return None
        return Telephony(**fields)
    except Exception:
        return None


__all__ = [
    "DISCONNECT_EVENTS", "PROVIDERS", "find_serializer", "find_transport", "find_worker", "from_runner",
    "from_serializer",
    "iter_processors", "provider_of", "telephony_context",
]
