"""Strange data inside a call is recorded as well as it can be and breaks nothing."""

import asyncio
import json

import numpy as np
from pipecat.frames.frames import (
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import EndWorkerFrame, PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.models import CallEnded

from .conftest import API_KEY


class Unserializable:
    def __repr__(self):
        return "<Unserializable>"


def tts_text(text):
    # The required field was renamed between 0.0.10x and 1.x.
    required = "text_type" if "text_type" in TTSTextFrame.__dataclass_fields__ else "aggregated_by"
    return TTSTextFrame(text=text, **{required: "word"})


class OddSource(FrameProcessor):
    """Pushes a short call made of odd frames, then ends the pipeline."""

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._run())

    async def _run(self):
        speech = (np.random.default_rng(1).standard_normal(320) * 4000).astype("<i2").tobytes()
        silence = bytes(640)
        frames = [
            InputAudioRawFrame(audio=silence, sample_rate=16000, num_channels=1),
            InputAudioRawFrame(audio=speech[:-1], sample_rate=16000, num_channels=1),  # torn sample
            InputAudioRawFrame(audio=speech, sample_rate=16000, num_channels=2),  # stereo source
            InputAudioRawFrame(audio=b"", sample_rate=16000, num_channels=1),
            UserStartedSpeakingFrame(),
            TranscriptionFrame(text="lone \ud800 surrogate " + "x" * 1_000_000, user_id="u\udfff", timestamp=""),
            TranscriptionFrame(text=None, user_id="u", timestamp=""),  # type: ignore[arg-type]
            UserStoppedSpeakingFrame(),
            OutputAudioRawFrame(audio=speech, sample_rate=8000, num_channels=1),
            tts_text("émoji 🎉"),
            FunctionCallInProgressFrame(function_name="f", tool_call_id="t1",
                                        arguments={"obj": Unserializable(), "nan": float("nan"), "set": {1}}),
            FunctionCallResultFrame(function_name="f", tool_call_id="t1", arguments={}, result=Unserializable()),
            FunctionCallResultFrame(function_name=None, tool_call_id=None, arguments=None, result=None),  # type: ignore[arg-type]
        ]
        for frame in frames:
            await self.push_frame(frame)
            await asyncio.sleep(0.02)
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


async def test_odd_frames_are_recorded_and_break_nothing(server, logs):
    roark = RoarkObserver(agent_id="odd", api_key=API_KEY, base_url=server.base_url)
    worker = PipelineWorker(
        Pipeline([OddSource(), roark.audio_processor]),
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000),
        observers=[roark],
    )
    await asyncio.wait_for(WorkerRunner(handle_sigint=False).run(worker), timeout=30)

    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.ended is not None and rec.problems == []
    CallEnded.model_validate(rec.ended)
    user = rec.ended["transcript"][0]
    assert user["role"] == "user" and user["content"].startswith("lone � surrogate xxx")
    assert len(user["content"]) < 40_000  # huge text is truncated, not shipped whole
    tool = rec.ended["toolCalls"]
    assert json.loads(tool[0]["arguments"]) == {"obj": "<Unserializable>", "nan": None, "set": [1]}
    assert tool[1]["content"] == '"<Unserializable>"'
    assert rec.chunks  # the audio that could be recorded was
    assert not any("Traceback" in line for line in logs if "pipecat_roark" in line)
