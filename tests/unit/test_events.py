"""DTMF and user timeline events (pure; real Pipecat DTMF frames, and a real Twilio dtmf message)."""

import json

import pytest
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import InputDTMFFrame, OutputDTMFFrame, TextFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from pipecat_roark.events import (
    MAX_DATA_CHARS,
    EventLog,
    dtmf_digits,
    dtmf_event,
    dtmf_frame_classes,
    user_event,
)
from pipecat_roark.models import CallEnded
from pipecat_roark.redaction import Redactor

T = "2026-01-01T00:00:01.000Z"


def test_the_dtmf_classes_of_this_pipecat_are_found():
    names = {c.__name__ for c in dtmf_frame_classes()}
    assert {"InputDTMFFrame", "OutputDTMFFrame", "OutputDTMFUrgentFrame"} <= names


def test_an_inbound_keypress():
    ev = dtmf_event(InputDTMFFrame(KeypadEntry.FIVE), timestamp=T, audio_offset_ms=1234)
    assert ev.to_wire() == {"kind": "dtmf", "name": "dtmf", "direction": "inbound", "data": {"digits": "5"},
                            "timestamp": T, "audioOffsetMs": 1234}


def test_an_outbound_keypress_on_either_version():
    ev = dtmf_event(OutputDTMFFrame(button=KeypadEntry.POUND), timestamp=T)
    assert (ev.direction, ev.data, ev.audio_offset_ms) == ("outbound", {"digits": "#"}, None)
    if hasattr(OutputDTMFFrame, "from_string"):  # 1.x: several buttons in one frame
        assert dtmf_digits(OutputDTMFFrame.from_string("12*#")) == "12*#"


async def test_a_dtmf_message_from_the_carrier_becomes_an_inbound_event():
    s = TwilioFrameSerializer(stream_sid="MZ0", call_sid="CA0", account_sid="AC0", auth_token="placeholder")
    frame = await s.deserialize(json.dumps({"event": "dtmf", "streamSid": "MZ0",
                                            "dtmf": {"track": "inbound_track", "digit": "7"}}))
    assert dtmf_event(frame, timestamp=T, audio_offset_ms=5).data == {"digits": "7"}


def test_other_frames_are_not_events():
    assert dtmf_event(TextFrame(text="5"), timestamp=T) is None
    assert dtmf_event(object(), timestamp=T) is None


def test_a_user_event():
    ev = user_event("transfer", {"to": "billing", "attempt": 2, "at": object}, timestamp=T, audio_offset_ms=9000)
    wire = ev.to_wire()
    assert wire["kind"] == "user" and wire["name"] == "transfer" and wire["audioOffsetMs"] == 9000
    assert wire["data"]["to"] == "billing" and wire["data"]["attempt"] == 2
    assert isinstance(wire["data"]["at"], str)  # not JSON: sent as text
    assert user_event("guardrail", timestamp=T).data is None
    assert user_event("x", {"v": float("nan")}, timestamp=T).data == {"v": None}
    assert user_event("x", {}, timestamp=T, audio_offset_ms=-5).audio_offset_ms == 0


@pytest.mark.parametrize("name, data, error, match", [
    ("", None, ValueError, "name must be a non-empty string"),
    (None, None, ValueError, "name must be a non-empty string"),
    ("x", ["a"], TypeError, "data must be a dict"),
    ("x", {"blob": "a" * (MAX_DATA_CHARS + 1)}, ValueError, f"keep it under {MAX_DATA_CHARS}"),
])
def test_bad_user_events_are_refused_with_the_fix(name, data, error, match):
    with pytest.raises(error, match=match):
        user_event(name, data, timestamp=T)


def test_the_log_is_bounded_and_in_time_order():
    log = EventLog(max_events=3)
    assert log.to_wire() is None
    log.add(user_event("b", timestamp=T, audio_offset_ms=300))
    log.add(dtmf_event(InputDTMFFrame(KeypadEntry.ONE), timestamp=T, audio_offset_ms=100))
    log.add(user_event("c", timestamp=T, audio_offset_ms=300))
    assert not log.add(user_event("d", timestamp=T, audio_offset_ms=50))
    assert not log.add(None)
    assert log.dropped == 1 and len(log) == 3
    assert [e["name"] for e in log.to_wire()] == ["dtmf", "b", "c"]
    wire = CallEnded(pipecat_call_id="c", event_timestamp=T, call_ended_at=T, call_ended_reason="r",
                     events=log.to_wire()).to_wire()
    assert wire["events"][0]["direction"] == "inbound"


def test_event_data_is_redacted_in_the_payload():
    log = EventLog()
    log.add(user_event("callback", {"number": "(415) 555-0132", "nested": [{"mail": "jane@example.com"}]},
                       timestamp=T))
    wire = CallEnded(pipecat_call_id="c", event_timestamp=T, call_ended_at=T, call_ended_reason="r",
                     events=log.to_wire()).to_wire()
    Redactor(True).payload(wire)
    assert wire["events"][0]["data"] == {"number": "[PHONE]", "nested": [{"mail": "[EMAIL]"}]}
