"""Turn-taking figures (pure)."""

import pytest

from pipecat_roark.analytics import Span, interruption_cause, longest_monologues, turn_taking
from pipecat_roark.models import CallEnded, Turn


def U(a, b):
    return Span("user", a, b)


def A(a, b, interrupted=False, cause=None):
    return Span("assistant", a, b, interrupted, cause)


def test_interruption_causes():
    barge = A(1000, 3000, interrupted=True)
    assert interruption_cause(barge, [barge, U(2500, 4000)]) == "caller"  # caller spoke over the bot
    cut = A(5000, 6000, interrupted=True)
    assert interruption_cause(cut, [cut, U(6200, 7000)]) == "pipeline"  # caller started after it stopped
    assert interruption_cause(cut, [cut, U(4000, 5000)]) == "pipeline"  # ended exactly as the bot began
    assert interruption_cause(A(0, 1, interrupted=False), []) is None
    assert interruption_cause(U(0, 1), []) is None
    # The call owner's own ruling wins (e.g. measured on the recording).
    assert interruption_cause(A(0, 1000, True, cause="caller"), []) == "caller"


def test_a_call_in_figures():
    turns = [
        A(0, 2000),  # greeting
        U(2500, 4000),
        A(4600, 9000, interrupted=True),  # the caller barges in at 8000
        U(8000, 10_000),
        A(10_500, 11_000, interrupted=True),  # cut by the pipeline, caller silent
        A(11_200, 13_000),
        U(17_500, 18_000),  # 4.5 s of silence after the bot: the caller was expected
    ]
    tt = turn_taking(turns, call_start_ms=0, call_end_ms=22_000)
    assert tt.turns == {"user": 3, "assistant": 4}
    assert tt.interruptions == {"caller": 1, "pipeline": 1, "total": 2}
    assert tt.overlap_ms == 1000
    assert tt.talk_time_ms == {"user": 4000, "assistant": 8700}
    assert tt.talk_ratio == pytest.approx(8700 / 12_700, abs=1e-3)
    # Bot: 4600 -> 9000 is its longest stretch (10 500 -> 13 000, two turns 200 ms apart, is 2500).
    assert tt.longest_monologue_ms == {"user": 2000, "assistant": 4400}
    assert tt.long_silences == [
        {"startMs": 13_000, "endMs": 17_500, "durationMs": 4500, "expected": "user"},
        {"startMs": 18_000, "endMs": 22_000, "durationMs": 4000, "expected": "assistant"},  # the bot went quiet
    ]
    wire = CallEnded(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                     turn_taking=tt).to_wire()["turnTaking"]
    assert wire["overlapMs"] == 1000 and wire["longSilenceThresholdMs"] == 3000
    assert wire["longestMonologueMs"] == {"user": 2000, "assistant": 4400}


def test_silence_threshold_and_the_leading_silence():
    turns = [U(4000, 5000), A(6500, 8000)]
    tt = turn_taking(turns, call_start_ms=0, silence_ms=1000)
    assert tt.long_silences == [
        {"startMs": 0, "endMs": 4000, "durationMs": 4000, "expected": "assistant"},
        {"startMs": 5000, "endMs": 6500, "durationMs": 1500, "expected": "assistant"},
    ]
    assert turn_taking(turns).long_silences == []  # 1.5 s < 3 s, no call bounds given


def test_monologues_split_on_a_long_pause_or_the_other_side():
    assert longest_monologues([A(0, 1000), A(1500, 3000), A(9000, 9500)], silence_ms=3000) == {
        "user": 0, "assistant": 3000}
    assert longest_monologues([A(0, 1000), U(1100, 1200), A(1300, 3000)]) == {"user": 100, "assistant": 1700}


def test_no_turns():
    tt = turn_taking([])
    assert tt.turns == {"user": 0, "assistant": 0} and tt.talk_ratio is None and tt.overlap_ms == 0
    assert tt.long_silences == []


def test_the_cause_goes_on_the_turn():
    t = Turn(role="assistant", content="x", timestamp="t", end_timestamp="t", interrupted=True,
             interruption_cause="pipeline")
    assert t.to_wire()["interruptionCause"] == "pipeline"
