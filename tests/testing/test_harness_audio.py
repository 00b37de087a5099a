"""Shipped clips and the caller timeline (no pipeline needed)."""

from importlib import resources

import numpy as np
import pytest

from pipecat_roark.testing import CallerTimeline, clip_names, load_clip
from pipecat_roark.testing.audio import normalize_text, resample, speech_bounds


def test_clips_are_16k_mono_trimmed_and_small():
    clip_dir = resources.files("pipecat_roark.testing").joinpath("clips")
    total = sum(p.stat().st_size for p in clip_dir.iterdir() if p.name.endswith(".wav"))
    assert total < 900_000
    names = clip_names()
    assert {"caller_hello", "caller_order_status", "caller_order_number",
            "caller_change_address", "caller_thanks"} <= set(names)
    for name in names:
        clip = load_clip(name)
        assert clip.sample_rate == 16000
        assert clip.samples.dtype == np.int16 and clip.samples.ndim == 1
        assert clip.text
        # Trimmed: speech starts and ends within 10 ms of the clip's edges.
        assert clip.speech_start <= 160
        assert clip.num_samples - clip.speech_end <= 160
        assert 0.3 < clip.duration_secs < 4.0


def test_bare_caller_name_and_unknown_clip():
    assert load_clip("hello") is load_clip("caller_hello")
    with pytest.raises(KeyError):
        load_clip("caller_nope")


def test_timeline_places_clips_and_reports_ground_truth():
    hello, thanks = load_clip("hello"), load_clip("thanks")
    tl = CallerTimeline([(100, "hello"), (1000, thanks)], duration_ms=3000)
    assert tl.num_samples == 48000
    spans = tl.speech_spans
    assert [s.clip for s in spans] == ["caller_hello", "caller_thanks"]
    assert spans[0].start_sample == 1600 + hello.speech_start
    assert spans[0].end_sample == 1600 + hello.speech_end
    assert spans[1].start_sample == 16000 + thanks.speech_start
    assert spans[1].start_secs == pytest.approx(1.0, abs=0.011)
    # The stream holds exactly the clips, over digital silence.
    s = tl.samples
    assert np.array_equal(s[1600 : 1600 + hello.num_samples], hello.samples)
    assert not s[:1600].any() and not s[1600 + hello.num_samples : 16000].any()
    # Rendering in frames reproduces the stream and continues past its end.
    frames = np.concatenate([tl.render(i, 320) for i in range(0, 48000 + 3200, 320)])
    assert np.array_equal(frames[:48000], s)
    assert not frames[48000:].any()
    assert speech_bounds(s) == (spans[0].start_sample, spans[1].end_sample)


def test_timeline_default_duration_noise_and_validation():
    tl = CallerTimeline([(0, "hello")])
    assert tl.duration_secs == pytest.approx(load_clip("hello").duration_secs + 1.0, abs=0.01)
    noisy = CallerTimeline([(500, "hello")], duration_ms=2000, noise_dbfs=-60, seed=1)
    rms = np.sqrt(np.mean(noisy.samples[:4000].astype(np.float64) ** 2))
    assert 20 < rms < 45  # -60 dBFS is ~33 in int16 units
    tail = noisy.render(noisy.num_samples + 100, 3200)
    assert 20 < np.sqrt(np.mean(tail.astype(np.float64) ** 2)) < 45
    with pytest.raises(ValueError):
        CallerTimeline([(0, "order_status")], duration_ms=500)
    with pytest.raises(ValueError):
        CallerTimeline([(-5, "hello")])


def test_resample_and_normalize():
    x = (np.sin(np.arange(1600) / 5) * 10000).astype(np.int16)
    y = resample(x, 16000, 24000)
    assert len(y) == 2400 and y.dtype == np.int16
    assert resample(x, 16000, 16000) is not None
    assert normalize_text("Sure, what’s the ORDER number?") == "sure what's the order number"
