"""The records one call keeps while it runs: its moments, turns, tools, metrics and errors.

Plain data, shared by the rules that fill it (:mod:`pipecat_roark.call_turns`,
:mod:`pipecat_roark.call_records`) and the code that reads it out
(:mod:`pipecat_roark.call_figures`, :mod:`pipecat_roark.call_payloads`); kept
apart from all of them so that none has to import another to know a field.
The session holds on to :class:`TurnState` objects to place their edges on
the recording later (edges.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .text import MAX_TEXT_CHARS, clean_text


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
    # When the frame that opened the turn passed (never moved by edge
    # resolution): the turn logic orders by it, the wire by ``start``.
    start_hint_t: Optional[int] = None
    end_hint_t: Optional[int] = None
    # Speaking edges queued for resolution on the recording (edges.py).
    edges_pending: int = 0
    first_text_t: Optional[int] = None
    last_text_t: Optional[int] = None
    # User turns made from transcriptions alone (no speaking frames); closed
    # once the bot answers, so the next transcription starts a new turn.
    text_only: bool = False
    closed: bool = False
    # Assistant turns: the bot has reported speaking in this turn.
    spoken: bool = False
    # Assistant turns: where the caller's speech before the bot's first sound
    # ended, on the recording.
    user_end_pos: Optional[int] = None
    # Interrupted assistant turns: when, where the recording was, and the
    # user turn that cut in.
    interrupted_t: Optional[int] = None
    interrupted_pos: Optional[int] = None
    # Interruptions read off the recording (no InterruptionFrame): the
    # caller's first sound over the bot.
    caller_onset_pos: Optional[int] = None
    # The next words of the bot begin a new response (a space goes between).
    break_next: bool = False
    # Assistant turns of speech-to-speech services: (index in parts where a
    # delta begins, what heard.py needs of it), to drop words never played.
    deltas: list = field(default_factory=list)
    approximate: bool = False
    # A short acknowledgement over the other side (UserBackchannelFrame; for
    # the bot, the words of a BotBackchannelFrame its TTS spoke).
    backchannel: bool = False
    # Assistant turns: the user turn (ruled on its words) that opening this one closed.
    closed_user: Optional["TurnState"] = field(default=None, repr=False)
    interrupted_by: Optional["TurnState"] = field(default=None, repr=False)
    reported: bool = False

    @property
    def words_first(self) -> bool:
        """Its words were pushed before the ruling that started it: an STT-ruled turn."""
        return self.first_text_t is not None and self.start_hint_t is not None and self.first_text_t <= self.start_hint_t

    def __post_init__(self) -> None:
        if self.start_hint_t is None:
            self.start_hint_t = self.start.t_ns

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
    status: Optional[str] = None  # completed | failed | cancelled | timed_out
    error: Optional[str] = None
    failed_at: Optional[Edge] = None


@dataclass
class MetricState:
    t_ns: int
    pos: Optional[int]
    record: dict


@dataclass
class ErrorState:
    message: str
    processor: Optional[str]
    fatal: bool
    category: Optional[str]
    at: Edge
    count: int = 1

