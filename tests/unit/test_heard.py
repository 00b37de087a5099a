"""heard.py: the speaking rate, the words heard of a cut reply, utterances joined in one response (pure)."""

import numpy as np

from pipecat_roark.call import Call
from pipecat_roark.heard import Delta, ServiceOutput, heard_count, speech_secs, starts_utterance

RATE = 24000


def pcm(*parts):
    """16-bit PCM from (seconds, peak) parts: a square wave at that peak, or silence for 0."""
    out = []
    for secs, peak in parts:
        n = int(round(secs * RATE))
        out.append(np.where(np.arange(n) % 2, peak, -peak).astype("<i2") if peak else np.zeros(n, "<i2"))
    return np.concatenate(out).tobytes()


def test_speech_secs_counts_loud_blocks_only():
    assert speech_secs(pcm((0.3, 0), (0.5, 3000), (0.2, 0)), RATE) == 0.5
    assert speech_secs(pcm((1.0, 100)), RATE) == 0.0  # under the speech level
    assert speech_secs(pcm((0.1, -32768 + 1), (0.1, 0)), RATE) == 0.1
    # A partial block at the end counts by its length.
    assert abs(speech_secs(pcm((0.105, 3000)), RATE) - 0.105) < 1e-9
    assert speech_secs(b"", RATE) == 0.0


def out_with(*responses):
    """A ServiceOutput fed (text deltas, seconds of speech, seconds of silence) per response."""
    out, fid = ServiceOutput(), 0
    for deltas, voiced, quiet in responses:
        out.response_started()
        for d in deltas:
            fid += 1
            out.text(fid, d)
        out.audio(pcm((voiced, 3000), (quiet, 0)), RATE)
    return out


def test_speaking_rate_is_measured_on_the_responses_before_and_skips_cut_ones():
    out = out_with((["Bonjour", " !"], 0.4, 2.0), (["Quel", " numéro", " ?"], 0.5, 0.1), (["Commande", " expédiée."], 0.3, 0))
    # 8 + 11 characters over 0.9 s of speech; the silence in the stream does not count.
    assert abs(out.speaking_rate(2) - 19 / 0.9) < 1e-9
    out.response(1).cut = True
    assert abs(out.speaking_rate(2) - 8 / 0.4) < 1e-9
    # Nothing uncut before it: the response's own ratio.
    assert abs(out.speaking_rate(0) - 8 / 0.4) < 1e-9
    assert ServiceOutput().speaking_rate(0) is None


def test_audio_before_any_text_is_not_counted():
    out = ServiceOutput()
    out.audio(pcm((1.0, 3000)), RATE)
    out.text(1, "Hi")
    assert out.response(0).audio_secs == 0.0


def test_heard_count_spreads_words_by_length_over_speech():
    deltas = [Delta(0, 0), Delta(0, 8), Delta(0, 24)]
    assert heard_count(deltas, 0.5, 20.0) == 2  # budget 10 characters: the third starts at 24
    assert heard_count(deltas, 0.3, 20.0) == 1
    assert heard_count(deltas, 2.0, 20.0) == 3
    assert heard_count(deltas, 0.0, 20.0) == 0
    assert heard_count(deltas, 1.0, None) is None


def test_starts_utterance():
    assert starts_utterance("Un instant… 🔎", "Commande")
    assert starts_utterance("c'est fait.", "Merci")
    assert starts_utterance("ready?", "Yes")
    assert not starts_utterance("Com", "mande")  # a fragment inside a word
    assert not starts_utterance("🔎", " Commande")  # the text carries its space
    assert not starts_utterance("bye!", "ok")
    assert not starts_utterance("U.S.", "A.")  # an abbreviation
    assert not starts_utterance("", "Hi")


def test_two_utterances_in_one_response_are_separated_but_fragments_are_not():
    c = Call("c1")
    c.start(0, 1_800_000_000.0)
    c.bot_started(1)
    for i, text in enumerate(["Un", " instant…", " 🔎", "Commande", " quatre-deux-", "sept"]):
        c.bot_text(2 + i, text, spaced=True, mark=(Delta(0, i), 0))
    assert c.speaking.content == "Un instant… 🔎 Commande quatre-deux-sept"
    # Without a service's mark (a cascaded bot's TTS words), Pipecat's rule alone.
    c2 = Call("c2")
    c2.start(0, 1_800_000_000.0)
    c2.bot_started(1)
    c2.bot_text(2, "🔎", spaced=True)
    c2.bot_text(3, "Commande", spaced=True)
    assert c2.speaking.content == "🔎Commande"
