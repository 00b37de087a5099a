"""Edges resolved on the recording: every rule with its hint early, exact and late."""

import numpy as np
import pytest

from pipecat_roark.edges import BACK, FORWARD, NEAR, EdgeResolver, Hint, caller_over_bot
from pipecat_roark.timeline import BOT, USER, Timeline

RATE = 16000
TOL = RATE // 100  # 10 ms


def speech(seconds, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * RATE)) * 2000).clip(-32000, 32000).astype(np.int16)


def silence(seconds):
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def timeline(user_parts, bot_parts=None):
    """Tracks built from (kind, secs) parts, fed in 20 ms frames."""
    tl = Timeline(RATE)
    for track, parts in ((USER, user_parts), (BOT, bot_parts or [("s", sum(p[1] for p in user_parts))])):
        sig = np.concatenate([speech(secs, i) if kind == "v" else silence(secs) for i, (kind, secs) in enumerate(parts)])
        for i in range(0, len(sig), 320):
            tl.tracks[track].append(sig[i : i + 320])
    return tl


def at(secs):
    return int(secs * RATE)


def resolve(tl, side, edge, est_secs, prefer=FORWARD, owned_secs=0.0):
    r = EdgeResolver(tl)
    r.owned[side] = at(owned_secs)
    hint = Hint(side=side, edge=edge, t_ns=0, head=at(est_secs), est=at(est_secs), prefer=prefer)
    r.add(hint)
    [(got, pos)] = r.poll(final=True)
    assert got is hint
    return pos


# A barge-in: the caller spoke 0.5-1.5 s (an earlier turn owns that), and
# speaks again from 5.0 s while the bot talks. Hints from a turn strategy
# without VAD frames can come a frame early, exactly with the sound, or late.
BARGE_IN = [("s", 0.5), ("v", 1.0), ("s", 3.5), ("v", 1.5), ("s", 1.0)]


@pytest.mark.parametrize("hint", [4.98, 5.0, 5.02, 5.3])
def test_user_start_forward_hint_early_exact_late_finds_the_new_utterance(hint):
    tl = timeline(BARGE_IN)
    assert abs(resolve(tl, USER, "start", hint, FORWARD, owned_secs=1.5) - at(5.0)) <= TOL


def test_user_start_never_reaches_into_sound_an_earlier_turn_owns():
    # The old rule looked back from a hint that came with the sound and
    # found the previous utterance; owned sound is out of reach.
    tl = timeline(BARGE_IN)
    assert resolve(tl, USER, "start", 4.99, BACK, owned_secs=1.5) >= at(4.99)


@pytest.mark.parametrize("hint", [2.6, 3.0, 3.3])
def test_user_start_ruled_after_the_words_finds_them_even_with_the_caller_speaking_again(hint):
    # STT-ruled: the final came after the utterance (1.0-2.5 s); the caller
    # goes on at 3.4 s (back to back). The turn began where its words did.
    tl = timeline([("s", 1.0), ("v", 1.5), ("s", 0.9), ("v", 1.0), ("s", 1.0)])
    assert abs(resolve(tl, USER, "start", hint, BACK) - at(1.0)) <= TOL


@pytest.mark.parametrize("hint", [0.9, 1.0, 1.1, 1.6])
def test_user_start_near_hint_snaps_to_the_sound(hint):
    # VAD frames corrected by start_secs: close to the sound either way;
    # a lagging server VAD (100-500 ms) falls inside the utterance.
    tl = timeline([("s", 1.0), ("v", 1.5), ("s", 1.0)])
    assert abs(resolve(tl, USER, "start", hint, NEAR) - at(1.0)) <= TOL


def test_user_start_kept_when_there_is_no_sound_near():
    tl = timeline([("s", 3.0)])
    assert resolve(tl, USER, "start", 1.0, FORWARD) == at(1.0)
    assert resolve(tl, USER, "start", 1.0, NEAR) == at(1.0)


@pytest.mark.parametrize("hint", [2.3, 2.5, 2.7, 3.3, 5.0])
def test_user_end_early_exact_late(hint):
    # Early: a stop ruled inside the last word; late: VAD stop_secs or an STT ruling.
    tl = timeline([("s", 1.0), ("v", 1.5), ("s", 4.0)])
    assert abs(resolve(tl, USER, "end", hint, owned_secs=1.0) - at(2.5)) <= TOL


def test_user_end_bridges_pauses_between_words():
    tl = timeline([("s", 1.0), ("v", 0.6), ("s", 0.12), ("v", 0.5), ("s", 2.0)])
    assert abs(resolve(tl, USER, "end", 3.0, owned_secs=1.0) - at(2.22)) <= TOL


@pytest.mark.parametrize("hint", [1.7, 2.0, 2.25])
def test_bot_start_early_exact_late(hint):
    # The transport reports speaking as it writes the first frame; the TTS may
    # put silence first (hint early) or the report may trail the audio.
    bot = [("s", 2.0), ("v", 2.0), ("s", 1.0)]
    tl = timeline([("s", 5.0)], bot)
    assert abs(resolve(tl, BOT, "start", hint) - at(2.0)) <= TOL


@pytest.mark.parametrize("hint", [3.7, 4.0, 4.35, 4.9])
def test_bot_end_early_exact_late(hint):
    # Late: "stopped" waits for silence; early: on an interruption the last
    # frames written reach the recorder after the frame.
    bot = [("s", 2.0), ("v", 2.0), ("s", 2.0)]
    tl = timeline([("s", 6.0)], bot)
    assert abs(resolve(tl, BOT, "end", hint, owned_secs=2.0) - at(4.0)) <= TOL


def test_resolver_waits_for_the_audio_after_the_hint_and_keeps_each_sides_order():
    tl = Timeline(RATE)
    r = EdgeResolver(tl)
    # First turn 0.5-1.5 s; its stop hint comes late, the next start exactly with the sound at 2.0 s.
    sig = np.concatenate([silence(0.5), speech(1.0), silence(0.5), speech(1.0, 1), silence(1.0)])
    frames = [sig[i : i + 320] for i in range(0, len(sig), 320)]
    hints = {at(0.5): Hint(USER, "start", 0, at(0.5), at(0.5), NEAR, "t1"),
             at(1.9): Hint(USER, "end", 0, at(1.9), at(1.9), target="t1"),
             at(2.0): Hint(USER, "start", 0, at(2.0), at(2.0), FORWARD, "t2")}
    got = []
    for f in frames:
        pos = tl.tracks[USER].pos
        if pos in hints:
            r.add(hints[pos])  # the hint passes before its frame's audio is recorded
        tl.tracks[USER].append(f)
        tl.tracks[BOT].append(np.zeros_like(f))
        if r.due():
            for hint, p in r.poll():
                assert tl.tracks[USER].pos >= hint.due(RATE), "resolved only once the audio after it is recorded"
                got.append((hint.target, hint.edge, p))
    got += [(h.target, h.edge, p) for h, p in r.poll(final=True)]
    assert [(t, e) for t, e, _ in got] == [("t1", "start"), ("t1", "end"), ("t2", "start")]
    assert [abs(p - at(s)) <= TOL for (_, _, p), s in zip(got, (0.5, 1.5, 2.0))] == [True] * 3


def test_preference_can_change_until_resolution():
    tl = timeline([("s", 1.0), ("v", 1.5), ("s", 0.9), ("v", 1.0), ("s", 1.0)])
    r = EdgeResolver(tl)
    words_first = []
    r.add(Hint(USER, "start", 0, at(3.2), at(3.2), FORWARD, prefer_fn=lambda: BACK if words_first else None))
    words_first.append(True)  # the transcript arrived before the ruling, the observer learns it later
    [(_, pos)] = r.poll(final=True)
    assert abs(pos - at(1.0)) <= TOL


# Barge-ins read off the recording (no InterruptionFrame in the call).
BOT_SPEECH = [("s", 1.0), ("v", 3.0), ("s", 2.0)]  # the bot talks 1.0-4.0 s


def test_caller_over_the_bot_then_the_bot_stopping_is_a_barge_in():
    tl = timeline([("s", 3.4), ("v", 1.0), ("s", 1.6)], BOT_SPEECH)  # caller from 3.4 s, bot stops at 4.0
    assert abs(caller_over_bot(tl, at(1.0), at(4.0)) - at(3.4)) <= TOL


def test_a_backchannel_the_bot_talks_on_over_is_not_one():
    tl = timeline([("s", 2.0), ("v", 0.3), ("s", 3.7)], BOT_SPEECH)  # "mhm" at 2.0-2.3 s, bot goes on to 4.0
    assert caller_over_bot(tl, at(1.0), at(4.0)) is None


def test_a_caller_already_speaking_when_the_bot_began_is_not_cut_in_on():
    tl = timeline([("s", 0.5), ("v", 1.0), ("s", 4.5)], BOT_SPEECH)  # overlap at the bot's start only
    assert caller_over_bot(tl, at(1.0), at(4.0)) is None
