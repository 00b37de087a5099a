"""A bot process for the crash test: one endless call, until it is killed.

    python -m tests.reliability.crash_bot BASE_URL CALL_ID

ROARK_API_KEY and ROARK_SPOOL_DIR come from the environment.
"""

import asyncio
import sys

from pipecat.pipeline.pipeline import Pipeline

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner

from ..scripted_call import ScriptedCall
from .calls import RATE


async def main(base_url: str, call_id: str) -> None:
    roark = RoarkObserver(agent_id="crash", base_url=base_url, pipecat_call_id=call_id)
    params = PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE)
    worker = PipelineWorker(Pipeline([ScriptedCall(forever=True), roark.audio_processor]), params=params, observers=[roark])
    await WorkerRunner(handle_sigint=False).run(worker)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
