"""One scripted call, with its turn edges hinted the way a given pipeline hints them.

The source pushes 20 ms frames in real time, as a transport and the services
would: the caller's audio (noise bursts where the caller speaks), the bot's
audio and the words the output transport releases as they are played, and
the speaking frames, at the time and in the order the pipeline named by
``mode`` pushes them:

- ``vad``: a local VAD. ``VADUserStartedSpeakingFrame(start_secs=0.2)`` 200 ms
  after the caller's first sound, ``VADUserStoppedSpeakingFrame(stop_secs=0.8)``
  800 ms after the last; the turn strategy rules right after each.
- ``exact``: a turn strategy on an STT's or a remote VAD's events, no VAD
  frames: ``UserStartedSpeakingFrame`` (and the interruption) pushed with the
  frame that carries the caller's first sound, before it.
- ``early``: the same, one frame (20 ms) before the first sound.
- ``stt``: turns ruled on transcripts: the final, then the ruling, after the
  utterance.
- ``server_vad``: a server-side VAD: the ruling 100-500 ms after the sound
  starts and after it stops, no VAD frames.

The script: a greeting; a question and its answer; the caller barging in on
the answer (the bot is cut off where the interruption reaches the
transport: its unplayed words are never released); the barge-in's final
arriving after the bot's next reply began (where the pipeline allows it);
two back-to-back caller turns; a last reply; the end. Everything it did is
kept in :class:`Truth`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_roark._compat import EndWorkerFrame

from ..scripted_call import tts_text

MODES = ("vad", "exact", "early", "stt", "server_vad")
FRAME_MS = 20

#: The caller's utterances (ms) and their words.
CALLER = [((2000, 3000), "question one"), ((5000, 6000), "stop please"),
          ((8400, 9100), "first part"), ((10300, 11000), "second part")]
#: The bot's replies: (start ms, planned end ms, [(ms, word)]).
BOT = [
    (300, 1500, [(400, "Hello,"), (700, "how"), (1000, "can"), (1200, "I"), (1400, "help?")]),
    (4000, 7800, [(4100, "Let"), (4500, "me"), (4800, "explain"), (6600, "your"), (7200, "options.")]),
    (7300, 8000, [(7400, "Sure.")]),
    (12000, 12800, [(12100, "Done.")]),
]
CUT_REPLY = 1  # the caller's second utterance cuts this reply off
END_MS = 13400
SERVER_VAD_LAG_MS = (100, 300, 500, 200)


@dataclass
class Truth:
    """What the call did: the turns in order, and where the bot was cut."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    cut_ms: int = 0
    words_heard: list[str] = field(default_factory=list)


def expected_turns() -> list[tuple[str, str]]:
    greeting = " ".join(w for _, w in BOT[0][2])
    return [("assistant", greeting), ("user", CALLER[0][1]), ("assistant", "Let me explain"),
            ("user", CALLER[1][1]), ("assistant", "Sure."), ("user", CALLER[2][1]), ("user", CALLER[3][1]),
            ("assistant", "Done.")]


def _hints(mode: str, k: int, on: int, off: int) -> tuple[int, int, int, bool]:
    """(start ruling ms, stop ruling ms, transcription ms, VAD frames?) for utterance k."""
    if mode == "vad":
        return on + 200, off + 800, off + 300, True
    if mode == "exact":
        return on, off + 500, off + 300, False
    if mode == "early":
        return on - FRAME_MS, off + 500, off + 300, False
    if mode == "stt":
        return off + 450, off + 500, off + 400, False
    lag = SERVER_VAD_LAG_MS[k]
    return on + lag, off + lag, off + 300, False


class MatrixCall(FrameProcessor):
    def __init__(self, mode: str, *, rate: int, seed: int = 0):
        super().__init__()
        assert mode in MODES, mode
        self.mode = mode
        self.rate = rate
        self.truth = Truth(turns=expected_turns())
        self._rng = np.random.default_rng(seed)

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._run())

    def _audio(self, cls, loud: bool):
        n = self.rate // 50
        samples = self._rng.standard_normal(n) * 4000 if loud else np.zeros(n)
        return cls(audio=samples.astype("<i2").tobytes(), sample_rate=self.rate, num_channels=1)

    def _schedule(self) -> dict[int, list[tuple[str, object]]]:
        """Frame index -> what to push before that frame's audio ("pre") or after it ("post")."""
        at: dict[int, list] = {}

        def add(ms: int, what: str, item: object) -> None:
            at.setdefault(ms // FRAME_MS, []).append((what, item))

        cut = None
        for k, ((on, off), words) in enumerate(CALLER):
            start, stop, text_ms, vad = _hints(self.mode, k, on, off)
            if k == 1 and self.mode != "stt":
                text_ms = BOT[2][0] + 200  # a late final: after the bot's next reply began
            if vad:
                add(start, "pre", VADUserStartedSpeakingFrame(start_secs=0.2))
                add(stop, "pre", VADUserStoppedSpeakingFrame(stop_secs=0.8))
            add(text_ms, "pre", TranscriptionFrame(text=words, user_id="caller", timestamp=""))
            add(start, "pre", UserStartedSpeakingFrame())
            add(start, "pre", InterruptionFrame())
            add(stop, "pre", UserStoppedSpeakingFrame())
            if k == 1:
                cut = start + FRAME_MS  # the transport stops writing the frame after the interruption
        self.truth.cut_ms = cut
        return at

    async def _run(self):
        at = self._schedule()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        bot_speaking = None
        for i in range(END_MS // FRAME_MS):
            ms = i * FRAME_MS
            pre = [item for what, item in at.get(i, []) if what == "pre"]
            for item in pre:
                await self.push_frame(item)
            caller_on = any(on <= ms < off for (on, off), _ in CALLER)
            await self.push_frame(self._audio(InputAudioRawFrame, caller_on))
            reply = next((r for r, (b0, b1, _) in enumerate(BOT)
                          if b0 <= ms < b1 and not (r == CUT_REPLY and ms >= self.truth.cut_ms)), None)
            if bot_speaking is not None and reply != bot_speaking[0]:
                # Cut: the transport stops at once; else it reports after its silence timeout.
                r = bot_speaking[0]
                if r == CUT_REPLY or ms - BOT[r][1] >= 360 or reply is not None:
                    await self.push_frame(BotStoppedSpeakingFrame())
                    bot_speaking = None
            if reply is not None and bot_speaking is None:
                await self.push_frame(BotStartedSpeakingFrame())
                bot_speaking = (reply, ms)
            if reply is not None:
                await self.push_frame(self._audio(OutputAudioRawFrame, True))
                for w_ms, word in BOT[reply][2]:
                    if w_ms // FRAME_MS == i:
                        await self.push_frame(tts_text(word))
                        self.truth.words_heard.append(word)
            await asyncio.sleep(max(0.0, t0 + (i + 1) * FRAME_MS / 1000 - loop.time()))
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
