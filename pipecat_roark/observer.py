"""RoarkObserver: Pipecat frames -> one call -> Roark.

The observer is a thin adapter. It reads each frame once, stamps it with the
time Pipecat pushed it (``FramePushed.timestamp``, never the time it got
round to reading it, so nothing depends on how far its queue lags), and hands
it to the call's :class:`~pipecat_roark.session.CallSession` with a named
method. ``on_push_frame`` does O(1) work and never awaits the network.

Two sources feed the session: the recorder (``roark.audio_processor``,
inline) for everything that has a place on the recording (speaking edges,
heard words, interruptions, the end), and this observer for what never
passes the recorder or needs no place: transcriptions, tools, metrics,
errors. Without the recorder, the observer feeds the speaking frames too
(positions are then unknown, and the words are the ones generated).

:class:`RoarkObserver` is one object to the app, but only its constructor
and the frame path live here, where the per-frame cost is plain to see; the
rest is mixed in from a module per concern:

- :mod:`pipecat_roark.observer_api`: what the app calls (properties,
  ``add_extension``, ``allow_audio`` / ``discard_audio``, ``event``,
  ``aflush``);
- :mod:`pipecat_roark.observer_lifecycle`: Pipecat's pipeline-started and
  cleanup hooks, and how the observer ends the call;
- :mod:`pipecat_roark.observer_events`: the app's event handlers;
- :mod:`pipecat_roark.observer_warnings`: the once-per-call warnings about
  the wiring;
- :mod:`pipecat_roark.observer_frames`: which frames are looked at, on the
  installed Pipecat.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any, Optional

from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    MetricsFrame,
    StartFrame,
    StopFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection

from .capture import Capture, end_reason
from .callpolicy import CallPolicy
from .capture_control import CaptureControl
from .client import RoarkClient
from .config import DEFAULT_FINALIZE_TIMEOUT_SECS, Settings, build_settings, resolve_call_id
from .config import check_unknown_kwargs, observer_argument_names  # issue 13: reject misspelled arguments
from .delivery import CallDelivery
from .call_outcome import CallOutcomeExtension, check_end_status  # issue 14: outcome, telephony, events, cost
from .prices import build_prices
from .metrics import is_initial_zero_frame, to_records
from .observer_api import ObserverAPI
from .observer_events import EVENTS, ObserverEvents
from .observer_frames import (  # module globals here, as before: the frame path reads them at no extra cost
    _NEW_FRAMES, _OBSERVED, _RESULT_CARRIES_ERROR, _S2S_AUDIO, _S2S_OBSERVED, _SUPPORTS_FIRST_PUSH, _TOOL_ERROR_PREFIX,
    ExternalFunctionCallCancelFrame, ExternalFunctionCallInProgressFrame, ExternalFunctionCallResultFrame,
    LLMServiceMetadataFrame, UserBackchannelFrame, _class_kind, _service_kind, _tool_timeout_secs,
)
from .observer_lifecycle import ObserverLifecycle
from .observer_warnings import ObserverWarnings
from .policy import DEFAULT_DEFER_MAX_BYTES, SAMPLING_COUNTS
from .recorder import AudioTap, RoarkAudioRecorder
from .session import CallLog, CallSession
from .spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_MAX_BYTES
from .spool import Spool
from .text import clean_text
from .tracing import CallTracing

# Imported from here by others, and so kept importable from here: RoarkObserver,
# EVENTS and CallLog (tests), _SUPPORTS_FIRST_PUSH (benchmarks/overhead.py).

_DEDUPE_SIZE = 512


# The mixins go before BaseObserver: their hooks (on_pipeline_started, cleanup)
# override Pipecat's, and cleanup's super() still reaches BaseObject's.
class RoarkObserver(ObserverAPI, ObserverLifecycle, ObserverEvents, ObserverWarnings, BaseObserver):
    """Captures one Pipecat call and ships it to Roark.

    Create one per call, pass it to ``PipelineWorker(observers=[...])`` and
    put ``roark.audio_processor`` right after ``transport.output()``.

    Events (``@roark.event_handler("on_turn_completed")``; handlers run as
    tasks of their own, never in the frame path):

    - ``on_turn_completed(roark, turn)``: an assistant turn is over (the
      caller spoke again, or the call ended): its words, the caller's words
      it answered, ``responseLatencyMs``, ``interrupted``,
      ``bargeInLatencyMs`` and the metrics measured since the caller's turn.
    - ``on_metrics(roark, records)``: service metrics as they arrive.
    - ``on_tool_completed(roark, record)``: a tool result with its status.
    - ``on_error(roark, error)``: the first time each distinct error is seen.
    - ``on_call_ended(roark, summary, payload)``: the call summary and the
      whole ``call-ended`` payload, as it is sent.

    ``redact=`` (see :mod:`pipecat_roark.redaction`) redacts what is sent
    (and so the ``on_call_ended`` payload); the other events are in-process
    and carry the raw words.
    """

    def __init__(
        self,
        *,
        agent_id: str,
        api_key: Optional[str] = None,
        agent_name: Optional[str] = None,
        agent_prompt: Optional[str] = None,
        audio_buffer_processor: Optional[AudioBufferProcessor] = None,
        pipecat_call_id: Optional[str] = None,
        runner_args: Any = None,
        roark_integration_id: Optional[str] = None,
        is_test: bool = False,
        metadata: Optional[dict[str, Any]] = None,
        capture_audio: bool = True,
        base_url: Optional[str] = None,
        sample_rate: Optional[int] = None,
        finalize_timeout_secs: float = DEFAULT_FINALIZE_TIMEOUT_SECS,
        spool_dir: Any = None,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        trace: bool = False,
        redact: Any = None,
        end_status: Optional[str] = None,
        prices: Optional[dict[str, Any]] = None,
        capture: Any = None,
        capture_logs: bool = False,
        log_level: Optional[str] = None,
        sampling: Optional[float] = None,
        defer_audio: bool = False,
        defer_audio_max_bytes: int = DEFAULT_DEFER_MAX_BYTES,
        **kwargs: Any,
    ):
        check_unknown_kwargs(kwargs, observer_argument_names(type(self)))  # issue 13: before BaseObject swallows them
        end_status, price_table = check_end_status(end_status), build_prices(prices)  # issue 14
        if _SUPPORTS_FIRST_PUSH:
            kwargs.setdefault("observe_every_push", False)
        super().__init__(**kwargs)
        if audio_buffer_processor is not None and not isinstance(audio_buffer_processor, AudioBufferProcessor):
            raise TypeError(
                "RoarkObserver: audio_buffer_processor must be a pipecat AudioBufferProcessor "
                f"(got {type(audio_buffer_processor).__name__}); or leave it unset and use roark.audio_processor"
            )
        self._settings: Settings = build_settings(
            agent_id=agent_id, api_key=api_key, agent_name=agent_name, agent_prompt=agent_prompt,
            roark_integration_id=roark_integration_id, is_test=is_test, metadata=metadata,
            capture_audio=capture_audio, base_url=base_url, sample_rate=sample_rate,
            finalize_timeout_secs=finalize_timeout_secs, spool_dir=spool_dir, spool_max_bytes=spool_max_bytes,
            redact=redact, capture=capture, trace=trace, capture_logs=capture_logs, sampling=sampling,
            defer_audio=defer_audio, defer_audio_max_bytes=defer_audio_max_bytes, log_level=log_level,
        )
        self._call_id = resolve_call_id(pipecat_call_id, runner_args)
        self._log = CallLog(self._call_id)
        s = self._settings
        self._enabled = s.enabled
        if not s.enabled:
            if s.disabled_reason == "no API key":
                self._log.error(
                    f"no Roark API key: set ROARK_API_KEY (or pass api_key=) to send calls to {s.base_url}; "
                    "this call will not be recorded"
                )
            else:
                self._log.info(f"Roark observability is off ({s.disabled_reason}); nothing will be recorded or sent")
        if not isinstance(trace, bool):
            raise TypeError(f"RoarkObserver: trace must be True or False, got {trace!r}")
        # issue 15 (capture_control.py): sampling, consent gate, call logs, capture switches.
        self._policy: Optional[CallPolicy] = CallPolicy.from_settings(self._call_id, s) if self._enabled else None
        if self._policy is not None and not self._policy.shipped:
            self._enabled = False
            self._log.debug(f"left out by sampling={s.sampling} (this process so far: {SAMPLING_COUNTS.snapshot()})")
        self._warned: set[str] = set()
        self._fire_tasks: set[asyncio.Task] = set()
        self._seen: OrderedDict[int, None] = OrderedDict()
        for name in EVENTS:
            self._register_event_handler(name)
        self._spool = Spool.at(s.spool_dir, s.spool_max_bytes) if s.spool_dir is not None and self._enabled else None
        self._delivery = CallDelivery(
            self._new_client(), self._call_id,
            max_in_flight=s.max_uploads_in_flight, finalize_timeout=s.finalize_timeout_secs,
            expect_audio=self._enabled and s.capture_audio and not s.defer_audio, log=self._log, spool=self._spool,
        )
        # trace=True: the worker's Pipecat spans for this call go to Roark (tracing.py).
        self._tracing: Optional[CallTracing] = CallTracing.create(
            self._call_id, s, self._log, on_redaction_failure=self._redaction_failed,
        ) if s.capture.traces and self._enabled else None
        self._session = CallSession(
            self._call_id, s, delivery=self._delivery, log=self._log, fire=self._fire,
            has_handlers=self._has_handlers, warn_once=self._warn_once, tracing=self._tracing, spool=self._spool,
            client_factory=self._new_client, on_redaction_failure=self._redaction_failed,
        )
        sink = self._session if self._enabled else None
        record = self._enabled and self._policy is not None and self._policy.record_audio
        self._recorder: Any
        if audio_buffer_processor is not None:
            self._recorder = AudioTap(audio_buffer_processor, sink, self if self._enabled else None, record)
            self._processor: AudioBufferProcessor = audio_buffer_processor
        else:
            self._recorder = self._processor = RoarkAudioRecorder(
                sink=sink, observer=self if self._enabled else None, record=record, sample_rate=s.sample_rate,
                chunk_bytes=s.chunk_bytes,
            )
        self._capture: Capture = self._recorder.capture
        # Frames the observer looks at: its own, and those its extensions name.
        self._observed: tuple = _OBSERVED
        # Whether a frame class is looked at, by class: the observer is told
        # of every push of every frame, audio most of all, and a dict lookup
        # costs a fraction of isinstance() against ~20 classes.
        self._wanted: dict[type, bool] = {}
        self._ext_frames: tuple = ()
        self._clock: Any = None
        # Without the recorder: the reason of the end frame seen, for the end at teardown.
        self._fallback_reason: Optional[str] = None
        # issue 14: outcome, telephony, DTMF/user events, cost, turn-taking (call_outcome.py).
        self._outcome = self.add_extension(CallOutcomeExtension(
            self._session, now=self._now_ns, recorder=self._processor, runner_args=runner_args,
            end_status=end_status, prices=price_table))
        self._control: Optional[CaptureControl] = None
        if self._enabled and self._policy is not None:
            self._control = self.add_extension(CaptureControl(self._session, self._policy, self._capture,
                                                              lambda: self._capture._clock or self._clock))

    def _new_client(self) -> RoarkClient:
        s = self._settings
        return RoarkClient(s.base_url, s.headers, s.request_timeout_secs)

    # -- BaseObserver (its other hooks: observer_lifecycle.py) -------------

    async def on_push_frame(self, data: FramePushed):
        frame = data.frame
        wanted = self._wanted.get(frame.__class__)
        if wanted is None:
            wanted = self._wanted[frame.__class__] = isinstance(frame, self._observed)
        if not wanted or not self._enabled or self._session.finalized:
            return
        try:
            first = getattr(data, "first_push", None)
            if first is False:
                return
            if first is None and not self._first_sight(frame.id):
                return
            if isinstance(frame, self._ext_frames):
                for ext in self._session.extensions:
                    if isinstance(frame, ext.frames):
                        ext.on_frame(frame, data.timestamp, data)
            if isinstance(frame, _OBSERVED) or isinstance(frame, _S2S_OBSERVED):
                self._handle(frame, data)
        except Exception:
            name = type(frame).__name__
            if name not in self._warned:  # once per frame type: no log storm
                self._warned.add(name)
                self._log.exception(f"error handling {name}; the call continues")

    # -- frames seen by the observer ----------------------------------------

    def _first_sight(self, frame_id: int) -> bool:
        # Pipecat < 1.12 reports every hop of a frame; remember recent ids.
        if frame_id in self._seen:
            return False
        self._seen[frame_id] = None
        if len(self._seen) > _DEDUPE_SIZE:
            self._seen.popitem(last=False)
        return True

    def _handle(self, frame: Any, data: FramePushed) -> None:
        t = data.timestamp
        session = self._session
        if isinstance(frame, BotStartedSpeakingFrame):
            session.bot_spoke = True  # for the recording's health: the bot did speak, wherever the recorder is
        if isinstance(frame, TranscriptionFrame):
            session.transcription(t, frame.text, getattr(frame, "user_id", None), getattr(frame, "language", None))
        elif isinstance(frame, MetricsFrame):
            self._on_metrics(frame, data)
        elif isinstance(frame, ErrorFrame):
            self._on_error(frame, data)
        elif isinstance(frame, FunctionCallCancelFrame):
            # Pipecat >= 1.x settles a timed-out call with a cancel that asks
            # the LLM to run (an interruption's does not).
            timed_out = bool(getattr(frame, "run_llm", False))
            if not timed_out:
                limit = _tool_timeout_secs(data.source, frame.function_name)
                tool = session.call.tools.get(clean_text(frame.tool_call_id, 256))
                timed_out = bool(limit and tool and t - tool.call_at.t_ns >= limit * 1e9 - 50_000_000)
            session.tool_cancelled(t, frame.tool_call_id, frame.function_name, timed_out)
        elif isinstance(frame, FunctionCallInProgressFrame):
            session.tool_call(t, frame.tool_call_id, frame.function_name, frame.arguments)
        elif isinstance(frame, FunctionCallResultFrame):
            props = getattr(frame, "properties", None)
            final = getattr(props, "is_final", True) is not False
            result = frame.result
            error = getattr(frame, "error", None)
            if result is None and error:
                result = {"error": clean_text(error, 2000)}
            timeout = _tool_timeout_secs(data.source, frame.function_name) if result is None and final else None
            session.tool_result(t, frame.tool_call_id, result, frame.function_name, frame.arguments,
                                final=final, error=error, timeout_secs=timeout)
        elif _NEW_FRAMES and isinstance(frame, _NEW_FRAMES):
            self._on_new_frame(frame, t)
        elif isinstance(frame, StartFrame):
            self._clock = getattr(data.source, "get_clock", lambda: None)()
            self._check_metrics_enabled(frame)
        elif LLMServiceMetadataFrame is not None and isinstance(frame, LLMServiceMetadataFrame):
            if getattr(frame, "is_realtime_service", False):
                session.realtime_service()
                self._watch_service_output()
        elif isinstance(frame, _S2S_AUDIO) or isinstance(frame, LLMFullResponseStartFrame):
            if _class_kind(data.source) == "llm":
                if isinstance(frame, LLMFullResponseStartFrame):
                    session.service_response_started()
                elif frame.sample_rate:
                    session.service_audio(frame.audio, frame.sample_rate, frame.num_channels or 1)
        elif isinstance(frame, AggregatedTextFrame) and (
                getattr(frame, "text_type", None) == "backchannel"
                or session.is_bot_backchannel(getattr(frame, "segment_id", None))):
            # Pipecat >= 1.13: a BotBackchannelFrame as its TTS speaks it. The TTS pushes
            # the segment (text_type "backchannel") ahead of its words, which are
            # typed "word" when the TTS reports word times and name the segment. The
            # BotBackchannelFrame itself is only a request: without a TTS nothing is said.
            session.bot_backchannel_text(frame.id)
            if isinstance(frame, TTSTextFrame) and not self._capture.started:
                self._handle_without_recorder(frame, data)
        elif isinstance(frame, TTSTextFrame) and _class_kind(data.source) == "llm":
            # Words straight from a speech-to-speech service, ahead of the audio
            # they belong to: counted to estimate what a barge-in left unplayed.
            session.service_text(frame.id, frame.text)
            self._watch_service_output()
            if not self._capture.started:
                self._handle_without_recorder(frame, data)
        elif not self._capture.started:
            self._handle_without_recorder(frame, data)

    def _on_new_frame(self, frame: Any, t: int) -> None:
        """Frames of Pipecat >= 1.13: a backchannel, or a tool run by a backend worker."""
        session = self._session
        if isinstance(frame, UserBackchannelFrame):
            session.backchannel("user", t, frame.text, getattr(frame, "user_id", None))
        elif isinstance(frame, ExternalFunctionCallInProgressFrame):
            session.tool_call(t, frame.tool_call_id, frame.function_name, frame.arguments)
        elif isinstance(frame, ExternalFunctionCallResultFrame):
            session.tool_result(t, frame.tool_call_id, frame.result, frame.function_name, frame.arguments,
                                final=getattr(frame, "is_final", True) is not False, error=None, timeout_secs=None)
        elif isinstance(frame, ExternalFunctionCallCancelFrame):
            session.tool_cancelled(t, frame.tool_call_id, frame.function_name, False)

    def _watch_service_output(self) -> None:
        if _S2S_OBSERVED[0] not in self._observed:
            self._observe_also(_S2S_OBSERVED)

    def _observe_also(self, frames: tuple) -> None:
        self._observed = tuple(dict.fromkeys(self._observed + frames))
        self._wanted = {}

    def _handle_without_recorder(self, frame: Any, data: FramePushed) -> None:
        """Degraded capture when the recorder is missing: words as generated, times as pushed."""
        t = data.timestamp
        session = self._session
        if isinstance(frame, TTSTextFrame):
            session.bot_text(t, frame.text, bool(getattr(frame, "includes_inter_frame_spaces", False)),
                             frame_id=frame.id)
        elif data.direction != FrameDirection.DOWNSTREAM:
            return  # broadcast frames: count the downstream copy only
        elif isinstance(frame, UserStartedSpeakingFrame):
            session.user_started(t)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            session.user_stopped(t)
        elif isinstance(frame, BotStartedSpeakingFrame):
            session.bot_started(t)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            session.bot_stopped(t)
        elif isinstance(frame, InterruptionFrame):
            session.interruption(t)
        elif isinstance(frame, (EndFrame, CancelFrame, StopFrame)):
            # Without the recorder we cannot see the EndFrame leave the output
            # transport; keep its reason and end at teardown (Cancel and Stop
            # are immediate).
            self._fallback_reason = self._fallback_reason or end_reason(frame)
            if isinstance(frame, (CancelFrame, StopFrame)):
                session.end(t, self._fallback_reason, hurry=isinstance(frame, CancelFrame))

    # -- metrics, errors ------------------------------------------------------

    def _on_metrics(self, frame: Any, data: FramePushed) -> None:
        items = getattr(frame, "data", None) or []
        if is_initial_zero_frame(items):
            return
        records = to_records(items, _service_kind(data.source))
        if records:
            self._session.metrics(data.timestamp, records)

    def _on_error(self, frame: Any, data: FramePushed) -> None:
        t = data.timestamp
        message = clean_text(getattr(frame, "error", None), 2000)
        processor = getattr(frame, "processor", None) or data.source
        self._session.error(t, message, getattr(processor, "name", processor), bool(getattr(frame, "fatal", False)),
                            getattr(frame, "category", None))
        if message.startswith(_TOOL_ERROR_PREFIX) and "]" in message:
            # The LLM service reports a tool handler that raised; Pipecat < 1.9
            # sends no result for it at all.
            name, _, detail = message[len(_TOOL_ERROR_PREFIX):].partition("]")
            self._session.tool_failed(t, name, detail.lstrip(": ") or message, final=not _RESULT_CARRIES_ERROR)
