"""The crash test: the bot process is SIGKILLed mid-call; a new process replays the spool.

What was on disk when the process died must reach Roark exactly; what was
only in memory is lost, and the rebuilt call-ended must say precisely what
(chunk indexes and bytes, from the journal). A lost chunk between two that
survived is replaced by silence of its length, so later audio stays aligned.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path

from pipecat_roark.devserver.server import DevServer
from pipecat_roark.replay import ORPHAN_REASON
from pipecat_roark.spool import Journal, Spool, call_key

from .calls import API_KEY, accepted_events, python, secrets_in

ROOT = Path(__file__).resolve().parents[2]


async def _until(predicate, timeout: float, what: str) -> None:
    """Poll a condition (files another process writes) with a deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _start_bot(base_url: str, call_id: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ROARK_API_KEY": API_KEY}
    return await asyncio.create_subprocess_exec(
        python(), "-m", "tests.reliability.crash_bot", base_url, call_id, cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def _kill(bot: asyncio.subprocess.Process) -> str:
    bot.send_signal(signal.SIGKILL)
    _, err = await bot.communicate()
    assert bot.returncode == -signal.SIGKILL
    return err.decode(errors="replace")


def _snapshot(call_dir: Path) -> tuple[Journal, dict[int, bytes]]:
    """What the dead process left: its journal and the chunk files' bytes."""
    journal = Journal.read(call_dir / "journal.jsonl")
    chunks = {int(p.name[6:-4]): p.read_bytes() for p in call_dir.glob("chunk-*.pcm")}
    return journal, chunks


async def _replay(base_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROARK_API_KEY": API_KEY, "ROARK_BASE_URL": base_url}
    return await asyncio.to_thread(
        subprocess.run, [python(), "-m", "pipecat_roark.cli", "replay"], cwd=str(ROOT), env=env,
        capture_output=True, text=True, timeout=120)


def _expected_pcm(journal: Journal, on_disk: dict[int, bytes], delivered_live: dict[int, bytes]) -> tuple[bytes, list[int], list[int]]:
    """The recording Roark should end with: kept chunks, silence for gaps, nothing for the lost tail."""
    kept = set(on_disk) | set(delivered_live)
    top = max(kept, default=-1)
    silenced = [i for i in sorted(journal.produced) if i < top and i not in kept]
    tail = [i for i in sorted(journal.produced) if i > top]
    pcm = b"".join(
        on_disk[i] if i in on_disk else delivered_live[i] if i in delivered_live else bytes(journal.produced[i])
        for i in range(top + 1)
    )
    return pcm, silenced, tail


async def test_killed_mid_call_while_roark_is_down(tmp_path):
    """Roark unreachable: chunks go to disk; SIGKILL; Roark back; replay delivers the disk, rebuilds the end."""
    probe = await DevServer(data_dir=tmp_path / "roark", port=0, api_key=API_KEY).start()
    port, base_url = probe.port, probe.base_url
    await probe.stop()
    call_id = f"crash-down-{uuid.uuid4().hex[:8]}"
    call_dir = Path(os.environ["ROARK_SPOOL_DIR"]) / call_key(call_id)

    bot = await _start_bot(base_url, call_id)
    try:
        await _until(lambda: len(list(call_dir.glob("chunk-*.pcm"))) >= 2, 60, "two chunks on disk")
    finally:
        stderr = await _kill(bot)
    journal, on_disk = _snapshot(call_dir)
    assert secrets_in(stderr.splitlines()) == []
    assert not journal.started_delivered and (call_dir / "started.json").exists()

    async with DevServer(data_dir=tmp_path / "roark", port=port, api_key=API_KEY) as server:
        done = await _replay(base_url)
        assert done.returncode == 0, done.stdout + done.stderr
        rec = server.store.get_call(call_id)
        events = accepted_events(rec)
        assert [e["event"] for e in events] == ["call-started", "call-ended"]
        ended = events[1]
        pcm, silenced, tail = _expected_pcm(journal, on_disk, {})
        assert server.store.pcm(call_id) == pcm
        assert ended["callEndedReason"] == ORPHAN_REASON
        assert ended["recordingSampleRate"] == 48000 and ended["recordingNumChannels"] == 2
        recovery = ended["recovery"]
        assert recovery["chunksReplacedBySilence"] == silenced and recovery["chunksLost"] == tail
        assert recovery["bytesLost"] == sum(journal.produced[i] for i in silenced + tail)
        assert rec.problems == [], rec.problems
    assert Spool(call_dir.parent).calls() == []


async def test_killed_mid_upload(server):
    """Two chunks delivered, then PUTs hang; SIGKILL with uploads in flight; replay ends the call and names the loss."""
    call_id = f"crash-upload-{uuid.uuid4().hex[:8]}"
    call_dir = Path(os.environ["ROARK_SPOOL_DIR"]) / call_key(call_id)
    bot = await _start_bot(server.base_url, call_id)
    try:
        await server.wait_for(lambda: len((server.store.get_call(call_id) or _NoCall).chunks) >= 2, timeout=60)
        server.faults.set("put", hang_forever=True, count=1000)
        hung = server.faults.count("put")
        await server.wait_for(lambda: server.faults.count("put") > hung, timeout=30)
        produced_then = len(Journal.read(call_dir / "journal.jsonl").produced)
        await _until(lambda: len(Journal.read(call_dir / "journal.jsonl").produced) > produced_then, 30,
                     "another chunk made while the upload hangs")
    finally:
        stderr = await _kill(bot)
    journal, on_disk = _snapshot(call_dir)
    assert secrets_in(stderr.splitlines()) == []
    live = server.store.chunk_data(call_id)
    assert set(live) == journal.delivered, "the journal must know what Roark already has"

    server.faults.clear()
    done = await _replay(server.base_url)
    assert done.returncode == 0, done.stdout + done.stderr
    rec = server.store.get_call(call_id)
    events = accepted_events(rec)
    assert [e["event"] for e in events] == ["call-started", "call-ended"]
    pcm, silenced, tail = _expected_pcm(journal, on_disk, live)
    assert server.store.pcm(call_id) == pcm
    recovery = events[1]["recovery"]
    assert tail and recovery["chunksLost"] == tail, "chunks held in memory at the kill are named as lost"
    assert recovery["chunksReplacedBySilence"] == silenced
    assert recovery["bytesLost"] == sum(journal.produced[i] for i in silenced + tail)
    assert f"lost {len(silenced) + len(tail)} chunk(s)" in done.stdout
    # The server rightly notices the recording is shorter than the call: the tail died with the process.
    assert all(p.startswith("recording is") and "shorter" in p for p in rec.problems), rec.problems


class _NoCall:
    chunks: dict = {}


async def test_several_replayers_at_once_deliver_each_thing_once(server):
    """Three `pipecat-roark replay` processes on one spool of five finished calls: every event and chunk once."""
    from pipecat_roark.call import iso
    from pipecat_roark.spool import CallSpool

    root = Path(os.environ["ROARK_SPOOL_DIR"])
    calls = {}
    for n in range(5):
        call_id = f"spooled-{n}"
        spool = CallSpool(root, call_id)
        started = {"event": "call-started", "pipecatCallId": call_id, "eventTimestamp": iso(1.8e9), "agentId": "a"}
        spool.open({"callId": call_id, "baseUrl": server.base_url, "sampleRate": 16000, "numChannels": 2}, started)
        chunks = [bytes([n + 1, i + 1]) * 8000 for i in range(3)]
        for i, data in enumerate(chunks):
            spool.journal(k="chunk", i=i, n=len(data), sr=16000, ch=2)
            spool.put_chunk(i, data)
        spool.put_ended({"event": "call-ended", "pipecatCallId": call_id, "eventTimestamp": iso(1.8e9 + 9),
                         "callStartedAt": iso(1.8e9), "callEndedAt": iso(1.8e9 + 1.5), "callEndedReason": "ended",
                         "recordingSampleRate": 16000, "recordingNumChannels": 2})
        spool.close(delivered=False)
        calls[call_id] = b"".join(chunks)

    results = await asyncio.gather(*(_replay(server.base_url) for _ in range(3)))
    assert all(r.returncode == 0 for r in results), [r.stdout + r.stderr for r in results]
    for call_id, pcm in calls.items():
        rec = server.store.get_call(call_id)
        assert [e["event"] for e in accepted_events(rec)] == ["call-started", "call-ended"], call_id
        assert len(rec.uploads) == 3 and server.store.pcm(call_id) == pcm
        assert rec.problems == [], rec.problems
    assert Spool(root).calls() == []
