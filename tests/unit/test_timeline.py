"""Speech edges snapped to where the sound is, on the recording's own samples."""

import numpy as np

from pipecat_roark.edges import NEAR, WINDOWS, find_end, find_start
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


def onset(tl, est):
    """A caller's start hint corrected for the VAD's delay (edges.find_start, NEAR)."""
    return find_start(tl, USER, est, 0, NEAR, WINDOWS[(USER, "start")])


def offset(tl, est):
    return find_end(tl, USER, est, 0, WINDOWS[(USER, "end")])


def test_onset_and_offset_found_near_estimate():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([silence(1.0), speech(1.5), silence(1.0)]))
    assert abs(onset(tl, int(1.12 * RATE)) - RATE) <= RATE // 100
    assert abs(offset(tl, int(2.4 * RATE)) - int(2.5 * RATE)) <= RATE // 100


def test_short_pauses_inside_speech_do_not_end_it():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([silence(0.5), speech(0.4), silence(0.04), speech(0.4), silence(0.5)]))
    # A VAD stop estimate comes after the real end.
    assert abs(offset(tl, int(1.4 * RATE)) - int(1.34 * RATE)) <= RATE // 100
    # A late start estimate inside the utterance finds where it began.
    assert abs(onset(tl, int(1.0 * RATE)) - int(0.5 * RATE)) <= RATE // 100


def test_estimate_kept_when_there_is_no_edge_nearby():
    tl = Timeline(RATE)
    feed(tl, USER, silence(2.0))
    assert onset(tl, 12345) == 12345


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
    assert onset(tl, 100) == 100


def test_caller_speech_end_before_the_bot_and_overlap():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([silence(0.5), speech(1.0), silence(0.03), speech(0.2), silence(1.0)]))
    # The end of the caller's last speech before the bot's first sound at 2.5 s.
    assert abs(tl.speech_end_before(USER, int(2.5 * RATE)) - int(1.73 * RATE)) <= RATE // 100
    # The caller still sounding at that point: no gap to measure.
    assert tl.speech_end_before(USER, int(1.0 * RATE)) is None
    # Nothing said in the window.
    assert tl.speech_end_before(USER, int(0.4 * RATE)) is None


def test_voiced_blocks_count_sound_per_track():
    tl = Timeline(RATE)
    feed(tl, USER, np.concatenate([silence(0.5), speech(0.3)]))
    tl.tracks[BOT].pad(int(0.8 * RATE))
    assert abs(tl.tracks[USER].voiced_blocks - 30) <= 1
    assert tl.tracks[BOT].voiced_blocks == 0


def test_padding_after_a_partial_block_keeps_positions_and_levels():
    tl = Timeline(RATE)
    block = RATE // 100
    feed(tl, USER, speech(0.0, ) if False else speech(0.005))  # half a block of sound
    tl.tracks[USER].pad(RATE)  # a second of silence
    feed(tl, USER, speech(0.3, seed=2))
    assert tl.pos(USER) == int(0.005 * RATE) + RATE + int(0.3 * RATE)
    # The silence reads as silence, the later speech where it is.
    found = tl.first_voiced_at_or_after(USER, block)
    assert abs(found - (int(0.005 * RATE) + RATE)) <= block
