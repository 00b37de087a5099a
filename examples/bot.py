"""A foundational voice assistant (Deepgram -> OpenAI -> Cartesia) whose every call goes to Roark.

Install first, from the repository root: ``pip install -e ".[example]"``
(pipecat-roark plus Pipecat's Deepgram, OpenAI, Cartesia, Silero, transports
and development runner). Then copy ``.env.example`` to ``.env`` and fill it in.

One file, two ways to run it:

- self-hosted, with Pipecat's development runner::

      python examples/bot.py --transport webrtc   # then open the page it prints (http://localhost:7860)
      python examples/bot.py --transport daily    # needs DAILY_API_KEY; the runner makes the room
      python examples/bot.py --transport twilio --proxy <your-public-host>

- on Pipecat Cloud: ``pipecat cloud deploy`` builds the repository's
  ``Dockerfile`` in the cloud; its ``dailyco/pipecat-base`` image imports
  ``/app/bot.py`` and awaits ``bot(runner_args)`` once per session (see
  ``pcc-deploy.toml`` and ``.env.cloud.example``).

Environment: DEEPGRAM_API_KEY, OPENAI_API_KEY, CARTESIA_API_KEY (optionally
CARTESIA_VOICE_ID), ROARK_API_KEY (and optionally ROARK_INTEGRATION_ID,
ROARK_BASE_URL, ROARK_OBSERVABILITY_ENABLED, ROARK_SPOOL_DIR). An empty value
means unset, as if the line were absent.

Written for Pipecat 1.x (checked against 1.14). On 0.0.10x the names differ:
``PipelineWorker``/``WorkerRunner`` are ``PipelineTask``/``PipelineRunner``
(from ``pipecat.pipeline.task`` / ``pipecat.pipeline.runner``), and a runner
runs one task: ``await PipelineRunner(...).run(task)``.
"""

import os

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMMessagesAppendFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # 0.0.10x: pipecat.pipeline.task.PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.types import RunnerArguments
from pipecat.runner.utils import create_transport
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.workers.runner import WorkerRunner  # 0.0.10x: pipecat.pipeline.runner.PipelineRunner

from pipecat_roark import RoarkObserver

AGENT_ID = "pipecat-roark-example"  # stable across deploys: Roark groups calls by it
SYSTEM_PROMPT = (
    "You are a friendly voice assistant. Your replies are spoken aloud, so keep them short, "
    "conversational and free of lists, markdown or emoji."
)
GREETING = "Greet the caller in one short sentence and ask how you can help."
# A stock voice from Cartesia's library; set CARTESIA_VOICE_ID to use another.
DEFAULT_CARTESIA_VOICE = "71a7ad14-091c-4e8e-a314-022ece01c121"


def env(name: str, default: str | None = None) -> str | None:
    """An environment variable; empty (``NAME=`` in a copied .env) means unset."""
    value = (os.getenv(name) or "").strip()
    return value or default


def required_env(name: str) -> str:
    value = env(name)
    if value is None:
        raise RuntimeError(f"{name} is not set: put it in .env (self-hosted) or the agent's secret set (Pipecat Cloud)")
    return value


def _daily_params():
    from pipecat.transports.daily.transport import DailyParams  # pipecat-ai[daily]

    return DailyParams(audio_in_enabled=True, audio_out_enabled=True)


def _twilio_params():
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams  # pipecat-ai[websocket]

    # create_transport() adds the Twilio serializer (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN).
    return FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True)


# One factory per transport the runner may hand us; create_transport() picks by
# the type of runner_args. The imports are inside the factories so a webrtc-only
# install does not need daily-python.
TRANSPORT_PARAMS = {
    "daily": _daily_params,
    "webrtc": lambda: TransportParams(audio_in_enabled=True, audio_out_enabled=True),
    "twilio": _twilio_params,
}


def build_pipeline(transport: BaseTransport, runner_args: RunnerArguments) -> tuple[PipelineWorker, RoarkObserver]:
    """The whole bot around ``transport``, ready to run but not running."""
    # The call id comes from runner_args: SmallWebRTC's pc_id, else Pipecat Cloud's session_id.
    roark = RoarkObserver(
        agent_id=AGENT_ID,
        agent_name="Pipecat Roark example",
        agent_prompt=SYSTEM_PROMPT,
        runner_args=runner_args,
    )

    stt = DeepgramSTTService(api_key=required_env("DEEPGRAM_API_KEY"))
    llm = OpenAILLMService(
        api_key=required_env("OPENAI_API_KEY"),
        settings=OpenAILLMService.Settings(system_instruction=SYSTEM_PROMPT),
    )
    tts = CartesiaTTSService(
        api_key=required_env("CARTESIA_API_KEY"),
        settings=CartesiaTTSService.Settings(voice=env("CARTESIA_VOICE_ID", DEFAULT_CARTESIA_VOICE)),
    )

    context = LLMContext()
    # VAD lives on the user aggregator (1.x input transports have none; on
    # 0.0.10x TransportParams(vad_analyzer=...) still works but is deprecated).
    # The default turn strategies start a turn on VAD or a transcript and end
    # it with the bundled Smart Turn v3 model.
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()),
    )

    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            user_aggregator,
            llm,
            tts,
            transport.output(),
            roark.audio_processor,  # right after the output: records what the caller actually heard
            assistant_aggregator,
        ]
    )

    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=[roark],  # here, not in PipelineParams: 1.x ignores PipelineParams(observers=...)
        # The same id on OpenTelemetry's "conversation" span as on the Roark call.
        # Add enable_tracing=True once pipecat.utils.tracing.setup.setup_tracing(...) has run.
        conversation_id=roark.pipecat_call_id,
        idle_timeout_secs=runner_args.pipeline_idle_timeout_secs,
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(transport, client):
        logger.info("Client connected")
        await worker.queue_frames(
            [LLMMessagesAppendFrame(messages=[{"role": "developer", "content": GREETING}], run_llm=True)]
        )

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport, client):
        logger.info("Client disconnected")
        # A hang-up ends the call without an EndFrame. Deliver it to Roark now,
        # with its real reason and end time, before cancelling tears the
        # pipeline down (the host may stop the process soon after bot() returns).
        await roark.aflush(reason="client-disconnected")
        await worker.cancel(reason="client disconnected")

    return worker, roark


async def bot(runner_args: RunnerArguments):
    """Entry point for Pipecat's development runner and for Pipecat Cloud."""
    transport = await create_transport(runner_args, TRANSPORT_PARAMS)
    worker, _ = build_pipeline(transport, runner_args)
    runner = WorkerRunner(handle_sigint=runner_args.handle_sigint)
    await runner.add_workers(worker)  # 0.0.10x: await PipelineRunner(handle_sigint=...).run(task)
    await runner.run()


if __name__ == "__main__":
    from dotenv import load_dotenv
    from pipecat.runner.run import main

    load_dotenv(override=True)  # the repository's .env; Pipecat Cloud passes secrets as env vars instead
    main()
