"""Recording assembly: pure functions over bytes, no files, no server.

Roark concatenates chunks by chunkIndex and wraps them in a WAV header from
call-ended's recordingSampleRate/recordingNumChannels; this module does the
same so the dev server's WAV is what Roark would play. It also computes the
small peak arrays the call page draws its waveforms from (cheaper than
shipping and decoding the WAV in the browser).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from .checks import missing_indexes

DEFAULT_CHANNELS = 2
DEFAULT_RATE = 16000
SAMPLE_WIDTH = 2  # s16le


@dataclass(frozen=True)
class RecordingFormat:
    rate: int
    channels: int
    assumed: bool  # True when call-ended did not (yet) say; the header is a guess


def recording_format(ended: Optional[Mapping[str, Any]], default_rate: int = DEFAULT_RATE) -> RecordingFormat:
    """Format from call-ended, else stereo at default_rate (marked as assumed)."""
    ended = ended or {}
    rate, ch = ended.get("recordingSampleRate"), ended.get("recordingNumChannels")
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0  # noqa: E731
    if ok(rate) and ok(ch):
        return RecordingFormat(rate=rate, channels=ch, assumed=False)
    return RecordingFormat(rate=default_rate, channels=DEFAULT_CHANNELS, assumed=True)


def stitch(chunks: Mapping[int, bytes]) -> tuple[bytes, list[str]]:
    """Concatenate chunks in index order (arrival order does not matter).

    A gap is reported, not filled: filling with silence would hide the very
    shift the problem is about, and Roark does not fill either.
    """
    problems = []
    gaps = missing_indexes(chunks)
    if gaps:
        problems.append(
            f"missing chunk index(es) {', '.join(map(str, gaps))}: the WAV holds only the chunks "
            "present, in index order, so audio after a gap is early against the transcript"
        )
    return b"".join(chunks[i] for i in sorted(chunks)), problems


def wav_header(data_len: int, rate: int, channels: int) -> bytes:
    """44-byte canonical PCM WAV header for s16le."""
    block_align = channels * SAMPLE_WIDTH
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_len,
        b"WAVE",
        b"fmt ",
        16,  # fmt chunk size
        1,  # PCM
        channels,
        rate,
        rate * block_align,
        block_align,
        SAMPLE_WIDTH * 8,
        b"data",
        data_len,
    )


def to_wav(pcm: bytes, rate: int, channels: int) -> bytes:
    # A trailing odd byte cannot be a sample; a WAV data chunk of odd length
    # would also need a pad byte. Drop it (the problem is reported by checks).
    if len(pcm) % SAMPLE_WIDTH:
        pcm = pcm[: len(pcm) - (len(pcm) % SAMPLE_WIDTH)]
    return wav_header(len(pcm), rate, channels) + pcm


def duration_ms(n_bytes: int, rate: int, channels: int) -> float:
    return 1000.0 * n_bytes / (rate * channels * SAMPLE_WIDTH)


def peaks(pcm: bytes, channels: int, buckets: int = 1200) -> list[list[float]]:
    """Per-channel peak amplitude (0..1, 3 decimals) in `buckets` equal time slices.

    Returns one list per channel (for stereo: [caller, bot]). Fewer buckets
    than requested when the audio is shorter than `buckets` frames.
    """
    frame_bytes = channels * SAMPLE_WIDTH
    n_frames = len(pcm) // frame_bytes
    if n_frames == 0 or channels <= 0:
        return [[] for _ in range(max(channels, 0))]
    samples = np.frombuffer(pcm, dtype="<i2", count=n_frames * channels).reshape(n_frames, channels)
    buckets = max(1, min(buckets, n_frames))
    # Equal split by frame count; the last bucket absorbs the remainder.
    edges = np.linspace(0, n_frames, buckets + 1).astype(np.int64)
    mag = np.abs(samples.astype(np.int32))
    out = np.maximum.reduceat(mag, edges[:-1], axis=0) / 32768.0
    return [np.round(out[:, c], 3).tolist() for c in range(channels)]
