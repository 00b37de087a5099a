"""Shipped speech clips and the caller timeline built from them.

Everything here is plain numpy and works without Pipecat: a :class:`Clip` is
16-bit mono PCM with the exact samples where its speech starts and ends, and a
:class:`CallerTimeline` lays clips over silence (or low noise) to make the
caller's side of a call, recording where every clip's speech lands in the
stream. That ground truth is what tests compare recordings and observer
offsets against.
"""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from pipecat_roark.testing._clipdata import BOT_CLIPS, CALLER_CLIPS, SAMPLE_RATE

#: Samples at or above this magnitude count as speech when finding a clip's
#: speech edges (about -40 dBFS).
SPEECH_THRESHOLD = 328


@dataclass(frozen=True, eq=False)
class Clip:
    """A mono 16-bit speech clip.

    Attributes:
        name: Clip name (the WAV file stem, e.g. ``"caller_hello"``).
        samples: int16 PCM samples.
        sample_rate: Sample rate in Hz.
        text: What is said in the clip ("" when unknown).
        speech_start: Index of the first speech sample in ``samples``.
        speech_end: Index one past the last speech sample in ``samples``.
    """

    name: str
    samples: np.ndarray
    sample_rate: int
    text: str = ""
    speech_start: int = 0
    speech_end: int = 0

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    @property
    def duration_secs(self) -> float:
        return len(self.samples) / self.sample_rate

    def pcm(self) -> bytes:
        """The clip as little-endian s16 bytes."""
        return self.samples.astype("<i2").tobytes()


def speech_bounds(samples: np.ndarray, threshold: int = SPEECH_THRESHOLD) -> tuple[int, int]:
    """First and one-past-last sample whose magnitude reaches ``threshold``.

    Returns ``(0, 0)`` for a clip with no such sample.
    """
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= threshold)
    if len(loud) == 0:
        return 0, 0
    return int(loud[0]), int(loud[-1]) + 1


def read_wav(data: Union[bytes, str, Path]) -> tuple[np.ndarray, int]:
    """Read a mono 16-bit WAV (bytes or path) into int16 samples and its rate."""
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else str(data)
    with wave.open(source, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit WAV is supported")
        frames = w.readframes(w.getnframes())
        samples = np.frombuffer(frames, dtype="<i2")
        if w.getnchannels() > 1:
            samples = samples.reshape(-1, w.getnchannels())[:, 0]
        return samples.astype(np.int16), w.getframerate()


def write_wav(path: Union[str, Path], samples: np.ndarray, sample_rate: int) -> None:
    """Write int16 samples (mono ``(n,)`` or interleaved ``(n, channels)``) as a WAV file."""
    samples = np.asarray(samples, dtype=np.int16)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.astype("<i2").tobytes())


def clip_names() -> list[str]:
    """Names of all shipped clips (``caller_*`` and ``bot_*``)."""
    return [f"caller_{n}" for n in CALLER_CLIPS] + [f"bot_{n}" for n in BOT_CLIPS]


def _clip_text(name: str) -> str:
    if name.startswith("caller_"):
        return CALLER_CLIPS.get(name[len("caller_") :], "")
    if name.startswith("bot_"):
        return BOT_CLIPS.get(name[len("bot_") :], "")
    return ""


def load_clip(name: str) -> Clip:
    """Load a shipped clip by name, e.g. ``"caller_hello"`` or ``"bot_goodbye"``.

    A bare caller name (``"hello"``) is accepted too. Clips are cached.
    """
    if not name.startswith(("caller_", "bot_")) and name in CALLER_CLIPS:
        name = f"caller_{name}"
    return _load_clip(name)


@lru_cache(maxsize=64)
def _load_clip(name: str) -> Clip:
    ref = resources.files("pipecat_roark.testing").joinpath("clips", f"{name}.wav")
    try:
        data = ref.read_bytes()
    except FileNotFoundError:
        raise KeyError(f"no shipped clip named {name!r}; known: {clip_names()}") from None
    samples, rate = read_wav(data)
    start, end = speech_bounds(samples)
    samples.setflags(write=False)
    return Clip(name, samples, rate, _clip_text(name), start, end)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample int16 audio by linear interpolation (good enough for stand-in speech)."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.int16)
    n_out = int(round(len(samples) * to_rate / from_rate))
    x_out = np.arange(n_out) * (from_rate / to_rate)
    out = np.interp(x_out, np.arange(len(samples)), samples.astype(np.float64))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


_WORD_RE = re.compile(r"[a-z0-9']+")


def normalize_text(text: str) -> str:
    """Lower-case words only, single-spaced: the key used to match texts."""
    return " ".join(_WORD_RE.findall(text.lower().replace("’", "'")))


@dataclass(frozen=True)
class SpeechSpan:
    """Where one placed clip's speech is in the caller stream (ground truth).

    Attributes:
        index: Position of the placement in the timeline.
        clip: Clip name.
        text: What the clip says.
        start_sample: Stream sample where speech starts.
        end_sample: Stream sample one past where speech ends.
        sample_rate: Stream sample rate.
    """

    index: int
    clip: str
    text: str
    start_sample: int
    end_sample: int
    sample_rate: int

    @property
    def start_secs(self) -> float:
        return self.start_sample / self.sample_rate

    @property
    def end_secs(self) -> float:
        return self.end_sample / self.sample_rate


ClipLike = Union[Clip, str]


@dataclass(frozen=True)
class Placement:
    """A clip placed at ``start_ms`` in the caller stream."""

    start_ms: float
    clip: Clip

    def start_sample(self, sample_rate: int) -> int:
        return int(round(self.start_ms * sample_rate / 1000))


@dataclass
class CallerTimeline:
    """The caller's audio: clips placed over silence for a given duration.

    Args:
        placements: ``(start_ms, clip)`` pairs; a clip is a :class:`Clip` or a
            shipped clip name. Overlapping placements are mixed.
        duration_ms: Length of the scripted stream. Defaults to 1 s after the
            last clip ends. Past it the stream goes on as silence (or noise):
            a microphone keeps sending audio until the call ends.
        sample_rate: Stream sample rate (clips are resampled to it).
        noise_dbfs: Level of white background noise in dBFS RMS (e.g. -60),
            or None for digital silence.
        seed: Seed of the noise generator (the stream is deterministic).
    """

    placements: Sequence[tuple[float, ClipLike]]
    duration_ms: float | None = None
    sample_rate: int = SAMPLE_RATE
    noise_dbfs: float | None = None
    seed: int = 0
    _placed: list[Placement] = field(init=False, repr=False)
    _stream: np.ndarray = field(init=False, repr=False)
    _spans: list[SpeechSpan] = field(init=False, repr=False)

    def __post_init__(self):
        placed: list[Placement] = []
        for start_ms, clip in self.placements:
            if start_ms < 0:
                raise ValueError("placements must start at or after 0 ms")
            c = load_clip(clip) if isinstance(clip, str) else clip
            placed.append(Placement(float(start_ms), c))
        # Keep the caller's order for indices but lay them out by start time.
        self._placed = placed

        sr = self.sample_rate
        ends = [p.start_sample(sr) + self._resampled(p.clip).shape[0] for p in placed]
        last_end = max(ends, default=0)
        if self.duration_ms is None:
            n = last_end + sr
        else:
            n = int(round(self.duration_ms * sr / 1000))
            if n < last_end:
                raise ValueError(
                    f"duration_ms={self.duration_ms} ends before the last clip "
                    f"({last_end * 1000 / sr:.0f} ms)"
                )
        mix = np.zeros(n, dtype=np.int32)
        spans = []
        for i, p in enumerate(placed):
            audio = self._resampled(p.clip)
            s0 = p.start_sample(sr)
            mix[s0 : s0 + len(audio)] += audio
            ratio = sr / p.clip.sample_rate
            spans.append(
                SpeechSpan(
                    index=i,
                    clip=p.clip.name,
                    text=p.clip.text,
                    start_sample=s0 + int(round(p.clip.speech_start * ratio)),
                    end_sample=s0 + int(round(p.clip.speech_end * ratio)),
                    sample_rate=sr,
                )
            )
        self._rng = np.random.default_rng(self.seed)
        self._noise_std = (
            None if self.noise_dbfs is None else 32768.0 * 10 ** (self.noise_dbfs / 20.0)
        )
        if self._noise_std:
            mix += np.round(self._rng.normal(0.0, self._noise_std, n)).astype(np.int32)
        self._stream = np.clip(mix, -32768, 32767).astype(np.int16)
        self._stream.setflags(write=False)
        self._spans = spans

    def _resampled(self, clip: Clip) -> np.ndarray:
        return resample(clip.samples, clip.sample_rate, self.sample_rate)

    @property
    def num_samples(self) -> int:
        """Length of the scripted stream in samples."""
        return len(self._stream)

    @property
    def duration_secs(self) -> float:
        return len(self._stream) / self.sample_rate

    @property
    def speech_spans(self) -> list[SpeechSpan]:
        """Ground truth: where each placement's speech starts and ends, in placement order."""
        return list(self._spans)

    @property
    def samples(self) -> np.ndarray:
        """The whole scripted stream as int16 samples (read-only)."""
        return self._stream

    def render(self, start: int, count: int) -> np.ndarray:
        """Samples ``[start, start + count)`` of the stream, continuing past its end."""
        out = np.zeros(count, dtype=np.int16)
        if start < len(self._stream):
            chunk = self._stream[start : start + count]
            out[: len(chunk)] = chunk
        tail = count - max(0, min(count, len(self._stream) - start))
        if tail and self._noise_std:
            noise = np.round(self._rng.normal(0.0, self._noise_std, tail))
            out[count - tail :] = np.clip(noise, -32768, 32767).astype(np.int16)
        return out


def concatenate(clips: Iterable[np.ndarray]) -> np.ndarray:
    parts = [np.asarray(c, dtype=np.int16) for c in clips]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
