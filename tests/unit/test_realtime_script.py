"""The pure parts of the speech-to-speech fakes: server VAD, word placement, truth lookup."""

import numpy as np

from pipecat_roark.testing.realtime.script import RATE, EnergyVAD, Say, word_offsets, words_heard
from tests.s2s.truth import find_exact, place_response


def burst(ms: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(RATE * ms // 1000) * 3000).astype(np.int16)


def silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def test_vad_reports_onset_and_end_of_speech_at_their_samples():
    vad = EnergyVAD(silence_ms=500)
    audio = np.concatenate([silence(300), burst(400), silence(200), burst(300), silence(700)])
    events = []
    for k in range(0, len(audio), 480):  # 20 ms frames, as the transport sends them
        events += vad.feed(audio[k:k + 480])
    # One utterance: the 200 ms pause does not end it; the stop is reported at the last speech.
    assert events == [("start", 300 * 24), ("stop", 1200 * 24)]


def test_vad_needs_several_loud_windows_to_start():
    vad = EnergyVAD(start_windows=3)
    assert vad.feed(np.concatenate([silence(100), burst(20), silence(100)])) == []
    assert not vad.speaking


def test_words_are_placed_by_characters_over_the_speech():
    audio = np.concatenate([silence(100), burst(1000)])
    offsets = word_offsets(["ab", " cd", " 👋"], audio)
    start = 100 * 24
    assert offsets == [start, start + round(24000 * 2 / 5), start + round(24000 * 4 / 5)]
    assert words_heard(["ab", " cd", " 👋"], offsets, start + 1) == "ab"
    assert words_heard(["ab", " cd", " 👋"], offsets, len(audio)) == "ab cd 👋"


def test_say_concatenates_its_clips_at_24khz():
    say = Say(("Bonjour", " !"), ("bot_greeting", "bot_goodbye"))
    assert say.text == "Bonjour !"
    assert abs(len(say.audio()) / RATE - (1.727 + 1.325)) < 0.01


def test_a_response_is_found_verbatim_even_after_an_underrun_gap():
    audio = burst(500, seed=3)
    channel = np.concatenate([silence(200), audio[:4800], silence(40), audio[4800:], silence(300)])
    placed = place_response(channel, audio, 0)
    assert placed is not None and placed.start == 200 * 24
    assert placed.played == len(audio) + 40 * 24
    # A cut one: only what is there.
    cut = np.concatenate([silence(200), audio[:7200], silence(300)])
    assert place_response(cut, audio, 0).played == 7200
    assert find_exact(cut, audio[2400:4800]) == 200 * 24 + 2400
