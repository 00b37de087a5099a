"""The optimized audio path records exactly what the previous one did.

``_tracks_before.py`` is a frozen copy of tracks.py + timeline.Track from
before the per-frame optimizations. Both are fed the same input and must
produce byte-identical stereo chunks, per-track chunks, positions, levels
and voiced-block counts:

- the exact sequence of calls the recorder made into ``Tracks`` during a real
  2-minute call (light pipeline, caller at 16 kHz, bot at 24 kHz, real time;
  ``data/tracks_calls_2min.json.gz``), with synthetic audio of the recorded
  frame sizes (loud, quiet and all-zero frames);
- synthetic sequences that reach the rarer paths: long gaps, stuck speaking
  flags, rate changes, odd frame sizes, both tracks at once, mirror mode.

soxr is replaced by a deterministic stand-in (same interface, holds input
back like a streaming resampler): soxr's own output differs by +-1 LSB from
run to run with the alignment of its input buffer (measured here), so real
resampled bytes cannot be compared exactly even between two runs of the
same code. What is compared is everything this code decides: what is held,
flushed, padded, where, and how it is cut.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
import soxr

from pipecat_roark.tracks import Tracks

from . import _tracks_before as before

TRACE = Path(__file__).parent / "data" / "tracks_calls_2min.json.gz"


class _Stream:
    """soxr.ResampleStream stand-in: nearest sample, 40 input samples held back until ``last``."""

    def __init__(self, in_rate, out_rate, channels, dtype="int16", quality="HQ"):
        self.in_rate, self.out_rate = in_rate, out_rate
        self.x = np.zeros(0, dtype=np.int16)
        self.done = 0  # output samples produced

    def resample_chunk(self, x, last=False):
        self.x = np.concatenate([self.x, np.asarray(x, dtype=np.int16)])
        usable = len(self.x) if last else max(0, len(self.x) - 40)
        end = max(self.done, -(-usable * self.out_rate // self.in_rate))
        out = self.x[np.arange(self.done, end) * self.in_rate // self.out_rate]
        self.done = end
        return out


@pytest.fixture(autouse=True)
def _deterministic_resampler(monkeypatch):
    monkeypatch.setattr(soxr, "ResampleStream", _Stream)


def _audio(n_bytes: int, k: int) -> bytes:
    """Deterministic audio of n_bytes // 2 samples: noise, quiet or silent by k."""
    i = np.arange(n_bytes // 2, dtype=np.int64) + k * 7919
    x = ((i * 1103515245 + 12345) >> 16) % 6001 - 3000
    if k % 5 == 0:
        x[:] = 0
    elif k % 7 == 0:
        x //= 40  # under the silence threshold
    elif k % 11 == 0:
        x[: len(x) // 2] = 0  # sound starts mid-frame
    return x.astype("<i2").tobytes()


def _run(cls, ops: list, rate: int, chunk_bytes: int, **kw) -> list:
    """Apply ops to a fresh Tracks; everything observable, in order."""
    t = cls(rate, store=True, chunk_bytes=chunk_bytes, **kw)
    out: list = []
    for k, op in enumerate(ops):
        kind = op[0]
        if kind == "a":
            _, track, n_bytes, in_rate, now, s0, s1 = op
            t.speaking[0], t.speaking[1] = bool(s0), bool(s1)
            t.append_input(track, _audio(n_bytes, k), in_rate, now)
        elif kind == "w":  # append() directly, as the mirror path does
            _, track, n_bytes, now = op
            t.append(track, _audio(n_bytes, k), now)
        elif kind == "f":
            _, track, last, s0, s1 = op
            t.speaking[0], t.speaking[1] = bool(s0), bool(s1)
            t.flush_pending(track, bool(last))
        elif kind == "t":
            out.extend(("chunk", c) for c in t.take_chunks(bool(op[1])))
        elif kind == "p":
            t.pad_to_now(op[1])
        elif kind == "levels":  # read levels mid-call, as edge searches do
            for tr in (0, 1):
                first, lv = t.timeline.tracks[tr].levels(op[1], op[2])
                out.append(("levels", tr, first, lv.tolist(), t.timeline.tracks[tr].known_blocks))
        out.append(("pos", t.timeline.pos(0), t.timeline.pos(1), t.expected[0], t.expected[1], t.first_audio))
    tl = t.timeline
    for tr in (0, 1):
        first, lv = tl.tracks[tr].levels(0, 10**9)
        out.append(("end", tr, tl.pos(tr), tl.tracks[tr].voiced_blocks, first, lv.tolist(), tl.tracks[tr].known_blocks))
    return out


def _same(ops: list, rate: int = 24000, chunk_bytes: int = 256 * 1024, **kw) -> int:
    new, old = _run(Tracks, ops, rate, chunk_bytes, **kw), _run(before.Tracks, ops, rate, chunk_bytes, **kw)
    assert len(new) == len(old)
    for i, (a, b) in enumerate(zip(new, old)):
        assert a == b, f"differs at output {i} (op {ops[min(i, len(ops) - 1)]})"
    return sum(1 for x in new if x[0] == "chunk")


def test_a_recorded_call_is_recorded_byte_identically():
    with gzip.open(TRACE, "rt") as f:
        ops = json.load(f)
    assert sum(1 for o in ops if o[0] == "a") > 6000  # 2 minutes of 20 ms caller frames and the bot's
    chunks = _same(ops, chunk_bytes=64 * 1024)  # smaller chunks: more cuts compared
    assert chunks > 20


def _synthetic(seed: int, *, mirror: bool = False) -> list:
    rng = random.Random(seed)
    ops: list = []
    now = 0.0
    speaking = [0, 0]
    rates = [16000, 24000]
    for _ in range(3000):
        r = rng.random()
        if r < 0.02:
            now += rng.choice([0.25, 0.5, 1.5, 3.0])  # a stall, or a muted line
        if r < 0.03:
            speaking[rng.randrange(2)] ^= 1
        if r < 0.004:
            rates[0] = rng.choice([8000, 16000, 24000, 48000])  # a transport switching rates
        now += 0.02
        track = 0 if rng.random() < 0.6 else 1
        ms = rng.choice([10, 20, 20, 20, 40]) if not mirror else 20
        in_rate = rates[track]
        n = in_rate * ms // 1000 + (rng.choice([0, 0, 0, 1, 7]) if rng.random() < 0.1 else 0)
        if mirror:
            ops.append(["w", track, 2 * (24000 * ms // 1000), now])
        else:
            ops.append(["a", track, 2 * n, in_rate, now, speaking[0], speaking[1]])
        if rng.random() < 0.05:
            ops.append(["f", rng.randrange(2), 0, speaking[0], speaking[1]])
        if rng.random() < 0.02:
            ops.append(["levels", rng.randrange(0, 3000), rng.randrange(3000, 9000)])
        ops.append(["t", 0])
    ops += [["f", 0, 1, 0, 0], ["f", 1, 1, 0, 0], ["p", now + 0.7], ["t", 1]]
    return ops


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_calls_are_recorded_byte_identically(seed):
    assert _same(_synthetic(seed), chunk_bytes=16 * 1024) > 5


@pytest.mark.parametrize("seed", range(3))
def test_without_gap_fill_and_16k_recording_byte_identically(seed):
    _same(_synthetic(100 + seed), rate=16000, chunk_bytes=8 * 1024, gap_fill=False)


@pytest.mark.parametrize("seed", range(3))
def test_mirror_mode_is_byte_identical(seed):
    _same(_synthetic(200 + seed, mirror=True), chunk_bytes=16 * 1024, mirror=True, mirror_flush_samples=4096)


# -- frames written in batches (Capture holds them, Tracks.append_frames writes them) ----------------


def _record(ops: list, rate: int, chunk_bytes: int, batch: random.Random | None, **kw) -> list:
    """What a call records when every audio frame is written as it comes (``batch`` None), or held
    and written in batches of random sizes (1-40 frames), as the capture does. A batch ends where
    the speaking flags change or anything else happens (event frames write what is held first).
    Chunks are cut after every frame in the first case, as the recorder used to."""
    t = Tracks(rate, store=True, chunk_bytes=chunk_bytes, **kw)
    out: list = []
    held: list = []

    def cut() -> None:
        out.extend(("chunk", c) for c in t.take_chunks(False))

    def write() -> None:
        if held:
            t.append_frames(list(held), cut)
            held.clear()

    size = batch.randint(1, 40) if batch else 0
    for k, op in enumerate(ops):
        if op[0] == "a":
            _, track, n_bytes, in_rate, now, s0, s1 = op
            if batch is None:
                t.speaking[0], t.speaking[1] = bool(s0), bool(s1)
                t.append_input(track, _audio(n_bytes, k), in_rate, now)
                cut()
                continue
            if held and (t.speaking[0], t.speaking[1]) != (bool(s0), bool(s1)):
                write()
            t.speaking[0], t.speaking[1] = bool(s0), bool(s1)
            held.append((track, _audio(n_bytes, k), in_rate, now))
            if len(held) >= size:
                write()
                size = batch.randint(1, 40)
            continue
        write()
        if op[0] == "f":
            _, track, last, s0, s1 = op
            t.speaking[0], t.speaking[1] = bool(s0), bool(s1)
            t.flush_pending(track, bool(last))
        elif op[0] == "t" and op[1]:
            out.extend(("chunk", c) for c in t.take_chunks(True))
        elif op[0] == "p":
            t.pad_to_now(op[1])
        elif op[0] == "levels":
            for tr in (0, 1):
                first, lv = t.timeline.tracks[tr].levels(op[1], op[2])
                out.append(("levels", tr, first, lv.tolist(), t.timeline.tracks[tr].known_blocks))
            out.append(("pos", t.timeline.pos(0), t.timeline.pos(1), t.expected[0], t.expected[1]))
    write()
    tl = t.timeline
    for tr in (0, 1):
        first, lv = tl.tracks[tr].levels(0, 10**9)
        out.append(("end", tr, tl.pos(tr), tl.tracks[tr].voiced_blocks, first, lv.tolist(), tl.tracks[tr].known_blocks))
    return out


def _same_in_batches(ops: list, seed: int, rate: int = 24000, chunk_bytes: int = 16 * 1024, **kw) -> int:
    one = _record(ops, rate, chunk_bytes, None, **kw)
    many = _record(ops, rate, chunk_bytes, random.Random(seed), **kw)
    assert len(many) == len(one)
    for i, (a, b) in enumerate(zip(many, one)):
        assert a == b, f"differs at output {i}"
    return sum(1 for x in one if x[0] == "chunk")


def test_a_recorded_call_written_in_batches_is_recorded_byte_identically():
    with gzip.open(TRACE, "rt") as f:
        ops = json.load(f)
    assert _same_in_batches(ops, 1, chunk_bytes=64 * 1024) > 20


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_calls_written_in_batches_are_recorded_byte_identically(seed):
    # Stalls (gap filling), stuck speaking flags (a track padded to be cut),
    # rate changes and odd frame sizes: the paths the batch loop hands back.
    assert _same_in_batches(_synthetic(300 + seed), seed) > 5


@pytest.mark.parametrize("seed", range(3))
def test_16k_recording_written_in_batches_is_recorded_byte_identically(seed):
    # At the recording's rate on both sides nothing is resampled: every frame takes the batch loop.
    ops = [op if op[0] != "a" else op[:3] + [16000] + op[4:] for op in _synthetic(400 + seed)]
    _same_in_batches(ops, seed, rate=16000, chunk_bytes=8 * 1024)
    _same_in_batches(ops, seed, rate=16000, chunk_bytes=8 * 1024, gap_fill=False)
