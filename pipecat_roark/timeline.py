"""The recording's own sample timeline, and where speech starts and stops on it.

Turn edges are reported against the recording, so they are computed here, in
samples of the recording, from the audio the recorder actually stored:

- Every track keeps its position (samples stored so far, silence padding
  included). Offsets never come from wall-clock time, which drifts from the
  recording whenever Pipecat pads an event-loop stall with silence.
- Every track keeps the peak level of each 10 ms block of its most recent
  ~10 s in a ring. Pipecat's speaking frames are late by design (the VAD waits
  ``start_secs``/``stop_secs``, the bot's "stopped" waits for silence), so the
  frame only gives an estimate; the edge is snapped to where the sound is,
  within a bounded window around that estimate.

Pure and synchronous: numpy in, integers out. No Pipecat, no clocks.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

USER = 0
BOT = 1

BLOCK_MS = 10
RING_BLOCKS = 1024  # ~10 s of history per track
#: Peak level (of 32767) under which a block counts as silence. Adapted
#: upwards on noisy lines: see _threshold().
MIN_THRESHOLD = 400
#: Gaps shorter than this inside speech (stop consonants, breaths) do not
#: end a run of speech.
GAP_BLOCKS = 6


class Track:
    __slots__ = ("pos", "_ring", "_levels_pos", "_pending", "_blk")

    def __init__(self, block_samples: int):
        self.pos = 0  # samples stored, including padding
        self._blk = block_samples
        self._ring = np.zeros(RING_BLOCKS, dtype=np.int32)
        self._levels_pos = 0  # samples whose level is in the ring
        # Samples of an incomplete block, waiting for the next append.
        self._pending = np.zeros(0, dtype=np.int16)

    def append(self, samples: np.ndarray) -> None:
        n = len(samples)
        if not n:
            return
        self.pos += n
        if len(self._pending):
            samples = np.concatenate((self._pending, samples))
        blk = self._blk
        full = len(samples) // blk * blk
        if full:
            blocks = samples[:full].reshape(-1, blk)
            peaks = np.maximum(blocks.max(axis=1).astype(np.int32), -blocks.min(axis=1).astype(np.int32))
            self._store(peaks)
        self._pending = samples[full:].copy() if full < len(samples) else samples[:0]

    def pad(self, n: int) -> None:
        if n <= 0:
            return
        self.append(np.zeros(n, dtype=np.int16))

    def _store(self, peaks: np.ndarray) -> None:
        n = len(peaks)
        first = self._levels_pos // self._blk
        self._levels_pos += n * self._blk
        if n > RING_BLOCKS:
            first += n - RING_BLOCKS
            peaks = peaks[-RING_BLOCKS:]
            n = RING_BLOCKS
        at = first % RING_BLOCKS
        head = min(n, RING_BLOCKS - at)
        self._ring[at : at + head] = peaks[:head]
        if head < n:  # wrap around the end of the ring
            self._ring[: n - head] = peaks[head:]

    def levels(self, start_block: int, end_block: int) -> tuple[int, np.ndarray]:
        """Peaks of blocks [start, end) clipped to what the ring still holds."""
        last = self._levels_pos // self._blk
        start_block = max(start_block, last - RING_BLOCKS, 0)
        end_block = min(end_block, last)
        if end_block <= start_block:
            return start_block, np.zeros(0, dtype=np.int32)
        idx = np.arange(start_block, end_block) % RING_BLOCKS
        return start_block, self._ring[idx]

    @property
    def known_blocks(self) -> int:
        return self._levels_pos // self._blk


class Timeline:
    """Positions and speech edges of the two tracks of one recording."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.block = max(1, sample_rate * BLOCK_MS // 1000)
        self.tracks = (Track(self.block), Track(self.block))

    def pos(self, track: int) -> int:
        return self.tracks[track].pos

    @property
    def now(self) -> int:
        """The recording's current length: the furthest either track got."""
        return max(self.tracks[0].pos, self.tracks[1].pos)

    def samples(self, secs: float) -> int:
        return int(round(secs * self.sample_rate))

    # -- edge snapping -----------------------------------------------------

    def _runs(self, track: int, lo: int, hi: int) -> tuple[int, list[tuple[int, int]]]:
        """Runs of speech (block indexes, [start, end)) within blocks [lo, hi)."""
        t = self.tracks[track]
        first, peaks = t.levels(lo, hi)
        if not len(peaks):
            return first, []
        voiced = peaks >= self._threshold(track)
        runs: list[tuple[int, int]] = []
        start = None
        gap = 0
        for i, v in enumerate(voiced.tolist()):
            if v:
                if start is None:
                    start = i
                gap = 0
            elif start is not None:
                gap += 1
                if gap >= GAP_BLOCKS:
                    runs.append((first + start, first + i - gap + 1))
                    start, gap = None, 0
        if start is not None:
            runs.append((first + start, first + len(voiced) - gap))
        return first, runs

    def _threshold(self, track: int) -> int:
        t = self.tracks[track]
        _, peaks = t.levels(t.known_blocks - 300, t.known_blocks)
        if len(peaks) < 20:
            return MIN_THRESHOLD
        floor = int(np.percentile(peaks, 10))
        return max(MIN_THRESHOLD, floor * 4)

    def onset(self, track: int, estimate: int, before_secs: float = 0.25, after_secs: float = 0.25) -> int:
        """The speech onset nearest ``estimate`` (samples), or the estimate itself."""
        b = self.block
        est_blk = estimate // b
        lo = est_blk - int(before_secs * 1000 / BLOCK_MS)
        hi = est_blk + int(after_secs * 1000 / BLOCK_MS) + 1
        _, runs = self._runs(track, lo - GAP_BLOCKS, hi)
        starts = [s for s, _ in runs if lo <= s < hi]
        if not starts:
            return max(0, estimate)
        best = min(starts, key=lambda s: abs(s - est_blk))
        return best * b

    def offset(self, track: int, estimate: int, before_secs: float = 0.25, after_secs: float = 0.25) -> int:
        """The speech offset (end of a run of speech) nearest ``estimate``."""
        b = self.block
        est_blk = -(-estimate // b)
        lo = est_blk - int(before_secs * 1000 / BLOCK_MS)
        hi = est_blk + int(after_secs * 1000 / BLOCK_MS)
        _, runs = self._runs(track, lo, hi + GAP_BLOCKS)
        ends = [e for _, e in runs if lo <= e <= hi]
        if not ends:
            return max(0, estimate)
        best = min(ends, key=lambda e: abs(e - est_blk))
        return best * b

    def first_voiced_at_or_after(self, track: int, start: int) -> Optional[int]:
        """Start of the first voiced block at or after ``start`` that the ring knows."""
        t = self.tracks[track]
        b = self.block
        first, peaks = t.levels(start // b, t.known_blocks)
        if not len(peaks):
            return None
        hits = np.flatnonzero(peaks >= self._threshold(track))
        if not len(hits):
            return None
        return max(start, (first + int(hits[0])) * b)
