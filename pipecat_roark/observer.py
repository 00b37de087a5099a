"""RoarkObserver: Pipecat frames -> one call -> Roark.

Two sources feed one :class:`~pipecat_roark.call.Call`:

- the recorder (``roark.audio_processor``), inline, for everything that has
  to be placed on the recording's timeline or that only means something where
  the caller hears it: speaking edges, heard words, interruptions, the end;
- this observer, from its own queue, for what never passes the recorder or
  needs no position: the start, transcriptions, tool calls.

Both stamp events with the pipeline clock (the observer uses the push time
Pipecat recorded, never the time it got round to reading the frame), so
nothing depends on how far the observer lags. ``on_push_frame`` does O(1)
work and never awaits the network; everything that waits is in
:mod:`pipecat_roark.delivery`, in tasks of its own, under a deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import OrderedDict
from typing import Any, Optional

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
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

from .call import Call
from .client import RoarkClient
from .config import DEFAULT_FINALIZE_TIMEOUT_SECS, Settings, build_settings, resolve_call_id
from .config import check_unknown_kwargs, observer_argument_names  # issue 13: reject misspelled arguments
from .delivery import CallDelivery
from .replay import start_background
from .spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_MAX_BYTES
from .spool import Spool
from .metrics import is_initial_zero_frame, kind_from_name, to_records
from .recorder import AudioTap, Capture, RoarkAudioRecorder
from .summary import recording_health
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
    InterruptionFrame,
    EndFrame,
    CancelFrame,
    StopFrame,
)
_SUPPORTS_FIRST_PUSH = "observe_every_push" in inspect.signature(BaseObserver.__init__).parameters
_DEDUPE_SIZE = 512
#: Events user code can subscribe to with ``@roark.event_handler(name)``.
EVENTS = ("on_turn_completed", "on_metrics", "on_tool_completed", "on_error", "on_call_ended")
#: How long teardown waits for the user's event handlers.
EVENT_HANDLER_GRACE_SECS = 2.0
_TOOL_ERROR_PREFIX = "Error executing function call ["
# Pipecat >= 1.9 settles a tool whose handler raised with a result carrying
# the error; before, the ErrorFrame is all there is.
_RESULT_CARRIES_ERROR = "error" in getattr(FunctionCallResultFrame, "__dataclass_fields__", {})
_KIND_BY_CLASS: dict[type, str] = {}


def _service_kind(source: Any) -> Optional[str]:
    """stt / llm / tts for a Pipecat service (what its TTFB and processing times belong to)."""
    cls = type(source)
    kind = _KIND_BY_CLASS.get(cls)
    if kind is None:
        kind = kind_from_name(getattr(source, "name", None))
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
    # StartFrame's config fields warn when read on Pipecat >= 1.8; the
    # dataclass value itself is still the pipeline's setting.
    try:
        return bool(object.__getattribute__(frame, name))
    except Exception:
        return None


def _tool_timeout_secs(llm: Any, name: Any) -> Optional[float]:
    """The timeout Pipecat applies to a tool of this LLM service (best effort)."""
    try:
        item = getattr(llm, "_functions", {}).get(name) or getattr(llm, "_functions", {}).get(None)
        secs = getattr(item, "timeout_secs", None) or getattr(llm, "_function_call_timeout_secs", None)
        return float(secs) if secs else None
    except Exception:
        return None


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


def _end_reason(frame: Any, reason: Optional[str]) -> str:
    if reason:
        return reason
    given = getattr(frame, "reason", None)
    if given:
        return clean_text(given, 500)
    if isinstance(frame, CancelFrame):
        return "cancelled"
    if isinstance(frame, StopFrame):
        return "stopped"
    if isinstance(frame, EndFrame):
        return "ended"
    return "pipeline-finished"


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
        **kwargs: Any,
    ):
        check_unknown_kwargs(kwargs, observer_argument_names(type(self)))  # issue 13: before BaseObject swallows them
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
            redact=redact,
        )
        self._call_id = resolve_call_id(pipecat_call_id, runner_args)
        self._log = CallLog(self._call_id)
        self._call = Call(self._call_id)
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
        sink = self if self._enabled else None
        record = self._enabled and s.capture_audio
        self._tap: Optional[AudioTap] = None
        if audio_buffer_processor is not None:
            self._tap = AudioTap(audio_buffer_processor, sink, self if self._enabled else None, record)
            self._processor: AudioBufferProcessor = audio_buffer_processor
            self._capture: Capture = self._tap.capture
        else:
            self._processor = RoarkAudioRecorder(
                sink=sink, observer=self if self._enabled else None, record=record, sample_rate=s.sample_rate,
                chunk_bytes=s.chunk_bytes,
            )
            self._capture = self._processor.capture
        self._spool = Spool.at(s.spool_dir, s.spool_max_bytes) if s.spool_dir is not None and self._enabled else None
        self._delivery = CallDelivery(
            self._new_client(), self._call_id,
            max_in_flight=s.max_uploads_in_flight, finalize_timeout=s.finalize_timeout_secs,
            expect_audio=self._enabled and s.capture_audio, log=self._log, spool=self._spool,
        )
        self._seen: OrderedDict[int, None] = OrderedDict()
        for name in EVENTS:
            self._register_event_handler(name)
        self._fire_tasks: set[asyncio.Task] = set()
        self._bot_spoke = False
        self._started = False
        self._final_task: Optional[asyncio.Task] = None
        self._finalized = False
        self._warned: set[str] = set()
        if not isinstance(trace, bool):
            raise TypeError(f"RoarkObserver: trace must be True or False, got {trace!r}")
        # trace=True: the worker's Pipecat spans for this call go to Roark (tracing.py).
        self._tracing: Optional[CallTracing] = CallTracing.create(
            self._call_id, s, self._log, on_redaction_failure=self._redaction_failed,
        ) if trace and self._enabled else None

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
    def delivery_stats(self):
        return self._delivery.stats

    def _new_client(self) -> RoarkClient:
        s = self._settings
        return RoarkClient(s.base_url, s.headers, s.request_timeout_secs)

    async def aflush(self, reason: str = "flushed") -> bool:
        """Finalize the call now (idempotent). For transports that end without an EndFrame.

        Returns True once call-ended has been delivered. Waits at most
        ``finalize_timeout_secs``.
        """
        if not self._enabled:
            return False
        try:
            self._capture.end(reason=clean_text(reason, 500) or "flushed")
            self._on_end(self._now_ns(), clean_text(reason, 500) or "flushed")
        except Exception:
            self._log.exception("error while flushing")
        return await self._await_final()

    # -- BaseObserver ------------------------------------------------------

    async def on_pipeline_started(self):
        if not self._enabled or self._started:
            return
        try:
            if not self._capture.started:
                # StartFrame has been through every processor: the recorder
                # is not among them. Capture what we can without it.
                clock = self._clock
                now_ns = clock.get_time() if clock is not None else 0
                self.capture_started(None, now_ns, time.time() - now_ns / 1e9)
                self._warn_once(
                    "no-processor",
                    "roark.audio_processor is not in the pipeline, so there is no recording and the words are "
                    "taken as generated; put it right after transport.output()",
                )
        except Exception:
            self._log.exception("error at pipeline start")

    async def on_push_frame(self, data: FramePushed):
        frame = data.frame
        if not self._enabled or self._finalized or not isinstance(frame, _OBSERVED):
            return
        try:
            first = getattr(data, "first_push", None)
            if first is False:
                return
            if first is None and not self._first_sight(frame.id):
                return
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
            if not self._call.ended:
                self._capture.end(reason="pipeline-finished")
                self._on_end(self._now_ns(), self._fallback_reason or "pipeline-finished")
        except Exception:
            self._log.exception("error while finalizing at teardown")
        if self._tracing is not None:
            self._tracing.call_finished()  # closes once Pipecat ends the conversation span
        ok = await self._await_final()
        await self._wait_for_handlers()
        return ok

    # -- frames seen by the observer ----------------------------------------

    _fallback_reason: Optional[str] = None
    _clock: Any = None

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
        call = self._call
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_spoke = True  # for the recording's health: the bot did speak
        if isinstance(frame, TranscriptionFrame):
            call.transcription(t, frame.text, getattr(frame, "user_id", None), getattr(frame, "language", None))
            self._report_turns()
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
                tool = call.tools.get(clean_text(frame.tool_call_id, 256))
                timed_out = bool(limit and tool and t - tool.call_at.t_ns >= limit * 1e9 - 50_000_000)
            self._tool_done(call.tool_cancelled(t, frame.tool_call_id, frame.function_name, timed_out,
                                                pos=self._capture.position_at(t)))
        elif isinstance(frame, FunctionCallInProgressFrame):
            call.tool_call(t, frame.tool_call_id, frame.function_name, frame.arguments, pos=self._capture.position_at(t))
        elif isinstance(frame, FunctionCallResultFrame):
            props = getattr(frame, "properties", None)
            final = getattr(props, "is_final", True) is not False
            result = frame.result
            error = getattr(frame, "error", None)
            if result is None and error:
                result = {"error": clean_text(error, 2000)}
            timeout = _tool_timeout_secs(data.source, frame.function_name) if result is None and final else None
            self._tool_done(call.tool_result(t, frame.tool_call_id, result, frame.function_name, frame.arguments,
                                             pos=self._capture.position_at(t), final=final, error=error,
                                             timeout_secs=timeout))
        elif isinstance(frame, StartFrame):
            self._clock = getattr(data.source, "get_clock", lambda: None)()
            self._check_metrics_enabled(frame)
        elif not self._capture.started:
            self._handle_without_recorder(frame, data)

    def _handle_without_recorder(self, frame: Any, data: FramePushed) -> None:
        """Degraded capture when the recorder is missing: words as generated."""
        t = data.timestamp
        call = self._call
        downstream = data.direction == FrameDirection.DOWNSTREAM
        if isinstance(frame, TTSTextFrame):
            call.bot_text(t, frame.text, bool(getattr(frame, "includes_inter_frame_spaces", False)))
        elif not downstream:
            return  # broadcast frames: count the downstream copy only
        elif isinstance(frame, UserStartedSpeakingFrame):
            call.user_started(t)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            call.user_stopped(t)
        elif isinstance(frame, BotStartedSpeakingFrame):
            call.bot_started(t)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            call.bot_stopped(t)
        elif isinstance(frame, InterruptionFrame):
            call.interruption(t)
        elif isinstance(frame, (EndFrame, CancelFrame, StopFrame)):
            # Without the recorder we cannot see the EndFrame leave the output
            # transport; keep the reason and finalize at teardown.
            self._fallback_reason = self._fallback_reason or _end_reason(frame, None)
            if isinstance(frame, (CancelFrame, StopFrame)):
                self._on_end(t, self._fallback_reason)
        self._report_turns()

    # -- metrics, errors, tools, events ----------------------------------------

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
        if not records:
            return
        t = data.timestamp
        self._call.add_metrics(t, records, pos=self._capture.position_at(t))
        self._fire("on_metrics", [dict(r) for r in records])

    def _on_error(self, frame: Any, data: FramePushed) -> None:
        t = data.timestamp
        pos = self._capture.position_at(t)
        message = clean_text(getattr(frame, "error", None), 2000)
        processor = getattr(frame, "processor", None) or data.source
        state = self._call.error(t, message, getattr(processor, "name", processor), bool(getattr(frame, "fatal", False)),
                                 getattr(frame, "category", None), pos)
        if message.startswith(_TOOL_ERROR_PREFIX) and "]" in message:
            # The LLM service reports a tool handler that raised; Pipecat < 1.9
            # sends no result for it at all.
            name, _, detail = message[len(_TOOL_ERROR_PREFIX):].partition("]")
            tool = self._call.tool_failed(t, name, detail.lstrip(": ") or message, pos, final=not _RESULT_CARRIES_ERROR)
            if not _RESULT_CARRIES_ERROR:
                self._tool_done(tool)
        if state is not None:
            self._fire("on_error", {
                "message": state.message, "processor": state.processor, "fatal": state.fatal,
                "category": state.category, "timestamp": self._call._iso(t),
            })

    def _tool_done(self, tool: Any) -> None:
        if tool is None or not self._has_handlers("on_tool_completed"):
            return
        record = self._call.tool_report(tool)
        if record is not None:
            out = record.to_wire()
            out["name"] = tool.name
            self._fire("on_tool_completed", out)

    def _report_turns(self) -> None:
        closed = self._call.take_closed()
        if not closed or not self._has_handlers("on_turn_completed"):
            return
        for turn in closed:
            if turn.content:
                self._fire("on_turn_completed", self._call.turn_report(turn))

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

    # -- the capture sink (called inline by the recorder) ---------------------

    def capture_started(self, sample_rate: Optional[int], t_ns: int, wall_origin: float) -> None:
        if sample_rate:
            self._call.set_recording(sample_rate, 2)
        if self._started:
            return
        self._started = True
        self._call.start(t_ns, wall_origin)
        s = self._settings
        meta = {"agentId": s.agent_id, "integrationId": s.integration_id,
                "sampleRate": self._call.sample_rate, "numChannels": self._call.num_channels}
        self._delivery.send_started(self._call.build_started(s, t_ns), meta)
        if self._spool is not None:
            # Whatever earlier calls on this machine left behind goes out now, paced.
            start_background(self._spool, self._new_client)
        self._log.info(f"call started (agent {self._settings.agent_id}), sending to {self._settings.base_url}")

    def capture_chunk(self, index: int, data: bytes, sample_rate: Optional[int] = None, num_channels: Optional[int] = None) -> None:
        if sample_rate:  # a user's own processor decides its format
            self._call.set_recording(sample_rate, num_channels or 2)
        if self._settings.capture_audio:
            self._delivery.add_chunk(index, data, self._call.sample_rate, self._call.num_channels)

    def capture_event(self, kind: str, t_ns: int, pos: Optional[int], **kw: Any) -> None:
        call = self._call
        if kind == "bot_text":
            call.bot_text(t_ns, kw.get("text"), kw.get("spaced", False))
        elif kind == "user_started":
            call.user_started(t_ns, pos, bool(kw.get("stt_ruled")))
        elif kind == "user_stopped":
            call.user_stopped(t_ns, pos)
        elif kind == "bot_started":
            call.bot_started(t_ns, pos, kw.get("user_end"))
        elif kind == "bot_onset":
            call.bot_onset(t_ns, pos, kw.get("user_end"))
        elif kind == "recording_started":
            call.recording_started(t_ns)
        elif kind == "bot_offset":
            call.bot_offset(t_ns, pos)
        elif kind == "bot_stopped":
            call.bot_stopped(t_ns, pos)
        elif kind == "interruption":
            call.interruption(t_ns, pos, kw.get("caller_onset"))
        elif kind == "end":
            self._on_end(t_ns, _end_reason(kw.get("frame"), kw.get("reason")))
        self._report_turns()

    # -- finalization ------------------------------------------------------

    def _now_ns(self) -> int:
        clock = getattr(self._capture, "_clock", None) or self._clock
        try:
            return clock.get_time() if clock is not None else 0
        except Exception:
            return 0

    def _on_end(self, t_ns: int, reason: str) -> None:
        if not self._started:
            # Ended before it started (e.g. cancelled during setup): still a call.
            self.capture_started(self._call.sample_rate, 0, time.time())
        if self._call.end(t_ns, reason):
            self._delivery.mark_ending()  # before the tail's uploads start: no URL fetched for a chunk that never comes
            self._call.close_all()
            self._report_turns()
            self._log.info(f"call ended ({reason}); delivering")
            self._final_task = asyncio.create_task(self._finalize())

    async def _finalize(self) -> bool:
        tracing = self._tracing
        if tracing is not None:
            tracing.call_ending()  # spans ended so far go out ahead of call-ended
        try:
            ok = await self._delivery.finish(
                lambda delivered: self._build_ended(
                    delivered, extra=tracing.ended_fields() if tracing is not None else None,
                )
            )
        except Exception:
            self._log.exception("finalization failed")
            ok = False
        finally:
            self._finalized = True
        st = self._delivery.stats
        audio = f"{st.chunks_delivered}/{st.chunks_produced} recording chunks"
        if ok:
            self._log.info(f"call delivered to Roark ({audio})")
        elif st.ended_spooled:
            self._log.info(f"call kept in the disk spool for later delivery ({audio} delivered so far)")
        else:
            self._log.error(f"call-ended could not be delivered ({audio}); see the warnings above")
        return ok

    def _build_ended(self, delivered: bool, extra: Optional[dict] = None) -> dict[str, Any]:
        """call-ended, once the recording's fate is known (every upload done or given up)."""
        call, st = self._call, self._delivery.stats
        recording = None
        try:
            origin = call.recording_started_t if call.recording_started_t is not None else call.started_t
            call_ms = (call.ended_t - origin) / 1e6 if call.ended_t is not None and origin is not None else None
            recording = recording_health(
                capture_audio=self._settings.capture_audio,
                recorder_present=self._capture.started,
                capture=self._capture.health(),
                chunks_produced=st.chunks_produced,
                chunks_delivered=st.chunks_delivered,
                chunks_lost=st.chunks_lost,
                call_ms=call_ms,
                bot_spoke=self._bot_spoke or any(t.role == "assistant" and t.spoken for t in call.turns),
                user_spoke=any(t.role == "user" for t in call.turns),
            )
            bot = recording[1].get("channels", {}).get("bot", {})
            if bot and not bot.get("sound") and self._bot_spoke:
                self._warn_once(
                    "bot-silent",
                    "the bot channel of the recording is silent although the bot spoke: roark.audio_processor "
                    "must be placed right after transport.output() (placed earlier it never sees the bot's audio)",
                )
        except Exception:
            self._log.exception("could not assess the recording")
        payload = call.build_ended(self._settings, now_wall=time.time(), recording_delivered=delivered,
                                   extra=extra, recording=recording, on_redaction_failure=self._redaction_failed)
        self._fire("on_call_ended", dict(payload.get("callSummary") or {}), payload)
        return payload

    async def _await_final(self) -> bool:
        task = self._final_task
        if task is None:
            return False
        deadline = time.monotonic() + self._settings.finalize_timeout_secs + 1.0
        cancelled = False
        while not task.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(asyncio.shield(task), remaining)
            except asyncio.CancelledError:
                # The host is tearing tasks down; the delivery runs in a task
                # of its own and is already bounded, so let it finish first.
                if cancelled:
                    raise
                cancelled = True
            except (asyncio.TimeoutError, Exception):
                break
        if not task.done():
            self._delivery.abort()
        if cancelled:
            raise asyncio.CancelledError()
        return task.done() and not task.cancelled() and task.exception() is None and bool(task.result())

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
