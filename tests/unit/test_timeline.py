"""Speech edges snapped to where the sound is, on the recording's own samples."""

import numpy as np

from pipecat_roark.timeline import BOT, USER, Timeline

RATE = 16000


def feed(tl, track, signal, frame=320):
    for i in range(0, len(signal), frame):
        tl.tracks[track].append(signal[i : i + frame])


def speech(seconds, amp=6000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * RATE)) * amp / 3).clip(-32000, 32000).astype(np.int16)


def silence(seconds):
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def test_onset_and_offset_found_near_estimate():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([silence(1.0), speech(1.5), silence(1.0)]))
    assert abs(tl.onset(USER, int(1.12 * RATE)) - RATE) <= RATE // 100
    assert abs(tl.offset(USER, int(2.4 * RATE)) - int(2.5 * RATE)) <= RATE // 100


def test_short_pauses_inside_speech_do_not_end_it():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([silence(0.5), speech(0.4), silence(0.04), speech(0.4), silence(0.5)]))
    # A VAD stop estimate comes after the real end.
    assert abs(tl.offset(USER, int(1.4 * RATE)) - int(1.34 * RATE)) <= RATE // 100
    # A late start estimate inside the utterance finds where it began.
    assert abs(tl.onset(USER, int(1.0 * RATE)) - int(0.5 * RATE)) <= RATE // 100


def test_estimate_kept_when_there_is_no_edge_nearby():
    tl = Timeline(RATE)
    feed(tl, USER, silence(2.0))
    assert tl.onset(USER, 12345) == 12345


def test_first_voiced_and_positions_with_padding():
    tl = Timeline(RATE)
    tl.tracks[BOT].pad(RATE)
    feed(tl, BOT, np.concatenate([silence(0.3), speech(0.5)]))
    assert tl.pos(BOT) == int(1.8 * RATE)
    found = tl.first_voiced_at_or_after(BOT, RATE)
    assert abs(found - int(1.3 * RATE)) <= RATE // 100


def test_ring_forgets_old_audio_but_positions_keep_counting():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([speech(0.5), silence(30.0)]))
    assert tl.pos(USER) == int(30.5 * RATE)
    # The speech is outside the ring: the estimate is returned unchanged.
    assert tl.onset(USER, 100) == 100
