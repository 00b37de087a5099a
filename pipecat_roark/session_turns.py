"""Speech as the session is told of it: speaking edges placed on the recording, words, transcripts, turns.

A mixin of :class:`~pipecat_roark.session.CallSession`. A speaking frame
is a hint, not an edge: it goes to the call's turn rules at once
(call_turns.py) and is queued with its pipeline time and the track's
position then; the turn's edge is set once the recording around it is
there (edges.py). The cut replies and barge-ins of speech-to-speech
services, which send no frames for them, are read off the recording here
too. A turn goes to the app's ``on_turn_completed`` once it is closed and
placed.

Kept apart from the rest of the session because it is the part the frames
of a call keep running through, and the only one that reads the recording.
The session's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Callable, Optional

from .call import Call, Edge, TurnState
from .edges import BACK, MIN_UTTERANCE_SECS, UTTERANCE_GAP_SECS, EdgeResolver, Hint, caller_over_bot
from .heard import ServiceOutput, heard_count
from .timeline import BOT, GAP_BLOCKS, USER, Timeline

#: Bot backchannel words remembered (by frame id) until released, and words released lately.
MAX_BACKCHANNEL_IDS = 64
RELEASED_KEPT = 16


class SessionTurns:
    """What the recorder and the observer say about who speaks when, and the turns it makes."""

    call: Call
    bot_spoke: bool
    realtime: bool
    service_output: ServiceOutput
    _edges: Optional[EdgeResolver]
    _timeline: Optional[Timeline]
    _unreported: list[TurnState]
    _interruptions_signalled: bool
    _bot_backchannel_ids: OrderedDict[int, None]
    _released: deque
    _user_frames: bool
    _open_user: Optional[TurnState]
    _bot_stopped_at: Optional[int]
    _fire: Callable[..., None]
    _has_handlers: Callable[[str], bool]
    position_at: Callable[[int], Optional[int]]

    # -- speaking edges (hints: t = pipeline time, head = the side's track
    #    position then, est = best estimate of the edge on that track) ---------

    def user_started(self, t_ns: int, head: Optional[int] = None, est: Optional[int] = None,
                     prefer: str = "forward") -> None:
        self._user_frames = True
        turn = self.call.user_started(t_ns)
        if turn is not None:
            self._hint(Hint(USER, "start", t_ns, head, est, prefer, turn,
                            prefer_fn=lambda: BACK if turn.words_first else None), head)
        self._report_turns()

    def user_stopped(self, t_ns: int, head: Optional[int] = None, est: Optional[int] = None) -> None:
        turn = self.call.user_stopped(t_ns)
        if turn is not None:
            self._hint(Hint(USER, "end", t_ns, head, est, target=turn), head)

    def bot_started(self, t_ns: int, head: Optional[int] = None) -> None:
        self.bot_spoke = True
        self._new_reply_if_caller_spoke(head)
        turn = self.call.bot_started(t_ns)
        if turn is not None:
            self._hint(Hint(BOT, "start", t_ns, head, head, target=turn), head)
        self._report_turns()

    def bot_stopped(self, t_ns: int, head: Optional[int] = None) -> None:
        self._bot_stopped_at = head
        turn = self.call.bot_stopped(t_ns)
        if turn is not None:
            self._hint(Hint(BOT, "end", t_ns, head, head, target=turn), head)
        self._report_turns()

    def bot_text(self, t_ns: int, text: Any, spaced: bool = False, frame_id: Optional[int] = None,
                 head: Optional[int] = None) -> None:
        mark = None
        if self.service_output.active and frame_id is not None:
            delta = self.service_output.delta(frame_id)
            mark = (delta, head) if delta is not None else None
        bc = self._bot_backchannel_ids
        backchannel = bool(bc) and frame_id in bc
        opened = self.call.bot_text(t_ns, text, spaced, mark, backchannel=backchannel)
        if opened is not None:  # a turn opened mid-sound: it starts where its words were released
            self._hint(Hint(BOT, "start", t_ns, head, head, target=opened), head)
        turn = self.call.bot_turn
        if frame_id is not None and turn is not None:
            self._released.append((frame_id, turn, len(turn.parts) == 1))
        self._report_turns()

    def is_bot_backchannel(self, frame_id: Optional[int]) -> bool:
        return frame_id is not None and frame_id in self._bot_backchannel_ids

    def bot_backchannel_text(self, frame_id: int) -> None:
        """A TTS pushed text of a bot backchannel (its segment, or words of it): when the
        output transport releases those words, they are a backchannel."""
        for fid, turn, first in self._released:
            if fid == frame_id:  # released before this was known (the observer runs behind)
                if first:  # its words opened the turn: the turn is the acknowledgement
                    self.call.bot_backchannel_late(turn)
                    self._report_turns()
                return
        self._bot_backchannel_ids[frame_id] = None
        while len(self._bot_backchannel_ids) > MAX_BACKCHANNEL_IDS:
            self._bot_backchannel_ids.popitem(last=False)

    def interruption(self, t_ns: int, head: Optional[int] = None) -> None:
        self._interruptions_signalled = True
        self.call.interruption(t_ns, head)
        self._report_turns()

    def backchannel(self, role: str, t_ns: int, text: Any, user_id: Any = None) -> None:
        """A short acknowledgement ("mhm") over the other side: kept, flagged, splitting nothing."""
        turn = self.call.backchannel(role, t_ns, text, user_id)
        head = self.position_at(t_ns)
        if turn is None or head is None or role != "user":
            return
        # Pushed once the sound is over: it is the caller's sound just before.
        self._hint(Hint(USER, "start", t_ns, head, head, BACK, turn), head)
        self._hint(Hint(USER, "end", t_ns, head, head, target=turn), head)

    def bot_response_started(self, t_ns: int, head: Optional[int] = None) -> None:
        """A new response begins (LLMFullResponseStartFrame, in playing order, before its words)."""
        self._new_reply_if_caller_spoke(head)
        self.call.response_started()

    def _new_reply_if_caller_spoke(self, head: Optional[int]) -> None:
        """No speaking frames for the caller at all, but the left channel says they spoke
        since the bot's last words: what the bot says now is a reply, a new turn."""
        if not self._user_frames and head is not None and self.call.speaking is None \
                and self._caller_spoke_since(self._bot_stopped_at, head):
            self.call.close_all()
            self._bot_stopped_at = None  # that speech is answered: once per reply

    def service_text(self, frame_id: int, text: Any) -> None:
        """A speech-to-speech service pushed a text delta (ahead of its audio, maybe)."""
        self.service_output.text(frame_id, text)

    def service_audio(self, pcm: bytes, sample_rate: int, num_channels: int = 1) -> None:
        """Audio a speech-to-speech service produced (its seconds of speech are counted)."""
        self.service_output.audio(pcm, sample_rate, num_channels)

    def service_response_started(self) -> None:
        self.service_output.response_started()

    def realtime_service(self) -> None:
        """A speech-to-speech service announced itself: its transcripts are whole utterances, sent late."""
        self.realtime = True

    def _hint(self, hint: Hint, head: Optional[int]) -> None:
        if self._edges is None or head is None or hint.est is None:
            return  # no recording: the frame's time is the edge
        hint.target.edges_pending += 1
        self._edges.add(hint)

    def _caller_spoke_since(self, since: Optional[int], until: int) -> bool:
        tl = self._timeline
        if tl is None or since is None or until <= since:
            return False
        b = tl.block
        runs = tl.speech_runs(USER, since // b, until // b, GAP_BLOCKS)
        return any((e - s) * b >= MIN_UTTERANCE_SECS * tl.sample_rate for s, e in runs)

    def _apply(self, resolved: list[tuple[Hint, int]]) -> None:
        rate = self._timeline.sample_rate if self._timeline is not None else 1
        for hint, pos in resolved:
            edge = Edge(hint.time_of(pos, rate), pos)
            turn = hint.target
            if hint.edge == "start":
                user_end = None
                if hint.side == BOT and self._timeline is not None:
                    user_end = self._timeline.speech_end_before(USER, pos)
                self.call.set_start(turn, edge, user_end=user_end)
            else:
                self.call.set_end(turn, edge)
                if hint.side == BOT and not self._interruptions_signalled:
                    self._read_interruption(turn, hint)
                if hint.side == BOT and turn.interrupted:
                    self._keep_heard(turn)
        self._report_turns()

    def _keep_heard(self, turn: TurnState) -> None:
        """A cut reply of a speech-to-speech service: drop the words its audio never reached (heard.py)."""
        tl = self._timeline
        marks = [(i, m) for i, m in turn.deltas if m is not None]
        if tl is None or not marks or turn.end is None or turn.end.pos is None:
            return
        last = marks[-1][1][0].response
        resp = self.service_output.response(last)
        own = [(i, m) for i, m in marks if m[0].response == last]
        head = own[0][1][1]
        if resp is None or head is None:
            return
        rate = self.service_output.speaking_rate(last)
        resp.cut = True  # from now on its ratio is not the bot's speaking rate
        onset = tl.first_voiced_at_or_after(BOT, head)
        onset = head if onset is None or onset > turn.end.pos else onset
        n = heard_count([m[0] for _, m in own], self._speech_secs(BOT, onset, turn.end.pos), rate)
        if n is not None and n < len(own):
            self.call.keep_heard(turn, own[n][0])

    def _speech_secs(self, side: int, start: int, end: int) -> float:
        """Seconds of speech (voiced 10 ms blocks) on one channel of the recording, [start, end)."""
        tl = self._timeline
        if tl is None or end <= start:
            return 0.0
        b = tl.block
        runs = tl.speech_runs(side, start // b, -(-end // b), 0)
        return sum(e - s for s, e in runs) * b / tl.sample_rate

    def _read_interruption(self, turn: TurnState, hint: Hint) -> None:
        """No InterruptionFrame in this call: the caller's sound over the bot's, then the bot
        stopping soon after, is a barge-in (full-duplex speech-to-speech services)."""
        tl = self._timeline
        if tl is None or turn.interrupted or turn.backchannel or turn.start.pos is None or turn.end is None or turn.end.pos is None:
            return
        onset = caller_over_bot(tl, turn.start.pos, turn.end.pos)
        if onset is not None:
            self.call.cut_by_caller(turn, onset, hint.time_of(turn.end.pos, tl.sample_rate))

    # -- transcripts (from the observer) ----------------------------------------

    def transcription(self, t_ns: int, text: Any, user_id: Any = None, language: Any = None) -> None:
        placed = self.call.transcription(t_ns, text, user_id, language, whole_utterance=self.realtime)
        if placed is not None and self.realtime:
            self._place_from_recording(placed, t_ns)
        self._report_turns()

    def _place_from_recording(self, turn: TurnState, t_ns: int) -> None:
        """A user turn known only from its words: on the next utterance the left channel holds."""
        edges, tl = self._edges, self._timeline
        head = self.position_at(t_ns)
        if edges is None or tl is None or head is None:
            return
        until = min(head, tl.pos(USER))
        span = edges.place_utterance(USER, until)
        rate = tl.sample_rate
        at = lambda pos: t_ns + int((pos - head) * 1e9 / rate)  # noqa: E731
        # Words of the same utterance come in several transcripts (Gemini Live: one per
        # sentence, or per pause in its text; some while the caller still speaks): no new
        # speech since the last placed turn, or more of the speech it was placed on while it
        # ran (within an utterance's gap), joins that turn and carries its end along. Not
        # when speaking frames rule the caller's turns: a transcript they left out is its own.
        last, joined = self._open_user, None
        same = span is None or (last is not None and last.end is not None and last.end.pos is not None
                                and span[0] - last.end.pos <= UTTERANCE_GAP_SECS * rate)
        if same and not self._user_frames:
            joined = self.call.join_previous_user(turn)
            if joined is not None and span is not None:
                self.call.set_end(joined, Edge(at(span[1]), span[1]))
        if joined is not None:
            turn = joined
        elif span is not None:
            turn.text_only = False
            self.call.set_start(turn, Edge(at(span[0]), span[0]))
            self.call.set_end(turn, Edge(at(span[1]), span[1]))
        if span is not None and not turn.text_only:
            # Its speech may go on: the head is within an utterance's gap of the span's end.
            self._open_user = turn if until - span[1] < UTTERANCE_GAP_SECS * rate else None

    # -- turns to the app's handlers ------------------------------------------

    def _report_turns(self) -> None:
        closed = self.call.take_closed()
        if closed:
            self._unreported.extend(closed)
        if not self._unreported:
            return
        if not self._has_handlers("on_turn_completed"):
            self._unreported.clear()
            return
        # A turn is reported once it has ended and its edges are on the recording (or the call is over).
        ready = [t for t in self._unreported
                 if self.call.ended or (not t.edges_pending and t.end is not None and t is not self.call.speaking)]
        if not ready:
            return
        self._unreported = [t for t in self._unreported if t not in ready]
        for turn in ready:
            if turn.content:
                self._fire("on_turn_completed", self.call.turn_report(turn))
