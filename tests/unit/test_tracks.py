"""The recorder's two-track alignment, fed frames by hand (no pipeline)."""

import numpy as np

from pipecat_roark.tracks import Tracks as _Tracks

RATE = 24000


def frame(ms, rate=RATE, amp=0):
    n = rate * ms // 1000
    return (np.full(n, amp, dtype="<i2")).tobytes()


def test_both_sides_continuous_record_real_time_not_double():
    tracks = _Tracks(RATE, store=True, chunk_bytes=256 * 1024)
    now = 0.0
    for _ in range(500):  # 10 s of caller (16 kHz) and bot (24 kHz) audio, 20 ms frames
        now += 0.02
        tracks.append_input(0, frame(20, 16000), 16000, now)
        tracks.append_input(1, frame(20), RATE, now)
    for t in (0, 1):
        tracks.flush_pending(t, last=True)
    assert abs(tracks.timeline.now - 10 * RATE) <= RATE // 50


def test_silent_bot_is_padded_and_speaking_bot_is_not():
    tracks = _Tracks(RATE, store=True, chunk_bytes=256 * 1024)
    for i in range(50):  # 1 s of caller audio, bot silent
        tracks.append_input(0, frame(20), RATE, i * 0.02)
    assert tracks.timeline.pos(1) >= RATE - RATE // 50  # padded along
    tracks.speaking[1] = True
    before = tracks.timeline.pos(1)
    for i in range(50, 60):
        tracks.append_input(0, frame(20), RATE, i * 0.02)
    assert tracks.timeline.pos(1) == before  # no silence inside the bot's speech


def test_a_pause_in_the_stream_becomes_silence():
    tracks = _Tracks(RATE, store=True, chunk_bytes=256 * 1024)
    tracks.append_input(0, frame(20), RATE, 0.0)
    tracks.append_input(0, frame(20), RATE, 1.02)  # nothing for a second
    # Frames cover [-0.02, 0] and [1.00, 1.02]: 1.04 s in all.
    assert abs(tracks.timeline.pos(0) - int(1.04 * RATE)) <= RATE // 100


def test_tail_is_one_chunk_and_chunks_are_stereo_interleaved():
    tracks = _Tracks(RATE, store=True, chunk_bytes=4 * 1000)  # 1000-sample chunks
    tracks.speaking[1] = True  # keep the bot track exactly as written
    for i in range(3):
        tracks.append_input(0, frame(50, amp=1), RATE, i * 0.05)  # 1200 samples each
        tracks.append_input(1, frame(50, amp=2), RATE, i * 0.05)
    chunks = tracks.take_chunks() + tracks.take_chunks(final=True)
    stereo = np.frombuffer(b"".join(c[0] for c in chunks), dtype="<i2").reshape(-1, 2)
    assert (stereo[:, 0] == 1).all() and (stereo[:, 1] == 2).all()
    assert len(stereo) == 3600 and len(chunks[-1][0]) // 4 <= 2000


def test_a_speaking_flag_without_audio_does_not_freeze_the_other_track():
    tracks = _Tracks(RATE, store=True, chunk_bytes=256 * 1024)
    tracks.append_input(1, frame(20), RATE, 0.0)
    tracks.speaking[1] = True  # the bot's "stopped" frame never comes
    for i in range(1, 151):  # 3 s of caller audio
        tracks.append_input(0, frame(20), RATE, i * 0.02)
    # Padded along once the bot had been quiet for a second.
    assert tracks.timeline.pos(1) >= int(2.9 * RATE)
