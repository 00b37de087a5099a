"""The wire payloads of a call (call-started, call-ended) and the reports user code is handed.

Built once, from the call's state, when the event is sent: the turns, tools,
metrics and errors are kept in their own terms while the call runs
(:mod:`pipecat_roark.call_state`) and only become wire records here, so the
names and shapes on the wire are stated in one place
(:mod:`pipecat_roark.models`) and the state machine never deals with them.
Offsets are given only when the recording reached Roark (``anchored``):
an offset into a recording Roark never got would point at nothing.
The call-ended payload is redacted here, before anything else sees it.

- Metrics belong to the turn that was current when they were pushed (those
  pushed before the first turn, to the first turn); LLM/TTS metrics of a
  generation that was then cut off carry ``interrupted``.

Mixed into :class:`~pipecat_roark.call.Call`, whose ``__init__`` sets the
attributes declared below.
"""

from __future__ import annotations

import bisect
from typing import Any, Optional

from . import summary as _summary
from .call_figures import iso
from .call_state import Edge, ErrorState, MetricState, ToolState, TurnState
from .metrics import UsageTotals
from .models import (
    CallEnded, CallStarted, CallSummary, ErrorRecord, MetricMeasurement, MetricRecord, PerSide, ToolCallRecord,
    ToolResultRecord, Turn, wire_names,
)


class CallPayloads:
    """call-started and call-ended, the ``on_turn_completed`` report and the tool result report."""

    call_id: str
    started_t: Optional[int]
    ended_t: Optional[int]
    end_reason: Optional[str]
    sample_rate: Optional[int]
    num_channels: int
    recording_started_t: Optional[int]
    tools: dict[str, ToolState]
    metrics: list[MetricState]
    metrics_dropped: int
    usage: UsageTotals
    errors: dict[tuple, ErrorState]
    errors_dropped: int

    def build_started(self, settings: Any, t_ns: int, extra: Optional[dict] = None,
                      on_redaction_failure: Optional[Any] = None) -> dict[str, Any]:
        """The call-started payload; ``extra``: extension fields (redacted like the rest)."""
        wire = CallStarted(
            pipecat_call_id=self.call_id,
            event_timestamp=self._iso(t_ns) or iso(0),
            agent_id=settings.agent_id,
            agent_name=settings.agent_name,
            agent_prompt=settings.agent_prompt,
            roark_integration_id=settings.integration_id,
            is_test=True if settings.is_test else None,
            metadata=settings.metadata,
            **(extra or {}),
        ).to_wire()
        redactor = getattr(settings, "redactor", None)
        if redactor is not None and extra:
            redactor.payload(wire, on_redaction_failure)
        return wire

    def turn_report(self, turn: TurnState, anchored: bool = True) -> dict[str, Any]:
        """What ``on_turn_completed`` hands to user code: the reply and its figures."""
        prev = self._prev_kept(turn)
        end = turn.end or Edge(turn.start.t_ns, turn.start.pos)
        out: dict[str, Any] = {
            "role": turn.role,
            "content": turn.content,
            "timestamp": self._iso(turn.start.t_ns),
            "endTimestamp": self._iso(end.t_ns),
            "audioOffsetMs": self._ms(turn.start.pos, anchored),
            "endAudioOffsetMs": self._ms(end.pos, anchored),
            "userContent": prev.content if prev is not None and prev.role == "user" else None,
            "responseLatencyMs": self.response_latency_ms(turn, prev),
            "interrupted": turn.interrupted,
            "bargeInLatencyMs": self.barge_in_ms(turn),
        }
        lo = prev.start.t_ns if prev is not None else -1
        recent = []
        for m in reversed(self.metrics):
            if m.t_ns < lo or len(recent) >= 50:
                break
            recent.append(dict(m.record))
        out["metrics"] = recent[::-1]
        return {k: v for k, v in out.items() if v is not None}

    # -- call-ended: its parts, then the whole -------------------------------

    def build_turns(self, anchored: bool, kept: Optional[list[TurnState]] = None) -> list[Turn]:
        out = []
        kept = self.kept_turns() if kept is None else kept
        prev: Optional[TurnState] = None
        for turn in kept:
            content = turn.content
            end = turn.end or Edge(turn.last_text_t if turn.last_text_t is not None else turn.start.t_ns)
            if end.t_ns < turn.start.t_ns:
                end = Edge(turn.start.t_ns, turn.start.pos)
            start_ms = self._ms(turn.start.pos, anchored)
            end_ms = self._ms(end.pos, anchored)
            if start_ms is not None and end_ms is not None and end_ms < start_ms:
                end_ms = start_ms
            if start_ms is None:
                end_ms = None
            out.append(
                Turn(
                    role=turn.role,
                    content=content,
                    timestamp=self._iso(self._edge_t(turn.start)),
                    end_timestamp=self._iso(max(self._edge_t(end), self._edge_t(turn.start))),
                    audio_offset_ms=start_ms,
                    end_audio_offset_ms=end_ms,
                    user_id=turn.user_id,
                    language=turn.language,
                    interrupted=True if turn.interrupted else None,
                    approximate=True if turn.approximate else None,
                    backchannel=True if turn.backchannel else None,
                    response_latency_ms=self.response_latency_ms(turn, prev),
                    barge_in_latency_ms=self.barge_in_ms(turn),
                )
            )
            if not turn.backchannel:
                prev = turn  # an acknowledgement over the bot is not what the next reply answers
        return out

    def tool_report(self, tool: ToolState, anchored: bool = True, end_t: Optional[int] = None) -> Optional[ToolResultRecord]:
        status, at = self.tool_outcome(tool, end_t)
        if at is None:
            return None
        duration = self._dur_ms(None, None, tool.call_at.t_ns, at.t_ns)
        return ToolResultRecord(
            tool_call_id=tool.tool_call_id,
            content=tool.result or "",
            timestamp=self._iso(at.t_ns) or iso(0),
            audio_offset_ms=self._ms(at.pos, anchored),
            status=status,
            error=tool.error if status == "failed" else None,
            duration_ms=max(0, duration) if duration is not None else None,
        )

    def build_tools(self, anchored: bool) -> list:
        out: list = []
        for tool in self.tools.values():
            out.append(
                ToolCallRecord(
                    tool_call_id=tool.tool_call_id,
                    name=tool.name,
                    arguments=tool.arguments,
                    timestamp=self._iso(tool.call_at.t_ns),
                    audio_offset_ms=self._ms(tool.call_at.pos, anchored),
                )
            )
            result = self.tool_report(tool, anchored, self.ended_t)
            if result is not None:
                out.append(result)
        return out

    def _generation_windows(self, kept: list[TurnState]) -> list[tuple[int, int]]:
        """(from, to] pipeline times of generations that were cut off."""
        windows = []
        for i, turn in enumerate(kept):
            if turn.role != "assistant" or not turn.interrupted or turn.interrupted_t is None:
                continue
            prev = kept[i - 1] if i else None
            if prev is None:
                lo = -1
            elif prev.role == "assistant" and prev.end is not None:
                lo = prev.end.t_ns
            else:
                lo = prev.start.t_ns
            windows.append((lo, turn.interrupted_t))
        return windows

    def build_metrics(self, anchored: bool, kept: Optional[list[TurnState]] = None) -> list[MetricRecord]:
        kept = self.kept_turns() if kept is None else kept
        starts = [t.start.t_ns for t in kept]
        windows = self._generation_windows(kept)
        names = wire_names(MetricRecord)
        out = []
        for m in self.metrics:
            # The measurement's wire dict, placed in time and on a turn, validated once.
            rec = m.record.to_wire() if isinstance(m.record, MetricMeasurement) else dict(m.record)
            placed = {
                "turn_index": max(0, bisect.bisect_right(starts, m.t_ns) - 1) if starts else None,
                "interrupted": True if rec.get(names["kind"]) in ("llm", "tts")
                and any(lo < m.t_ns <= hi for lo, hi in windows) else None,
                "timestamp": self._iso(m.t_ns) or iso(0),
                "audio_offset_ms": self._ms(m.pos, anchored),
            }
            rec.update({names[k]: v for k, v in placed.items() if v is not None})
            out.append(MetricRecord.model_validate(rec))
        return out

    def build_errors(self, anchored: bool) -> list[ErrorRecord]:
        return [
            ErrorRecord(
                message=e.message,
                processor=e.processor,
                fatal=e.fatal,
                category=e.category,
                timestamp=self._iso(e.at.t_ns) or iso(0),
                audio_offset_ms=self._ms(e.at.pos, anchored),
                count=e.count if e.count > 1 else None,
            )
            for e in self.errors.values()
        ]

    def build_summary(self, kept: list[TurnState], turns: list[Turn], recording_status: Optional[str] = None) -> CallSummary:
        """The callSummary block."""
        rate = self.sample_rate
        on_recording = bool(rate) and all(t.start.pos is not None for t in kept)
        origin = self.recording_started_t if self.recording_started_t is not None else (self.started_t or 0)
        spans = []
        for t in kept:
            end = t.end or Edge(t.last_text_t if t.last_text_t is not None else t.start.t_ns)
            if on_recording and end.pos is not None:
                spans.append((t.role, t.start.pos * 1000 / rate, end.pos * 1000 / rate))  # type: ignore[operator]
            elif not on_recording:
                spans.append((t.role, (t.start.t_ns - origin) / 1e6, (end.t_ns - origin) / 1e6))
        call_ms = (self.ended_t - origin) / 1e6 if self.ended_t is not None else None
        statuses = [self.tool_outcome(tool, self.ended_t)[0] for tool in self.tools.values()]
        return CallSummary(
            turns=PerSide(
                user=sum(1 for t in kept if t.role == "user"),
                assistant=sum(1 for t in kept if t.role == "assistant"),
            ),
            talk_time_ms=_summary.talk_time(spans),
            silence_ms=_summary.silence_ms(spans, call_ms),
            interruptions=sum(1 for t in kept if t.role == "assistant" and t.interrupted),
            tool_calls=_summary.tool_counts(statuses),
            errors=sum(e.count for e in self.errors.values()) + self.errors_dropped,
            latency=_summary.latency_summary(t.response_latency_ms for t in turns),
            usage=self.usage.summary(),
            metrics_dropped=self.metrics_dropped or None,
            errors_dropped=self.errors_dropped or None,
            recording_status=recording_status or None,
        )

    def build_ended(
        self, settings: Any, *, now_wall: float, recording_delivered: bool, extra: Optional[dict] = None,
        recording: Optional[tuple[str, Any]] = None, on_redaction_failure: Optional[Any] = None,
    ) -> dict[str, Any]:
        """The call-ended payload. ``recording_delivered``: chunks reached Roark.

        ``recording``: (recordingStatus, recordingHealth) as the observer
        measured them. With ``settings.redactor`` (``redact=``), the words and
        tool data are redacted here, so whatever handles the payload next
        (delivery, the spool, ``on_call_ended``) only ever has the redacted
        text; ``on_redaction_failure(reason)`` hears of a rule that failed.
        """
        anchored = recording_delivered and bool(self.sample_rate)
        kept = self.kept_turns()
        turns = self.build_turns(anchored, kept)
        tools = self.build_tools(anchored)
        metrics = self.build_metrics(anchored, kept)
        errors = self.build_errors(anchored)
        status, health = recording if recording is not None else (None, None)
        ended_at = self._iso(self.ended_t) or iso(now_wall)
        fields: dict[str, Any] = dict(
            pipecat_call_id=self.call_id,
            event_timestamp=iso(now_wall),
            call_started_at=self._iso(self.started_t),
            call_ended_at=ended_at,
            call_ended_reason=self.end_reason or "ended",
            agent_spoke_first=(turns[0].role == "assistant") if turns else None,
            recording_sample_rate=self.sample_rate if anchored else None,
            recording_num_channels=self.num_channels if anchored else None,
            recording_started_at=self._iso(self.recording_started_t) if anchored else None,
            transcript=turns or None,
            tool_calls=tools or None,
            roark_integration_id=settings.integration_id,
            metrics=metrics or None,
            errors=errors or None,
            recording_status=status,
            recording_health=health,
            call_summary=self.build_summary(kept, turns, status),
        )
        fields.update(extra or {})
        wire = CallEnded(**fields).to_wire()
        redactor = getattr(settings, "redactor", None)
        if redactor is not None:
            redactor.payload(wire, on_redaction_failure)
        return wire
