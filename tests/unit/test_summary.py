"""Call-level figures (pure)."""

from pipecat_roark.summary import (
    assess_recording, latency_summary, percentile, recording_health, silence_ms, talk_and_silence, talk_time,
    tool_counts, union_ms,
)


def test_latency_summary_nearest_rank():
    assert latency_summary([]).to_wire() == {"count": 0}
    assert latency_summary([None, 800]).to_wire() == {"count": 1, "medianMs": 800, "p95Ms": 800, "maxMs": 800}
    values = list(range(100, 2100, 100))  # 20 values
    s = latency_summary(values)
    assert s.median_ms == 1050 and s.to_wire() == {"count": 20, "medianMs": 1050, "p95Ms": 1900, "maxMs": 2000}
    assert percentile([3, 1, 2], 50) == 2


def test_talk_time_and_silence():
    assert union_ms([(0, 10), (5, 15), (20, 30), (30, 30)]) == 25
    out = talk_and_silence([("user", 1000, 3000), ("assistant", 2500, 4000), ("user", 5000, 6000)], 10_000)
    assert out == {"talkTimeMs": {"user": 3000, "assistant": 1500}, "silenceMs": 6000}
    assert "silenceMs" not in talk_and_silence([], None)
    assert talk_time([("user", 0, 10), ("user", 5, 15)]).user == 15 and silence_ms([], None) is None


def health(**kw):
    args = dict(capture_audio=True, recorder_present=True,
                capture={"rate": 16000, "samples": 160_000, "sound_ms": [3000, 4000]},
                chunks_produced=4, chunks_delivered=4, chunks_lost=0, call_ms=10_100, bot_spoke=True, user_spoke=True)
    args.update(kw)
    return recording_health(**args)


def test_recording_health_statuses():
    status, h = health()
    assert status == "ok" and "warnings" not in h
    assert h["channels"] == {"caller": {"soundMs": 3000, "sound": True}, "bot": {"soundMs": 4000, "sound": True}}
    assert (h["recordedMs"], h["callMs"]) == (10_000, 10_100)
    status, h = health(capture={"rate": 16000, "samples": 160_000, "sound_ms": [3000, 0]})
    assert status == "degraded" and "transport.output()" in h["warnings"][0]
    assert health(chunks_delivered=3, chunks_lost=1)[0] == "partial"
    assert health(chunks_delivered=0, chunks_lost=4)[0] == "lost"
    assert health(capture={"rate": 16000, "samples": 0})[0] == "empty"
    assert health(capture_audio=False)[0] == "off"
    assert health(recorder_present=False)[0] == "off"
    status, h = health(call_ms=20_000)
    assert status == "degraded" and "shorter than the call" in h["warnings"][0]


def test_tool_counts():
    assert tool_counts(["completed", "failed", "timed_out", "timed_out", "odd"]).to_wire() == {
        "total": 5, "completed": 1, "failed": 1, "cancelled": 0, "timedOut": 2, "noResult": 0}


def test_assess_recording_gives_the_model_and_recording_health_its_wire_dict():
    args = dict(capture_audio=True, recorder_present=True, capture={"rate": 8000, "samples": 8000, "sound_ms": [0, 0]},
                chunks_produced=1, chunks_delivered=1, chunks_lost=0, call_ms=1000, bot_spoke=False, user_spoke=True)
    status, model = assess_recording(**args)
    assert status == "degraded" and model.channels.caller.sound is False and model.recorded_ms == 1000
    assert recording_health(**args) == (status, model.to_wire())
    assert model.to_wire()["channels"]["caller"] == {"soundMs": 0, "sound": False}
