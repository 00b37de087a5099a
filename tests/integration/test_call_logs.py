"""capture_logs: two real pipelines in one process, each call's collector gets only its own lines.

Also pins the Pipecat fact the design rests on (calllogs.py): a context
variable set in the task that runs the runner reaches every processor's
tasks; one set once the pipeline runs (an observer's on_pipeline_started, a
processor's process_frame) does not.
"""

from __future__ import annotations

import asyncio
import contextvars

from loguru import logger
from pipecat.frames.frames import InputAudioRawFrame, StartFrame, TranscriptionFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameProcessor

from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.calllogs import CallLogCollector, monotonic_of, sink_installed
from tests.scripted_call import ScriptedCall

EXCHANGES = 2


class Warner(FrameProcessor):
    """A processor that warns the way Pipecat's services do: from its own tasks, no call id.

    With ``fail=True`` it raises instead, and Pipecat itself logs the error
    (pipecat.processors.frame_processor): a line of Pipecat's own code.
    """

    def __init__(self, tag: str, probe: contextvars.ContextVar, fail: bool = False, **kw):
        super().__init__(**kw)
        self.tag = tag
        self.probe = probe
        self.fail = fail
        self.probe_seen: list = []
        self.logged_at: list[int] = []
        self.started_at = None
        self._audio = 0

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.probe.set(f"set-in-process-frame-{self.tag}")
            self.started_at = self.get_clock().get_time()
        if isinstance(frame, TranscriptionFrame):
            self.probe_seen.append(self.probe.get())
            if self.fail:
                raise RuntimeError(f"boom in call {self.tag}")
            self.logged_at.append(self.get_clock().get_time())
            logger.warning(f"{self}: slow transcription in call {self.tag}: {frame.text}")
        if isinstance(frame, InputAudioRawFrame):
            self._audio += 1
            if self._audio % 25 == 0:
                logger.debug(f"{self}: audio of call {self.tag}")  # below WARNING: not collected
        await self.push_frame(frame, direction)


class ProbeObserver(BaseObserver):
    def __init__(self, probe: contextvars.ContextVar, tag: str):
        super().__init__()
        self.probe, self.tag = probe, tag

    async def on_pipeline_started(self):
        self.probe.set(f"set-in-observer-{self.tag}")


async def _call(tag: str) -> tuple[CallLogCollector, Warner, Warner]:
    collector = CallLogCollector(f"call-{tag}")
    collector.bind()  # what RoarkObserver.__init__ does, in the task that then runs the runner
    late = contextvars.ContextVar(f"late_{tag}", default=None)
    in_frame = contextvars.ContextVar(f"frame_{tag}", default=None)
    warner = Warner(tag, late)
    framer = Warner(f"{tag}-b", in_frame, fail=True)
    worker = PipelineWorker(
        Pipeline([ScriptedCall(exchanges=EXCHANGES, seed=3 if tag == "one" else 4), warner, framer]),
        params=PipelineParams(), observers=[ProbeObserver(late, tag)],
    )
    runner = WorkerRunner(handle_sigint=False)
    if hasattr(runner, "add_workers"):
        await runner.add_workers(worker)
        await asyncio.wait_for(runner.run(), 30)
    else:
        await asyncio.wait_for(runner.run(worker), 30)
    return collector, warner, framer


async def test_two_concurrent_calls_each_get_only_their_own_lines():
    (one, w1, f1), (two, w2, f2) = await asyncio.gather(_call("one"), _call("two"))
    try:
        for collector, tag, other in ((one, "one", "two"), (two, "two", "one")):
            text = [line.message for line in collector.lines]
            warned = [l for l in collector.lines if f"slow transcription in call {tag}:" in l.message]
            assert len(warned) == EXCHANGES and all(l.logger == __name__ for l in warned), text
            pipecats = [l for l in collector.lines if f"boom in call {tag}-b" in l.message]
            assert len(pipecats) >= EXCHANGES and all(l.logger.startswith("pipecat.") for l in pipecats), text
            assert any(l.level == "ERROR" and l.logger == "pipecat.processors.frame_processor" for l in pipecats)
            assert not [m for m in text if f"call {other}" in m], text
            assert not [m for m in text if "audio of call" in m]  # DEBUG: below the level
        # Offsets on the pipeline clock: the warner's lines where it logged them.
        for collector, warner in ((one, w1), (two, w2)):
            origin = monotonic_of(warner.started_at, warner.get_clock())
            offsets = [r["audioOffsetMs"] for r in collector.records(origin) if "slow transcription" in r["message"]]
            expected = [(t - warner.started_at) / 1e6 for t in warner.logged_at]
            assert len(offsets) == EXCHANGES
            assert all(abs(o - e) <= 3 for o, e in zip(offsets, expected)), (offsets, expected)
        # The measured fact behind bind(): set once the pipeline runs, a variable does not reach the tasks.
        assert w1.probe_seen == [None] * EXCHANGES and w2.probe_seen == [None] * EXCHANGES
        assert f1.probe_seen == [None] * EXCHANGES and f2.probe_seen == [None] * EXCHANGES
    finally:
        one.close()
        two.close()
    assert not sink_installed()
