"""One call's state, and the payloads built from it.

Pure and synchronous: events go in with their times already measured (the
pipeline clock in ns, and where there is a recording, the sample position
on it); turns, tool records and the wire payloads come out. Nothing here
reads a clock or touches the network, so every rule below is unit-tested by
placing events by hand.

Turn rules (what an experienced Pipecat user expects):

- A user turn is one utterance: from the user starting to speak to their
  stopping. Final transcriptions join the latest user turn that had started
  by the time the transcription was pushed (a late final, even one that
  arrives after the bot began answering, still lands in its own turn).
  Consecutive utterances stay separate turns.
- An assistant turn is the bot's speech between two user turns. Its text is
  the words the caller heard. A turn the caller cut off is marked
  ``interrupted``; an interruption while the bot was silent is not one.
- Turns without any text (a cough the VAD took for speech, bot audio with no
  words) are left out.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Optional

from .models import CallEnded, CallStarted, ToolCallRecord, ToolResultRecord, Turn
from .text import MAX_TEXT_CHARS, clean_text, tool_arguments, tool_result_content

#: A transcription pushed this shortly before a user turn's start belongs to
#: it: STT-driven turn strategies announce the turn after the first final.
TRANSCRIPT_GRACE_NS = 300_000_000


def iso(epoch_secs: float) -> str:
    return (
        _dt.datetime.fromtimestamp(epoch_secs, tz=_dt.timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass
class Edge:
    """A moment of the call: pipeline-clock time, and sample position if recorded."""

    t_ns: int
    pos: Optional[int] = None


@dataclass
class TurnState:
    role: str
    start: Edge
    end: Optional[Edge] = None
    parts: list[str] = field(default_factory=list)
    chars: int = 0
    user_id: Optional[str] = None
    language: Optional[str] = None
    interrupted: bool = False
    # Assistant turns: the start was taken when the bot's "started" frame
    # passed; it moves to the first voiced sample once that is known.
    onset_pending: bool = False
    last_text_t: Optional[int] = None
    # User turns made from transcriptions alone (no speaking frames); closed
    # once the bot answers, so the next transcription starts a new turn.
    text_only: bool = False
    closed: bool = False
    # Assistant turns: the bot has reported speaking in this turn.
    spoken: bool = False

    def add_text(self, text: str, joiner: str) -> None:
        if not text or self.chars >= MAX_TEXT_CHARS:
            return
        if self.parts and joiner:
            self.parts.append(joiner)
        self.parts.append(text)
        self.chars += len(text)

    @property
    def content(self) -> str:
        return clean_text("".join(self.parts).strip())


@dataclass
class ToolState:
    tool_call_id: str
    name: str
    arguments: str
    call_at: Edge
    result: Optional[str] = None
    result_at: Optional[Edge] = None
    result_final: bool = False


class Call:
    def __init__(self, call_id: str):
        self.call_id = call_id
        self.turns: list[TurnState] = []
        self.tools: dict[str, ToolState] = {}
        self.wall_origin: Optional[float] = None  # epoch secs at pipeline clock 0
        self.started_t: Optional[int] = None
        self.ended_t: Optional[int] = None
        self.end_reason: Optional[str] = None
        self.sample_rate: Optional[int] = None
        self.num_channels: int = 2
        self.recording_started_t: Optional[int] = None
        self._user: Optional[TurnState] = None  # latest user turn
        self._user_open = False
        self._bot: Optional[TurnState] = None  # assistant turn still accepting speech
        self._bot_speaking = False

    # -- lifecycle ---------------------------------------------------------

    def start(self, t_ns: int, wall_origin: float) -> None:
        if self.started_t is None:
            self.started_t = t_ns
            self.wall_origin = wall_origin

    def set_recording(self, sample_rate: int, num_channels: int = 2) -> None:
        self.sample_rate = sample_rate
        self.num_channels = num_channels

    def recording_started(self, t_ns: int) -> None:
        if self.recording_started_t is None:
            self.recording_started_t = t_ns

    def end(self, t_ns: int, reason: str) -> bool:
        """Record the end once; later calls are ignored. True the first time."""
        if self.ended_t is not None:
            return False
        self.ended_t = t_ns
        self.end_reason = reason
        return True

    @property
    def ended(self) -> bool:
        return self.ended_t is not None

    # -- user --------------------------------------------------------------

    def user_started(self, t_ns: int, pos: Optional[int] = None) -> None:
        if self._user_open:
            return
        turn = TurnState("user", Edge(t_ns, pos))
        self.turns.append(turn)
        self._user, self._user_open = turn, True
        if self._bot is not None and not self._bot_speaking:
            self._bot = None

    def user_stopped(self, t_ns: int, pos: Optional[int] = None) -> None:
        if self._user is not None and self._user_open:
            self._user.end = Edge(t_ns, pos)
            self._user_open = False

    def transcription(self, t_ns: int, text: Any, user_id: Any = None, language: Any = None) -> None:
        text = clean_text(text).strip()
        if not text:
            return
        turn = self._user_turn_for(t_ns)
        if turn is None:
            # No speaking frames at all (STT-only pipeline): one turn per
            # stretch of transcriptions between bot replies.
            turn = TurnState("user", Edge(t_ns), text_only=True)
            self.turns.append(turn)
            self._user = turn
            if self._bot is not None and not self._bot_speaking:
                self._bot = None
        turn.add_text(text, " ")
        turn.last_text_t = t_ns
        if user_id and turn.user_id is None:
            turn.user_id = clean_text(user_id, 256)
        if language and turn.language is None:
            turn.language = clean_text(getattr(language, "value", language), 64)

    def _user_turn_for(self, t_ns: int) -> Optional[TurnState]:
        for turn in reversed(self.turns):
            if turn.role == "user" and turn.start.t_ns <= t_ns + TRANSCRIPT_GRACE_NS:
                return None if turn.closed else turn
        return None

    def _new_assistant_turn(self, edge: Edge, onset_pending: bool = False) -> TurnState:
        if self._user is not None and self._user.text_only:
            self._user.closed = True  # a text-only user turn ends when the bot answers
        self._bot = TurnState("assistant", edge, onset_pending=onset_pending)
        self.turns.append(self._bot)
        return self._bot

    # -- bot ---------------------------------------------------------------

    def bot_started(self, t_ns: int, pos: Optional[int] = None) -> None:
        if self._bot_speaking:
            return
        self._bot_speaking = True
        if self._bot is None:
            self._new_assistant_turn(Edge(t_ns, pos), onset_pending=pos is not None)
        elif not self._bot.spoken:
            # The output transport can release the first words a moment
            # before it reports speaking: the speech still starts here.
            self._bot.start = Edge(min(t_ns, self._bot.start.t_ns), pos)
            self._bot.onset_pending = pos is not None
        self._bot.spoken = True

    def bot_onset(self, t_ns: int, pos: int) -> None:
        """The first voiced sample of the current assistant turn."""
        if self._bot is not None and self._bot.onset_pending:
            self._bot.start = Edge(t_ns, pos)
            self._bot.onset_pending = False

    def bot_stopped(self, t_ns: int, pos: Optional[int] = None) -> None:
        if not self._bot_speaking:
            return
        self._bot_speaking = False
        if self._bot is not None:
            self._bot.end = Edge(t_ns, pos)
            self._last_stopped = self._bot
            self._bot.onset_pending = False
            if self._user is not None and self._user.start.t_ns >= self._bot.start.t_ns:
                self._bot = None  # the caller spoke: the next speech is a new turn

    def bot_offset(self, t_ns: int, pos: int) -> None:
        """Audio of the last assistant run that reached the recording after "stopped"."""
        turn = self._last_stopped
        if turn is not None and turn.end is not None and (turn.end.pos is None or pos > turn.end.pos):
            turn.end = Edge(max(t_ns, turn.end.t_ns), pos)

    def bot_text(self, t_ns: int, text: Any, spaced: bool = False) -> None:
        """Words of the bot: heard ones when an output transport releases them."""
        text = clean_text(text)
        if not text.strip():
            return
        if self._bot is None:
            self._new_assistant_turn(Edge(t_ns))
        # Pipecat's rule: chunks that carry their own spacing are concatenated,
        # others are joined with a space.
        self._bot.add_text(text if spaced else text.strip(), "" if spaced else " ")
        self._bot.last_text_t = t_ns

    def interruption(self, t_ns: int, pos: Optional[int] = None) -> None:
        # Pipecat broadcasts an interruption at every user-turn start: it cut
        # the bot off only if the bot was speaking.
        if self._bot_speaking and self._bot is not None:
            self._bot.interrupted = True

    # -- tools -------------------------------------------------------------

    def tool_call(self, t_ns: int, tool_call_id: Any, name: Any, arguments: Any, pos: Optional[int] = None) -> None:
        key = clean_text(tool_call_id, 256)
        if not key or key in self.tools:
            return
        self.tools[key] = ToolState(key, clean_text(name, 256) or "unknown", tool_arguments(arguments), Edge(t_ns, pos))

    def tool_result(
        self, t_ns: int, tool_call_id: Any, result: Any, name: Any = None, arguments: Any = None,
        pos: Optional[int] = None, final: bool = True,
    ) -> None:
        key = clean_text(tool_call_id, 256)
        if not key:
            return
        if key not in self.tools:  # the in-progress frame was never seen
            self.tool_call(t_ns, key, name, arguments, pos)
        tool = self.tools[key]
        if tool.result_final:
            return
        tool.result = tool_result_content(result)
        tool.result_at = Edge(t_ns, pos)
        tool.result_final = final

    # -- payloads ----------------------------------------------------------

    def _iso(self, t_ns: Optional[int]) -> Optional[str]:
        if t_ns is None or self.wall_origin is None:
            return None
        return iso(self.wall_origin + t_ns / 1e9)

    def _ms(self, pos: Optional[int], anchored: bool) -> Optional[int]:
        if not anchored or pos is None or not self.sample_rate:
            return None
        return max(0, int(round(pos * 1000 / self.sample_rate)))

    def build_started(self, settings: Any, t_ns: int) -> dict[str, Any]:
        return CallStarted(
            pipecat_call_id=self.call_id,
            event_timestamp=self._iso(t_ns) or iso(0),
            agent_id=settings.agent_id,
            agent_name=settings.agent_name,
            agent_prompt=settings.agent_prompt,
            roark_integration_id=settings.integration_id,
            is_test=True if settings.is_test else None,
            metadata=settings.metadata,
        ).to_wire()

    def build_turns(self, anchored: bool) -> list[Turn]:
        out = []
        for turn in sorted(self.turns, key=lambda t: t.start.t_ns):
            content = turn.content
            if not content:
                continue
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
                    timestamp=self._iso(turn.start.t_ns),
                    end_timestamp=self._iso(end.t_ns),
                    audio_offset_ms=start_ms,
                    end_audio_offset_ms=end_ms,
                    user_id=turn.user_id,
                    language=turn.language,
                    interrupted=True if turn.interrupted else None,
                )
            )
        return out

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
            if tool.result_at is not None:
                out.append(
                    ToolResultRecord(
                        tool_call_id=tool.tool_call_id,
                        content=tool.result or "",
                        timestamp=self._iso(tool.result_at.t_ns),
                        audio_offset_ms=self._ms(tool.result_at.pos, anchored),
                    )
                )
        return out

    def build_ended(self, settings: Any, *, now_wall: float, recording_delivered: bool, extra: Optional[dict] = None) -> dict[str, Any]:
        """The call-ended payload. ``recording_delivered``: chunks reached Roark."""
        anchored = recording_delivered and bool(self.sample_rate)
        turns = self.build_turns(anchored)
        tools = self.build_tools(anchored)
        ended_at = self._iso(self.ended_t) or iso(now_wall)
        payload = CallEnded(
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
            **(extra or {}),
        )
        return payload.to_wire()
