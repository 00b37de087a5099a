"""How a call's events become turns: who is speaking, which words are whose, who cut whom.

The turn state machine of :class:`~pipecat_roark.call.Call`, kept apart from
what is read out of the turns afterwards (latencies, the wire payloads)
because it is the part that runs during the call: every speaking edge,
word, backchannel and interruption goes through it, in whatever order
Pipecat delivers them.
Mixed into ``Call``, whose ``__init__`` sets the attributes declared below.

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
"""

from __future__ import annotations

from typing import Any, Optional

from .call_state import Edge, TurnState
from .heard import starts_utterance
from .text import clean_text

#: A transcription pushed this shortly before a user turn's start belongs to
#: it: STT-driven turn strategies announce the turn after the first final.
TRANSCRIPT_GRACE_NS = 300_000_000
#: An interruption and the ruling on the caller's turn this close together go together.
INTERRUPTION_PAIRING_NS = 1_000_000_000
#: Closed turns waiting for the observer to report them.
MAX_CLOSED = 16


class TurnRules:
    """User and assistant turns of one call, from speaking edges, words, backchannels and interruptions."""

    turns: list[TurnState]
    sample_rate: Optional[int]
    _user: Optional[TurnState]
    _user_open: bool
    _bot: Optional[TurnState]
    _bot_speaking: bool
    _speaking: Optional[TurnState]
    _closed: list[TurnState]
    _last_cut: Optional[TurnState]

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
