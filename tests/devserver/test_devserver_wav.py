"""Pure tests of chunk stitching, the WAV header and waveform peaks."""

from __future__ import annotations

import io
import wave

import numpy as np

from pipecat_roark.devserver import wav


def test_stitch_orders_by_index_not_insertion():
    chunks = {2: b"cc", 0: b"aa", 1: b"bb"}
    data, problems = wav.stitch(chunks)
    assert data == b"aabbcc"
    assert problems == []


def test_stitch_reports_a_gap_and_keeps_what_is_there():
    data, problems = wav.stitch({0: b"aa", 3: b"dd", 1: b"bb"})
    assert data == b"aabbdd"
    assert len(problems) == 1
    assert "missing chunk index(es) 2" in problems[0]
    assert "only the chunks present, in index order" in problems[0]


def test_wav_header_is_read_back_by_the_stdlib():
    pcm = np.arange(-500, 500, dtype="<i2").tobytes()  # 500 stereo frames
    blob = wav.to_wav(pcm, 8000, 2)
    with wave.open(io.BytesIO(blob)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 8000, 500)
        assert w.readframes(500) == pcm


def test_odd_trailing_byte_is_dropped():
    blob = wav.to_wav(b"\x01\x02\x03", 16000, 1)
    with wave.open(io.BytesIO(blob)) as w:
        assert w.readframes(10) == b"\x01\x02"


def test_format_from_call_ended_or_assumed():
    assert wav.recording_format({"recordingSampleRate": 24000, "recordingNumChannels": 2}) == wav.RecordingFormat(24000, 2, False)
    assert wav.recording_format(None, 8000) == wav.RecordingFormat(8000, 2, True)
    assert wav.recording_format({"recordingSampleRate": "x", "recordingNumChannels": 2}).assumed


def test_peaks_follow_each_channel():
    frames = 16000
    left = np.zeros(frames, dtype=np.int16)
    right = np.zeros(frames, dtype=np.int16)
    left[:8000] = 16384  # caller loud in the first half
    right[8000:] = -32768  # bot at full scale in the second half
    pcm = np.column_stack([left, right]).astype("<i2").tobytes()
    caller, bot = wav.peaks(pcm, 2, buckets=4)
    assert caller == [0.5, 0.5, 0.0, 0.0]
    assert bot == [0.0, 0.0, 1.0, 1.0]


def test_peaks_of_short_or_empty_audio():
    assert wav.peaks(b"", 2) == [[], []]
    short = np.array([1000, -2000, 3000, 0], dtype="<i2").tobytes()  # 2 frames
    caller, bot = wav.peaks(short, 2, buckets=100)
    assert len(caller) == 2 and len(bot) == 2


def test_duration():
    assert wav.duration_ms(64000, 16000, 2) == 1000.0
