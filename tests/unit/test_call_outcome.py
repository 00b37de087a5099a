"""call_outcome.py: the payload's last look (turn-taking, interruption cause, last speaker, event offsets)."""

from types import SimpleNamespace

from pipecat_roark.call import Call
from pipecat_roark.call_outcome import CallOutcomeExtension, processors_before, transcript_spans


def turn(role, a, b, **kw):
    return {"role": role, "content": "x", "timestamp": f"2025-05-01T10:00:{a / 1000:06.3f}Z",
            "endTimestamp": f"2025-05-01T10:00:{b / 1000:06.3f}Z", "audioOffsetMs": a, "endAudioOffsetMs": b, **kw}


def payload(turns, anchored=True):
    p = {"callStartedAt": "2025-05-01T10:00:00.000Z", "callEndedAt": "2025-05-01T10:00:20.000Z",
         "recordingStartedAt": "2025-05-01T10:00:00.000Z", "transcript": turns,
         "events": [{"kind": "user", "name": "x", "timestamp": "t", "audioOffsetMs": 1200}]}
    if anchored:
        p["recordingSampleRate"] = 16000
    return p


def ext():
    call = Call("c")
    return CallOutcomeExtension(SimpleNamespace(call=call, ended=False, position_at=lambda t: None),
                                now=lambda: None)


def test_interruption_cause_caller_and_pipeline_turn_taking_and_last_speaker():
    turns = [
        turn("assistant", 0, 3000, interrupted=True),  # cut while the caller was silent
        turn("user", 3500, 5000),
        turn("assistant", 5500, 9000, interrupted=True),  # the caller spoke over it from 8.2 s
        turn("user", 8200, 10000),
        turn("assistant", 10500, 12000),
    ]
    out = ext().finish_payload(payload(turns))
    assert [t.get("interruptionCause") for t in out["transcript"]] == ["pipeline", None, "caller", None, None]
    tt = out["turnTaking"]
    assert tt["interruptions"] == {"caller": 1, "pipeline": 1, "total": 2}
    assert tt["overlapMs"] == 800
    assert tt["longSilences"] == [{"startMs": 12000, "endMs": 20000, "durationMs": 8000, "expected": "user"}]
    assert out["lastSpeaker"] == "bot"
    assert out["events"][0]["audioOffsetMs"] == 1200


def test_without_the_recording_offsets_go_and_wall_clock_times_serve():
    turns = [turn("user", 1000, 2000), turn("assistant", 2500, 4000)]
    for t in turns:
        del t["audioOffsetMs"], t["endAudioOffsetMs"]
    p = payload(turns, anchored=False)
    spans, start, end = transcript_spans(p)
    assert [(s.role, s.start_ms, s.end_ms) for s in spans] == [("user", 1000, 2000), ("assistant", 2500, 4000)]
    assert (start, end) == (0.0, 20000)
    out = ext().finish_payload(p)
    assert "audioOffsetMs" not in out["events"][0]  # the recording did not reach Roark
    assert out["lastSpeaker"] == "bot" and out["turnTaking"]["talkTimeMs"] == {"user": 1000, "assistant": 1500}


def test_no_turns_no_figures():
    out = ext().finish_payload({"callEndedAt": "2025-05-01T10:00:20.000Z"})
    assert "turnTaking" not in out and "lastSpeaker" not in out and "cost" not in out


def test_processors_before_walks_back_from_the_recorder():
    a = SimpleNamespace(_prev=None)
    b = SimpleNamespace(_prev=a)
    c = SimpleNamespace(_prev=b)
    assert processors_before(c) == [c, b, a]
    a._prev = c  # a loop never hangs
    assert processors_before(c) == [c, b, a]


def test_a_disabled_observer_still_answers_bad_events_and_statuses(monkeypatch):
    import pytest

    from pipecat_roark import RoarkObserver

    monkeypatch.setenv("ROARK_OBSERVABILITY_ENABLED", "false")
    roark = RoarkObserver(agent_id="a", api_key="k")
    assert roark.event_nowait("fine", {"a": 1}) is False
    with pytest.raises(ValueError, match="non-empty string"):
        roark.event_nowait("  ")
    with pytest.raises(ValueError, match="not one of"):
        RoarkObserver(agent_id="a", api_key="k", end_status="gone")
