"""Where and when things happened, as the wire states it, and the latencies measured from it.

A moment of the call is known by its pipeline-clock time and, once placed
on the recording, its sample position. The wire wants both as wall-clock
timestamps and audio offsets that agree with the recording to the sample,
so the conversions live here, once, for every payload
(:mod:`pipecat_roark.call_payloads`) and for the observer's reports. The
latencies are measured here too, from the same placed edges:

- Response latency of an assistant turn that answers the caller: from the
  end of the caller's speech to the bot's first sound, both measured on the
  recording (the recorder reports where the caller's sound ended when the
  bot's began), so it holds whatever decided the turn (local VAD or the STT).
- Barge-in latency of an interrupted turn: how long the bot kept talking
  after the caller's first sound over it.

Mixed into :class:`~pipecat_roark.call.Call`, whose ``__init__`` sets the
attributes declared below.
"""

from __future__ import annotations

import datetime as _dt
from typing import Optional

from .call_state import Edge, TurnState
from .call_turns import INTERRUPTION_PAIRING_NS


def iso(epoch_secs: float) -> str:
    return (
        _dt.datetime.fromtimestamp(epoch_secs, tz=_dt.timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class CallFigures:
    """Times, offsets, the turns kept for the wire, and the latencies of one call."""

    turns: list[TurnState]
    wall_origin: Optional[float]
    sample_rate: Optional[int]
    recording_started_t: Optional[int]

    def _iso(self, t_ns: Optional[int]) -> Optional[str]:
        if t_ns is None or self.wall_origin is None:
            return None
        return iso(self.wall_origin + t_ns / 1e9)

    def _edge_t(self, edge: Edge) -> int:
        """When an edge happened: on the recording's own clock where it is placed on it (so
        timestamps and offsets agree to the sample), else its pipeline time."""
        if edge.pos is not None and self.sample_rate and self.recording_started_t is not None:
            return self.recording_started_t + int(edge.pos * 1e9 / self.sample_rate)
        return edge.t_ns

    def _ms(self, pos: Optional[int], anchored: bool) -> Optional[int]:
        if not anchored or pos is None or not self.sample_rate:
            return None
        return max(0, int(round(pos * 1000 / self.sample_rate)))

    def kept_turns(self) -> list[TurnState]:
        """The turns that go on the wire (those with words), in the order spoken.

        On the recording when every turn is placed on it (edges resolved
        there are exact), else by pipeline time.
        """
        kept = [t for t in self.turns if t.content]
        if self.sample_rate and all(t.start.pos is not None for t in kept):
            kept.sort(key=lambda t: (t.start.pos, t.start.t_ns))
        else:
            kept.sort(key=lambda t: self._edge_t(t.start))
        return kept

    def _dur_ms(self, a_pos: Optional[int], b_pos: Optional[int], a_t: Optional[int], b_t: Optional[int]) -> Optional[int]:
        """b - a in ms: on the recording when both positions are known, else on the clock."""
        if a_pos is not None and b_pos is not None and self.sample_rate:
            return int(round((b_pos - a_pos) * 1000 / self.sample_rate))
        if a_pos is None and b_pos is None and a_t is not None and b_t is not None:
            return int(round((b_t - a_t) / 1e6))
        return None

    def response_latency_ms(self, turn: TurnState, prev: Optional[TurnState]) -> Optional[int]:
        """Caller's speech end -> bot's first sound, for a turn that answers the caller."""
        if turn.role != "assistant" or turn.backchannel or prev is None or prev.role != "user":
            return None
        if turn.user_end_pos is not None and turn.start.pos is not None:
            ms = self._dur_ms(turn.user_end_pos, turn.start.pos, None, None)
        elif prev.end is not None and not prev.text_only:
            ms = self._dur_ms(prev.end.pos, turn.start.pos, prev.end.t_ns, turn.start.t_ns)
        else:
            ms = None
        return ms if ms is not None and ms >= 0 else None

    def barge_in_ms(self, turn: TurnState) -> Optional[int]:
        """How long the bot kept talking after the caller started over it."""
        if not turn.interrupted or turn.end is None:
            return None
        by = turn.interrupted_by or self._caller_over(turn)
        onset_pos = turn.caller_onset_pos if turn.caller_onset_pos is not None else (
            by.start.pos if by is not None else None)
        if onset_pos is None:  # no sound of the caller over the bot: from the interruption itself
            onset_pos = turn.interrupted_pos
        if onset_pos is not None and turn.start.pos is not None:
            onset_pos = max(onset_pos, turn.start.pos)
        onset_t = by.start.t_ns if by is not None and by.start.t_ns <= (turn.interrupted_t or by.start.t_ns) else turn.interrupted_t
        if onset_t is not None:
            onset_t = max(onset_t, turn.start.t_ns)
        ms = self._dur_ms(onset_pos, turn.end.pos, onset_t, turn.end.t_ns)
        return max(0, ms) if ms is not None else None

    def _caller_over(self, turn: TurnState) -> Optional[TurnState]:
        """The caller's turn that began over ``turn`` up to its interruption, found on the recording.

        For interruptions a service raises by itself with no user-turn frame
        (Gemini Live's ``interrupted``): the caller's turn is made later from
        the transcript and placed on the left channel, so it was not known
        when the interruption came.
        """
        hi, lo = turn.interrupted_pos, turn.start.pos
        if hi is None or lo is None or not self.sample_rate:
            return None
        window = self.sample_rate * INTERRUPTION_PAIRING_NS // 1_000_000_000
        for user in reversed(self.turns):
            pos = user.start.pos
            if user.role == "user" and not user.backchannel and pos is not None and lo <= pos <= hi \
                    and hi - pos <= window:
                return user
        return None

    def _prev_kept(self, turn: TurnState) -> Optional[TurnState]:
        """The turn with words before ``turn`` (scanned from the end: the turn is recent)."""
        passed = False
        for t in reversed(self.turns):
            if t is turn:
                passed = True
            elif passed and t.start.t_ns <= turn.start.t_ns and t.content and not t.backchannel:
                return t
        return None
