"""Turn edges against where the speech really is in the uploaded recording.

Target (issue): for every edge, user and bot, start and end, median error
<= 20 ms and maximum <= 50 ms, also with 20 calls running in one process.
The truth is measured sample by sample on the audio the server stitched,
independently of how the recorder finds edges.
"""

import asyncio

from pipecat_roark import RoarkObserver

from pipecat_roark.testing.scenario import build_call, run_call

from .conftest import API_KEY
from .helpers import edge_errors, recording, short_script


async def test_edges_with_20_calls_in_one_process(server):
    calls = []
    for i in range(20):
        roark = RoarkObserver(agent_id="accuracy", api_key=API_KEY, base_url=server.base_url)
        # No event log: the harness's own every-push observer would eat the
        # CPU that 20 pipelines need on a small machine.
        script = short_script()
        calls.append((roark, build_call(script, audio_processor=roark.audio_processor, observers=[roark],
                                        event_log=False)))

    async def one(i, roark, call):
        # Staggered starts, like real traffic (and 20 VAD models are not
        # loaded in the same instant); every call is a real-time call.
        await asyncio.sleep(i * 0.25)
        return await run_call(call)

    results = await asyncio.gather(*(one(i, r, c) for i, (r, c) in enumerate(calls)))
    incomplete = [(i, r.ended_by) for i, r in enumerate(results) if not r.script_completed]
    assert not incomplete, [
        (i, why, [t["content"] for t in (server.store.get_call(calls[i][0].pipecat_call_id).ended or {}).get("transcript", [])])
        for i, why in incomplete
    ]

    errors, detail = [], []
    for roark, _ in calls:
        rec = server.store.get_call(roark.pipecat_call_id)
        # With 20 real-time pipelines on two cores the caller stream can fall
        # behind wall time, so the server's recording-vs-call length heuristic
        # may fire; nothing else may.
        assert [p for p in rec.problems if not p.startswith("recording is ")] == [], rec.problems
        turns = rec.ended["transcript"]
        assert [t["role"] for t in turns] == ["assistant", "user", "assistant", "user", "assistant"], [
            (t["role"], t["content"], t.get("audioOffsetMs"), t.get("endAudioOffsetMs")) for t in turns]
        pcm, rate = recording(server, roark.pipecat_call_id)
        e = edge_errors(turns, pcm, rate)
        errors += e.errors
        detail += [f"{roark.pipecat_call_id[:8]} {d}" for d in e.detail]
    errors_sorted = sorted(errors)
    median = errors_sorted[len(errors_sorted) // 2]
    assert len(errors) == 20 * 5 * 2
    bad = {d.split()[0] for d, x in zip(detail, errors) if x > 20}
    assert median <= 20 and max(errors) <= 50, "\n".join(d for d in detail if d.split()[0] in bad)
