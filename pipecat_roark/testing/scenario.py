"""Scripted calls: what the caller says and when, what the bot answers, and a runner.

A :class:`CallScript` is a list of :class:`CallerTurn`\\ s (a clip placed at a
time in the caller's audio, its transcript, and the bot's scripted answer)
plus an optional greeting. :func:`build_call` wires a real Pipecat pipeline
around it:

    transport.input() -> STT -> user aggregator (VAD + turn strategies) -> LLM
      -> TTS -> transport.output() -> [audio_processor] -> assistant aggregator

and :func:`run_call` runs it in real time with a runner (no signal handling)
and ends it the way a bot does once the script is over and the last answer
has played: ``EndWorkerFrame`` pushed upstream (or ``worker.cancel()``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Optional, Sequence, Union

import numpy as np
from loguru import logger

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMRunFrame,
    OutputAudioRawFrame,
    StartFrame,
    TTSSpeakFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from pipecat_roark._compat import PIPECAT_1X, PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.testing.audio import CallerTimeline, SpeechSpan, load_clip
from pipecat_roark.testing.services import (
    ScriptedLLMService,
    ScriptedReply,
    ScriptedStreamingSTTService,
    ScriptedSTTService,
    ScriptedTranscript,
    ScriptedTTSService,
    ToolCall,
)
from pipecat_roark.testing.transports import OfflineCallTransport, transport_params

# --------------------------------------------------------------------------- #
# Script
# --------------------------------------------------------------------------- #


@dataclass
class CallerTurn:
    """One thing the caller says, and what the bot answers.

    Attributes:
        clip: Shipped caller clip (``"order_status"`` or ``"caller_order_status"``).
        at_ms: Where the clip starts in the caller's audio.
        transcript: What the STT returns: the clip's text by default; a
            list of strings arrives as that many ``TranscriptionFrame``\\ s.
        late_secs: With a multi-segment transcript, how long after the first
            segment the last one arrives.
        reply: The bot's answer (for a tool turn: said before the call).
        tool_call: A tool the LLM calls for this turn; its ``followup`` is
            the answer.
        late_reply: The answer if Pipecat makes the late transcript segment
            a user turn of its own.
        barge_in: Informational: this turn is timed to start while the bot
            is speaking and cut it off.
    """

    clip: str
    at_ms: float
    transcript: Union[str, Sequence[str], None] = None
    late_secs: float = 0.0
    reply: Optional[str] = None
    tool_call: Optional[ToolCall] = None
    late_reply: Optional[str] = None
    barge_in: bool = False

    @property
    def clip_name(self) -> str:
        return self.clip if self.clip.startswith(("caller_", "bot_")) else f"caller_{self.clip}"

    def segments(self) -> tuple[str, ...]:
        if self.transcript is None:
            return (load_clip(self.clip_name).text,)
        if isinstance(self.transcript, str):
            return (self.transcript,)
        return tuple(self.transcript)

    @property
    def text(self) -> str:
        return " ".join(s.strip() for s in self.segments())


@dataclass
class CallScript:
    """A whole scripted call.

    Attributes:
        turns: What the caller says, in order of ``at_ms``.
        greeting: What the bot says first, before the caller speaks (None: no greeting).
        greeting_via: ``"tts"`` queues a ``TTSSpeakFrame``; ``"llm"`` queues an
            ``LLMRunFrame`` and the LLM answers with the greeting.
        duration_ms: Length of the scripted caller audio (default: 1.5 s after the
            last clip). The call ends after it, once the bot's last answer has played.
        noise_dbfs: Background noise level of the caller's audio (None: silence).
        user_id: The caller's id on audio frames and transcripts.
        system_prompt: First message of the LLM context.
        sample_rate: Caller audio sample rate.
    """

    turns: list[CallerTurn]
    greeting: Optional[str] = None
    greeting_via: Literal["tts", "llm"] = "tts"
    duration_ms: Optional[float] = None
    noise_dbfs: Optional[float] = None
    user_id: str = "caller"
    system_prompt: str = "You are Acme's order support agent. Be brief."
    sample_rate: int = 16000

    def timeline(self) -> CallerTimeline:
        placements = [(t.at_ms, t.clip_name) for t in self.turns]
        duration = self.duration_ms
        if duration is None:
            ends = [t.at_ms + load_clip(t.clip_name).duration_secs * 1000 for t in self.turns]
            duration = max(ends, default=0.0) + 1500.0
        return CallerTimeline(
            placements,
            duration_ms=duration,
            sample_rate=self.sample_rate,
            noise_dbfs=self.noise_dbfs,
        )

    def transcripts(self, timeline: Optional[CallerTimeline] = None) -> list[ScriptedTranscript]:
        timeline = timeline or self.timeline()
        out = []
        for turn, span in zip(self.turns, timeline.speech_spans):
            out.append(
                ScriptedTranscript(
                    segments=turn.segments(),
                    late_secs=turn.late_secs,
                    start_sample=span.start_sample,
                    end_sample=span.end_sample,
                    sample_rate=span.sample_rate,
                )
            )
        return out

    def replies(self) -> list[ScriptedReply]:
        out = []
        if self.greeting and self.greeting_via == "llm":
            out.append(ScriptedReply(user="", text=self.greeting))
        for t in self.turns:
            if t.reply is None and t.tool_call is None:
                continue
            out.append(
                ScriptedReply(
                    user=t.text, text=t.reply, tool_call=t.tool_call, late_text=t.late_reply
                )
            )
        return out


ORDER_TOOL = ToolCall(
    name="lookup_order",
    arguments={"order_id": "427"},
    result={"order": "four two seven", "status": "shipped", "eta": "Friday"},
    followup="Order {order} {status}. It arrives {eta}.",
    description="Look up an order's shipping status by order number.",
    latency_secs=0.3,
)


def default_demo_script() -> CallScript:
    """A ~25 s support call exercising everything the recorder must handle.

    1. The bot greets first.
    2. The caller asks about an order; the bot asks for the number.
    3. The caller gives it; the LLM calls ``lookup_order`` and answers from
       its result.
    4. "Actually, wait, can you also change the address?" arrives from the
       STT as two transcripts, the second 1.3 s after the first: after the
       caller stopped and after the bot started answering the first part.
       (Pipecat's default ``TranscriptionUserTurnStartStrategy`` makes the
       late part a user turn of its own, interrupting that answer.)
    5. While the bot explains the address change, the caller barges in
       with "Thanks, that's all.", cutting it off.
    6. The bot says goodbye and the call ends.
    """
    return CallScript(
        greeting="Acme support, how can I help?",
        turns=[
            CallerTurn("order_status", 2600, reply="Sure, what's the order number?"),
            CallerTurn("order_number", 8800, tool_call=ORDER_TOOL),
            CallerTurn(
                "change_address",
                15600,
                transcript=["Actually, wait,", "can you also change the address?"],
                late_secs=1.3,
                reply="Sure, go ahead.",
                late_reply=(
                    "Of course. I can update the delivery address. "
                    "What's the new street and zip code?"
                ),
            ),
            CallerTurn("thanks", 22600, reply="You're welcome, goodbye!", barge_in=True),
        ],
        duration_ms=25000,
    )


# --------------------------------------------------------------------------- #
# Event log
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class FrameEvent:
    """A frame push seen by :class:`CallEventLog`.

    Attributes:
        frame: The frame.
        source: Name of the processor that pushed it.
        destination: Name of the processor it was pushed to.
        direction: ``FrameDirection``.
        clock_ns: ``FramePushed.timestamp`` (pipeline clock).
        monotonic: When the log received it (lags the push).
    """

    frame: Frame
    source: str
    destination: str
    direction: FrameDirection
    clock_ns: int
    monotonic: float

    @property
    def kind(self) -> str:
        return type(self.frame).__name__


class CallEventLog(BaseObserver):
    """Observer keeping every push of every non-audio frame (bounded), for assertions.

    Audio frames are counted per source, not kept.
    """

    def __init__(self, *, maxlen: int = 200_000, **kwargs):
        if "observe_every_push" in inspect.signature(BaseObserver.__init__).parameters:
            kwargs.setdefault("observe_every_push", True)
        super().__init__(**kwargs)
        self.events: deque[FrameEvent] = deque(maxlen=maxlen)
        self.audio_counts: dict[tuple[str, str], int] = {}

    async def on_push_frame(self, data: FramePushed):
        try:
            frame = data.frame
            if isinstance(frame, (InputAudioRawFrame, OutputAudioRawFrame)):
                key = (str(data.source), type(frame).__name__)
                self.audio_counts[key] = self.audio_counts.get(key, 0) + 1
                return
            self.events.append(
                FrameEvent(
                    frame=frame,
                    source=str(data.source),
                    destination=str(data.destination),
                    direction=data.direction,
                    clock_ns=data.timestamp,
                    monotonic=time.monotonic(),
                )
            )
        except Exception as e:  # pragma: no cover - never let the log break the call
            logger.warning(f"{self}: {e}")

    def of(
        self,
        *types: type,
        source: Optional[Union[str, FrameProcessor]] = None,
        direction: Optional[FrameDirection] = FrameDirection.DOWNSTREAM,
    ) -> list[FrameEvent]:
        """Events of the given frame types, optionally only those pushed by ``source``.

        ``source`` is a processor or a prefix of its name. Each frame is
        reported once per push; pass a source to see a frame once.
        """
        name = str(source) if isinstance(source, FrameProcessor) else source
        out = []
        for e in self.events:
            if types and not isinstance(e.frame, types):
                continue
            if direction is not None and e.direction != direction:
                continue
            if name is not None and not (e.source == name or e.source.startswith(name)):
                continue
            out.append(e)
        return out

    def first_pushes(self, *types: type) -> list[FrameEvent]:
        """The first push of each frame (by ``frame.id``) of the given types, in order."""
        seen: set[int] = set()
        out = []
        for e in self.events:
            if types and not isinstance(e.frame, types):
                continue
            if e.frame.id in seen:
                continue
            seen.add(e.frame.id)
            out.append(e)
        return out


# --------------------------------------------------------------------------- #
# Recording helper
# --------------------------------------------------------------------------- #


class _ArmedAudioBufferProcessor(AudioBufferProcessor):
    """AudioBufferProcessor that starts recording as it handles the StartFrame (0.0.10x)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame) and not getattr(self, "_recording", False):
            await self.start_recording()


class StereoRecorder:
    """An ``AudioBufferProcessor(num_channels=2)`` armed at start, collecting the call.

    Place :attr:`processor` right after ``transport.output()`` (pass it as
    ``audio_processor``). After the call, :attr:`audio` is an ``(n, 2)`` int16
    array: caller on the left, bot on the right.
    """

    def __init__(self, *, sample_rate: int = 16000, buffer_size: int = 0):
        if PIPECAT_1X:
            self.processor = AudioBufferProcessor(
                sample_rate=sample_rate,
                num_channels=2,
                buffer_size=buffer_size,
                auto_start_recording=True,
            )
        else:
            self.processor = _ArmedAudioBufferProcessor(
                sample_rate=sample_rate, num_channels=2, buffer_size=buffer_size
            )
        self.sample_rate = sample_rate
        self._chunks: list[tuple[int, bytes]] = []
        self._seq = 0

        @self.processor.event_handler("on_audio_data")
        async def _on_audio(processor, audio: bytes, rate: int, channels: int):
            self._seq += 1
            self._chunks.append((self._seq, bytes(audio)))

    @property
    def audio(self) -> np.ndarray:
        data = b"".join(c for _, c in sorted(self._chunks))
        return np.frombuffer(data, dtype="<i2").reshape(-1, 2)

    @property
    def left(self) -> np.ndarray:
        return self.audio[:, 0]

    @property
    def right(self) -> np.ndarray:
        return self.audio[:, 1]


# --------------------------------------------------------------------------- #
# Build and run
# --------------------------------------------------------------------------- #


@dataclass
class Call:
    """Everything :func:`build_call` made; run it with :func:`run_call`."""

    script: CallScript
    timeline: CallerTimeline
    transport: OfflineCallTransport
    stt: Union[ScriptedSTTService, ScriptedStreamingSTTService]
    llm: ScriptedLLMService
    tts: ScriptedTTSService
    context: LLMContext
    aggregators: LLMContextAggregatorPair
    pipeline: Pipeline
    worker: Any
    events: Optional[CallEventLog]
    audio_processor: Optional[FrameProcessor] = None

    @property
    def ground_truth(self) -> list[SpeechSpan]:
        """Where the caller's speech is in the caller stream (one span per turn)."""
        return self.timeline.speech_spans


@dataclass
class CallResult:
    """How a call went.

    Attributes:
        call: The call that ran.
        ended_by: ``"end"`` (EndWorkerFrame), ``"cancel"`` or ``"timeout"``.
        wall_secs: How long ``run_call`` took.
        script_completed: Whether every scripted answer was given and played
            before the call was ended.
    """

    call: Call
    ended_by: str
    wall_secs: float
    script_completed: bool


def _default_vad_params() -> VADParams:
    return VADParams()


def build_call(
    script: CallScript,
    *,
    audio_processor: Optional[FrameProcessor] = None,
    observers: Iterable[BaseObserver] = (),
    enable_metrics: bool = False,
    enable_usage_metrics: Optional[bool] = None,
    vad: Literal["aggregator", "transport", "none"] = "aggregator",
    vad_params: Optional[VADParams] = None,
    user_turn_strategies: Any = None,
    stt: Optional[Literal["segmented", "streaming"]] = None,
    audio_processor_at: Literal["after_output", "after_input"] = "after_output",
    audio_out_sample_rate: Optional[int] = None,
    end_silence_secs: int = 2,
    stt_latency_secs: float = 0.15,
    llm_ttfb_secs: float = 0.25,
    tts_ttfb_secs: float = 0.12,
    tts_word_timestamps: bool = True,
    llm_fallback_text: str = "Okay.",
    event_log: bool = True,
    worker_kwargs: Optional[dict] = None,
) -> Call:
    """Wire a real Pipecat pipeline around a script.

    Args:
        script: The call.
        audio_processor: Placed right after ``transport.output()`` (a recorder).
        observers: Worker observers (after the :class:`CallEventLog`, if any).
        enable_metrics: ``PipelineParams.enable_metrics``.
        enable_usage_metrics: ``PipelineParams.enable_usage_metrics`` (default: same
            as ``enable_metrics``).
        vad: Where Silero VAD runs: ``"aggregator"`` (``LLMUserAggregatorParams``,
            the place on every version) or ``"transport"`` (``TransportParams``,
            Pipecat 0.0.10x only, deprecated there); ``"none"``: no local VAD at
            all, turns come from the STT (a streaming STT with its own
            endpointing and Pipecat's transcription-driven turn strategies).
        stt: ``"segmented"`` (:class:`ScriptedSTTService`, cuts at VAD stops)
            or ``"streaming"`` (:class:`ScriptedStreamingSTTService`, its own
            endpointing); default: streaming without a VAD, else segmented.
        audio_processor_at: ``"after_output"`` (right after
            ``transport.output()``, the right place) or ``"after_input"`` (right
            after ``transport.input()``: a misplaced recorder, for tests).
        vad_params: Silero ``VADParams`` (Pipecat's defaults if None).
        user_turn_strategies: ``UserTurnStrategies``; default: Pipecat's default
            start strategies and ``SpeechTimeoutUserTurnStopStrategy`` (the
            default stop strategy needs the smart-turn model).
        audio_out_sample_rate: Output rate (default: the pipeline's, 24 kHz).
        end_silence_secs: ``TransportParams.audio_out_end_silence_secs``.
        stt_latency_secs / llm_ttfb_secs / tts_ttfb_secs: Stand-in service latencies.
        event_log: Add a :class:`CallEventLog` observer (``Call.events``); turn it
            off to measure the cost of other observers alone.
        tts_word_timestamps: Per-word timed ``TTSTextFrame``\\ s (else one per
            sentence, after its audio, like a plain HTTP TTS).
        worker_kwargs: Extra ``PipelineWorker`` keyword arguments.
    """
    timeline = script.timeline()
    vad_analyzer = SileroVADAnalyzer(params=vad_params or _default_vad_params()) if vad != "none" else None
    if vad == "transport":
        if PIPECAT_1X:
            raise ValueError("transport-level VAD does not exist on Pipecat 1.x; use vad='aggregator'")
        params = transport_params(
            sample_rate=timeline.sample_rate,
            audio_out_sample_rate=audio_out_sample_rate,
            end_silence_secs=end_silence_secs,
            vad_analyzer=vad_analyzer,
        )
        aggregator_vad = None
    elif vad == "aggregator":
        params = transport_params(
            sample_rate=timeline.sample_rate,
            audio_out_sample_rate=audio_out_sample_rate,
            end_silence_secs=end_silence_secs,
        )
        aggregator_vad = vad_analyzer
    elif vad == "none":
        params = transport_params(
            sample_rate=timeline.sample_rate,
            audio_out_sample_rate=audio_out_sample_rate,
            end_silence_secs=end_silence_secs,
        )
        aggregator_vad = None
    else:
        raise ValueError(f"vad must be 'aggregator', 'transport' or 'none', not {vad!r}")
    if stt is None:
        stt = "streaming" if vad == "none" else "segmented"
    if stt == "segmented" and vad == "none":
        raise ValueError("a segmented STT needs a VAD; use stt='streaming' with vad='none'")

    transport = OfflineCallTransport(timeline, params=params, user_id=script.user_id)
    stt_cls = ScriptedStreamingSTTService if stt == "streaming" else ScriptedSTTService
    stt_service = stt_cls(
        script.transcripts(timeline), user_id=script.user_id, latency_secs=stt_latency_secs
    )
    llm = ScriptedLLMService(script.replies(), ttfb_secs=llm_ttfb_secs, fallback_text=llm_fallback_text)
    tts = ScriptedTTSService(ttfb_secs=tts_ttfb_secs, word_timestamps=tts_word_timestamps)

    messages = [{"role": "system", "content": script.system_prompt}]
    tools = llm.tools_schema()
    context = LLMContext(messages, tools) if tools is not None else LLMContext(messages)
    strategies = user_turn_strategies or UserTurnStrategies(
        stop=[SpeechTimeoutUserTurnStopStrategy()]
    )
    user_params = LLMUserAggregatorParams(
        vad_analyzer=aggregator_vad, user_turn_strategies=strategies
    )
    aggregators = LLMContextAggregatorPair(context, user_params=user_params)

    processors: list[FrameProcessor] = [
        transport.input(),
        stt_service,
        aggregators.user(),
        llm,
        tts,
        transport.output(),
    ]
    if audio_processor is not None:
        if audio_processor_at == "after_input":
            processors.insert(1, audio_processor)
        else:
            processors.append(audio_processor)
    processors.append(aggregators.assistant())
    pipeline = Pipeline(processors)

    pp: dict[str, Any] = dict(
        enable_metrics=enable_metrics,
        enable_usage_metrics=enable_metrics if enable_usage_metrics is None else enable_usage_metrics,
        audio_in_sample_rate=timeline.sample_rate,
    )
    if audio_out_sample_rate:
        pp["audio_out_sample_rate"] = audio_out_sample_rate
    events = CallEventLog() if event_log else None
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(**pp),
        observers=[*([events] if events is not None else []), *observers],
        **(worker_kwargs or {}),
    )

    if script.greeting:

        @transport.event_handler("on_client_connected")
        async def _greet(_transport, _client):
            if script.greeting_via == "llm":
                await worker.queue_frames([LLMRunFrame()])
            else:
                await worker.queue_frames([TTSSpeakFrame(script.greeting)])

    return Call(
        script=script,
        timeline=timeline,
        transport=transport,
        stt=stt_service,
        llm=llm,
        tts=tts,
        context=context,
        aggregators=aggregators,
        pipeline=pipeline,
        worker=worker,
        events=events,
        audio_processor=audio_processor,
    )


async def _sleep_until(deadline: float):
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _drive(
    call: Call,
    *,
    end: str,
    cancel_at_secs: Optional[float],
    idle_secs: float,
    end_wait_secs: float,
) -> tuple[str, bool]:
    inp = call.transport.input()
    out = call.transport.output()
    await inp.stream_started.wait()
    t0 = inp.stream_t0_monotonic
    assert t0 is not None
    if cancel_at_secs is not None:
        await _sleep_until(t0 + cancel_at_secs)
        await call.worker.cancel()
        return "cancel", False

    await _sleep_until(t0 + call.timeline.duration_secs)
    deadline = time.monotonic() + end_wait_secs
    completed = False
    while time.monotonic() < deadline:
        now = time.monotonic()
        last_activity = max(out.last_audio_end_monotonic, call.llm.last_response_end_monotonic)
        if (
            call.llm.script_done.is_set()
            and not call.llm.busy
            and not out.bot_speaking
            and now - last_activity >= idle_secs
        ):
            completed = True
            break
        await asyncio.sleep(0.05)
    if not completed:
        logger.warning(f"{call.worker}: script not finished {end_wait_secs}s after the caller did")
    if end == "cancel":
        await call.worker.cancel()
        return "cancel", completed
    await out.end_call()
    return "end", completed


async def run_call(
    call: Union[Call, CallScript, None] = None,
    *,
    end: Literal["end", "cancel"] = "end",
    cancel_at_secs: Optional[float] = None,
    idle_secs: float = 0.6,
    end_wait_secs: float = 15.0,
    timeout_secs: Optional[float] = None,
    **build_kwargs: Any,
) -> CallResult:
    """Run a call in real time and end it cleanly.

    Args:
        call: A :class:`Call` from :func:`build_call`, or a :class:`CallScript`
            (built with ``build_kwargs``), or None for :func:`default_demo_script`.
        end: How to end once the script is over and the bot is quiet:
            ``"end"`` pushes ``EndWorkerFrame`` upstream from the output
            transport (graceful: queued audio plays, processors stop in order);
            ``"cancel"`` calls ``worker.cancel()`` (``CancelFrame``).
        cancel_at_secs: Cancel at this caller-stream time instead, script or not.
        idle_secs: How long the bot must have been quiet before the call ends.
        end_wait_secs: How long after the caller's audio ends to wait for the
            script to finish before ending anyway.
        timeout_secs: Hard limit for the whole run (cancels the worker); default
            caller audio length + ``end_wait_secs`` + 20 s.
    """
    if call is None:
        call = default_demo_script()
    if isinstance(call, CallScript):
        call = build_call(call, **build_kwargs)
    elif build_kwargs:
        raise TypeError("build_kwargs only apply when passing a CallScript")
    if timeout_secs is None:
        timeout_secs = call.timeline.duration_secs + end_wait_secs + 20.0

    started = time.monotonic()
    runner = WorkerRunner(handle_sigint=False)
    if hasattr(runner, "add_workers"):  # pipecat >= 1.3
        await runner.add_workers(call.worker)
        run = runner.run()
    else:
        run = runner.run(call.worker)
    driver = asyncio.create_task(
        _drive(
            call,
            end=end,
            cancel_at_secs=cancel_at_secs,
            idle_secs=idle_secs,
            end_wait_secs=end_wait_secs,
        )
    )
    ended_by = "timeout"
    completed = False
    run_task = asyncio.ensure_future(run)
    try:
        # asyncio.wait, not wait_for: on timeout wait_for waits, without a limit,
        # for the runner to acknowledge its cancellation, and a stuck pipeline
        # then hangs the caller forever. Every wait here has a bound.
        done, _ = await asyncio.wait({run_task}, timeout=timeout_secs)
        if done:
            run_task.result()  # the runner's own exception, if any
        else:
            logger.error(f"{call.worker}: call did not finish in {timeout_secs}s; cancelling")
            canceller = asyncio.ensure_future(call.worker.cancel())
            await asyncio.wait({canceller, run_task}, timeout=10.0, return_when=asyncio.ALL_COMPLETED)
            for task in (canceller, run_task):
                if not task.done():
                    task.cancel()
            await asyncio.wait({canceller, run_task}, timeout=5.0)
    finally:
        if driver.done() and not driver.cancelled() and driver.exception() is None:
            ended_by, completed = driver.result()
        else:
            driver.cancel()
            try:
                await driver
            except (asyncio.CancelledError, Exception):
                pass
    return CallResult(
        call=call,
        ended_by=ended_by,
        wall_secs=time.monotonic() - started,
        script_completed=completed,
    )


__all__ = [
    "Call",
    "CallEventLog",
    "CallResult",
    "CallScript",
    "CallerTurn",
    "FrameEvent",
    "ORDER_TOOL",
    "StereoRecorder",
    "build_call",
    "default_demo_script",
    "run_call",
]
