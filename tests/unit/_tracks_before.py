"""Frozen copy of the recorder's audio path as of commit 9148d46 (``tracks.py`` and
``timeline.Track``), before the per-frame work of issue 12 was cut down.

Used only by ``test_tracks_identical.py``, to show that the optimized code
produces byte-identical chunks, positions and levels for the same input.
Do not edit: it is the "before" of that comparison.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import soxr

from pipecat_roark.timeline import MIN_THRESHOLD, RING_BLOCKS, Timeline as _Timeline


class Track:
    __slots__ = ("pos", "_ring", "_levels_pos", "_raw", "_blk", "_batch", "_voiced_blocks")

    def __init__(self, block_samples: int):
        self.pos = 0  # samples stored, including padding
        # Blocks that carried sound (fixed threshold): "did this channel
        # record anything at all", and how much of it.
        self._voiced_blocks = 0
        self._blk = block_samples
        self._ring = np.zeros(RING_BLOCKS, dtype=np.int32)
        self._levels_pos = 0  # samples whose level is in the ring
        # Samples not leveled yet. Levels are computed ~0.5 s at a time (or
        # when read): per-frame numpy calls were most of the recorder's cost.
        self._raw = bytearray()
        self._batch = block_samples * 50 * 2  # 0.5 s

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
        x = np.frombuffer(bytes(self._raw[: 2 * full]), dtype="<i2")
        del self._raw[: 2 * full]
        peaks = np.abs(x.reshape(-1, self._blk), dtype=np.int32).max(axis=1)  # int32: -32768 stays loud
        self._store(peaks)

    @property
    def voiced_blocks(self) -> int:
        self.flush()
        return self._voiced_blocks

    def pad(self, n: int) -> None:
        """n samples of silence: most frames of a call, so no numpy work per block."""
        if n <= 0:
            return
        if self._raw:
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
        idx = np.arange(start_block, end_block) % RING_BLOCKS
        return start_block, self._ring[idx]

    @property
    def known_blocks(self) -> int:
        self.flush()
        return self._levels_pos // self._blk


class Timeline(_Timeline):
    """The real Timeline (positions, edges) over the frozen Track."""

    def __init__(self, sample_rate: int):
        super().__init__(sample_rate)
        self.tracks = (Track(self.block), Track(self.block))


#: ABP and Pipecat insert silence when a track gets no audio for this long.
GAP_SECS = 0.2
#: A track flagged as speaking that received no audio for this long is not
#: speaking (its "stopped" frame was lost or is late).
STUCK_SECS = 1.0


class Batcher:
    """Audio at another rate, resampled ~0.5 s at a time.

    Each numpy or soxr call costs ~0.2-0.5 ms of CPU when the loop has just
    woken (measured in situ, against ~10 us in a tight loop), so the number of
    calls matters, not their size; a call every 20 ms frame was most of
    the recorder's CPU. The audio held here is accounted for as time already
    elapsed (see ``Tracks.expected``), so batching moves nothing in the
    recording. ``batch_secs=0`` resamples frame by frame.
    """

    def __init__(self, out_rate: int, batch_secs: float = 0.5):
        self.out_rate = out_rate
        self.batch_secs = batch_secs
        self.in_rate: Optional[int] = None
        self._stream: Any = None
        self._pending = bytearray()
        self._batch_bytes = 0

    def push(self, pcm: bytes, in_rate: int) -> bytes:
        out = b""
        if in_rate != self.in_rate:
            out = self.flush(last=True)
            self.in_rate = in_rate
            self._stream = soxr.ResampleStream(in_rate, self.out_rate, 1, dtype="int16", quality="HQ")
            self._batch_bytes = int(in_rate * self.batch_secs) * 2
        self._pending.extend(pcm)
        if len(self._pending) >= self._batch_bytes:
            out += self.flush()
        return out

    def flush(self, last: bool = False) -> bytes:
        if self._stream is None or (not self._pending and not last):
            return b""
        x = np.frombuffer(bytes(self._pending), dtype="<i2")
        self._pending.clear()
        return self._stream.resample_chunk(x, last=last).astype("<i2", copy=False).tobytes()

    @property
    def holding(self) -> bool:
        return bool(self._pending)


class Tracks:
    """Two aligned mono tracks, optionally stored, cut into stereo chunks.

    Alignment keeps Pipecat's AudioBufferProcessor rules, so recordings look
    the same: a track whose speaker is silent is padded with silence up to
    the other track before the other grows, and a track that received
    nothing for more than 200 ms of wall time gets that gap as silence. Two
    corrections make the stereo image match what happened:

    - Padding goes up to where the other track is in *time*, i.e. counting
      the audio a streaming resampler still holds back (16 kHz caller audio
      recorded at 24 kHz lags by ~100 ms otherwise, and the bot would land
      that much early).

    ``mirror=True`` reproduces a stock AudioBufferProcessor exactly instead
    (used to follow a user's own processor): no resampler correction, and its
    flush-time alignment.
    """

    def __init__(self, sample_rate: int, store: bool, chunk_bytes: int, *, mirror: bool = False,
                 gap_fill: bool = True, mirror_flush_samples: int = 0):
        self.rate = sample_rate
        self.timeline = Timeline(sample_rate)
        self.store = store
        self.mirror = mirror
        self.gap_fill = gap_fill
        self.mirror_flush = mirror_flush_samples
        self.chunk_samples = max(1, chunk_bytes // 4)  # stereo s16: 4 bytes per sample pair
        self.bufs = (bytearray(), bytearray())
        self.emitted = 0  # samples per track already cut into chunks (or flushed, mirrored)
        self.speaking = [False, False]
        self.last_write: list[Optional[float]] = [None, None]  # monotonic time of the last audio or padding per track
        self.last_audio: list[Optional[float]] = [None, None]  # ... of the last real audio frame
        # Where each track's end is in time, in samples: written samples plus
        # what its resampler still holds.
        self.expected = [0.0, 0.0]
        self.first_audio = False
        # Mirroring a stock processor means resampling the way it does: per frame.
        batch = 0.0 if mirror else 0.5
        self.batchers = (Batcher(sample_rate, batch), Batcher(sample_rate, batch))

    def append_input(self, track: int, pcm: bytes, in_rate: int, now: float) -> None:
        """A frame of ``track`` audio at ``in_rate``, arriving now."""
        expected = len(pcm) / 2 * self.rate / in_rate
        batcher = self.batchers[track]
        if in_rate != self.rate or batcher.holding:
            pcm = batcher.push(pcm, in_rate)
        self.append(track, pcm, now, expected)

    def _speaking(self, track: int, now: float) -> bool:
        """Speaking, and audio arrived lately: a flag whose "stopped" frame
        was lost or delayed must not freeze the track for the rest of the call."""
        if not self.speaking[track]:
            return False
        if self.mirror:
            return True  # a user's AudioBufferProcessor goes by the flag alone
        last = self.last_audio[track]
        return last is None or now - last <= STUCK_SECS

    def flush_pending(self, track: int, last: bool = False) -> None:
        """Write what the track's resampler holds (its time was already counted)."""
        batcher = self.batchers[track]
        if batcher.holding or (last and batcher.in_rate is not None):
            pcm = batcher.flush(last=last)
            if last:
                batcher.in_rate = None
            if pcm:
                self.append(track, pcm, None, 0.0)

    def append(self, track: int, pcm: bytes, now: Optional[float], expected_samples: Optional[float] = None) -> None:
        n = len(pcm) // 2
        exp = float(n) if expected_samples is None or (self.mirror and now is not None) else expected_samples
        if not n and not exp:
            return
        tl = self.timeline
        other = 1 - track
        if now is not None and exp:  # a frame arrived: time moved on
            last = self.last_write[track]
            if self.gap_fill and last is not None:
                gap = now - last - exp / self.rate
                if gap > GAP_SECS:
                    self.flush_pending(track)  # held audio came before the gap
                    self._pad(track, int(gap * self.rate))
            self.last_write[track] = now
            self.last_audio[track] = now
            if not self._speaking(other, now):
                if self.mirror:
                    behind = tl.pos(track) - tl.pos(other)
                else:
                    # Up to where this track stood before this frame (as
                    # Pipecat does): padding to its end instead would pad each
                    # side a frame ahead of the other's next frame when both
                    # carry audio, and insert silence frame by frame.
                    behind = int(self.expected[track] - self.expected[other])
                if behind > 0:
                    self.flush_pending(other)  # held audio came before the silence
                    self._pad(other, behind)
                    if self.gap_fill:
                        self.last_write[other] = now
        if n:
            tl.tracks[track].append(pcm)
            if self.store:
                self.bufs[track].extend(pcm)
            self.first_audio = True
        self.expected[track] += exp
        if self.mirror_flush:
            self._mirror_flush(now)

    def _pad(self, track: int, n: int) -> None:
        if n <= 0:
            return
        self.timeline.tracks[track].pad(n)
        self.expected[track] += n
        if self.store:
            self.bufs[track].extend(bytes(2 * n))

    def _mirror_flush(self, now: float) -> None:
        # AudioBufferProcessor pads the shorter buffer when it hands a chunk
        # to its handlers, and (1.3+) restarts its gap clocks.
        tl = self.timeline
        lu, lb = tl.pos(0) - self.emitted, tl.pos(1) - self.emitted
        if max(lu, lb) >= self.mirror_flush:
            longest = max(tl.pos(0), tl.pos(1))
            for track in (0, 1):
                self._pad(track, longest - tl.pos(track))
            self.emitted = longest
            if self.gap_fill:
                self.last_write = [now, now]

    def pad_to_now(self, now: float) -> None:
        """At the end: the wall time since the last audio, as silence (same rule as gaps)."""
        writes = [w for w in self.last_write if w is not None]
        if not writes:
            return
        gap = now - max(writes)
        if gap > GAP_SECS:
            target = self.timeline.now + int(gap * self.rate)
            for track in (0, 1):
                self._pad(track, target - self.timeline.pos(track))

    def take_chunks(self, final: bool = False) -> list[tuple[bytes, bytes, bytes]]:
        """Whole chunks ready (or, if final, everything), as (stereo, user, bot)."""
        if not self.store:
            return []
        out = []
        c = self.chunk_samples
        while True:
            lu, lb = len(self.bufs[0]) // 2, len(self.bufs[1]) // 2
            if final and max(lu, lb) <= 2 * c:
                # The tail goes as one chunk (up to twice the usual size), so
                # the end of the call waits for one upload, not two.
                if not max(lu, lb):
                    return out
                short = 0 if lu < lb else 1
                self._pad(short, abs(lu - lb))
                out.append(self._cut(max(lu, lb)))
                return out
            if min(lu, lb) >= c:
                n = c
            elif max(lu, lb) >= 2 * c or (final and max(lu, lb) > 0):
                # One track is stuck (no audio, "speaking" flag held): pad it
                # rather than hold the other's audio without bound.
                short = 0 if lu < lb else 1
                self._pad(short, abs(lu - lb))
                n = min(c, max(lu, lb))
            else:
                return out
            out.append(self._cut(n))

    def _cut(self, n: int) -> tuple[bytes, bytes, bytes]:
        ub, bb = self.bufs
        user = bytes(ub[: 2 * n])
        bot = bytes(bb[: 2 * n])
        del ub[: 2 * n]
        del bb[: 2 * n]
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2] = np.frombuffer(user, dtype="<i2")
        stereo[1::2] = np.frombuffer(bot, dtype="<i2")
        self.emitted += n
        return stereo.tobytes(), user, bot
