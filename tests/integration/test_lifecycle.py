"""How a call ends, and what is captured when the wiring is incomplete.

Small scripted pipelines (no VAD, no real-time harness), so each test takes
a second or two; the scripted frames are pushed the way services push them.
"""

import asyncio

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
    StopFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import EndWorkerFrame, PipelineParams, PipelineWorker, WorkerRunner

from .conftest import API_KEY

RATE = 16000


def tts_text(text):
    required = "text_type" if "text_type" in TTSTextFrame.__dataclass_fields__ else "aggregated_by"
    return TTSTextFrame(text=text, **{required: "word"})


def audio(cls, loud):
    samples = np.random.default_rng(0).standard_normal(320) * (4000 if loud else 0)
    return cls(audio=samples.astype("<i2").tobytes(), sample_rate=RATE, num_channels=1)


class ScriptedCall(FrameProcessor):
    """A caller utterance and a bot reply, 20 ms frames paced in real time."""

    def __init__(self, end=True, forever=False):
        super().__init__()
        self._end, self._forever = end, forever

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._run())

    async def _run(self):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        i = 0
        while i < 100 or self._forever:  # 2 s, or until cancelled
            await self.push_frame(audio(InputAudioRawFrame, 20 <= i < 40))
            if i == 20:
                await self.push_frame(UserStartedSpeakingFrame())
            if i == 42:
                await self.push_frame(UserStoppedSpeakingFrame())
                await self.push_frame(TranscriptionFrame(text="hello there", user_id="u", timestamp=""))
            if i == 50:
                await self.push_frame(BotStartedSpeakingFrame())
            if 50 <= i < 70:
                await self.push_frame(audio(OutputAudioRawFrame, True))
            if i in (52, 60):
                await self.push_frame(tts_text("Hi" if i == 52 else "friend."))
            if i == 75:
                await self.push_frame(BotStoppedSpeakingFrame())
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))
        if self._end:
            await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


def worker_for(processors, roark):
    params = PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE)
    return PipelineWorker(Pipeline(processors), params=params, observers=[roark])


def observer(server):
    return RoarkObserver(agent_id="lifecycle", api_key=API_KEY, base_url=server.base_url)


async def test_stop_frame_ends_the_call_as_stopped(server):
    roark = observer(server)
    source = ScriptedCall(end=False)
    worker = worker_for([source, roark.audio_processor], roark)

    async def stop_later():
        await asyncio.sleep(2.5)
        await worker.queue_frame(StopFrame())

    stopper = asyncio.create_task(stop_later())
    await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=20)
    await stopper
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.ended["callEndedReason"] == "stopped"
    assert [t["content"] for t in rec.ended["transcript"]] == ["hello there", "Hi friend."]
    assert rec.chunks and rec.problems == []


async def test_host_cancelling_the_runner_task_still_delivers_the_call(server):
    roark = observer(server)
    worker = worker_for([ScriptedCall(end=False, forever=True), roark.audio_processor], roark)
    run = asyncio.create_task(WorkerRunner(handle_sigint=False).run(worker))
    await asyncio.sleep(2.0)  # mid-call: the host is shutting down
    run.cancel()
    try:
        await asyncio.wait_for(run, timeout=20)
    except asyncio.CancelledError:
        pass
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec is not None and rec.ended is not None
    assert rec.ended["callEndedReason"] != "ended"
    assert rec.ended["transcript"][0]["content"] == "hello there"


async def test_without_the_processor_words_are_taken_as_generated(server, logs):
    roark = observer(server)
    worker = worker_for([ScriptedCall()], roark)  # roark.audio_processor left out
    await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=20)
    rec = server.store.get_call(roark.pipecat_call_id)
    turns = rec.ended["transcript"]
    assert [(t["role"], t["content"]) for t in turns] == [("user", "hello there"), ("assistant", "Hi friend.")]
    assert rec.chunks == {} and "recordingSampleRate" not in rec.ended
    assert all("audioOffsetMs" not in t for t in turns)
    assert sum("audio_processor is not in the pipeline" in line for line in logs) == 1


async def test_handlers_on_the_audio_processor_work_as_pipecat_documents(server):
    roark = observer(server)
    got: dict[str, list] = {"audio": [], "tracks": []}

    @roark.audio_processor.event_handler("on_audio_data")
    async def on_audio(_processor, pcm, sample_rate, num_channels):
        got["audio"].append((bytes(pcm), sample_rate, num_channels))

    @roark.audio_processor.event_handler("on_track_audio_data")
    async def on_tracks(_processor, user, bot, sample_rate, num_channels):
        got["tracks"].append((len(user), len(bot)))

    worker = worker_for([ScriptedCall(), roark.audio_processor], roark)
    await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=20)
    assert got["audio"] and all(rate == RATE and ch == 2 for _, rate, ch in got["audio"])
    # The user's handler saw exactly the audio Roark received.
    assert b"".join(pcm for pcm, _, _ in got["audio"]) == server.store.pcm(roark.pipecat_call_id)
    assert all(u == b for u, b in got["tracks"])
