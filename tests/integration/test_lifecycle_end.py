"""The end of a call has one owner: whoever asks first ends it, once, and nothing holds the host up.

Real pipelines (PipelineWorker + runner) with the scripted 2 s call of
test_lifecycle, against the local dev server, a closed port (Roark refusing)
or a dev server whose endpoints never answer (Roark hanging).
"""

import asyncio
import datetime as dt
import socket
import time

from pipecat.frames.frames import EndFrame

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import WorkerRunner
from pipecat_roark.spool import Spool

from .conftest import API_KEY
from .test_lifecycle import ScriptedCall, worker_for


def closed_port_url() -> str:
    """A loopback address nothing listens on: connections are refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def timed_run(worker) -> float:
    t0 = time.monotonic()
    await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=30)
    return time.monotonic() - t0


async def baseline_secs() -> float:
    """The same pipeline with no observer at all: what the host waits anyway."""
    from pipecat.pipeline.pipeline import Pipeline

    from pipecat_roark._compat import PipelineParams, PipelineWorker

    worker = PipelineWorker(Pipeline([ScriptedCall()]), params=PipelineParams(audio_in_sample_rate=16000,
                                                                               audio_out_sample_rate=16000))
    return await timed_run(worker)


async def test_without_the_processor_an_end_frame_ends_the_call_after_it_started_with_its_reason(server):
    roark = RoarkObserver(agent_id="lifecycle", api_key=API_KEY, base_url=server.base_url)
    source = ScriptedCall(end=False)
    worker = worker_for([source], roark)  # roark.audio_processor left out

    async def end_later():
        await asyncio.sleep(2.3)
        await worker.queue_frame(EndFrame(reason="customer said goodbye"))

    ender = asyncio.create_task(end_later())
    await timed_run(worker)
    await ender
    ended = server.store.get_call(roark.pipecat_call_id).ended
    assert ended["callEndedReason"] == "customer said goodbye"
    started, stopped = iso(ended["callStartedAt"]), iso(ended["callEndedAt"])
    assert stopped >= started + dt.timedelta(seconds=2), (started, stopped)


async def test_roark_refusing_sends_the_call_to_the_spool_without_holding_run_up(tmp_path):
    base = await baseline_secs()
    spool_dir = tmp_path / "spool"
    roark = RoarkObserver(agent_id="lifecycle", api_key=API_KEY, base_url=closed_port_url(), spool_dir=spool_dir)
    took = await timed_run(worker_for([ScriptedCall(), roark.audio_processor], roark))
    print(f"run() with Roark refusing: {took:.2f} s, without the observer: {base:.2f} s")
    assert took - base <= 0.5, (took, base)
    [call] = Spool.at(spool_dir).calls()
    assert call.call_id == roark.pipecat_call_id and call.has_ended and call.has_started
    assert roark.delivery_stats.ended_spooled and roark.delivery_stats.chunks_lost == 0


async def test_roark_hanging_sends_the_call_to_the_spool_soon(server, tmp_path):
    server.faults.set("event", hang_forever=True, count=100)
    base = await baseline_secs()
    spool_dir = tmp_path / "spool"
    roark = RoarkObserver(agent_id="lifecycle", api_key=API_KEY, base_url=server.base_url, spool_dir=spool_dir)
    took = await timed_run(worker_for([ScriptedCall(), roark.audio_processor], roark))
    print(f"run() with Roark hanging: {took:.2f} s, without the observer: {base:.2f} s")
    # call-started never answered during the call: at its end the spool takes over at once.
    assert took - base <= 0.5, (took, base)
    [call] = Spool.at(spool_dir).calls()
    assert call.call_id == roark.pipecat_call_id and call.has_ended


async def test_the_hosts_own_timeout_is_honoured_at_once(server, tmp_path):
    server.faults.set("put", hang_forever=True, count=100)  # every upload hangs
    spool_dir = tmp_path / "spool"
    roark = RoarkObserver(agent_id="lifecycle", api_key=API_KEY, base_url=server.base_url, spool_dir=spool_dir,
                          finalize_timeout_secs=30.0)
    worker = worker_for([ScriptedCall(end=False, forever=True), roark.audio_processor], roark)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=2.5)
    except asyncio.TimeoutError:
        pass
    took = time.monotonic() - t0
    print(f"host timeout 2.5 s: run() gave up after {took:.2f} s")
    assert took <= 2.5 + 1.0, took
    [call] = Spool.at(spool_dir).calls()
    assert call.call_id == roark.pipecat_call_id and call.has_ended


async def test_aflush_hands_every_chunk_to_the_users_handler_and_to_roark(server):
    roark = RoarkObserver(agent_id="lifecycle", api_key=API_KEY, base_url=server.base_url, spool_dir=False)
    chunks: list[bytes] = []

    @roark.audio_processor.event_handler("on_audio_data")
    async def on_audio(_processor, pcm, sample_rate, num_channels):
        chunks.append(bytes(pcm))

    worker = worker_for([ScriptedCall(end=False, forever=True), roark.audio_processor], roark)
    run = asyncio.create_task(WorkerRunner(handle_sigint=False).run(worker))
    await asyncio.sleep(2.2)
    assert await roark.aflush("client disconnected") is True  # e.g. from on_client_disconnected
    await worker.cancel()
    await asyncio.wait_for(run, timeout=10)
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.ended["callEndedReason"] == "client disconnected"
    assert chunks, "the tail reached the handler"
    assert b"".join(chunks) == server.store.pcm(roark.pipecat_call_id)
    assert len(b"".join(chunks)) >= 2 * 16000 * 4  # the whole 2 s and more, stereo s16
