"""One call's owner: its state, its edges, its events, its single end, its delivery.

The recorder (inline, with positions on the recording) and the observer
(from its own queue, with pipeline-clock times) feed a :class:`CallSession`
through named methods (in the modules listed below); nothing here calls
back up into them. The session

- keeps the :class:`~pipecat_roark.call.Call` (pure state);
- queues every speaking edge as a hint and resolves it on the recording once
  the audio after it is there (:mod:`pipecat_roark.edges`);
- fires the user's events (``on_turn_completed`` once a turn is closed *and*
  its edges are resolved, ``on_metrics``, ...) as tasks of their own;
- decides the end once, whoever asks first (an end frame at the recorder, a
  Cancel/Stop seen by the observer, ``aflush``, teardown), and then hands
  the payload to :class:`~pipecat_roark.delivery.CallDelivery`.

Everything here is synchronous and O(1) per call from the frame path except
``_finalize`` (session_end.py), which is the only coroutine that waits, and
only on delivery.

Features that add to the payloads (outcome, telephony, cost, capture
policy, ...) plug in as :class:`CallExtension` objects, each in a module of
its own; the session asks each for its fields and lets each see the frames
it names.

:class:`CallSession` is one object to the recorder and the observer, but
its parts are kept in a module per concern and mixed in:

- :mod:`pipecat_roark.session_turns`: speaking edges, words and transcripts,
  placed on the recording, and the turns they make;
- :mod:`pipecat_roark.session_records`: tools, metrics and errors;
- :mod:`pipecat_roark.session_end`: the single end, call-ended and its
  delivery.

Here is what belongs to the session as a whole: its fields, all created in
``__init__`` so they are seen together, its wiring to the recorder, the
start, the recording's chunks and the extensions' hooks.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Any, Callable, Optional

from loguru import logger

from .call import Call, TurnState
from .delivery import CallDelivery
from .edges import EdgeResolver
from .heard import ServiceOutput
from .replay import start_background
from .session_end import SessionEnd
from .session_records import SessionRecords
from .session_turns import MAX_BACKCHANNEL_IDS, RELEASED_KEPT, SessionTurns
from .timeline import Timeline

# The names importers used before the module was split keep working from here.
__all__ = ["EVENT_HANDLER_GRACE_SECS", "MAX_BACKCHANNEL_IDS", "RELEASED_KEPT", "CallExtension", "CallLog", "CallSession"]

#: How long the end of a call waits for the user's event handlers.
EVENT_HANDLER_GRACE_SECS = 2.0


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


class CallSession(SessionTurns, SessionRecords, SessionEnd):
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

    # -- extensions ------------------------------------------------------------

    def _safely(self, ext: CallExtension, method: str, default: Any, *args: Any) -> Any:
        """Run an extension hook; a failing one is logged once and left out."""
        try:
            return getattr(ext, method)(*args)
        except Exception:
            self._warn_once(f"ext-{type(ext).__name__}-{method}",
                            f"{type(ext).__name__}.{method} failed; its fields are left out of this call")
            self.log.exception(f"{type(ext).__name__}.{method} failed")
            return default
