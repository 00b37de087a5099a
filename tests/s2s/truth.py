"""Where the fake's PCM landed in the uploaded recording, found sample-exact.

The fake keeps the exact PCM each side produced (the caller's audio it
received, every response's audio it sent). These helpers find that PCM in
the stereo recording Roark received, independently of any frame, so the
tests know where each utterance and each reply really is, and how much of a
cut reply was played.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


def find_exact(channel: np.ndarray, needle: np.ndarray, start: int = 0) -> Optional[int]:
    """First index >= start where ``needle`` appears verbatim in ``channel``.

    ``needle`` must contain a non-zero sample (silence matches anywhere).
    """
    nz = np.flatnonzero(needle)
    assert len(nz), "needle is silent"
    k = int(nz[0])
    value = needle[k]
    for pos in np.flatnonzero(channel[start + k:] == value):
        p = start + int(pos)
        if p + len(needle) <= len(channel) and np.array_equal(channel[p:p + len(needle)], needle):
            return p
    return None


def matched_prefix(channel: np.ndarray, audio: np.ndarray, at: int) -> int:
    """How many samples of ``audio`` appear verbatim in ``channel`` from ``at`` on."""
    n = min(len(audio), len(channel) - at)
    diff = np.flatnonzero(channel[at:at + n] != audio[:n])
    return int(diff[0]) if len(diff) else n


@dataclass(frozen=True)
class Placed:
    """A piece of the fake's PCM found in the recording (samples of the recording)."""

    start: int
    played: int  # samples of the piece present verbatim from ``start``

    def ms(self, rate: int) -> tuple[float, float]:
        return self.start * 1000 / rate, (self.start + self.played) * 1000 / rate


def place_response(right: np.ndarray, audio: np.ndarray, cursor: int, chunk: int = 2400,
                   max_gap: int = 24000) -> Optional[Placed]:
    """Find a response's audio on the bot channel after ``cursor``, chunk by chunk.

    Each ``chunk`` of ``audio`` (100 ms: what the fake sends per delta) must
    appear verbatim, in order, each no more than ``max_gap`` samples after
    where the previous one ended: a playback underrun (the device ran dry
    for a moment) legitimately shifts the rest, and the recorder pads the
    bot track to keep it aligned. ``played`` counts from the first chunk to
    the end of the last chunk found (a chunk the interruption cut partway
    is not found).
    """
    start: Optional[int] = None
    at = cursor
    end = cursor
    for k in range(0, len(audio), chunk):
        piece = audio[k:k + chunk]
        if not np.any(piece):
            at += len(piece)
            continue
        window = right if start is None else right[: at + len(piece) + max_gap]
        found = find_exact(window, piece, at)
        if found is None:
            break
        if start is None:
            start = found - k
        at = end = found + len(piece)
    if start is None:
        return None
    return Placed(start, end - start)


def speech_extent(audio: np.ndarray, threshold: int = 300) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > threshold)
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, 0)
