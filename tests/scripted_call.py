"""A light scripted call: one frame source instead of transport + VAD + STT + LLM + TTS.

The source pushes 20 ms frames in real time, as a transport and the services
would: caller audio (sound where the caller speaks), the VAD's frames and the
User{Started,Stopped}SpeakingFrame after their usual delays, a final
transcription, then the bot's audio with Bot{Started,Stopped}SpeakingFrame
and its words. So many calls fit in one process on a small machine, and the
speech sits at sample positions the test knows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_roark._compat import EndWorkerFrame


def tts_text(text: str) -> TTSTextFrame:
    required = "text_type" if "text_type" in TTSTextFrame.__dataclass_fields__ else "aggregated_by"
    return TTSTextFrame(text=text, **{required: "word"})


@dataclass(frozen=True)
class Exchange:
    """One question and answer, in ms from the exchange's start."""

    length_ms: int = 2500
    caller_ms: tuple[int, int] = (400, 1000)
    bot_ms: tuple[int, int] = (1200, 2000)
    #: The VAD reports speech this late (start) and silence this late (stop).
    vad_start_delay_ms: int = 0
    vad_stop_delay_ms: int = 40
    #: The output transport reports the bot stopped this long after its last audio.
    bot_stop_delay_ms: int = 80


class ScriptedCall(FrameProcessor):
    """``exchanges`` exchanges, then an EndFrame (or forever until cancelled)."""

    def __init__(self, exchanges: int = 2, *, forever: bool = False, in_rate: int = 48000, out_rate: int = 48000,
                 shape: Exchange = Exchange(), seed: int = 7, stt_result=None):
        super().__init__()
        self._exchanges = exchanges
        self._forever = forever
        self._in_rate, self._out_rate = in_rate, out_rate
        self._shape = shape
        self._seed = seed
        # k, text -> what the STT service would put in TranscriptionFrame.result (None: nothing)
        self._stt_result = stt_result or (lambda k, text: None)

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._run())

    def _audio(self, cls, rate: int, loud: bool, rng: np.random.Generator):
        samples = rng.standard_normal(rate // 50) * (4000 if loud else 0)
        return cls(audio=samples.astype("<i2").tobytes(), sample_rate=rate, num_channels=1)

    async def _run(self):
        s = self._shape
        per = s.length_ms // 20
        at = lambda ms: ms // 20  # noqa: E731  (frame index within an exchange)
        caller = (at(s.caller_ms[0]), at(s.caller_ms[1]))
        bot = (at(s.bot_ms[0]), at(s.bot_ms[1]))
        user_started = caller[0] + at(s.vad_start_delay_ms)
        user_stopped = caller[1] + at(s.vad_stop_delay_ms)
        bot_stopped = bot[1] + at(s.bot_stop_delay_ms)
        words_at = (bot[0] + 2, (bot[0] + bot[1]) // 2)
        loop = asyncio.get_running_loop()
        rng = np.random.default_rng(self._seed)
        t0 = loop.time()
        i = 0
        while i < self._exchanges * per or self._forever:
            k, j = divmod(i, per)
            await self.push_frame(self._audio(InputAudioRawFrame, self._in_rate, caller[0] <= j < caller[1], rng))
            if j == user_started:
                await self.push_frame(VADUserStartedSpeakingFrame(start_secs=s.vad_start_delay_ms / 1000))
                await self.push_frame(UserStartedSpeakingFrame())
            if j == user_stopped:
                await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=s.vad_stop_delay_ms / 1000))
                await self.push_frame(UserStoppedSpeakingFrame())
                text = f"question {k}"
                await self.push_frame(TranscriptionFrame(text=text, user_id="caller", timestamp="",
                                                         result=self._stt_result(k, text)))
            if j == bot[0]:
                await self.push_frame(BotStartedSpeakingFrame())
            if bot[0] <= j < bot[1]:
                await self.push_frame(self._audio(OutputAudioRawFrame, self._out_rate, True, rng))
            if j in words_at:
                await self.push_frame(tts_text("Answer" if j == words_at[0] else f"{k}."))
            if j == bot_stopped:
                await self.push_frame(BotStoppedSpeakingFrame())
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


def expected_turns(exchanges: int) -> list[tuple[str, str]]:
    return [turn for k in range(exchanges) for turn in (("user", f"question {k}"), ("assistant", f"Answer {k}."))]
