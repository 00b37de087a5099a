"""One call's owner: its state, its edges, its events, its single end, its delivery.

The recorder (inline, with positions on the recording) and the observer
(from its own queue, with pipeline-clock times) feed a :class:`CallSession`
through the named methods below; nothing here calls back up into them. The
session

- keeps the :class:`~pipecat_roark.call.Call` (pure state);
- queues every speaking edge as a hint and resolves it on the recording once
  the audio after it is there (:mod:`pipecat_roark.edges`);
- fires the user's events (``on_turn_completed`` once a turn is closed *and*
  its edges are resolved, ``on_metrics``, ...) as tasks of their own;
- decides the end once, whoever asks first (an end frame at the recorder, a
  Cancel/Stop seen by the observer, ``aflush``, teardown), and then hands
  the payload to :class:`~pipecat_roark.delivery.CallDelivery`.

Everything here is synchronous and O(1) per call from the frame path except
``finalize``, which is the only coroutine that waits, and only on delivery.

Features that add to the payloads (outcome, telephony, cost, capture
policy, ...) plug in as :class:`CallExtension` objects, each in a module of
its own; the session asks each for its fields and lets each see the frames
it names.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Optional

from loguru import logger

from .call import Call, Edge, TurnState
from .delivery import HAND_OFF_SECS, CallDelivery
from .edges import BACK, MIN_UTTERANCE_SECS, UTTERANCE_GAP_SECS, EdgeResolver, Hint, caller_over_bot
from .heard import ServiceOutput, heard_count
from .replay import start_background
from .summary import assess_recording
from .timeline import BOT, GAP_BLOCKS, USER, Timeline

#: How long the end of a call waits for the user's event handlers.
EVENT_HANDLER_GRACE_SECS = 2.0
#: Bot backchannel words remembered (by frame id) until released, and words released lately.
MAX_BACKCHANNEL_IDS = 64
RELEASED_KEPT = 16


class CallLog:
    """loguru with the call id on every line."""

    def __init__(self, call_id: str):
        self._prefix = f"Roark call {call_id}: "
        self._log = logger.bind(pipecat_call_id=call_id).opt(depth=1)

    def debug(self, msg: str) -> None:
        self._log.debug(self._prefix + msg)

    def info(self, msg: str) -> None:
        self._log.info(self._prefix + msg)

    def warning(self, msg: str) -> None:
        self._log.warning(self._prefix + msg)

    def error(self, msg: str) -> None:
        self._log.error(self._prefix + msg)

    def exception(self, msg: str) -> None:
        self._log.opt(exception=True).error(self._prefix + msg)


class CallExtension:
    """A feature that adds to a call's payloads. Override what you need; nothing may raise out.

    - ``frames``: frame classes the observer hands to ``on_frame`` (first push
      only, any direction), with the push's pipeline time.
    - ``started_fields()`` / ``ended_fields(session)``: extension fields (wire
      names) for call-started / call-ended; they are redacted with the rest.
    - ``finish_payload(payload)``: a last look at the call-ended wire dict
      (after redaction, before delivery and ``on_call_ended``).
    """

    frames: tuple = ()

    def on_frame(self, frame: Any, t_ns: int, data: Any) -> None:
        pass

    def started_fields(self) -> dict[str, Any]:
        return {}

    def ended_fields(self, session: "CallSession") -> dict[str, Any]:
        return {}

    def finish_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload


class CallSession:
    """The one owner of a call. See the module docstring."""

    def __init__(self, call_id: str, settings: Any, *, delivery: CallDelivery, log: CallLog,
                 fire: Callable[..., None], has_handlers: Callable[[str], bool], warn_once: Callable[[str, str], None],
                 tracing: Any = None, spool: Any = None, client_factory: Optional[Callable[[], Any]] = None,
                 on_redaction_failure: Optional[Callable[[str], None]] = None):
        self.call_id = call_id
        self.settings = settings
        self.call = Call(call_id)
        self.delivery = delivery
        self.log = log
        self._fire = fire
        self._has_handlers = has_handlers
        self._warn_once = warn_once
        self._tracing = tracing
        self._spool = spool
        self._client_factory = client_factory
        self._on_redaction_failure = on_redaction_failure
        self._started = False
        self._edges: Optional[EdgeResolver] = None
        self._timeline: Optional[Timeline] = None
        #: Position on the recording at a pipeline time (the recorder's estimate), for observer-side records.
        self._position_at: Callable[[int], Optional[int]] = lambda t: None
        self._recorder_present = False
        self._health: Callable[[], dict] = lambda: {"tracked": False, "stored": False, "rate": None}
        self._unreported: list[TurnState] = []  # closed assistant turns whose edges are not resolved yet
        self.bot_spoke = False
        self.final_task: Optional[asyncio.Task] = None
        self.finalized = False
        self.extensions: list[CallExtension] = []
        #: A speech-to-speech service runs the call (LLMServiceMetadataFrame).
        self.realtime = False
        #: An InterruptionFrame was seen: the pipeline says when it cuts the bot
        #: off. Without any, interruptions are read off the recording.
        self._interruptions_signalled = False
        #: What a speech-to-speech service produced (text ahead of audio), per response.
        self.service_output = ServiceOutput()
        #: Text frames of bot backchannels not released yet, and the last words released (frame id, turn).
        self._bot_backchannel_ids: OrderedDict[int, None] = OrderedDict()
        self._released: deque = deque(maxlen=RELEASED_KEPT)
        #: Speaking frames for the caller came in this call (else the left channel tells).
        self._user_frames = False
        #: The user turn last placed from its words while the caller was still speaking (its end is provisional).
        self._open_user: Optional[TurnState] = None
        self._bot_stopped_at: Optional[int] = None  # the bot track's position at the last "stopped"
        #: issue 15 (capture_control.py): chunk -> the chunks to send now (the consent gate); None sends each as it comes.
        self.chunk_gate: Optional[Callable[[int, bytes], list[tuple[int, bytes]]]] = None

    # -- wiring (the recorder, at its start) -----------------------------------

    def attach_recording(self, timeline: Optional[Timeline], position_at: Callable[[int], Optional[int]],
                         health: Callable[[], dict]) -> None:
        """The recorder is in the pipeline: edges are resolved on its timeline."""
        self._recorder_present = True
        self._timeline = timeline
        self._edges = EdgeResolver(timeline) if timeline is not None else None
        self._position_at = position_at
        self._health = health

    @property
    def started(self) -> bool:
        return self._started

    @property
    def ended(self) -> bool:
        return self.call.ended

    def position_at(self, t_ns: int) -> Optional[int]:
        return self._position_at(t_ns)

    # -- lifecycle ---------------------------------------------------------

    def start(self, t_ns: int, wall_origin: float, sample_rate: Optional[int] = None) -> None:
        """The pipeline started (idempotent): call-started goes out in the background."""
        if sample_rate:
            self.call.set_recording(sample_rate, 2)
        if self._started:
            return
        self._started = True
        self.call.start(t_ns, wall_origin)
        s = self.settings
        meta = {"agentId": s.agent_id, "integrationId": s.integration_id,
                "sampleRate": self.call.sample_rate, "numChannels": self.call.num_channels}
        extra: dict[str, Any] = {}
        for ext in self.extensions:
            extra.update(self._safely(ext, "started_fields", {}))
        self.delivery.send_started(
            self.call.build_started(s, t_ns, extra, on_redaction_failure=self._on_redaction_failure), meta)
        if self._spool is not None and self._client_factory is not None:
            # Whatever earlier calls on this machine left behind goes out now, paced.
            start_background(self._spool, self._client_factory)
        self.log.info(f"call started (agent {s.agent_id}), sending to {s.base_url}")

    def recording_started(self, t_ns: int) -> None:
        """Sample 0 of the recording was stored; it began at ``t_ns``."""
        self.call.recording_started(t_ns)

    def chunk(self, index: int, data: bytes, sample_rate: Optional[int] = None, num_channels: Optional[int] = None) -> None:
        """A recording chunk, numbered in recording order."""
        if sample_rate:  # a user's own processor decides its format
            self.call.set_recording(sample_rate, num_channels or 2)
        if self.settings.capture_audio:
            self.send_chunks([(index, data)] if self.chunk_gate is None else self.chunk_gate(index, data))

    def send_chunks(self, chunks: list[tuple[int, bytes]]) -> None:
        """Hand recording chunks to delivery (those the gate let through, or released later)."""
        for index, data in chunks:
            self.delivery.add_chunk(index, data, self.call.sample_rate, self.call.num_channels)

    def audio_advanced(self) -> None:
        """The recording grew (called per audio frame: O(1) unless an edge is due)."""
        edges = self._edges
        if edges is not None and edges.due():
            self._apply(edges.poll())

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

    # -- from the observer --------------------------------------------------

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

    def tool_call(self, t_ns: int, tool_call_id: Any, name: Any, arguments: Any) -> None:
        self.call.tool_call(t_ns, tool_call_id, name, arguments, pos=self.position_at(t_ns))

    def tool_result(self, t_ns: int, tool_call_id: Any, result: Any, name: Any, arguments: Any, *, final: bool,
                    error: Any, timeout_secs: Optional[float]) -> None:
        self._tool_done(self.call.tool_result(t_ns, tool_call_id, result, name, arguments, pos=self.position_at(t_ns),
                                              final=final, error=error, timeout_secs=timeout_secs))

    def tool_cancelled(self, t_ns: int, tool_call_id: Any, name: Any, timed_out: bool) -> None:
        self._tool_done(self.call.tool_cancelled(t_ns, tool_call_id, name, timed_out, pos=self.position_at(t_ns)))

    def tool_failed(self, t_ns: int, name: Any, error: Any, final: bool) -> None:
        tool = self.call.tool_failed(t_ns, name, error, self.position_at(t_ns), final=final)
        if final:
            self._tool_done(tool)

    def metrics(self, t_ns: int, records: list[dict]) -> None:
        self.call.add_metrics(t_ns, records, pos=self.position_at(t_ns))
        self._fire("on_metrics", [dict(r) for r in records])

    def error(self, t_ns: int, message: str, processor: Any, fatal: bool, category: Any) -> None:
        state = self.call.error(t_ns, message, processor, fatal, category, self.position_at(t_ns))
        if state is not None:
            self._fire("on_error", {
                "message": state.message, "processor": state.processor, "fatal": state.fatal,
                "category": state.category, "timestamp": self.call._iso(t_ns),
            })

    def _tool_done(self, tool: Any) -> None:
        if tool is None or not self._has_handlers("on_tool_completed"):
            return
        record = self.call.tool_report(tool)
        if record is not None:
            out = record.to_wire()
            out["name"] = tool.name
            self._fire("on_tool_completed", out)

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

    # -- the end (once) -------------------------------------------------------

    def end(self, t_ns: Optional[int], reason: str, hurry: bool = False) -> bool:
        """End the call now (the first caller wins). True if this call ended it.

        ``hurry``: the host is tearing the call down (a CancelFrame): what
        Roark does not take promptly goes to the spool instead of being waited for.
        """
        if self.call.ended:
            return False
        if not self._started:
            # Ended before it started (e.g. cancelled during setup): still a call.
            self.start(t_ns or 0, time.time() - (t_ns or 0) / 1e9)
        if t_ns is None or (self.call.started_t is not None and t_ns < self.call.started_t):
            t_ns = self.call.started_t or 0
        self.call.end(t_ns, reason)
        if self._edges is not None:
            self._apply(self._edges.poll(final=True))
        # Before the tail's uploads start: no URL fetched for a chunk that never comes.
        self.delivery.mark_ending()
        self.call.close_all()
        self._report_turns()
        self.log.info(f"call ended ({reason}); delivering")
        self.final_task = asyncio.get_running_loop().create_task(self._finalize(hurry))
        return True

    async def _finalize(self, hurry: bool = False) -> bool:
        tracing = self._tracing
        if tracing is not None:
            tracing.call_ending()  # spans ended so far go out ahead of call-ended
        try:
            ok = await self.delivery.finish(
                lambda delivered: self.build_ended(
                    delivered, extra=tracing.ended_fields() if tracing is not None else None,
                ),
                hurry=hurry,
            )
        except Exception:
            self.log.exception("finalization failed")
            ok = False
        finally:
            self.finalized = True
        st = self.delivery.stats
        audio = f"{st.chunks_delivered}/{st.chunks_produced} recording chunks"
        if ok:
            self.log.info(f"call delivered to Roark ({audio})")
        elif st.ended_spooled:
            self.log.info(f"call kept in the disk spool for later delivery ({audio} delivered so far)")
        else:
            self.log.error(f"call-ended could not be delivered ({audio}); see the warnings above")
        return ok

    def build_ended(self, delivered: bool, extra: Optional[dict] = None) -> dict[str, Any]:
        """call-ended, once the recording's fate is known (every upload done or given up)."""
        call, st = self.call, self.delivery.stats
        recording = None
        try:
            origin = call.recording_started_t if call.recording_started_t is not None else call.started_t
            call_ms = (call.ended_t - origin) / 1e6 if call.ended_t is not None and origin is not None else None
            recording = assess_recording(
                capture_audio=self.settings.capture_audio,
                recorder_present=self._recorder_present,
                capture=self._health(),
                chunks_produced=st.chunks_produced,
                chunks_delivered=st.chunks_delivered,
                chunks_lost=st.chunks_lost,
                call_ms=call_ms,
                bot_spoke=self.bot_spoke or any(t.role == "assistant" and t.spoken for t in call.turns),
                user_spoke=any(t.role == "user" for t in call.turns),
            )
            channels = recording[1].channels
            if channels is not None and channels.bot is not None and not channels.bot.sound and self.bot_spoke:
                self._warn_once(
                    "bot-silent",
                    "the bot channel of the recording is silent although the bot spoke: roark.audio_processor "
                    "must be placed right after transport.output() (placed earlier it never sees the bot's audio)",
                )
        except Exception:
            self.log.exception("could not assess the recording")
        fields = dict(extra or {})
        for ext in self.extensions:
            fields.update(self._safely(ext, "ended_fields", {}, self))
        payload = call.build_ended(self.settings, now_wall=time.time(), recording_delivered=delivered,
                                   extra=fields, recording=recording, on_redaction_failure=self._on_redaction_failure)
        for ext in self.extensions:
            payload = self._safely(ext, "finish_payload", payload, payload)
        self._fire("on_call_ended", dict(payload.get("callSummary") or {}), payload)
        return payload

    def _safely(self, ext: CallExtension, method: str, default: Any, *args: Any) -> Any:
        """Run an extension hook; a failing one is logged once and left out."""
        try:
            return getattr(ext, method)(*args)
        except Exception:
            self._warn_once(f"ext-{type(ext).__name__}-{method}",
                            f"{type(ext).__name__}.{method} failed; its fields are left out of this call")
            self.log.exception(f"{type(ext).__name__}.{method} failed")
            return default

    async def wait_final(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) for the call to be delivered or spooled.

        Finalization is bounded by the same deadline and hands over to the
        spool at the first sign of trouble; this bound is the backstop. The
        host's cancellation is honoured at once: what is not delivered yet
        gets a short, bounded hand-off to the spool, then the cancellation
        goes on.
        """
        task = self.final_task
        if task is None:
            return False
        try:
            done, _ = await asyncio.wait([task], timeout=timeout)
        except asyncio.CancelledError:
            await self._hand_off(task)
            raise
        if not done:
            await self._hand_off(task)
            return False
        return not task.cancelled() and task.exception() is None and bool(task.result())

    async def _hand_off(self, task: asyncio.Task) -> None:
        self.delivery.hand_off()
        try:
            await asyncio.wait([task], timeout=HAND_OFF_SECS)
        finally:
            if not task.done():
                self.delivery.abort()
