"""Track.recent_floor(): the noise floor the edge searches threshold against, cached."""

import numpy as np

from pipecat_roark.timeline import MIN_THRESHOLD, Timeline


def _formula(track) -> int:
    """What Timeline._threshold computes (before it uses recent_floor)."""
    _, peaks = track.levels(track.known_blocks - 300, track.known_blocks)
    if len(peaks) < 20:
        return MIN_THRESHOLD
    return max(MIN_THRESHOLD, int(np.percentile(peaks, 10)) * 4)


def test_recent_floor_matches_the_threshold_formula_as_audio_arrives():
    rng = np.random.default_rng(7)
    tl = Timeline(16000)
    t = tl.tracks[0]
    assert t.recent_floor() is None  # nothing leveled yet
    for i in range(900):  # 18 s of 20 ms frames: noise, speech, silence, and padding
        if i % 90 < 30:
            t.pad(320)
        else:
            amp = 3000 if i % 90 < 60 else 60
            t.append(rng.integers(-amp, amp, 320).astype("<i2").tobytes())
        if i % 7 == 0:
            floor = t.recent_floor()
            expect = _formula(t)
            got = MIN_THRESHOLD if floor is None else max(MIN_THRESHOLD, floor * 4)
            assert got == expect, i


def test_recent_floor_is_recomputed_only_when_new_blocks_are_leveled():
    tl = Timeline(16000)
    t = tl.tracks[0]
    for _ in range(100):
        t.append(np.full(320, 1000, dtype="<i2").tobytes())
    first = t.recent_floor()
    assert first == 1000
    assert t._floor_key is not None and t.recent_floor() == first  # cached
    for _ in range(400):  # quieter audio takes over the window
        t.append(np.full(320, 10, dtype="<i2").tobytes())
    assert t.recent_floor() == 10


def test_the_floor_is_np_percentile_exactly_on_quiet_noisy_and_tied_levels():
    from pipecat_roark.timeline import _percentile_floor

    rng = np.random.default_rng(11)
    cases = [np.zeros(300, dtype=np.int32), np.full(300, 7, dtype=np.int32)]
    for n in (20, 21, 57, 299, 300):
        cases.append(rng.integers(0, 3000, n).astype(np.int32))  # all distinct-ish: percentile path
        cases.append(rng.integers(0, 3, n).astype(np.int32))  # heavy ties: the sort path
        tied = np.concatenate([np.zeros(n // 10, dtype=np.int32), rng.integers(1, 500, n - n // 10).astype(np.int32)])
        cases.append(rng.permutation(tied))  # the percentile's position at the edge of a run of zeros
    for peaks in cases:
        for q in (10.0, 5.0, 50.0):
            assert _percentile_floor(peaks, q) == int(np.percentile(peaks, q)), (len(peaks), q)
