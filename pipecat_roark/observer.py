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
"""

from __future__ import annotations

import asyncio
import inspect
import time
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
    SpeechOutputAudioRawFrame,
    StartFrame,
    StopFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed

try:  # Pipecat >= 1.x: services announce themselves (speech-to-speech or not)
    from pipecat.frames.frames import LLMServiceMetadataFrame
except ImportError:  # 0.0.10x
    LLMServiceMetadataFrame = None  # type: ignore[assignment,misc]
try:  # Pipecat >= 1.13: backchannels, tools run by a backend worker
    from pipecat.frames.frames import (
        ExternalFunctionCallCancelFrame,
        ExternalFunctionCallInProgressFrame,
        ExternalFunctionCallResultFrame,
        UserBackchannelFrame,
    )

    _NEW_FRAMES: tuple = (UserBackchannelFrame, ExternalFunctionCallInProgressFrame,
                          ExternalFunctionCallResultFrame, ExternalFunctionCallCancelFrame)
except ImportError:  # older Pipecat: these frames do not exist
    ExternalFunctionCallCancelFrame = ExternalFunctionCallInProgressFrame = None  # type: ignore[assignment,misc]
    ExternalFunctionCallResultFrame = UserBackchannelFrame = None  # type: ignore[assignment,misc]
    _NEW_FRAMES = ()
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection

from ._compat import start_field
from .capture import Capture, end_reason
from .callpolicy import CallPolicy
from .capture_control import CaptureControl
from .client import RoarkClient
from .config import DEFAULT_FINALIZE_TIMEOUT_SECS, Settings, build_settings, resolve_call_id
from .config import check_unknown_kwargs, observer_argument_names  # issue 13: reject misspelled arguments
from .delivery import CallDelivery
from .call_outcome import CallOutcomeExtension, check_end_status  # issue 14: outcome, telephony, events, cost
from .prices import build_prices
from .metrics import is_initial_zero_frame, kind_from_name, to_records
from .policy import DEFAULT_DEFER_MAX_BYTES, SAMPLING_COUNTS
from .recorder import AudioTap, RoarkAudioRecorder
from .session import EVENT_HANDLER_GRACE_SECS, CallLog, CallSession
from .spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_MAX_BYTES
from .spool import Spool
from .text import clean_text
from .tracing import CallTracing

_OBSERVED = (
    StartFrame,
    TranscriptionFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallCancelFrame,
    MetricsFrame,
    ErrorFrame,  # travels upstream
    # Only used when the recorder is not in the pipeline:
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TTSTextFrame,
    AggregatedTextFrame,  # Pipecat >= 1.13: the segment a TTS speaks for a BotBackchannelFrame
    InterruptionFrame,
    EndFrame,
    CancelFrame,
    StopFrame,
) + ((LLMServiceMetadataFrame,) if LLMServiceMetadataFrame is not None else ()) + _NEW_FRAMES
#: Looked at once a speech-to-speech service is seen (its text runs ahead of its audio).
_S2S_OBSERVED = (TTSAudioRawFrame, SpeechOutputAudioRawFrame, LLMFullResponseStartFrame)
#: A speech-to-speech service's audio: TTS-like (OpenAI Realtime) or one continuous stream (OpenAI Live).
_S2S_AUDIO = (TTSAudioRawFrame, SpeechOutputAudioRawFrame)
_SUPPORTS_FIRST_PUSH = "observe_every_push" in inspect.signature(BaseObserver.__init__).parameters
_DEDUPE_SIZE = 512
#: Events user code can subscribe to with ``@roark.event_handler(name)``.
EVENTS = ("on_turn_completed", "on_metrics", "on_tool_completed", "on_error", "on_call_ended")
_TOOL_ERROR_PREFIX = "Error executing function call ["
# Pipecat >= 1.9 settles a tool whose handler raised with a result carrying
# the error; before, the ErrorFrame is all there is.
_RESULT_CARRIES_ERROR = "error" in getattr(FunctionCallResultFrame, "__dataclass_fields__", {})
_KIND_BY_CLASS: dict[type, str] = {}


def _service_kind(source: Any) -> Optional[str]:
    """stt / llm / tts for a Pipecat service (what its TTFB and processing times belong to).

    By class, else by the processor's name (not cached: two processors of
    one class can have different names).
    """
    kind = _class_kind(source)
    return kind if kind is not None else kind_from_name(getattr(source, "name", None))


def _class_kind(source: Any) -> Optional[str]:
    """stt / llm / tts when ``source`` is an instance of Pipecat's service classes (cached per class)."""
    cls = type(source)
    kind = _KIND_BY_CLASS.get(cls, "?")
    if kind == "?":
        kind = None
        try:
            from pipecat.services.llm_service import LLMService
            from pipecat.services.stt_service import STTService
            from pipecat.services.tts_service import TTSService

            for base, k in ((STTService, "stt"), (LLMService, "llm"), (TTSService, "tts")):
                if isinstance(source, base):
                    kind = k
                    break
        except Exception:
            pass
        if len(_KIND_BY_CLASS) < 256:
            _KIND_BY_CLASS[cls] = kind
    return kind


def _start_flag(frame: Any, name: str) -> Optional[bool]:
    value = start_field(frame, name)
    return None if value is None else bool(value)


def _tool_timeout_secs(llm: Any, name: Any) -> Optional[float]:
    """The timeout Pipecat applies to a tool of this LLM service (best effort)."""
    try:
        item = getattr(llm, "_functions", {}).get(name) or getattr(llm, "_functions", {}).get(None)
        secs = getattr(item, "timeout_secs", None) or getattr(llm, "_function_call_timeout_secs", None)
        return float(secs) if secs else None
    except Exception:
        return None


class RoarkObserver(BaseObserver):
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

    # -- public API --------------------------------------------------------

    @property
    def pipecat_call_id(self) -> str:
        """The id sent with every request of this call."""
        return self._call_id

    @property
    def audio_processor(self) -> AudioBufferProcessor:
        """Put this right after ``transport.output()`` in the pipeline."""
        return self._processor

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def session(self) -> CallSession:
        """The call's owner (its state, edges, events and delivery)."""
        return self._session

    def add_extension(self, ext: Any) -> Any:
        """Plug a :class:`~pipecat_roark.session.CallExtension` into this call (before it starts)."""
        self._session.extensions.append(ext)
        frames = tuple(getattr(ext, "frames", ()) or ())
        if frames:
            self._ext_frames = tuple(dict.fromkeys(self._ext_frames + frames))
            self._observe_also(self._ext_frames)
        return ext

    def _observe_also(self, frames: tuple) -> None:
        self._observed = tuple(dict.fromkeys(self._observed + frames))
        self._wanted = {}

    def allow_audio(self) -> int:
        """The caller consented (``defer_audio=True``): the recording held so far, and the rest, goes to Roark.

        Returns the number of held chunks released. Call it before the call ends.
        """
        try:
            return self._control.allow_audio() if self._control is not None else 0
        except Exception:
            self._log.exception("allow_audio() failed")
            return 0

    def discard_audio(self) -> int:
        """The caller refused: every byte of this call's audio not yet sent is dropped, and no more is recorded.

        Works with or without ``defer_audio`` (without it, chunks already
        uploaded have left). call-ended then says ``audioConsent``. Returns
        the bytes freed from the consent buffer.
        """
        try:
            return self._control.discard_audio() if self._control is not None else 0
        except Exception:
            self._log.exception("discard_audio() failed")
            return 0

    @property
    def delivery_stats(self):
        return self._delivery.stats

    def _new_client(self) -> RoarkClient:
        s = self._settings
        return RoarkClient(s.base_url, s.headers, s.request_timeout_secs)

    async def aflush(self, reason: str = "flushed", status: Optional[str] = None) -> bool:
        """Finalize the call now (idempotent). For transports that end without an EndFrame.

        ``status``: the call's ``callEndedStatus`` (one of
        :data:`pipecat_roark.outcome.END_STATUSES`; it wins over what was
        seen). The recording's tail is handed on first (to Roark and to the
        ``on_audio_data`` handlers). Returns True once call-ended has been
        delivered; waits at most ``finalize_timeout_secs``.
        """
        status = check_end_status(status)  # a wrong status fails in the caller's code
        if not self._enabled:
            return False
        reason = clean_text(reason, 500) or "flushed"  # whatever was passed: a call must still end
        self._outcome.flush(reason, status)
        try:
            await self._end_here(reason)
        except Exception:
            self._log.exception("error while flushing")
        return await self._session.wait_final(self._settings.finalize_timeout_secs)

    async def event(self, name: str, data: Optional[dict[str, Any]] = None) -> bool:
        """Put the app's own event (a transfer, a handoff, a guardrail hit...) on the call's timeline.

        Sent in call-ended's ``events`` with its offset on the recording.
        ``data``: a dict of JSON values. Raises ValueError / TypeError for a
        bad name or data; returns False when the call has already ended.
        """
        return self.event_nowait(name, data)

    def event_nowait(self, name: str, data: Optional[dict[str, Any]] = None) -> bool:
        """:meth:`event` for synchronous code (an event handler, a callback)."""
        if not self._enabled:
            self._outcome.check_event(name, data)  # the same answer to bad input, recorded or not
            return False
        return self._outcome.user_event(name, data)

    # -- BaseObserver ------------------------------------------------------

    async def on_pipeline_started(self):
        if not self._enabled or self._session.started:
            return
        try:
            if not self._capture.started:
                # StartFrame has been through every processor: the recorder
                # is not among them. Capture what we can without it.
                now_ns = self._now_ns() or 0
                self._session.start(now_ns, time.time() - now_ns / 1e9)
                self._warn_once(
                    "no-processor",
                    "roark.audio_processor is not in the pipeline, so there is no recording and the words are "
                    "taken as generated; put it right after transport.output()",
                )
        except Exception:
            self._log.exception("error at pipeline start")

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

    async def cleanup(self):
        """Always awaited by Pipecat at teardown: the last chance to deliver."""
        try:
            # BaseObject waits for running event handlers without a limit: a
            # user's handler must not hold the shutdown hostage.
            await asyncio.wait_for(super().cleanup(), EVENT_HANDLER_GRACE_SECS)
        except (asyncio.TimeoutError, Exception):
            pass
        if not self._enabled:
            return
        try:
            await self._end_here(self._fallback_reason or "pipeline-finished")
        except Exception:
            self._log.exception("error while finalizing at teardown")
        if self._tracing is not None:
            self._tracing.call_finished()  # closes once Pipecat ends the conversation span
        ok = await self._session.wait_final(self._settings.finalize_timeout_secs)
        if self._policy is not None:
            self._policy.close()  # the call's log collector leaves the shared sink (idempotent)
        await self._wait_for_handlers()
        return ok

    async def _end_here(self, reason: str) -> None:
        """End the call from the observer's side: through the recorder when it runs (its tail first)."""
        if self._session.ended:
            return
        if self._capture.started:
            await self._recorder.finish(reason)
        if not self._session.ended:
            self._session.end(self._now_ns(), reason)

    def _now_ns(self) -> Optional[int]:
        now = self._capture.now_ns()
        if now is None and self._clock is not None:
            try:
                now = self._clock.get_time()
            except Exception:
                now = None
        return now

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

    # -- metrics, errors, events ----------------------------------------------

    def _check_metrics_enabled(self, frame: Any) -> None:
        metrics, usage = _start_flag(frame, "enable_metrics"), _start_flag(frame, "enable_usage_metrics")
        if metrics is False:
            self._warn_once(
                "metrics-off",
                "Pipecat metrics are off, so Roark gets no per-service TTFB, token or character counts: "
                "pass PipelineParams(enable_metrics=True, enable_usage_metrics=True)",
            )
        elif metrics and usage is False:
            self._warn_once(
                "usage-metrics-off",
                "Pipecat usage metrics are off, so Roark gets no token or character counts: "
                "pass PipelineParams(enable_usage_metrics=True)",
            )

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

    def _has_handlers(self, name: str) -> bool:
        handler = self._event_handlers.get(name)
        return bool(handler is not None and handler.handlers)

    def _fire(self, name: str, *args: Any) -> None:
        """Hand an event to the user's handlers without ever waiting on them."""
        if not self._has_handlers(name):
            return
        try:
            task = asyncio.get_running_loop().create_task(self._call_event_handler(name, *args))
            self._fire_tasks.add(task)
            task.add_done_callback(self._fire_tasks.discard)
        except Exception:
            self._log.exception(f"could not run {name} handlers")

    async def _wait_for_handlers(self) -> None:
        """Give the handlers of the last events (on_call_ended) a bounded chance to run."""
        try:
            await asyncio.sleep(0)  # let queued _call_event_handler tasks start theirs
            pending = list(self._fire_tasks) + [
                entry[1] for entry in list(getattr(self, "_event_tasks", ()))
                if isinstance(entry, tuple) and len(entry) == 2
            ]
            pending = [t for t in pending if not t.done() and t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=EVENT_HANDLER_GRACE_SECS)
        except Exception:
            pass

    # -- wiring feedback (called by the recorder) ----------------------------

    def _auto_registered(self) -> None:
        self._warn_once(
            "auto-registered",
            "RoarkObserver was not registered with the pipeline, so roark.audio_processor registered it; "
            "pass it as PipelineWorker(pipeline, observers=[roark]) (PipelineParams(observers=...) is ignored on Pipecat 1.x)",
        )

    def _wiring_unverified(self) -> None:
        self._log.debug("could not check that the observer is registered with the worker")

    def _redaction_failed(self, reason: str) -> None:
        """A ``redact=`` rule failed on some text (replaced, never sent as it was). No text in the log."""
        self._warn_once(
            "redaction-failed",
            f"redaction failed ({reason}); the text it was given was sent as \"[REDACTION FAILED]\" instead. "
            "Fix the redact= rule (it must take a str and return a str without raising)",
        )

    def _warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(msg)
