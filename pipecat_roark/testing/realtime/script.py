"""What a scripted speech-to-speech model says and hears, and the truth it keeps.

Plain numpy, no Pipecat and no network: the fakes of the speech-to-speech
APIs (:mod:`.openai_fake`) read a :class:`RealtimeScript` and fill in a
:class:`Truth` as the call runs, and tests compare what Roark received with
that truth.

Conventions: all audio is 16-bit mono PCM at :data:`RATE` (24 kHz, the
rate of the OpenAI Realtime API in both directions). A bot reply's words are
placed on its audio proportionally to their characters over the reply's
speech (first to last loud sample): the fake streams each transcript delta
with the audio where its word starts (optionally ``text_lead_secs``
earlier, as services whose text runs ahead of their audio do), and a word
counts as *heard* when the audio up to its start has been played.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from pipecat_roark.testing.audio import load_clip, resample, speech_bounds

#: Sample rate of the fake APIs' audio, both ways.
RATE = 24000


@dataclass(frozen=True)
class ToolCallPlan:
    """A function call the model makes at the end of a reply."""

    name: str
    arguments: dict[str, Any]
    call_id: str


@dataclass(frozen=True)
class Say:
    """One response of the model.

    Attributes:
        deltas: The transcript as the API streams it: each delta carries its
            own spacing (``"Bonjour"``, ``" !"``, ``" 👋"``).
        clips: Shipped bot clips voiced back to back as the response's audio.
        pace: Audio is generated this many times faster than real time.
        text_lead_secs: Each transcript delta is sent this long (of audio)
            before the audio where its word starts.
        tool: A function call item after the audio.
    """

    deltas: tuple[str, ...]
    clips: tuple[str, ...]
    pace: float = 3.0
    text_lead_secs: float = 0.0
    tool: Optional[ToolCallPlan] = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    def audio(self) -> np.ndarray:
        parts = [_clip_at_rate(c) for c in self.clips]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def delta_offsets(self) -> list[int]:
        """Sample (in :meth:`audio`) where each delta's word starts."""
        return word_offsets(self.deltas, self.audio())


@dataclass(frozen=True)
class Heard:
    """What the model does with the caller's n-th utterance.

    Attributes:
        transcript: The input transcription the API returns for it.
        transcript_delay_secs: How long after ``speech_stopped`` the
            transcription completes (realistically after the reply started).
        reply: The response the server creates when the utterance ends.
        after_tool: The response to the client's ``response.create`` that
            follows the tool result of ``reply.tool``.
    """

    transcript: str
    transcript_delay_secs: float = 0.8
    reply: Optional[Say] = None
    after_tool: Optional[Say] = None


@dataclass(frozen=True)
class RealtimeScript:
    """The model's side of a call.

    Attributes:
        greeting: The response to the first client ``response.create``.
        heard: One entry per caller utterance, in order.
        silence_ms: Server VAD: quiet time that ends an utterance.
        prefix_padding_ms: Server VAD: reported ``audio_start_ms`` lead.
        vad_threshold: Server VAD: RMS of a 10 ms window that counts as speech.
        vad_start_windows: Server VAD: consecutive speech windows before it
            reports ``speech_started``.
    """

    greeting: Optional[Say]
    heard: Sequence[Heard]
    silence_ms: int = 500
    prefix_padding_ms: int = 300
    vad_threshold: float = 150.0
    vad_start_windows: int = 3


def _clip_at_rate(name: str) -> np.ndarray:
    clip = load_clip(name)
    return resample(clip.samples, clip.sample_rate, RATE)


def word_offsets(deltas: Sequence[str], audio: np.ndarray) -> list[int]:
    """Where each delta's word starts in ``audio``, by characters over its speech.

    Leading whitespace of a delta is not part of its word; an all-space
    delta starts where the next word does.
    """
    start, end = speech_bounds(audio)
    stripped = [d.lstrip() for d in deltas]
    total = sum(len(d) for d in stripped) or 1
    offsets, before = [], 0
    for word in stripped:
        offsets.append(start + int(round((end - start) * before / total)))
        before += len(word)
    return offsets


def words_heard(deltas: Sequence[str], offsets: Sequence[int], played_samples: int) -> str:
    """The text of the deltas whose word had started within ``played_samples``."""
    return "".join(d for d, o in zip(deltas, offsets) if o < played_samples)


class EnergyVAD:
    """The server's voice activity detection, on the audio it receives.

    10 ms windows; a window whose RMS reaches ``threshold`` is speech.
    Speech starts after ``start_windows`` speech windows in a row (reported
    at the first of them) and stops after ``silence_ms`` of non-speech
    (reported at the end of the last speech window).
    """

    def __init__(self, *, rate: int = RATE, threshold: float = 150.0, start_windows: int = 3,
                 silence_ms: int = 500):
        self._win = rate // 100
        self._threshold = threshold
        self._start_windows = start_windows
        self._silence_windows = silence_ms // 10
        self._pending = np.zeros(0, dtype=np.int16)
        self._window_index = 0
        self._run_start: Optional[int] = None
        self._run = 0
        self._speaking = False
        self._last_speech_end = 0
        self._quiet = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    def feed(self, samples: np.ndarray) -> list[tuple[str, int]]:
        """Feed audio; returns ``("start"|"stop", sample)`` events it decided."""
        buf = np.concatenate((self._pending, samples))
        n = len(buf) // self._win
        self._pending = buf[n * self._win:]
        out: list[tuple[str, int]] = []
        for k in range(n):
            w = buf[k * self._win:(k + 1) * self._win].astype(np.float64)
            loud = float(np.sqrt(np.mean(w * w))) >= self._threshold
            pos = self._window_index * self._win
            self._window_index += 1
            if not self._speaking:
                if loud:
                    self._run_start = pos if self._run == 0 else self._run_start
                    self._run += 1
                    if self._run >= self._start_windows:
                        self._speaking = True
                        self._quiet = 0
                        self._last_speech_end = pos + self._win
                        out.append(("start", int(self._run_start)))
                else:
                    self._run = 0
            else:
                if loud:
                    self._quiet = 0
                    self._last_speech_end = pos + self._win
                else:
                    self._quiet += 1
                    if self._quiet >= self._silence_windows:
                        self._speaking = False
                        self._run = 0
                        out.append(("stop", self._last_speech_end))
        return out


# --------------------------------------------------------------------------- #
# Truth
# --------------------------------------------------------------------------- #


@dataclass
class ResponseTruth:
    """One response as the fake produced it.

    Attributes:
        response_id / item_id: The API ids.
        kind: ``"greeting"``, ``"reply"``, ``"after_tool"`` or ``"unscripted"``.
        utterance: Index of the caller utterance it answers (None: greeting).
        say: The script entry.
        audio: The whole PCM the response would have produced.
        offsets: Where each delta's word starts in ``audio``.
        sent_samples: How much of ``audio`` was sent before it ended.
        status: ``"in_progress"``, ``"completed"`` or ``"cancelled"``.
        truncated_at_ms: ``audio_end_ms`` of the client's truncate, if any.
        usage: The token usage reported in its ``response.done``.
        created_at / first_audio_at / done_at: ``time.monotonic()`` of those events.
    """

    response_id: str
    item_id: str
    kind: str
    utterance: Optional[int]
    say: Optional[Say]
    audio: np.ndarray
    offsets: list[int]
    sent_samples: int = 0
    status: str = "in_progress"
    truncated_at_ms: Optional[int] = None
    usage: Optional[dict[str, Any]] = None
    created_at: float = 0.0
    first_audio_at: Optional[float] = None
    done_at: Optional[float] = None

    @property
    def sent_pcm(self) -> bytes:
        return self.audio[: self.sent_samples].astype("<i2").tobytes()

    def heard_text(self, played_samples: int) -> str:
        if self.say is None:
            return ""
        return words_heard(self.say.deltas, self.offsets, played_samples)


@dataclass
class UtteranceTruth:
    """One caller utterance as the fake's server VAD found it (samples of the received audio)."""

    index: int
    start_sample: int
    end_sample: Optional[int] = None
    started_at: float = 0.0
    stopped_at: Optional[float] = None
    transcript_at: Optional[float] = None
    item_id: str = ""


@dataclass
class Truth:
    """Everything the fake saw and did, for the test to compare against."""

    received: bytearray = field(default_factory=bytearray)
    first_audio_at: Optional[float] = None
    responses: list[ResponseTruth] = field(default_factory=list)
    utterances: list[UtteranceTruth] = field(default_factory=list)
    tool_outputs: dict[str, str] = field(default_factory=dict)
    #: (monotonic, "in"|"out", event type) for every event but audio appends.
    events: list[tuple[float, str, str]] = field(default_factory=list)
    session: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def received_samples(self) -> np.ndarray:
        return np.frombuffer(bytes(self.received), dtype="<i2")

    def types(self, direction: str) -> list[str]:
        return [t for _, d, t in self.events if d == direction]


__all__ = [
    "EnergyVAD",
    "Heard",
    "RATE",
    "RealtimeScript",
    "ResponseTruth",
    "Say",
    "ToolCallPlan",
    "Truth",
    "UtteranceTruth",
    "word_offsets",
    "words_heard",
]
