"""A short real call for the fault suite, and what the client produced in it.

The call is a real Pipecat pipeline (worker + runner) with 20 ms frames in
real time: the caller asks, the bot answers, twice, at 48 kHz so that a few
seconds make several ~256 KiB recording chunks. Everything the client
produced (every chunk's bytes, the call-ended payload as sent) is kept, so a
test can hold the server to exactly that: same events, byte-identical audio.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from pipecat.pipeline.pipeline import Pipeline

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner

from ..scripted_call import ScriptedCall, expected_turns

RATE = 48000
API_KEY = "rk_test_SECRET_do_not_log_123"


@dataclass
class Produced:
    """What the client made of the call, to compare with what the server holds."""

    roark: RoarkObserver
    chunks: dict[int, bytes] = field(default_factory=dict)
    ended: Optional[dict[str, Any]] = None
    run_secs: float = 0.0
    #: run() time beyond the call's scripted length: finalization and teardown.
    shutdown_secs: float = 0.0

    @property
    def call_id(self) -> str:
        return self.roark.pipecat_call_id

    @property
    def pcm(self) -> bytes:
        assert sorted(self.chunks) == list(range(len(self.chunks))), "chunk indexes must be 0..n-1"
        return b"".join(self.chunks[i] for i in sorted(self.chunks))


def observer(base_url: str, **kw: Any) -> RoarkObserver:
    kw.setdefault("finalize_timeout_secs", 3.0)
    return RoarkObserver(agent_id="reliability", api_key=API_KEY, base_url=base_url, **kw)


async def run_call(base_url: str, *, exchanges: int = 2, **kw: Any) -> Produced:
    roark = observer(base_url, **kw)
    produced = Produced(roark)
    session = roark.session
    sink = session.chunk

    def keep_chunk(index, data, *args, **kwargs):
        produced.chunks[index] = bytes(data)
        return sink(index, data, *args, **kwargs)

    session.chunk = keep_chunk  # the recorder hands chunks to the call's session here

    @roark.event_handler("on_call_ended")
    async def keep_payload(_, summary, payload):
        produced.ended = payload

    params = PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE)
    worker = PipelineWorker(Pipeline([ScriptedCall(exchanges), roark.audio_processor]), params=params, observers=[roark])
    t0 = time.monotonic()
    await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=60)
    done = time.monotonic()
    produced.run_secs = done - t0
    produced.shutdown_secs = produced.run_secs - exchanges * 2.5
    return produced


def accepted_events(rec) -> list[dict]:
    return [row.payload for row in rec.event_rows if 200 <= row.status < 300]


def assert_delivered_exactly(server, produced: Produced) -> None:
    """The server holds what the client produced: each event once, the same payload, the same bytes."""
    rec = server.store.get_call(produced.call_id)
    assert rec is not None, "Roark never heard of the call"
    events = accepted_events(rec)
    assert [e["event"] for e in events] == ["call-started", "call-ended"], [e["event"] for e in events]
    assert events[1] == produced.ended, "call-ended differs from what the client built"
    assert len(produced.chunks) >= 2, "the call should make several chunks"
    assert sorted(rec.chunks) == sorted(produced.chunks)
    assert len(rec.uploads) == len(produced.chunks), "a chunk was stored twice"
    assert server.store.pcm(produced.call_id) == produced.pcm, "the recording is not byte-identical"
    assert rec.problems == [], rec.problems
    turns = [(t["role"], t["content"]) for t in produced.ended["transcript"]]
    assert turns == expected_turns(max(2, len(turns) // 2))


def secrets_in(lines: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Log lines that give away the key or a presigned upload URL."""
    needles = (API_KEY, "/upload/", "X-Amz-Signature", *extra)
    return [line for line in lines if any(n in line for n in needles)]


def python() -> str:
    return sys.executable
