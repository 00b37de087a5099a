"""The spool's journal: one trip to the spool's thread per chunk, and never a delivered chunk left unjournaled.

A chunk's "made" line waits (up to JOURNAL_GROUP_SECS) for its "delivered"
line, which is written at once with it. Against the local dev server, with
the spool's writes recorded as they reach its thread.
"""

from __future__ import annotations

import asyncio

from pipecat_roark import delivery as delivery_mod
from pipecat_roark.client import RoarkClient
from pipecat_roark.delivery import JOURNAL_GROUP_SECS, CallDelivery
from pipecat_roark.spool import CallSpool, Journal, Spool, SpoolIO

from .conftest import API_KEY

HEADERS = {"x-roark-api-key": API_KEY, "Authorization": f"Bearer {API_KEY}"}
STARTED = {"event": "call-started", "pipecatCallId": "j-1", "eventTimestamp": "2026-01-01T00:00:00Z", "agentId": "a"}


def _recording_writes(monkeypatch) -> list[list[str]]:
    writes: list[list[str]] = []
    original = CallSpool.journal_lines

    def journal_lines(self, records):
        writes.append([f"{r['k']}{r.get('i', '')}" for r in records])
        original(self, records)

    monkeypatch.setattr(CallSpool, "journal_lines", journal_lines)
    return writes


async def _until(predicate, secs: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + secs
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_delivered_chunk_is_journaled_in_one_write_with_its_made_line(server, tmp_path, monkeypatch):
    writes = _recording_writes(monkeypatch)
    d = CallDelivery(RoarkClient(server.base_url, HEADERS, 5.0), "j-1", spool=Spool.at(tmp_path / "spool"),
                     finalize_timeout=5.0)
    d.send_started(STARTED)
    await _until(lambda: d.stats.started_delivered)
    for i in range(3):
        d.add_chunk(i, bytes(4000), 16000, 2)
    await _until(lambda: d.stats.chunks_delivered == 3)
    await SpoolIO.run(lambda: None)  # the thread wrote what was queued before
    chunk_writes = [w for w in writes if w != ["started"]]
    assert sorted(line for w in chunk_writes for line in w) == sorted(
        [f"chunk{i}" for i in range(3)] + [f"delivered{i}" for i in range(3)])
    # Each "delivered" line went at once, taking the "made" lines waiting with it.
    assert all(w[-1].startswith("delivered") for w in chunk_writes)
    assert len(chunk_writes) <= 3
    journal = Journal.read(d._spool.path / "journal.jsonl")
    assert set(journal.produced) == {0, 1, 2} and journal.delivered == {0, 1, 2}
    d.abort()


async def test_an_undelivered_chunk_is_journaled_within_the_grouping_time(server, tmp_path, monkeypatch):
    writes = _recording_writes(monkeypatch)
    server.faults.set("put", hang_forever=True, count=100)  # no upload ever finishes
    d = CallDelivery(RoarkClient(server.base_url, HEADERS, 5.0), "j-2", spool=Spool.at(tmp_path / "spool"),
                     finalize_timeout=5.0)
    d.send_started({**STARTED, "pipecatCallId": "j-2"})
    await _until(lambda: d.stats.started_delivered)
    loop = asyncio.get_running_loop()
    made_at = loop.time()
    d.add_chunk(0, bytes(4000), 16000, 2)
    await SpoolIO.run(lambda: None)
    assert ["chunk0"] not in writes  # waiting for its "delivered" line
    await _until(lambda: ["chunk0"] in writes, JOURNAL_GROUP_SECS + 2.0)
    assert loop.time() - made_at < JOURNAL_GROUP_SECS + 1.0
    assert Journal.read(d._spool.path / "journal.jsonl").produced == {0: 4000}
    d.abort()


def test_the_grouping_time_is_short_against_a_chunk():
    # A crash in the window leaves a chunk uncounted: the window stays well under a chunk's audio (~1.4 s at 48 kHz).
    assert delivery_mod.JOURNAL_GROUP_SECS <= 0.5
