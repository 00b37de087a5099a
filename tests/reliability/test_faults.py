"""The fault suite: Roark misbehaves, the call does not notice, and nothing is lost or doubled.

Each test runs a real ~5 s call against the local server with faults planned
on one endpoint (see pipecat_roark/devserver/faults.py), then holds the
server to exactly what the client produced: call-started and call-ended once
each, call-ended equal to the payload the client built, every chunk once and
the reassembled recording byte-identical. Where the faults outlast the
finalization deadline, the spool is replayed first, as a later process
would. Every log line of every test is scanned for the key and for
presigned URLs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from pipecat_roark.client import RoarkClient
from pipecat_roark.devserver.server import DevServer
from pipecat_roark.replay import Replayer
from pipecat_roark.spool import Spool

from .calls import API_KEY, assert_delivered_exactly, python, run_call, secrets_in

FINALIZE = 3.0
#: The deadline is FINALIZE (+1 s of grace for teardown); anything beyond is the pipeline's own shutdown.
SHUTDOWN_BOUND = FINALIZE + 1.0 + 2.0


def _spool() -> Spool:
    return Spool.at(os.environ["ROARK_SPOOL_DIR"])


async def _replay(base_url: str):
    headers = {"x-roark-api-key": API_KEY, "Authorization": f"Bearer {API_KEY}"}
    return await Replayer(_spool(), RoarkClient(base_url, headers, 5.0), rate=50).run()


@pytest.fixture(autouse=True)
def _no_secrets_logged(logs):
    yield
    assert secrets_in(logs) == []


# Faults that retries absorb while the call runs: no spool needed.
LIVE_FAULTS = {
    "5xx burst on events": ("event", dict(statuses=[500, 502, 503])),
    "5xx burst on upload urls": ("upload_url", dict(statuses=[503, 500, 502, 503])),
    "5xx burst on PUTs": ("put", dict(statuses=[502, 503, 500])),
    "429 with Retry-After on events": ("event", dict(statuses=[429], retry_after=1)),
    "429 with Retry-After on upload urls": ("upload_url", dict(statuses=[429, 429], retry_after=1)),
    "expired presigned URL (403 on PUT)": ("put", dict(expired=2)),
    "upload url without uploadUrl": ("upload_url", dict(malformed="no_upload_url", count=2)),
    "upload url that is not JSON": ("upload_url", dict(malformed="not_json")),
    "connection dropped on events": ("event", dict(down=2)),
}


@pytest.mark.parametrize("name", list(LIVE_FAULTS))
async def test_live_faults_are_absorbed(server, name):
    endpoint, fault = LIVE_FAULTS[name]
    server.faults.set(endpoint, **fault)
    finalize = 10.0 if "hang_seconds" in fault else FINALIZE
    produced = await run_call(server.base_url, finalize_timeout_secs=finalize)
    assert server.faults.pending(endpoint) == 0, "the planned faults were not all hit"
    assert produced.shutdown_secs < finalize + 3.0
    await server.wait_for_call_ended(produced.call_id)
    assert_delivered_exactly(server, produced)
    assert produced.roark.delivery_stats.chunks_lost == 0


# A request that hangs: retried after the 5 s request timeout if the call is
# still running; at its end, the shutdown does not wait for it (STALL_SECS
# without progress hands the rest to the spool), and replay delivers it.
HANGS = {
    "a PUT that hangs": ("put", dict(hang_seconds=30)),
    "an upload url that hangs": ("upload_url", dict(hang_seconds=30)),
    "an event that hangs": ("event", dict(hang_seconds=30)),
}


@pytest.mark.parametrize("name", list(HANGS))
async def test_a_hanging_request_never_holds_up_shutdown_and_nothing_is_lost(server, name):
    from pipecat_roark.delivery import STALL_SECS

    endpoint, fault = HANGS[name]
    server.faults.set(endpoint, **fault)
    produced = await run_call(server.base_url, finalize_timeout_secs=10.0)
    assert server.faults.pending(endpoint) == 0, "the planned fault was not hit"
    # The deadline is 10 s; a hang at the end costs at most the stall bound.
    assert produced.shutdown_secs < STALL_SECS + 2.0, produced.shutdown_secs
    stats = produced.roark.delivery_stats
    assert stats.chunks_lost == 0
    if not stats.ended_delivered:
        assert stats.ended_spooled
        server.faults.clear()
        report = await _replay(server.base_url)
        assert [c.outcome for c in report.calls] == ["delivered"]
    await server.wait_for_call_ended(produced.call_id)
    assert_delivered_exactly(server, produced)


async def test_connection_refused_for_a_window(tmp_path, logs):
    """Roark's port closed mid-call (nothing listening), open again two seconds later."""
    first = await DevServer(data_dir=tmp_path / "roark", port=0, api_key=API_KEY).start()
    port = first.port

    async def outage():
        await first.wait_for(lambda: bool(first.store.call_ids()), timeout=10)
        await first.stop()
        await asyncio.sleep(2.0)  # the window itself: this is the fault, not a wait for ordering
        await again.start()

    again = DevServer(data_dir=tmp_path / "roark", port=port, api_key=API_KEY)
    task = asyncio.create_task(outage())
    try:
        produced = await run_call(first.base_url, exchanges=3, finalize_timeout_secs=FINALIZE)
        await task
        await again.wait_for_call_ended(produced.call_id)
        assert_delivered_exactly(again, produced)
        assert any("Connect" in line or "no response" in line for line in logs), "the outage was not noticed"
    finally:
        await again.stop()


async def test_slow_object_store_past_the_deadline_goes_to_the_spool(server):
    """Every PUT hangs: the call ends on time, the audio and call-ended wait on disk, replay delivers them once."""
    server.faults.set("put", hang_forever=True, count=50)
    produced = await run_call(server.base_url, finalize_timeout_secs=FINALIZE)
    assert produced.shutdown_secs < SHUTDOWN_BOUND
    stats = produced.roark.delivery_stats
    assert stats.ended_spooled and not stats.ended_delivered and stats.chunks_lost == 0
    rec = server.store.get_call(produced.call_id)
    assert rec.ended is None, "call-ended must not overtake its audio"
    (waiting,) = _spool().calls()
    assert waiting.has_ended and waiting.chunks == sorted(produced.chunks)

    server.faults.clear()
    report = await _replay(server.base_url)
    assert [c.outcome for c in report.calls] == ["delivered"]
    assert_delivered_exactly(server, produced)
    assert _spool().calls() == []
    assert (await _replay(server.base_url)).calls == [], "a second replay must find nothing"


async def test_roark_down_for_the_whole_call_then_back(tmp_path, logs):
    """Nothing listening for the whole call; Roark comes back; `pipecat-roark replay` delivers it all, once."""
    probe = await DevServer(data_dir=tmp_path / "roark", port=0, api_key=API_KEY).start()
    port, base_url = probe.port, probe.base_url
    await probe.stop()  # the port is ours but closed: connections are refused

    produced = await run_call(base_url, finalize_timeout_secs=FINALIZE)
    assert produced.shutdown_secs < SHUTDOWN_BOUND
    stats = produced.roark.delivery_stats
    assert not stats.started_delivered and stats.ended_spooled and stats.chunks_lost == 0
    (waiting,) = _spool().calls()
    assert waiting.has_started and waiting.has_ended and waiting.chunks == sorted(produced.chunks)
    assert any("circuit open" in line for line in logs), "the breaker should have stopped the hammering"

    async with DevServer(data_dir=tmp_path / "roark", port=port, api_key=API_KEY) as back:
        env = {**os.environ, "ROARK_API_KEY": API_KEY, "ROARK_BASE_URL": base_url}
        listing = await asyncio.to_thread(
            subprocess.run, [python(), "-m", "pipecat_roark.cli", "replay", "--list"],
            env=env, capture_output=True, text=True, timeout=60)
        assert produced.call_id in listing.stdout and "finalized" in listing.stdout
        done = await asyncio.to_thread(
            subprocess.run, [python(), "-m", "pipecat_roark.cli", "replay"],
            env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{produced.call_id}: delivered" in done.stdout
        assert secrets_in([done.stdout, done.stderr]) == []
        assert_delivered_exactly(back, produced)
    assert _spool().calls() == []


async def test_the_next_call_delivers_what_the_last_one_left(server, monkeypatch):
    """No command needed: an observer starting on the same machine replays the spool in the background."""
    import pipecat_roark.replay as replay

    # No waiting: the first call's own start already used this loop's turn (one pass per 30 s).
    monkeypatch.setattr(replay, "BACKGROUND_DELAY_SECS", 0.0)
    monkeypatch.setattr(replay, "BACKGROUND_INTERVAL_SECS", 0.0)
    server.faults.set("put", hang_forever=True, count=50)
    first = await run_call(server.base_url, finalize_timeout_secs=FINALIZE)
    assert first.roark.delivery_stats.ended_spooled
    server.faults.clear()
    second = await run_call(server.base_url, finalize_timeout_secs=FINALIZE)
    await server.wait_for_call_ended(first.call_id, timeout=30)
    assert_delivered_exactly(server, first)
    assert_delivered_exactly(server, second)


async def test_refused_key_is_said_once_and_kept_for_replay(server, logs):
    """401 is not retried: one ERROR naming the fix; the call waits in the spool for a corrected key."""
    server.faults.set("event", statuses=[401])
    produced = await run_call(server.base_url, finalize_timeout_secs=FINALIZE)
    errors = [line for line in logs if line.startswith("ERROR") and "ROARK_API_KEY" in line]
    assert len(errors) == 1, errors
    assert produced.roark.delivery_stats.ended_spooled
    report = await _replay(server.base_url)
    assert [c.outcome for c in report.calls] == ["delivered"]
    assert_delivered_exactly(server, produced)


def test_spool_file_names_and_contents_hold_no_secret(tmp_path):
    from pipecat_roark.spool import CallSpool

    spool = CallSpool(tmp_path, "call-with-a-long-id")
    spool.open({"callId": "call-with-a-long-id", "baseUrl": "https://api.roark.ai"}, {"event": "call-started"})
    spool.put_chunk(0, b"\0" * 10)
    spool.close(delivered=False)
    for path in tmp_path.rglob("*"):
        assert API_KEY not in path.name
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes()
