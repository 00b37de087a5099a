"""Timeline events: DTMF keypresses and the user's own events (``events`` in call-ended).

Pure: the call owner places each event in time (ISO timestamp and offset on
the recording) and hands it here; this module reads DTMF frames (duck-typed,
so 0.0.10x's ``button`` and 1.x's ``buttons`` both work), checks what the
user passes to ``roark.event(name, data)`` and keeps a bounded log.

DTMF frames on the versions we support:

======================  =========  ============================================
frame                   direction  digits
======================  =========  ============================================
``InputDTMFFrame``      inbound    ``button`` (a ``KeypadEntry``): the caller
                                   pressed it (serializers push it from the
                                   carrier's ``dtmf`` message)
``OutputDTMFFrame``     outbound   1.x: ``buttons`` (a list, ``button`` is a
``OutputDTMFUrgentFrame``          shortcut); 0.0.10x: ``button``
======================  =========  ============================================
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Optional

from .models import TimelineEvent
from .text import clean_text

#: DTMF frame class -> direction.
DTMF_DIRECTIONS = {"InputDTMFFrame": "inbound", "OutputDTMFFrame": "outbound", "OutputDTMFUrgentFrame": "outbound"}
#: At most this many events per call; later ones are counted, not kept.
MAX_EVENTS = 1000
#: A user event's data, as compact JSON, may be at most this long.
MAX_DATA_CHARS = 8192
MAX_NAME_CHARS = 200


def dtmf_frame_classes() -> tuple[type, ...]:
    """The DTMF frame classes this Pipecat has (for the observer's isinstance filter); may be empty."""
    try:
        from pipecat.frames import frames as f
    except Exception:  # pragma: no cover - Pipecat is a dependency
        return ()
    return tuple(getattr(f, name) for name in DTMF_DIRECTIONS if isinstance(getattr(f, name, None), type))


def _key(entry: Any) -> str:
    value = getattr(entry, "value", entry)
    return value if isinstance(value, str) else clean_text(value, 8)


def dtmf_direction(frame: Any) -> Optional[str]:
    for cls in type(frame).__mro__:
        if cls.__name__ in DTMF_DIRECTIONS:
            return DTMF_DIRECTIONS[cls.__name__]
    return None


def dtmf_digits(frame: Any) -> Optional[str]:
    """The keys a DTMF frame carries, as a dial string ("5", "123#"), or None."""
    buttons = getattr(frame, "buttons", None)
    if not buttons:
        button = getattr(frame, "button", None)
        buttons = [button] if button is not None else []
    digits = "".join(_key(b) for b in buttons if b is not None)
    return digits[:64] or None


def dtmf_event(frame: Any, *, timestamp: str, audio_offset_ms: Optional[int] = None) -> Optional[TimelineEvent]:
    """The timeline event of a DTMF frame, or None if the frame is not one (never raises)."""
    try:
        direction = dtmf_direction(frame)
        digits = dtmf_digits(frame) if direction else None
        if not digits:
            return None
        return TimelineEvent(kind="dtmf", name="dtmf", direction=direction, data={"digits": digits},
                             timestamp=timestamp, audio_offset_ms=_offset(audio_offset_ms))
    except Exception:
        return None


def _offset(value: Optional[int]) -> Optional[int]:
    if value is None or isinstance(value, bool):
        return None
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _jsonable(value: Any) -> Any:
    def default(o: Any) -> Any:
        return clean_text(o, 500)

    try:
        text = json.dumps(value, default=default, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN / inf
        text = json.dumps(_no_nan(value), default=default, ensure_ascii=False)
    return json.loads(text), len(text)


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def user_event(
    name: Any, data: Any = None, *, timestamp: str, audio_offset_ms: Optional[int] = None
) -> TimelineEvent:
    """A user's event (``roark.event(name, data)``), checked.

    ``name``: a non-empty string (e.g. ``"transfer"``, ``"voicemail_detected"``).
    ``data``: a mapping (or None) of JSON-able values; anything else in it is
    sent as text. Raises ValueError / TypeError with a message naming the
    fix; the call owner decides whether to log it instead.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"roark.event: name must be a non-empty string, got {name!r}")
    if data is not None and not isinstance(data, Mapping):
        raise TypeError(f"roark.event: data must be a dict (or None), got {type(data).__name__}")
    payload = None
    if data:
        payload, size = _jsonable({str(k): v for k, v in data.items()})
        if size > MAX_DATA_CHARS:
            raise ValueError(f"roark.event: data is {size} characters as JSON; keep it under {MAX_DATA_CHARS}")
    return TimelineEvent(kind="user", name=clean_text(name.strip(), MAX_NAME_CHARS), data=payload,
                         timestamp=timestamp, audio_offset_ms=_offset(audio_offset_ms))


class EventLog:
    """The call's timeline events, bounded (:data:`MAX_EVENTS`); later ones are counted in ``dropped``."""

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._events: list[TimelineEvent] = []
        self._max = max_events
        self.dropped = 0

    def add(self, event: Optional[TimelineEvent]) -> bool:
        if event is None:
            return False
        if len(self._events) >= self._max:
            self.dropped += 1
            return False
        self._events.append(event)
        return True

    def __len__(self) -> int:
        return len(self._events)

    def to_wire(self) -> Optional[list[dict[str, Any]]]:
        """The events in time order (by offset when all have one, else as they came); None if empty."""
        events = list(self._events)
        if events and all(e.audio_offset_ms is not None for e in events):
            events.sort(key=lambda e: e.audio_offset_ms)  # stable: same-offset events keep their order
        return [e.to_wire() for e in events] or None


__all__ = [
    "DTMF_DIRECTIONS", "EventLog", "MAX_DATA_CHARS", "MAX_EVENTS", "dtmf_digits", "dtmf_direction", "dtmf_event",
    "dtmf_frame_classes", "user_event",
]
