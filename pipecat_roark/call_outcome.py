"""Issue 14 wired into a call: outcome, telephony, timeline events, cost, turn-taking.

One :class:`~pipecat_roark.session.CallExtension` per call, plugged in by the
observer. It only glues the pure modules to the session:

- :mod:`pipecat_roark.outcome`: every end/cancel/error frame (first push, with
  its pipeline time), the transport's disconnect events, the worker's
  ``on_idle_timeout``, the user's ``end_status`` / ``aflush(status=)`` ->
  ``callEndedStatus``, ``callEndedBy``;
- :mod:`pipecat_roark.telephony`: the ``telephony`` object on call-started
  (read from the processors before the recorder, which is where the output
  transport and its serializer are, since call-started goes out at the
  recorder's StartFrame) and again on call-ended (from the whole worker; some
  serializers learn the call only from the carrier's first message);
- :mod:`pipecat_roark.events`: DTMF frames and ``roark.event()`` -> ``events``
  with their offsets on the recording;
- :mod:`pipecat_roark.cost`: ``cost`` from the call-ended metrics (which
  carry ``turnIndex``) and the call's length;
- :mod:`pipecat_roark.analytics` / :func:`~pipecat_roark.outcome.last_speaker`:
  ``turnTaking``, ``lastSpeaker`` and each interrupted assistant turn's
  ``interruptionCause``, from the final transcript (on the recording when it
  is anchored there, else on the wall clock).

Everything here is O(1) per frame; discovery walks the pipeline once.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Optional

from .analytics import Span, interruption_cause, turn_taking
from .cost import call_cost, start_warm_up
from .events import MAX_EVENTS, dtmf_event, dtmf_frame_classes, user_event
from .models import TimelineEvent
from .outcome import OutcomeTracker, last_speaker, validate_status
from .prices import Price
from .session import CallExtension, CallSession
from .telephony import DISCONNECT_EVENTS, find_transport, find_worker, telephony_context

_MAX_WALK = 500


def _frame_classes(names: Any) -> tuple[type, ...]:
    try:
        from pipecat.frames import frames as f
    except Exception:  # pragma: no cover - Pipecat is a dependency
        return ()
    return tuple(getattr(f, n) for n in sorted(names) if isinstance(getattr(f, n, None), type))


_OUTCOME_FRAMES = _frame_classes(OutcomeTracker.FRAME_NAMES)
_DTMF_FRAMES = dtmf_frame_classes()
_START_FRAMES = _frame_classes({"StartFrame"})
_METADATA_FRAMES = _frame_classes({"LLMServiceMetadataFrame"})  # 1.x: announces speech-to-speech services


def processors_before(processor: Any) -> list[Any]:
    """``processor`` and those linked before it (``_prev``), bounded: the recorder's side of the pipeline."""
    out: list[Any] = []
    seen: set[int] = set()
    p = processor
    while p is not None and id(p) not in seen and len(out) < _MAX_WALK:
        seen.add(id(p))
        out.append(p)
        p = getattr(p, "_prev", None)
    return out


def _parse_iso(value: Any) -> Optional[float]:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


def transcript_spans(payload: dict[str, Any]) -> tuple[list[Span], Optional[float], Optional[float]]:
    """(spans, call start ms, call end ms) of a call-ended payload's transcript.

    On the recording (``audioOffsetMs``) when every turn has its offsets,
    else on the wall clock from ``callStartedAt``.
    """
    turns = [t for t in payload.get("transcript") or [] if isinstance(t, dict)]
    if turns and all(isinstance(t.get("audioOffsetMs"), int) and isinstance(t.get("endAudioOffsetMs"), int)
                     for t in turns):
        spans = [Span(t["role"], t["audioOffsetMs"], t["endAudioOffsetMs"], bool(t.get("interrupted")))
                 for t in turns]
        rec0 = _parse_iso(payload.get("recordingStartedAt"))
        end = _parse_iso(payload.get("callEndedAt"))
        return spans, 0.0, (end - rec0 if rec0 is not None and end is not None else None)
    origin = _parse_iso(payload.get("callStartedAt"))
    spans = []
    for t in turns:
        a, b = _parse_iso(t.get("timestamp")), _parse_iso(t.get("endTimestamp"))
        if a is None or b is None or origin is None:
            continue
        spans.append(Span(t.get("role", ""), a - origin, b - origin, bool(t.get("interrupted"))))
    end = _parse_iso(payload.get("callEndedAt"))
    return spans, (0.0 if origin is not None else None), (end - origin if end is not None and origin else None)


class CallOutcomeExtension(CallExtension):
    """How the call ended, the phone call behind it, its events, cost and turn-taking (issue 14)."""

    frames = _OUTCOME_FRAMES + _DTMF_FRAMES + _START_FRAMES + _METADATA_FRAMES

    def __init__(
        self,
        session: CallSession,
        *,
        now: Callable[[], Optional[int]],
        recorder: Any = None,
        runner_args: Any = None,
        end_status: Optional[str] = None,
        prices: Optional[dict[str, Price]] = None,
    ):
        self.session = session
        self._now = now
        self._recorder = recorder
        self._runner_args = runner_args
        self._prices = prices or {}
        self.tracker = OutcomeTracker()
        if end_status is not None:
            self.tracker.set_status(end_status)
        # (event without time, pipeline time, position on the recording) until the end places them.
        self._events: list[tuple[TimelineEvent, Optional[int], Optional[int]]] = []
        self.events_dropped = 0
        self._hooked: set[int] = set()
        self._worker: Any = None
        self._realtime: set[str] = set()

    # -- discovery ----------------------------------------------------------

    def _hook_transport(self, processors: Any) -> None:
        transport = find_transport(processors)
        if transport is None or id(transport) in self._hooked:
            return
        self._hooked.add(id(transport))
        known = getattr(transport, "_event_handlers", {}) or {}
        for name in DISCONNECT_EVENTS:
            if name in known:
                transport.add_event_handler(name, self._on_disconnect)

    def _hook_worker(self, source: Any) -> None:
        worker = find_worker([source])
        if worker is None:
            return
        self._worker = worker
        if "on_idle_timeout" in (getattr(worker, "_event_handlers", {}) or {}):
            worker.add_event_handler("on_idle_timeout", self._on_idle)
        self._hook_transport(worker)

    def _on_disconnect(self, *_: Any) -> None:
        self.tracker.client_disconnected(self._now())

    def _on_idle(self, *_: Any) -> None:
        self.tracker.idle_timeout(self._now())

    def _telephony(self) -> Any:
        scope = self._worker if self._worker is not None else processors_before(self._recorder)
        return telephony_context(scope, self._runner_args)

    # -- CallExtension ----------------------------------------------------------

    def on_frame(self, frame: Any, t_ns: int, data: Any) -> None:
        # The observer handles the same frame after this (an ErrorFrame, say): never let it be skipped.
        try:
            self._on_frame(frame, t_ns, data)
        except Exception:
            self.session.log.exception(f"issue-14 extension: error reading {type(frame).__name__}")

    def _on_frame(self, frame: Any, t_ns: int, data: Any) -> None:
        if isinstance(frame, _DTMF_FRAMES):
            ev = dtmf_event(frame, timestamp="")
            if ev is not None:
                self._keep(ev, t_ns)
        elif _START_FRAMES and isinstance(frame, _START_FRAMES):
            if self._worker is None:
                self._hook_worker(getattr(data, "source", None))
        elif _METADATA_FRAMES and isinstance(frame, _METADATA_FRAMES):
            if getattr(frame, "is_realtime_service", False):
                name = getattr(getattr(data, "source", None), "name", None)
                if name:
                    self._realtime.add(str(name))
        else:
            self.tracker.frame(frame, t_ns)

    def started_fields(self) -> dict[str, Any]:
        # call-started goes out at the recorder's StartFrame, maybe before the
        # observer has seen it: the recorder's own side of the pipeline holds
        # the output transport (and its serializer).
        if self._recorder is not None:
            self._hook_transport(processors_before(self._recorder))
        # The optional price list loads in ~0.2 s of CPU: once per process, off
        # the event loop, and before the end of this call needs it.
        start_warm_up()
        tel = self._telephony()
        return {"telephony": tel} if tel is not None else {}

    def ended_fields(self, session: CallSession) -> dict[str, Any]:
        self.tracker.ended()
        call = session.call
        outcome = self.tracker.outcome(call.end_reason)
        fields: dict[str, Any] = {"call_ended_status": outcome.status, "call_ended_by": outcome.ended_by}
        tel = self._telephony()
        if tel is not None:
            fields["telephony"] = tel
        events = self._placed_events()
        if events:
            fields["events"] = events
        return fields

    def finish_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        anchored = bool(payload.get("recordingSampleRate"))
        for ev in payload.get("events") or []:
            if not anchored:
                ev.pop("audioOffsetMs", None)  # the recording did not reach Roark: no place on it
        spans, start_ms, end_ms = transcript_spans(payload)
        if spans:
            speaker = last_speaker([(s.role, s.start_ms, s.end_ms) for s in spans])
            if speaker:
                payload["lastSpeaker"] = speaker
            payload["turnTaking"] = turn_taking(spans, call_start_ms=start_ms, call_end_ms=end_ms).to_wire()
            wire_turns = [t for t in payload.get("transcript") or [] if isinstance(t, dict)]
            if len(wire_turns) == len(spans):
                for turn, span in zip(wire_turns, spans):
                    cause = interruption_cause(span, spans)
                    if cause:
                        turn["interruptionCause"] = cause
        cost = self._cost(payload)
        if cost is not None:
            payload["cost"] = cost.to_wire()
        return payload

    # -- cost ---------------------------------------------------------------------

    def _cost(self, payload: dict[str, Any]) -> Any:
        call = self.session.call
        secs = None
        if call.started_t is not None and call.ended_t is not None:
            secs = max(0.0, (call.ended_t - call.started_t) / 1e9)
        return call_cost([m for m in payload.get("metrics") or [] if isinstance(m, dict)],
                         call_duration_secs=secs, prices=self._prices, realtime_processors=self._realtime)

    # -- the user's API (through the observer) -------------------------------

    def set_status(self, status: Any) -> None:
        self.tracker.set_status(status)

    def flush(self, reason: Optional[str], status: Optional[str]) -> None:
        if status is not None:
            self.tracker.set_status(status)
        if reason and not self.session.ended:
            self.tracker.flush(reason)

    def check_event(self, name: Any, data: Any = None) -> None:
        """Raise ValueError / TypeError for what :meth:`user_event` would refuse."""
        user_event(name, data, timestamp="")

    def user_event(self, name: Any, data: Any = None) -> bool:
        """Validate (raises ValueError/TypeError naming the fix) and keep a user event; False once the call ended."""
        ev = user_event(name, data, timestamp="")
        if self.session.ended:
            return False
        return self._keep(ev, self._now())

    # -- events -----------------------------------------------------------------

    def _keep(self, ev: TimelineEvent, t_ns: Optional[int]) -> bool:
        if len(self._events) >= MAX_EVENTS:
            self.events_dropped += 1
            return False
        pos = self.session.position_at(t_ns) if t_ns is not None else None
        self._events.append((ev, t_ns, pos))
        return True

    def _placed_events(self) -> list[dict[str, Any]]:
        call = self.session.call
        placed = []
        for ev, t_ns, pos in self._events:
            when = call._iso(t_ns) if t_ns is not None else None
            rec0 = call.recording_started_t
            if pos is None and t_ns is not None and rec0 is not None and call.sample_rate:
                # The recorder had no estimate yet (no audio expected so far):
                # on the clock from the recording's first sample, 0 before it.
                pos = max(0, int((t_ns - rec0) * call.sample_rate / 1e9))
            offset = call._ms(pos, True)
            placed.append((offset, t_ns or 0, ev.model_copy(update={
                "timestamp": when or call._iso(call.ended_t) or "", "audio_offset_ms": offset})))
        if placed and all(p[0] is not None for p in placed):
            placed.sort(key=lambda p: (p[0], p[1]))
        else:
            placed.sort(key=lambda p: p[1])
        return [p[2].to_wire() for p in placed]


def check_end_status(status: Any) -> Optional[str]:
    """``end_status=`` checked at construction (None stays None)."""
    return None if status is None else validate_status(status)


__all__ = ["CallOutcomeExtension", "check_end_status", "processors_before", "transcript_spans"]
