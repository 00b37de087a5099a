"""The issue-14 wire extensions: built, serialized in camelCase, None omitted, bad values refused."""

import pytest
from pydantic import ValidationError

from pipecat_roark.models import (
    CallCost,
    CallEnded,
    CallStarted,
    ComponentCost,
    Telephony,
    TimelineEvent,
    TurnCost,
    TurnTaking,
)


def test_telephony_on_call_started_and_call_ended():
    tel = Telephony(provider="twilio", call_id="CA1", from_number="+15550001111", carrier_sample_rate=8000)
    started = CallStarted(pipecat_call_id="c", event_timestamp="t", agent_id="a", telephony=tel).to_wire()
    assert started["telephony"] == {"provider": "twilio", "callId": "CA1", "fromNumber": "+15550001111",
                                    "carrierSampleRate": 8000}
    ended = CallEnded(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                      telephony=tel).to_wire()
    assert ended["telephony"]["provider"] == "twilio"
    with pytest.raises(ValidationError):
        Telephony(provider="twilio", carrier_sample_rate=0)
    with pytest.raises(ValidationError):
        Telephony(provider="twilio", direction="sideways")


def test_timeline_event():
    ev = TimelineEvent(kind="dtmf", name="dtmf", timestamp="t", audio_offset_ms=0, direction="inbound",
                       data={"digits": "1"})
    assert ev.to_wire() == {"kind": "dtmf", "name": "dtmf", "timestamp": "t", "audioOffsetMs": 0,
                            "direction": "inbound", "data": {"digits": "1"}}
    with pytest.raises(ValidationError):
        TimelineEvent(kind="dtmf", name="dtmf", timestamp="t", audio_offset_ms=-1)
    with pytest.raises(ValidationError):
        TimelineEvent(kind="other", name="x", timestamp="t")


def test_cost_models():
    c = CallCost(total_usd=0.5, complete=False, by_component={"llm": 0.5},
                 components=[ComponentCost(component="llm", model="gpt-4o", usd=0.5, source="table"),
                             ComponentCost(component="tts", model="x", status="unknown", source="why")],
                 unknown=["tts:x"], per_turn=[TurnCost(turn_index=0, usd=0.5)], prices_as_of="2025-06-30")
    wire = c.to_wire()
    assert wire["currency"] == "USD" and wire["totalUsd"] == 0.5 and wire["byComponent"] == {"llm": 0.5}
    assert wire["components"][1] == {"component": "tts", "model": "x", "status": "unknown", "source": "why"}
    assert wire["perTurn"] == [{"turnIndex": 0, "usd": 0.5, "complete": True}]
    with pytest.raises(ValidationError):
        ComponentCost(component="llm", usd=-1)
    with pytest.raises(ValidationError):
        ComponentCost(component="vad")


def test_turn_taking_model():
    tt = TurnTaking(turns={"user": 1, "assistant": 1}, interruptions={"caller": 0, "pipeline": 0, "total": 0},
                    overlap_ms=0, talk_time_ms={"user": 1, "assistant": 1}, talk_ratio=0.5,
                    longest_monologue_ms={"user": 1, "assistant": 1}, long_silence_threshold_ms=3000)
    assert tt.to_wire()["talkRatio"] == 0.5 and tt.to_wire()["longSilences"] == []
    with pytest.raises(ValidationError):
        TurnTaking(**{**tt.model_dump(), "talk_ratio": 1.5})


def test_end_status_is_one_of_the_documented_set():
    with pytest.raises(ValidationError):
        CallEnded(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                  call_ended_status="hangup")
    wire = CallEnded(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r").to_wire()
    for key in ("callEndedStatus", "callEndedBy", "lastSpeaker", "telephony", "events", "cost", "turnTaking"):
        assert key not in wire  # absent, not null, when not set
