"""The recording's own sample timeline, and where the speech on it is.

Turn edges are reported against the recording, so they are measured here, in
samples of the recording, from the audio the recorder actually stored:

- Every track keeps its position (samples stored so far, silence padding
  included). Offsets never come from wall-clock time, which drifts from the
  recording whenever Pipecat pads an event-loop stall with silence.
- Every track keeps the peak level of each 10 ms block of its most recent
  ~20 s in a ring, and ``speech_runs`` reads the stretches of sound from it.
  Which stretch a speaking frame marks is decided in :mod:`pipecat_roark.edges`.

Pure and synchronous: numpy in, integers out. No Pipecat, no clocks.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

USER = 0
BOT = 1

BLOCK_MS = 10
RING_BLOCKS = 2048  # ~20 s of history per track (8 KiB)
#: Peak level (of 32767) under which a block counts as silence. Adapted
#: upwards on noisy lines: see _threshold().
MIN_THRESHOLD = 250
#: Gaps shorter than this inside speech (stop consonants, breaths) do not
#: end a run of speech.
GAP_BLOCKS = 6
#: Pauses between words (commas, breaths) are bridged when looking for where
#: an utterance began.
MERGE_BLOCKS = 25


#: Silence for padding without allocating (0.5 s at 48 kHz: a level batch).
_ZEROS = memoryview(bytes(48000))


def _nothing() -> None:
    return None


def _percentile_floor(peaks: np.ndarray, q: float) -> int:
    """``int(np.percentile(peaks, q))``, without np.percentile when the answer is plain.

    np.percentile costs ~50 us; a sort of a few hundred levels a few. Where
    the sorted levels around the percentile's position are equal (a quiet
    line: zeros), interpolating between them gives that value exactly.
    """
    ranked = np.sort(peaks)
    n = len(ranked)
    at = int(q / 100 * (n - 1))
    lo, hi = max(0, at - 1), min(n - 1, at + 2)
    if ranked[lo] == ranked[hi]:
        return int(ranked[at])
    return int(np.percentile(peaks, q))


class Track:
    __slots__ = ("pos", "_ring", "_levels_pos", "_raw", "_blk", "_batch", "_voiced_blocks", "_floor", "_floor_key")

    def __init__(self, block_samples: int):
        self.pos = 0  # samples stored, including padding
        # Blocks that carried sound (fixed threshold): "did this channel
        # record anything at all", and how much of it.
        self._voiced_blocks = 0
        self._blk = block_samples
        self._ring = np.zeros(RING_BLOCKS, dtype=np.int32)
        self._levels_pos = 0  # samples whose level is in the ring
        # Samples not leveled yet. Levels are computed ~1 s at a time (or
        # when read): per-frame numpy calls were most of the recorder's cost.
        self._raw = bytearray()
        self._batch = block_samples * 100 * 2  # 1 s (bytes)
        self._floor: Optional[int] = None
        self._floor_key: Any = None

    def append(self, samples) -> None:
        """Append audio: s16le bytes, or an int16 array."""
        data = samples if isinstance(samples, (bytes, bytearray, memoryview)) else np.asarray(samples, dtype="<i2").tobytes()
        n = len(data) // 2
        if not n:
            return
        self.pos += n
        self._raw.extend(data)
        if len(self._raw) >= self._batch:
            self.flush()

    def flush(self) -> None:
        """Level every whole block appended so far."""
        full = len(self._raw) // (2 * self._blk) * self._blk
        if not full:
            return
        # Read in place (no copy); the view is gone before the buffer shrinks.
        x = np.frombuffer(self._raw, dtype="<i2", count=full)
        peaks = np.abs(x.reshape(-1, self._blk), dtype=np.int32).max(axis=1)  # int32: -32768 stays loud
        del x
        del self._raw[: 2 * full]
        self._store(peaks)

    @property
    def voiced_blocks(self) -> int:
        self.flush()
        return self._voiced_blocks

    def pad(self, n: int) -> None:
        """n samples of silence: most frames of a call, so no numpy work per block."""
        if n <= 0:
            return
        raw = self._raw
        if len(raw) + 2 * n < self._batch:
            # Short silence (a frame's worth: the silent side following the
            # other) joins the samples waiting to be leveled and is leveled
            # with them, ~1 s at a time: a block of zeros has peak 0 either
            # way, and a numpy call per frame costs far more than the bytes
            # (see Batcher). Long silences are stored without numpy below.
            self.pos += n
            raw.extend(_ZEROS[: 2 * n] if 2 * n <= len(_ZEROS) else bytes(2 * n))
            return
        if raw:
            self.flush()
            partial = len(self._raw) // 2
            if partial:
                # Complete the partial block with zeros through the general path.
                take = min(n, self._blk - partial)
                self.append(bytes(2 * take))
                self.flush()
                n -= take
                if not n:
                    return
        self.pos += n
        full = n // self._blk
        if full:
            self._store_silence(full)
        rest = n - full * self._blk
        if rest:
            self._raw.extend(bytes(2 * rest))

    def _store_silence(self, n: int) -> None:
        self._levels_pos += n * self._blk
        n = min(n, RING_BLOCKS)
        first = self._levels_pos // self._blk - n
        at = first % RING_BLOCKS
        head = min(n, RING_BLOCKS - at)
        self._ring[at : at + head] = 0
        if head < n:
            self._ring[: n - head] = 0

    def _store(self, peaks: np.ndarray) -> None:
        n = len(peaks)
        self._voiced_blocks += int(np.count_nonzero(peaks >= MIN_THRESHOLD))
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
        self.flush()
        last = self._levels_pos // self._blk
        start_block = max(start_block, last - RING_BLOCKS, 0)
        end_block = min(end_block, last)
        if end_block <= start_block:
            return start_block, np.zeros(0, dtype=np.int32)
        at = start_block % RING_BLOCKS
        n = end_block - start_block
        if at + n <= RING_BLOCKS:  # one slice (no index array); a copy, as before
            return start_block, self._ring[at : at + n].copy()
        return start_block, np.concatenate((self._ring[at:], self._ring[: at + n - RING_BLOCKS]))

    def recent_floor(self, window_blocks: int = 300, q: float = 10.0, end_block: Optional[int] = None) -> Optional[int]:
        """``int(np.percentile(peaks, q))`` of the ``window_blocks`` leveled blocks
        before ``end_block`` (default: the last leveled one), or None when fewer
        than 20 are known.

        Cached per window: a percentile is the dearest numpy call of an edge
        search, and several searches of one resolution share a window.
        """
        self.flush()
        last = self._levels_pos // self._blk
        if end_block is not None:
            last = min(last, end_block)
        key = (last, window_blocks, q)
        if self._floor_key != key:
            _, peaks = self.levels(last - window_blocks, last)
            self._floor = _percentile_floor(peaks, q) if len(peaks) >= 20 else None
            self._floor_key = key
        return self._floor

    @property
    def known_blocks(self) -> int:
        self.flush()
        return self._levels_pos // self._blk


class Timeline:
    """Positions and speech edges of the two tracks of one recording."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.block = max(1, sample_rate * BLOCK_MS // 1000)
        self.tracks = (Track(self.block), Track(self.block))
        #: Called before every read: the recorder takes audio frames in
        #: batches and writes the frames it holds here first (see capture.py),
        #: so a reader always sees every frame received so far.
        self.sync: Callable[[], None] = _nothing

    def pos(self, track: int) -> int:
        self.sync()
        return self.tracks[track].pos

    @property
    def now(self) -> int:
        """The recording's current length: the furthest either track got."""
        self.sync()
        return max(self.tracks[0].pos, self.tracks[1].pos)

    def samples(self, secs: float) -> int:
        return int(round(secs * self.sample_rate))

    # -- edge snapping -----------------------------------------------------

    def speech_runs(self, track: int, lo: int, hi: int, merge_blocks: int = GAP_BLOCKS) -> list[tuple[int, int]]:
        """Runs of speech (block indexes, [start, end)) within blocks [lo, hi).

        Pauses shorter than ``merge_blocks`` inside speech do not end a run.
        """
        self.sync()
        t = self.tracks[track]
        first, peaks = t.levels(lo, hi)
        if not len(peaks):
            return []
        # The noise floor is read just before the window's end, not before
        # "now": what a window holds is then the same whenever it is read.
        voiced = np.flatnonzero(peaks >= self._threshold(track, hi))
        if not len(voiced):
            return []
        breaks = np.flatnonzero(np.diff(voiced) > merge_blocks)
        starts = np.concatenate(([voiced[0]], voiced[breaks + 1]))
        ends = np.concatenate((voiced[breaks], [voiced[-1]])) + 1
        return [(first + int(a), first + int(b)) for a, b in zip(starts, ends)]

    def _threshold(self, track: int, end_block: Optional[int] = None) -> int:
        floor = self.tracks[track].recent_floor(300, 10.0, end_block)
        return MIN_THRESHOLD if floor is None else max(MIN_THRESHOLD, floor * 4)

    def first_voiced_at_or_after(self, track: int, start: int) -> Optional[int]:
        """Start of the first voiced block at or after ``start`` that the ring knows."""
        self.sync()
        t = self.tracks[track]
        b = self.block
        first, peaks = t.levels(start // b, t.known_blocks)
        if not len(peaks):
            return None
        hits = np.flatnonzero(peaks >= self._threshold(track))
        if not len(hits):
            return None
        return max(start, (first + int(hits[0])) * b)

    # -- what the caller did around the bot's speech ------------------------

    def _window(self, pos: int, max_back_secs: float) -> tuple[int, int]:
        hi = -(-max(0, pos) // self.block)
        return hi - int(max_back_secs * 1000 / BLOCK_MS), hi

    def speech_end_before(self, track: int, pos: int, max_back_secs: float = 10.0) -> Optional[int]:
        """Where the last stretch of speech that ended by ``pos`` ended.

        None when the track is still sounding at ``pos`` (the two sides
        overlap there) or was silent for all of the window.
        """
        lo, hi = self._window(pos, max_back_secs)
        runs = self.speech_runs(track, lo, hi + 1)
        if runs and runs[-1][0] < hi < runs[-1][1]:
            return None
        ended = [end for _, end in runs if end <= hi]
        return min(ended[-1] * self.block, pos) if ended else None
