"""Two aligned mono tracks (caller, bot) of one recording, cut into stereo chunks.

Kept apart from the recorder so the per-frame audio path (alignment,
batched resampling, chunking) can be measured and tuned on its own; it knows
nothing of frames, turns or the network.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import soxr

from .timeline import Timeline

#: ABP and Pipecat insert silence when a track gets no audio for this long.
GAP_SECS = 0.2
#: A track flagged as speaking that received no audio for this long is not
#: speaking (its "stopped" frame was lost or is late).
STUCK_SECS = 1.0

#: Silence to pad from without allocating it each time (padding happens on
#: most frames of a call: the silent side follows the one that has audio).
_ZEROS = memoryview(bytes(2 * 48000))


def silence(n_bytes: int) -> Any:
    """n_bytes of zeros, as a buffer bytearray.extend() takes (shared, read-only)."""
    return _ZEROS[:n_bytes] if n_bytes <= len(_ZEROS) else bytes(n_bytes)


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
        if in_rate != self.rate or batcher._pending:
            pcm = batcher.push(pcm, in_rate)
        self.append(track, pcm, now, expected)

    def append_frames(self, frames: list, on_full: Any) -> None:
        """Frames ``(track, pcm, in_rate, arrival)`` in arrival order, as many ``append_input`` calls.

        The common frame (at the recording's rate, after no gap, nothing held
        by a resampler) is aligned here in one loop, and its samples and the
        silence padded before it are written once per batch and track: the
        same samples, positions and levels as frame by frame, at a fraction
        of the cost. Any other frame goes through ``append_input``.
        ``on_full()`` is called whenever frame by frame would have found a
        chunk to cut (so a stuck track is padded at the same place).
        """
        if self.mirror:
            for track, pcm, in_rate, now in frames:
                self.append_input(track, pcm, in_rate, now)
            return
        rate = self.rate
        expected, speaking = self.expected, self.speaking
        last_write, last_audio = self.last_write, self.last_audio
        batchers, bufs = self.batchers, self.bufs
        gap_fill, store = self.gap_fill, self.store
        gap_secs = GAP_SECS
        one, two = 2 * self.chunk_samples, 4 * self.chunk_samples  # bytes per track of one and two chunks
        pieces: tuple[list, list] = ([], [])
        held = [0, 0]  # bytes in pieces, per track
        for track, pcm, in_rate, now in frames:
            other = 1 - track
            n = len(pcm) >> 1
            last = last_write[track]
            if (in_rate != rate or not n or batchers[track]._pending or batchers[other]._pending
                    or (gap_fill and last is not None and now - last - n / rate > gap_secs)):
                self._write_pieces(pieces, held)
                self.append_input(track, pcm, in_rate, now)
            else:
                last_write[track] = now
                last_audio[track] = now
                if speaking[other]:
                    heard = last_audio[other]
                    other_speaking = heard is None or now - heard <= STUCK_SECS
                else:
                    other_speaking = False
                if not other_speaking:
                    behind = int(expected[track] - expected[other])
                    if behind > 0:
                        pieces[other].append(silence(2 * behind))
                        held[other] += 2 * behind
                        expected[other] += behind
                        if gap_fill:
                            last_write[other] = now
                pieces[track].append(pcm)
                held[track] += 2 * n
                expected[track] += n
            if store:
                lu, lb = len(bufs[0]) + held[0], len(bufs[1]) + held[1]
                if (lu >= one and lb >= one) or lu >= two or lb >= two:
                    self._write_pieces(pieces, held)
                    on_full()
        self._write_pieces(pieces, held)

    def _write_pieces(self, pieces: tuple[list, list], held: list) -> None:
        for track in (0, 1):
            if held[track]:
                data = b"".join(pieces[track])
                pieces[track].clear()
                held[track] = 0
                self.timeline.tracks[track].append(data)
                if self.store:
                    self.bufs[track].extend(data)
                self.first_audio = True

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
        if batcher._pending or (last and batcher.in_rate is not None):
            pcm = batcher.flush(last=last)
            if last:
                batcher.in_rate = None
            if pcm:
                self.append(track, pcm, None, 0.0)

    def append(self, track: int, pcm: bytes, now: Optional[float], expected_samples: Optional[float] = None) -> None:
        # Runs for every audio frame of the call: attribute lookups are kept
        # to locals and _speaking() is inlined (same rules, see there).
        n = len(pcm) // 2
        mirror = self.mirror
        exp = float(n) if expected_samples is None or (mirror and now is not None) else expected_samples
        if not n and not exp:
            return
        expected = self.expected
        if now is not None and exp:  # a frame arrived: time moved on
            other = 1 - track
            last_write = self.last_write
            last = last_write[track]
            if last is not None and self.gap_fill:
                gap = now - last - exp / self.rate
                if gap > GAP_SECS:
                    self.flush_pending(track)  # held audio came before the gap
                    self._pad(track, int(gap * self.rate))
            last_write[track] = now
            last_audio = self.last_audio
            last_audio[track] = now
            if self.speaking[other]:
                heard = last_audio[other]
                other_speaking = mirror or heard is None or now - heard <= STUCK_SECS
            else:
                other_speaking = False
            if not other_speaking:
                if mirror:
                    behind = self.timeline.pos(track) - self.timeline.pos(other)
                else:
                    # Up to where this track stood before this frame (as
                    # Pipecat does): padding to its end instead would pad each
                    # side a frame ahead of the other's next frame when both
                    # carry audio, and insert silence frame by frame.
                    behind = int(expected[track] - expected[other])
                if behind > 0:
                    if self.batchers[other]._pending:
                        self.flush_pending(other)  # held audio came before the silence
                    self._pad(other, behind)
                    if self.gap_fill:
                        last_write[other] = now
        if n:
            self.timeline.tracks[track].append(pcm)
            if self.store:
                self.bufs[track].extend(pcm)
            self.first_audio = True
        expected[track] += exp
        if self.mirror_flush:
            self._mirror_flush(now)

    def _pad(self, track: int, n: int) -> None:
        if n <= 0:
            return
        self.timeline.tracks[track].pad(n)
        self.expected[track] += n
        if self.store:
            self.bufs[track].extend(silence(2 * n))

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
        c = self.chunk_samples
        if not final:  # asked after every frame: most of the time there is nothing to cut
            lu, lb = len(self.bufs[0]), len(self.bufs[1])
            if (lu < 2 * c or lb < 2 * c) and lu < 4 * c and lb < 4 * c:
                return []
        out = []
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
        # One copy each (a bytearray slice would copy twice); the views are
        # released before the buffers shrink.
        with memoryview(ub) as u, memoryview(bb) as b:
            user = u[: 2 * n].tobytes()
            bot = b[: 2 * n].tobytes()
        del ub[: 2 * n]
        del bb[: 2 * n]
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2] = np.frombuffer(user, dtype="<i2")
        stereo[1::2] = np.frombuffer(bot, dtype="<i2")
        self.emitted += n
        return stereo.tobytes(), user, bot
