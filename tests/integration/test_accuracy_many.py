"""Turn edges with 20 calls running in one process.

The issue's target (median <= 20 ms, max <= 50 ms for every edge) must also
hold with 20 real-time calls in one process. The full harness (Silero VAD,
scripted STT/LLM/TTS) saturates one core of this 2-core machine at 20 calls
before any observer is added, so these calls use the light scripted source
(tests/scripted_call.py): the same frames a transport and services push,
with the VAD's real delays (speech reported 200 ms late, silence 800 ms
late), the caller at 16 kHz and the bot at 24 kHz, so that the recorder
resamples and aligns as in production. The truth is measured on the
recording the server stitched, sample by sample.
"""

import asyncio
import os

from pipecat.pipeline.pipeline import Pipeline

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.devserver.store import Store

from ..scripted_call import Exchange, ScriptedCall, expected_turns
from .conftest import API_KEY
from .helpers import edge_errors, recording

CALLS = int(os.environ.get("ROARK_TEST_MANY_CALLS", "20"))
EXCHANGES = 3
SHAPE = Exchange(length_ms=3500, caller_ms=(400, 1300), bot_ms=(2300, 3100),
                 vad_start_delay_ms=200, vad_stop_delay_ms=800, bot_stop_delay_ms=100)


async def test_edges_with_20_calls_in_one_process(server_process):
    base_url, data_dir = server_process
    observers = []

    async def one(i: int) -> None:
        await asyncio.sleep(i * 0.1)  # staggered starts, like real traffic
        roark = RoarkObserver(agent_id="accuracy-many", api_key=API_KEY, base_url=base_url)
        observers.append(roark)
        params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000)
        source = ScriptedCall(EXCHANGES, in_rate=16000, out_rate=24000, shape=SHAPE, seed=i)
        worker = PipelineWorker(Pipeline([source, roark.audio_processor]), params=params, observers=[roark])
        await WorkerRunner(handle_sigint=False).run(worker)

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(CALLS))), timeout=120)

    store = Store(data_dir)
    errors, detail = [], []
    for roark in observers:
        rec = store.get_call(roark.pipecat_call_id)
        assert rec is not None and rec.ended is not None, "every call arrives whole"
        assert rec.problems == [], rec.problems
        turns = rec.ended["transcript"]
        assert [(t["role"], t["content"]) for t in turns] == expected_turns(EXCHANGES)
        pcm, rate = recording(store, roark.pipecat_call_id)
        assert rate == 24000
        e = edge_errors(turns, pcm, rate)
        errors += e.errors
        detail += e.detail
    ranked = sorted(zip(errors, detail))
    median, worst = ranked[len(ranked) // 2][0], ranked[-1][0]
    print(f"{CALLS} calls, {len(ranked)} edges: median {median:.1f} ms, max {worst:.1f} ms")
    assert median <= 20, ranked[-10:]
    assert worst <= 50, [(round(err), d) for err, d in ranked if err > 50]
