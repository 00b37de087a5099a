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
- A backchannel ("mhm" from the caller, "Mm-hmm." from the bot while the
  caller talks) is a short turn of its own, flagged: it neither splits nor
  cuts the other side's turn, answers nothing and is not what is answered.
- Turns without any text (a cough the VAD took for speech, bot audio with no
  words) are left out.

Figures on top of the turns (all extensions of the contract):

- Response latency of an assistant turn that answers the caller: from the
  end of the caller's speech to the bot's first sound, both measured on the
  recording (the recorder reports where the caller's sound ended when the
  bot's began), so it holds whatever decided the turn (local VAD or the STT).
- Barge-in latency of an interrupted turn: how long the bot kept talking
  after the caller's first sound over it.
- Metrics belong to the turn that was current when they were pushed (those
  pushed before the first turn, to the first turn); LLM/TTS metrics of a
  generation that was then cut off carry ``interrupted``.
- Tools end completed, failed, cancelled, timed out, or (never answered by
  the end of the call) with no result; errors are kept once per distinct
  message. Metrics and errors are capped, and what was dropped is counted.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections import OrderedDict
from typing import Any, Optional

from . import summary as _summary
from .call_records import MAX_ERRORS, MAX_METRICS, TIMEOUT_SLACK_NS, CallRecords
from .call_state import Edge, ErrorState, MetricState, ToolState, TurnState
from .heard import starts_utterance
from .metrics import UsageTotals
from .models import (
    CallEnded, CallStarted, CallSummary, ErrorRecord, MetricMeasurement, MetricRecord, PerSide, ToolCallRecord,
    ToolResultRecord, Turn, wire_names,
)
from .text import clean_text

# The names importers used before the module was split keep working from here.
__all__ = [
    "INTERRUPTION_PAIRING_NS",
    "MAX_CLOSED",
    "MAX_ERRORS",
    "MAX_METRICS",
    "TIMEOUT_SLACK_NS",
    "TRANSCRIPT_GRACE_NS",
    "Call",
    "Edge",
    "ErrorState",
    "MetricState",
    "ToolState",
    "TurnState",
    "iso",
]

#: A transcription pushed this shortly before a user turn's start belongs to
#: it: STT-driven turn strategies announce the turn after the first final.
TRANSCRIPT_GRACE_NS = 300_000_000
#: An interruption and the ruling on the caller's turn this close together go together.
INTERRUPTION_PAIRING_NS = 1_000_000_000
#: Closed turns waiting for the observer to report them.
MAX_CLOSED = 16


def iso(epoch_secs: float) -> str:
    return (
        _dt.datetime.fromtimestamp(epoch_secs, tz=_dt.timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class Call(CallRecords):
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
        self._speaking: Optional[TurnState] = None  # the assistant turn the bot's current speech belongs to
        self.metrics: list[MetricState] = []
        self.metrics_dropped = 0
        self.usage = UsageTotals()
        self.errors: OrderedDict[tuple, ErrorState] = OrderedDict()
        self.errors_dropped = 0
        self._closed: list[TurnState] = []  # assistant turns closed, not yet reported
        self._last_cut: Optional[TurnState] = None  # the assistant turn the latest interruption cut

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

    def user_started(self, t_ns: int) -> Optional[TurnState]:
        """The caller started a turn. Returns the turn whose start is to be placed, or None."""
        if self._user_open:
            return None
        latest = self._user
        if (latest is not None and latest.text_only and not latest.closed
                and t_ns <= latest.start_hint_t + TRANSCRIPT_GRACE_NS):
            # The words of this utterance got here before the ruling on it
            # (a transcript-driven turn start): they are the same turn.
            latest.text_only = False
            latest.start = Edge(min(t_ns, latest.start.t_ns))
            latest.start_hint_t = t_ns
            turn = latest
        else:
            turn = TurnState("user", Edge(t_ns))
            self.turns.append(turn)
        self._user, self._user_open = turn, True
        cut = self._last_cut
        if cut is not None and cut.interrupted_by is None and cut.interrupted_t is not None \
                and 0 <= t_ns - cut.interrupted_t <= INTERRUPTION_PAIRING_NS:
            cut.interrupted_by = turn  # the interruption came a moment before the ruling on the turn
        if self._bot is not None and not self._bot_speaking:
            self._close_bot()
        return turn

    def user_stopped(self, t_ns: int) -> Optional[TurnState]:
        """The caller's turn ended. Returns the turn whose end is to be placed, or None."""
        if self._user is None or not self._user_open:
            return None
        turn = self._user
        turn.end = Edge(t_ns)
        turn.end_hint_t = t_ns
        self._user_open = False
        return turn

    def set_start(self, turn: TurnState, edge: Edge, user_end: Optional[int] = None) -> None:
        """A start placed on the recording (edges.py)."""
        turn.start = edge
        if user_end is not None or turn.role == "assistant":
            turn.user_end_pos = user_end
        turn.edges_pending = max(0, turn.edges_pending - 1)

    def set_end(self, turn: TurnState, edge: Edge) -> None:
        """An end placed on the recording (edges.py)."""
        if turn.start.pos is not None and edge.pos is not None and edge.pos < turn.start.pos:
            edge = Edge(turn.start.t_ns, turn.start.pos)
        turn.end = edge
        turn.edges_pending = max(0, turn.edges_pending - 1)

    def transcription(self, t_ns: int, text: Any, user_id: Any = None, language: Any = None,
                      whole_utterance: bool = False) -> Optional[TurnState]:
        """A final transcription. Returns the user turn it made when it joined none (text only).

        ``whole_utterance``: the transcript of one whole utterance, in the
        order spoken (speech-to-speech services send them late, often after
        the reply began): it goes to the earliest user turn still without words.
        """
        text = clean_text(text).strip()
        if not text:
            return None
        created = None
        turn = self._earliest_wordless(t_ns) if whole_utterance else self._user_turn_for(t_ns)
        if turn is None and whole_utterance and self._user is not None and self._user.text_only \
                and not self._user.closed and self._user is self.turns[-1]:
            turn = self._user  # more words of an utterance placed from its transcript
        if turn is None:
            # No speaking frames at all (STT-only pipeline): one turn per
            # stretch of transcriptions between bot replies.
            turn = created = TurnState("user", Edge(t_ns), text_only=True)
            self.turns.append(turn)
            self._user = turn
            if self._bot is not None and not self._bot_speaking:
                self._close_bot()
        turn.add_text(text, " ")
        if turn.first_text_t is None:
            turn.first_text_t = t_ns
        turn.last_text_t = t_ns
        if user_id and turn.user_id is None:
            turn.user_id = clean_text(user_id, 256)
        if language and turn.language is None:
            turn.language = clean_text(getattr(language, "value", language), 64)
        return created

    def join_previous_user(self, turn: TurnState) -> Optional[TurnState]:
        """``turn``, just made from a transcript that the recording places on no new utterance,
        holds more words of the caller's last placed one (Gemini Live sends a transcript per
        sentence, the later ones after the reply began): its words go there and it is dropped.
        Returns the turn joined, or None."""
        if not turn.text_only or not self.turns or self.turns[-1] is not turn:
            return None
        prev = next((t for t in reversed(self.turns[:-1]) if t.role == "user" and not t.backchannel), None)
        if prev is None or prev.start.pos is None or prev.text_only:
            return None
        self.turns.pop()
        for i, part in enumerate(p for p in turn.parts if p):
            prev.add_text(part, " " if i == 0 else "")
        prev.last_text_t = turn.last_text_t
        if self._user is turn:
            self._user = prev
        return prev

    def _earliest_wordless(self, t_ns: int) -> Optional[TurnState]:
        """The first user turn (in the order ruled) that has no words yet and began by ``t_ns``."""
        for turn in self.turns:
            if turn.role == "user" and not turn.parts and not turn.text_only and \
                    turn.start_hint_t <= t_ns + TRANSCRIPT_GRACE_NS:
                return turn
        return None

    def _user_turn_for(self, t_ns: int) -> Optional[TurnState]:
        for turn in reversed(self.turns):
            if turn.role == "user" and not turn.backchannel and turn.start_hint_t <= t_ns + TRANSCRIPT_GRACE_NS:
                if turn.closed:
                    return None
                if turn.words_first and turn.end_hint_t is not None and t_ns > turn.end_hint_t:
                    return None  # the ruling on those words is over: these are a new utterance's
                return turn
        return None

    def _new_assistant_turn(self, edge: Edge, backchannel: bool = False) -> TurnState:
        self._bot = TurnState("assistant", edge, backchannel=backchannel)
        if not backchannel and self._user is not None and not self._user.closed \
                and (self._user.text_only or self._user.words_first):
            # A turn ruled on its words ends when the bot answers: words after
            # that are a new utterance (a late final of a VAD-ruled turn is not).
            self._user.closed = True
            self._bot.closed_user = self._user
        self.turns.append(self._bot)
        return self._bot

    def _close_bot(self) -> None:
        """The current assistant turn takes no more speech: report it once."""
        turn, self._bot = self._bot, None
        if turn is not None and not turn.reported:
            turn.reported = True
            self._closed.append(turn)
            if len(self._closed) > MAX_CLOSED:
                del self._closed[0]

    def take_closed(self) -> list[TurnState]:
        """Assistant turns closed since the last call (for ``on_turn_completed``)."""
        if not self._closed:
            return []
        out, self._closed = self._closed, []
        return out

    @property
    def bot_turn(self) -> Optional[TurnState]:
        """The assistant turn taking the bot's words now, if any."""
        return self._bot

    @property
    def speaking(self) -> Optional[TurnState]:
        """The assistant turn the bot is speaking now, if any."""
        return self._speaking if self._bot_speaking else None

    def close_all(self) -> None:
        """At the end of the call: the turn still open is complete too."""
        self._close_bot()

    # -- bot ---------------------------------------------------------------

    def bot_started(self, t_ns: int) -> Optional[TurnState]:
        """The bot started speaking. Returns the turn whose start is to be placed, or None."""
        if self._bot_speaking:
            return None
        self._bot_speaking = True
        placed: Optional[TurnState] = None
        if self._bot is None:
            placed = self._new_assistant_turn(Edge(t_ns))
        elif not self._bot.spoken:
            # The output transport can release the first words a moment
            # before it reports speaking: the speech still starts here.
            self._bot.start = Edge(min(t_ns, self._bot.start.t_ns))
            self._bot.start_hint_t = t_ns
            placed = self._bot
        self._bot.spoken = True
        self._speaking = self._bot
        return placed

    def bot_stopped(self, t_ns: int) -> Optional[TurnState]:
        """The bot stopped speaking. Returns the turn whose end is to be placed, or None."""
        if not self._bot_speaking:
            return None
        self._bot_speaking = False
        turn, self._speaking = self._speaking, None
        if turn is None:
            return None
        turn.end = Edge(t_ns)
        if turn is self._bot and (turn.backchannel or (
                self._user is not None and self._user.start_hint_t >= turn.start_hint_t)):
            self._close_bot()  # the caller spoke (or this was an acknowledgement): the next speech is a new turn
        return turn

    def bot_text(self, t_ns: int, text: Any, spaced: bool = False, mark: Any = None,
                 backchannel: bool = False) -> Optional[TurnState]:
        """Words of the bot: heard ones when an output transport releases them.

        ``mark``: what is known of a speech-to-speech delta (see heard.py).
        ``backchannel``: words of a bot backchannel ("Mm-hmm." said while the
        caller talks): an assistant turn of their own, flagged, which answers
        nothing and takes no other words. Returns a turn opened while the bot
        was already speaking (its start is to be placed where its words are), else None.
        """
        text = clean_text(text)
        if not text.strip():
            return None
        placed = None
        bot = self._bot
        if backchannel and bot is not None and not bot.backchannel:
            if not bot.parts:
                # The turn its sound opened (words released with the sound, or after
                # it, even after the bot stopped: a TTS without word times).
                self._flag_backchannel(bot)
            else:
                self._close_bot()  # another turn is open: the acknowledgement is not part of it
        elif not backchannel and bot is not None and bot.backchannel:
            self._close_bot()  # the bot's own words after its acknowledgement: a new turn
        if self._bot is None:
            self._new_assistant_turn(Edge(t_ns), backchannel=backchannel)
            if self._bot_speaking:
                self._bot.spoken = True
                self._speaking = placed = self._bot
        # Pipecat's rule: chunks that carry their own spacing are concatenated,
        # others are joined with a space; a new response is a new sentence.
        joiner = "" if spaced else " "
        if self._bot.break_next:
            self._bot.break_next = False
            last = self._bot.parts[-1] if self._bot.parts else " "
            if spaced and not last[-1:].isspace() and not text[:1].isspace():
                joiner = " "
        elif mark is not None and spaced and self._bot.parts and starts_utterance(self._bot.parts[-1], text):
            joiner = " "  # two utterances of a speech-to-speech service in one response (heard.py)
        at = len(self._bot.parts)
        self._bot.add_text(text if spaced else text.strip(), joiner)
        if mark is not None and len(self._bot.parts) > at:
            self._bot.deltas.append((at, mark))
        if self._bot.first_text_t is None:
            self._bot.first_text_t = t_ns
        self._bot.last_text_t = t_ns
        if backchannel and self._bot.spoken and self._speaking is not self._bot:
            self._close_bot()  # its sound is over (the words came after it): it takes no more
        return placed

    def _flag_backchannel(self, turn: TurnState) -> None:
        turn.backchannel = True
        if turn.closed_user is not None:
            turn.closed_user.closed = False  # the caller's turn goes on: nothing answered it
            turn.closed_user = None

    def bot_backchannel_late(self, turn: TurnState) -> None:
        """The words that began ``turn`` turn out to be a bot backchannel (told after they were released)."""
        if turn.role != "assistant" or turn.backchannel:
            return
        self._flag_backchannel(turn)
        if turn is self._bot and not (self._bot_speaking and self._speaking is turn):
            self._close_bot()

    def backchannel(self, role: str, t_ns: int, text: Any, user_id: Any = None) -> Optional[TurnState]:
        """A backchannel: its own short turn, which neither ends nor cuts the other side's."""
        text = clean_text(text).strip()
        if not text or role not in ("user", "assistant"):
            return None
        turn = TurnState(role, Edge(t_ns), backchannel=True, closed=True)
        turn.add_text(text, " ")
        turn.first_text_t = turn.last_text_t = t_ns
        turn.end = Edge(t_ns)
        if user_id and role == "user":
            turn.user_id = clean_text(user_id, 256)
        self.turns.append(turn)
        return turn

    def keep_heard(self, turn: TurnState, part_index: int) -> None:
        """Drop the words from ``part_index`` on (never played); the text is now an estimate."""
        if part_index >= len(turn.parts):
            return
        del turn.parts[part_index:]
        turn.deltas = [(i, m) for i, m in turn.deltas if i < part_index]
        turn.chars = sum(len(p) for p in turn.parts)
        turn.approximate = True

    def response_started(self) -> None:
        """The bot begins a new response (a speech-to-speech service's next answer)."""
        if self._bot is not None and self._bot.parts:
            self._bot.break_next = True

    def cut_by_caller(self, turn: TurnState, caller_onset: int, t_ns: int) -> None:
        """An interruption read off the recording: the caller spoke over ``turn`` and the bot stopped."""
        if turn.interrupted:
            return
        turn.interrupted = True
        turn.interrupted_t, turn.caller_onset_pos = t_ns, caller_onset
        turn.interrupted_pos = turn.end.pos if turn.end is not None else None
        for user in self.turns:
            if user.role == "user" and user.start.pos is not None and abs(user.start.pos - caller_onset) <= \
                    (self.sample_rate or 16000) // 2:
                turn.interrupted_by = user
                break
        self._last_cut = turn
        if turn is self._bot:
            self._close_bot()

    def interruption(self, t_ns: int, pos: Optional[int] = None) -> None:
        """Pipecat broadcasts an interruption at every user-turn start: it cut
        the bot off only if the bot was speaking. A cut turn is closed: what
        the bot says next is a new turn."""
        bot = self._speaking
        if not self._bot_speaking or bot is None or bot is not self._bot or bot.backchannel:
            return  # (a bot backchannel is spoken through interruptions unless made interruptible)
        bot.interrupted = True
        bot.interrupted_t, bot.interrupted_pos = t_ns, pos
        user = self._user
        bot.interrupted_by = user if user is not None and user.start_hint_t >= bot.start_hint_t else None
        self._last_cut = bot
        self._close_bot()

    # -- payloads ----------------------------------------------------------

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

    # -- figures -------------------------------------------------------------

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

    # -- payloads ----------------------------------------------------------

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
