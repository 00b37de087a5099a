"""Turn assembly and payloads, with events placed by hand (no Pipecat, no network)."""

import json

from pipecat_roark.call import Call
from pipecat_roark.config import build_settings
from pipecat_roark.models import CallEnded

S = 1_000_000_000
SETTINGS = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={})


def ended(call, delivered=True):
    call.end(call.ended_t or 99 * S, call.end_reason or "ended")
    payload = call.build_ended(SETTINGS, now_wall=1_800_000_100.0, recording_delivered=delivered)
    CallEnded.model_validate(payload)  # what we build validates against the wire model
    return payload


def new_call(rate=16000):
    call = Call("c1")
    call.start(0, 1_800_000_000.0)
    call.set_recording(rate)
    return call


def test_greeting_then_user_turn_with_late_final_after_bot_started():
    c = new_call()
    c.bot_started(1 * S, 16000)
    c.bot_text(int(1.1 * S), "Hello!")
    c.bot_text(int(1.2 * S), "How can I help?")
    c.bot_stopped(2 * S, 32000)
    c.user_started(3 * S, 48000)
    c.transcription(int(3.5 * S), "I need")
    c.user_stopped(4 * S, 64000)
    c.bot_started(5 * S, 80000)
    c.transcription(int(5.2 * S), "my order")  # late final, after the bot began
    c.bot_text(int(5.3 * S), "Sure.")
    c.bot_stopped(6 * S, 96000)
    p = ended(c)
    t = p["transcript"]
    assert [x["role"] for x in t] == ["assistant", "user", "assistant"]
    assert t[0]["content"] == "Hello! How can I help?"
    assert t[1]["content"] == "I need my order"
    assert (t[1]["audioOffsetMs"], t[1]["endAudioOffsetMs"]) == (3000, 4000)
    assert p["agentSpokeFirst"] is True
    assert p["recordingSampleRate"] == 16000 and p["recordingNumChannels"] == 2


def test_back_to_back_user_turns_stay_separate():
    c = new_call()
    c.user_started(1 * S, 16000)
    c.transcription(int(1.5 * S), "one")
    c.user_stopped(2 * S, 32000)
    c.user_started(3 * S, 48000)
    c.transcription(int(3.5 * S), "two")
    c.user_stopped(4 * S, 64000)
    t = ended(c)["transcript"]
    assert [x["content"] for x in t] == ["one", "two"]
    assert ended(c)["agentSpokeFirst"] is False


def test_interruption_only_counts_while_bot_speaks():
    c = new_call()
    c.user_started(1 * S)
    c.interruption(1 * S)  # bot silent: not an interruption
    c.transcription(int(1.2 * S), "hi")
    c.user_stopped(2 * S)
    c.bot_started(3 * S)
    c.bot_text(int(3.1 * S), "Let me")
    c.user_started(int(3.5 * S))
    c.interruption(int(3.5 * S))
    c.bot_stopped(int(3.6 * S))
    t = ended(c, delivered=False)["transcript"]
    assert "interrupted" not in t[0]
    assert t[1]["interrupted"] is True and t[1]["content"] == "Let me"


def test_bot_onset_moves_start_to_first_voiced_sample():
    c = new_call()
    c.bot_started(1 * S, 16000)
    c.bot_onset(int(1.25 * S), 20000)
    c.bot_onset(int(1.5 * S), 24000)  # only the first onset counts
    c.bot_text(int(1.3 * S), "Hi")
    c.bot_stopped(2 * S, 32000)
    t = ended(c)["transcript"][0]
    assert t["audioOffsetMs"] == 1250


def test_offsets_omitted_without_delivered_recording():
    c = new_call()
    c.user_started(1 * S, 16000)
    c.transcription(int(1.2 * S), "hi")
    c.user_stopped(2 * S, 32000)
    p = ended(c, delivered=False)
    assert "audioOffsetMs" not in p["transcript"][0]
    assert "recordingSampleRate" not in p and "recordingNumChannels" not in p


def test_transcription_only_turns_split_by_bot_reply():
    c = new_call()
    c.transcription(1 * S, "hello")
    c.transcription(int(1.5 * S), "there")
    c.bot_text(2 * S, "Hi")
    c.transcription(3 * S, "bye")
    t = ended(c, delivered=False)["transcript"]
    assert [(x["role"], x["content"]) for x in t] == [("user", "hello there"), ("assistant", "Hi"), ("user", "bye")]


def test_inter_frame_spacing_follows_pipecat_rule():
    c = new_call()
    c.bot_text(1, "Hel", spaced=True)
    c.bot_text(2, "lo ", spaced=True)
    c.bot_text(3, "world", spaced=True)
    t = ended(c, delivered=False)["transcript"]
    assert t[0]["content"] == "Hello world"


def test_tool_records_once_each_with_json_string_arguments():
    c = new_call()
    for _ in range(2):  # Pipecat may deliver a tool frame several times
        c.tool_call(1 * S, "t1", "lookup_order", {"order": 427, "ok": True})
    c.tool_result(2 * S, "t1", {"status": "shipped"}, final=False)
    c.tool_result(int(2.5 * S), "t1", {"status": "delivered"})
    c.tool_result(3 * S, "t1", {"status": "ignored"})
    c.tool_result(3 * S, "t2", None, name="hangup", arguments='{"why": "done"}')
    tools = ended(c)["toolCalls"]
    assert [(x["kind"], x["toolCallId"]) for x in tools] == [
        ("tool_call", "t1"), ("tool_result", "t1"), ("tool_call", "t2"), ("tool_result", "t2")]
    assert json.loads(tools[0]["arguments"]) == {"order": 427, "ok": True}
    assert tools[0]["arguments"] == '{"order":427,"ok":true}'
    assert tools[1]["content"] == '{"status":"delivered"}'
    assert tools[2]["arguments"] == '{"why": "done"}' and tools[3]["content"] == ""


def test_end_is_recorded_once_and_empty_turns_dropped():
    c = new_call()
    c.user_started(1 * S)
    c.user_stopped(2 * S)  # VAD fired, nothing transcribed
    assert c.end(5 * S, "cancelled") is True
    assert c.end(6 * S, "ended") is False
    p = ended(c, delivered=False)
    assert p["callEndedReason"] == "cancelled"
    assert "transcript" not in p and "agentSpokeFirst" not in p
    assert p["callStartedAt"] and p["callEndedAt"].endswith("Z")


def test_call_ended_keeps_null_call_started_at():
    c = Call("c2")
    c.end(0, "cancelled")
    p = c.build_ended(SETTINGS, now_wall=1_800_000_000.0, recording_delivered=False)
    assert "callStartedAt" in p and p["callStartedAt"] is None
