"""A real-time speech-to-speech call: scripted caller -> real OpenAI Realtime service -> device.

:func:`run_openai_realtime_call` starts an :class:`~.openai_fake.OpenAIRealtimeFake`,
wires the real ``OpenAIRealtimeLLMService`` (Pipecat 1.x) to it in the
pipeline a user writes for a speech-to-speech bot::

    transport.input() -> user aggregator -> OpenAIRealtimeLLMService
      -> transport.output() -> [audio_processor] -> assistant aggregator

and runs it in real time: the caller's audio is pushed as 20 ms
``InputAudioRawFrame``\\ s at 24 kHz (so the fake receives exactly the
caller's PCM), the bot's audio plays on a simulated device. The bot greets
on ``on_client_connected`` (an ``LLMRunFrame``). The call ends the way a
bot hangs up (``EndWorkerFrame``) once the fake has played its whole script
and the bot has been quiet for ``idle_secs``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Optional

from loguru import logger

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import LLMRunFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameProcessor

from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.testing.audio import CallerTimeline
from pipecat_roark.testing.realtime.openai_fake import OpenAIRealtimeFake
from pipecat_roark.testing.realtime.script import RATE, RealtimeScript, Truth
from pipecat_roark.testing.scenario import CallEventLog
from pipecat_roark.testing.transports import OfflineCallTransport, transport_params

#: A tool handler: gets the arguments, returns the result.
ToolHandler = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass
class RealtimeCallResult:
    """How the call went, and everything needed to check it."""

    truth: Truth
    timeline: CallerTimeline
    transport: OfflineCallTransport
    llm: Any
    events: CallEventLog
    audio_processor: Optional[FrameProcessor]
    ended_by: str
    wall_secs: float
    script_completed: bool

    def stream_secs(self, clock_ns: int) -> float:
        """Caller-stream seconds at a pipeline-clock time (``FramePushed.timestamp``)."""
        return self.transport.input().stream_secs_at_clock(clock_ns)

    def stream_secs_at_monotonic(self, t: float) -> float:
        return self.transport.input().stream_secs_at_monotonic(t)


def _tools_schema(tools: dict[str, tuple[str, dict[str, Any]]]) -> Optional[ToolsSchema]:
    if not tools:
        return None
    functions = [
        FunctionSchema(name=name, description=desc, properties=props,
                       required=list(props))
        for name, (desc, props) in tools.items()
    ]
    return ToolsSchema(standard_tools=functions)


def openai_live_service(url: str, *, instructions: str = "You are Acme's support agent. Be brief.") -> Any:
    """The real ``OpenAILiveLLMService`` pointed at ``url``, tools run by Responses delegation."""
    from pipecat.services.openai.live.llm import OpenAILiveLLMService
    from pipecat.services.openai.responses.llm import OpenAIResponsesLLMService

    return OpenAILiveLLMService(
        api_key="sk-test-local-fake", base_url=url,
        settings=OpenAILiveLLMService.Settings(system_instruction=instructions),
        delegation=OpenAILiveLLMService.ResponsesDelegation(
            settings=OpenAIResponsesLLMService.Settings(model="gpt-5.4-mini")),
    )


def gemini_live_service(fake: Any, *, tools: Optional[ToolsSchema] = None,
                        instructions: str = "You are Acme's support agent. Be brief.") -> Any:
    """The real ``GeminiLiveLLMService`` pointed at a :class:`~.gemini_fake.GeminiLiveFake`.

    Tools go to the constructor: tools in the context make the service
    reconnect when the context arrives.
    """
    from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService

    return GeminiLiveLLMService(
        api_key="test-local-fake", http_options=fake.http_options(), tools=tools,
        settings=GeminiLiveLLMService.Settings(system_instruction=instructions),
    )


def openai_realtime_service(url: str, *, transcription: bool = True,
                            instructions: str = "You are Acme's support agent. Be brief.",
                            silence_ms: int = 500) -> Any:
    """The real ``OpenAIRealtimeLLMService`` pointed at ``url``, server VAD on."""
    from pipecat.services.openai.realtime import events as rt
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

    audio_in = rt.AudioInput(
        transcription=rt.InputAudioTranscription() if transcription else None,
        turn_detection=rt.TurnDetection(silence_duration_ms=silence_ms),
    )
    settings = OpenAIRealtimeLLMService.Settings(
        system_instruction=instructions,
        session_properties=rt.SessionProperties(audio=rt.AudioConfiguration(input=audio_in)),
    )
    return OpenAIRealtimeLLMService(api_key="sk-test-local-fake", base_url=url, settings=settings)


async def run_openai_realtime_call(
    script: RealtimeScript,
    timeline: CallerTimeline,
    *,
    observers: Iterable[BaseObserver] = (),
    audio_processor: Optional[FrameProcessor] = None,
    transcription: bool = True,
    tools: Optional[dict[str, tuple[str, dict[str, Any]]]] = None,
    tool_handlers: Optional[dict[str, ToolHandler]] = None,
    greet: bool = True,
    service: str = "openai_realtime",
    fake_options: Optional[dict[str, Any]] = None,
    idle_secs: float = 0.6,
    end_wait_secs: float = 8.0,
    timeout_secs: Optional[float] = None,
) -> RealtimeCallResult:
    """Run one call against a fresh fake; see the module docstring.

    ``service``: ``"openai_realtime"`` (``OpenAIRealtimeLLMService`` and
    :class:`~.openai_fake.OpenAIRealtimeFake`) or ``"openai_live"``
    (``OpenAILiveLLMService`` and :class:`~.live_fake.OpenAILiveFake`).
    ``"gemini_live"`` (``GeminiLiveLLMService`` and
    :class:`~.gemini_fake.GeminiLiveFake`; needs google-genai).
    ``fake_options``: keyword arguments for the fake (e.g. ``turn_events=False``).
    """
    if timeline.sample_rate != RATE:
        raise ValueError(f"the caller timeline must be at {RATE} Hz (the API's rate), not {timeline.sample_rate}")
    started = time.monotonic()
    if service == "openai_realtime":
        fake: Any = OpenAIRealtimeFake(script, **(fake_options or {}))
    elif service == "openai_live":
        from pipecat_roark.testing.realtime.live_fake import OpenAILiveFake

        fake = OpenAILiveFake(script, **(fake_options or {}))
    elif service == "gemini_live":
        from pipecat_roark.testing.realtime.gemini_fake import GeminiLiveFake

        fake = GeminiLiveFake(script, **(fake_options or {}))
    else:
        raise ValueError(f"service must be 'openai_realtime', 'openai_live' or 'gemini_live', not {service!r}")
    async with fake:
        schema = _tools_schema(tools or {})
        if service == "openai_realtime":
            llm = openai_realtime_service(fake.url, transcription=transcription, silence_ms=script.silence_ms)
        elif service == "gemini_live":
            llm = gemini_live_service(fake, tools=schema)
            schema = None
        else:
            llm = openai_live_service(fake.url)
        for name, handler in (tool_handlers or {}).items():
            llm.register_function(name, _wrap_handler(handler))
        params = transport_params(sample_rate=RATE, audio_out_sample_rate=RATE)
        transport = OfflineCallTransport(timeline, params=params, user_id="caller")
        # Gemini Live answers its seeded context only if it holds a message (the
        # system instruction alone is no turn), so its greeting is asked for.
        messages: list[Any] = [{"role": "user", "content": "Greet the caller."}] if service == "gemini_live" else []
        context = LLMContext(messages, schema) if schema is not None else LLMContext(messages)
        aggregators = LLMContextAggregatorPair(context)
        processors: list[FrameProcessor] = [transport.input(), aggregators.user(), llm, transport.output()]
        if audio_processor is not None:
            processors.append(audio_processor)
        processors.append(aggregators.assistant())
        events = CallEventLog()
        worker = PipelineWorker(
            Pipeline(processors),
            params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE,
                                  enable_metrics=True, enable_usage_metrics=True),
            observers=[events, *observers],
        )
        if greet:
            @transport.event_handler("on_client_connected")
            async def _greet(_transport, _client):
                await worker.queue_frames([LLMRunFrame()])

        limit = timeout_secs or timeline.duration_secs + end_wait_secs + 15.0
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        run_task = asyncio.ensure_future(runner.run())
        driver = asyncio.ensure_future(_drive(transport, fake, timeline, idle_secs, end_wait_secs))
        ended_by, completed = "timeout", False
        try:
            done, _ = await asyncio.wait({run_task}, timeout=limit)
            if done:
                run_task.result()
            else:
                logger.error(f"realtime call did not finish in {limit:.0f}s; cancelling")
                canceller = asyncio.ensure_future(worker.cancel())
                await asyncio.wait({canceller, run_task}, timeout=10.0, return_when=asyncio.ALL_COMPLETED)
                for task in (canceller, run_task):
                    task.cancel()
        finally:
            if driver.done() and not driver.cancelled() and driver.exception() is None:
                ended_by, completed = driver.result()
            else:
                driver.cancel()
                await asyncio.gather(driver, return_exceptions=True)
    return RealtimeCallResult(truth=fake.truth, timeline=timeline, transport=transport, llm=llm, events=events,
                              audio_processor=audio_processor, ended_by=ended_by,
                              wall_secs=time.monotonic() - started, script_completed=completed)


def _wrap_handler(handler: ToolHandler):
    async def _run(params):
        result = await handler(dict(params.arguments))
        await params.result_callback(result)

    return _run


async def _drive(transport: OfflineCallTransport, fake: Any, timeline: CallerTimeline,
                 idle_secs: float, end_wait_secs: float) -> tuple[str, bool]:
    inp, out = transport.input(), transport.output()
    await inp.stream_started.wait()
    t0 = inp.stream_t0_monotonic
    assert t0 is not None
    await asyncio.sleep(max(0.0, t0 + timeline.duration_secs - time.monotonic()))
    deadline = time.monotonic() + end_wait_secs
    completed = False
    while time.monotonic() < deadline:
        if (fake.script_done.is_set() and not out.bot_speaking
                and time.monotonic() - out.last_audio_end_monotonic >= idle_secs):
            completed = True
            break
        await asyncio.sleep(0.05)
    if not completed:
        logger.warning(f"realtime call: script not finished {end_wait_secs}s after the caller's audio")
    await out.end_call()
    return "end", completed


__all__ = ["RealtimeCallResult", "gemini_live_service", "openai_live_service", "openai_realtime_service", "run_openai_realtime_call"]
