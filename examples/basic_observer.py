"""The smallest complete RoarkObserver setup, runnable with no accounts.

    python examples/basic_observer.py

The wiring is exactly what a production bot needs (see the three lines
marked "Roark"); only the transport and the STT/LLM/TTS services are the
package's offline stand-ins, so the call runs on this machine in real time:
a caller asks about an order and the bot answers.

Where the call goes:

- ``ROARK_BASE_URL=http://127.0.0.1:8790`` with ``pipecat-roark dev`` running
  in another terminal: the call is kept there and the script prints the URL
  of its call page;
- ``ROARK_API_KEY`` (and no ``ROARK_BASE_URL``): to Roark itself;
- neither: to a throwaway local Roark-compatible server started here, and
  the script prints what it received.

Works on Pipecat 1.x and 0.0.10x (the runner classes were renamed in 1.3).
"""

import asyncio
import os
import tempfile
from urllib.parse import quote

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import EndFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

try:  # Pipecat >= 1.3
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner
except ImportError:  # Pipecat 0.0.10x: the same classes under their old names
    from pipecat.pipeline.runner import PipelineRunner as WorkerRunner
    from pipecat.pipeline.task import PipelineParams
    from pipecat.pipeline.task import PipelineTask as PipelineWorker

from pipecat_roark import RoarkObserver
from pipecat_roark.config import is_loopback_url
from pipecat_roark.devserver.server import DevServer
from pipecat_roark.testing.audio import CallerTimeline
from pipecat_roark.testing.services import (
    ScriptedLLMService,
    ScriptedReply,
    ScriptedSTTService,
    ScriptedTranscript,
    ScriptedTTSService,
)
from pipecat_roark.testing.transports import OfflineCallTransport, transport_params

SYSTEM_PROMPT = "You are Acme's order support agent. Be brief."


async def run_bot(base_url=None) -> RoarkObserver:
    # Stand-ins for a phone line, Deepgram, OpenAI and Cartesia. The caller
    # speaks at 3 s, after the bot's ~2 s greeting, so it does not cut it off.
    caller = CallerTimeline([(3000, "caller_order_status")], duration_ms=8000)
    transport = OfflineCallTransport(caller, params=transport_params(sample_rate=16000))
    stt = ScriptedSTTService([ScriptedTranscript.of("Hi, I'd like to check my order status.")])
    llm = ScriptedLLMService([ScriptedReply(user="Hi, I'd like to check my order status.",
                                            text="Sure, what's the order number?")])
    tts = ScriptedTTSService()

    context = LLMContext([{"role": "system", "content": SYSTEM_PROMPT}])
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(),
            user_turn_strategies=UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy()]),
        ),
    )

    # Roark (1/3): one observer per call. The key comes from ROARK_API_KEY.
    roark = RoarkObserver(agent_id="support-bot-v3", agent_name="Support Bot v3",
                          agent_prompt=SYSTEM_PROMPT, base_url=base_url)

    pipeline = Pipeline([
        transport.input(),
        stt,
        aggregators.user(),
        llm,
        tts,
        transport.output(),
        roark.audio_processor,  # Roark (2/3): right after transport.output()
        aggregators.assistant(),
    ])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=[roark],  # Roark (3/3)
    )

    @transport.event_handler("on_client_connected")
    async def greet(_transport, _client):
        await worker.queue_frames([TTSSpeakFrame("Acme support, how can I help?")])

    async def hang_up_when_done():
        # The stand-in caller has said its piece; end the call gracefully
        # (queued audio plays first), as an app does when a call is over.
        await asyncio.sleep(caller.duration_secs + 2.0)
        await worker.queue_frame(EndFrame())

    hang_up = asyncio.create_task(hang_up_when_done())
    runner = WorkerRunner(handle_sigint=False)
    if hasattr(runner, "add_workers"):  # Pipecat >= 1.3
        await runner.add_workers(worker)
        await runner.run()
    else:  # Pipecat 0.0.10x
        await runner.run(worker)
    hang_up.cancel()
    return roark


def call_page_url(base_url: str, call_id: str) -> str:
    """Where ``pipecat-roark dev`` shows a call."""
    return f"{base_url.rstrip('/')}/calls/{quote(call_id, safe='')}"


async def main():
    base_url = (os.environ.get("ROARK_BASE_URL") or "").strip()
    if base_url or (os.environ.get("ROARK_API_KEY") or "").strip():
        roark = await run_bot()
        if base_url and is_loopback_url(base_url):
            print(f"call page: {call_page_url(base_url, roark.pipecat_call_id)}")
        return
    with tempfile.TemporaryDirectory() as data_dir:
        async with DevServer(data_dir=data_dir, port=0) as server:
            roark = await run_bot(base_url=server.base_url)
            call = server.store.get_call(roark.pipecat_call_id)
            for turn in (call.ended or {}).get("transcript", []):
                print(f"{turn['role']:>9} @ {turn.get('audioOffsetMs', '-'):>5} ms: {turn['content']}")
            print(f"recording: {len(call.chunks)} chunk(s); problems: {call.problems or 'none'}")


if __name__ == "__main__":
    asyncio.run(main())
