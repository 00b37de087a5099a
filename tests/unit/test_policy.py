"""The capture policy, sampling and the consent gate (pure), and their settings."""

import hashlib

import pytest

from pipecat_roark.config import build_settings
from pipecat_roark.policy import (
    SAMPLING_COUNTS,
    AudioConsentGate,
    CapturePolicy,
    SamplingCounts,
    filter_ended,
    parse_capture_spec,
    resolve_capture,
    sample_point,
    should_ship,
)

# -- switches ----------------------------------------------------------------------


def test_defaults_keep_what_was_sent_before():
    p = resolve_capture(env={})
    assert p == CapturePolicy(audio=True, transcript=True, tools=True, metrics=True, logs=False, traces=False)


def test_capture_dict_and_dataclass_and_string():
    assert not resolve_capture({"audio": False}, env={}).audio
    assert resolve_capture(CapturePolicy(logs=True), env={}).logs
    p = resolve_capture("none,+transcript", env={})
    assert p.as_dict() == {"audio": False, "transcript": True, "tools": False, "metrics": False,
                           "logs": False, "traces": False}


def test_a_users_own_dataclass_works_too():
    from dataclasses import dataclass

    @dataclass
    class Mine:
        audio: bool = False
        logs: bool = True

    p = resolve_capture(Mine(), env={})
    assert (p.audio, p.logs, p.transcript) == (False, True, True)


def test_unknown_switch_names_the_closest_one():
    with pytest.raises(ValueError, match="did you mean 'transcript'"):
        resolve_capture({"transcripts": False}, env={})
    with pytest.raises(ValueError, match="in ROARK_CAPTURE='audo,-tools'; did you mean 'audio'"):
        resolve_capture(env={"ROARK_CAPTURE": "audo,-tools"})
    with pytest.raises(ValueError, match="switches are: audio, transcript"):
        resolve_capture({"zzz": True}, env={})


def test_wrong_types_fail_with_the_fix():
    with pytest.raises(TypeError, match=r"capture\['audio'\] must be True or False"):
        resolve_capture({"audio": "no"}, env={})
    with pytest.raises(TypeError, match="capture must be a dict"):
        resolve_capture(["audio"], env={})
    with pytest.raises(TypeError, match="capture switch 'logs'"):
        CapturePolicy(logs=1)
    with pytest.raises(TypeError, match="trace must be True or False"):
        resolve_capture(trace="yes", env={})


def test_environment_spec():
    assert parse_capture_spec(" audio , -tools,+LOGS ,") == {"audio": True, "tools": False, "logs": True}
    p = resolve_capture(env={"ROARK_CAPTURE": "-audio,-tools,logs"})
    assert (p.audio, p.tools, p.logs, p.transcript) == (False, False, True, True)
    assert resolve_capture(env={"ROARK_CAPTURE": "all"}).traces
    assert resolve_capture(env={"ROARK_CAPTURE": "   "}) == CapturePolicy()


def test_precedence_arguments_over_environment():
    env = {"ROARK_CAPTURE": "-audio,traces"}
    # capture= wins over the environment
    assert resolve_capture({"audio": True}, env=env).audio
    # older arguments at their default say nothing: the environment stands
    assert not resolve_capture(capture_audio=True, trace=False, env=env).audio
    assert resolve_capture(capture_audio=True, trace=False, env=env).traces
    # older arguments asking for something win over the environment
    assert resolve_capture(trace=True, env={"ROARK_CAPTURE": "-traces"}).traces
    assert not resolve_capture(capture_audio=False, env={"ROARK_CAPTURE": "audio"}).audio
    assert resolve_capture(capture_logs=True, env={}).logs


def test_older_arguments_agree_with_capture():
    assert not resolve_capture({"audio": False}, capture_audio=False, env={}).audio
    assert not resolve_capture({"audio": False}, capture_audio=True, env={}).audio  # True is the default: unsaid
    with pytest.raises(ValueError, match=r"contradicts capture_audio=False"):
        resolve_capture({"audio": True}, capture_audio=False, env={})
    with pytest.raises(ValueError, match=r"contradicts trace=True"):
        resolve_capture({"traces": False}, trace=True, env={})


# -- settings --------------------------------------------------------------------


def test_build_settings_carries_the_policy_and_capture_audio_agrees():
    s = build_settings(agent_id="a", api_key="k", capture={"audio": False}, env={})
    assert s.capture.audio is False and s.capture_audio is False
    s = build_settings(agent_id="a", api_key="k", capture_audio=False, env={})
    assert s.capture.audio is False and s.capture_audio is False
    s = build_settings(agent_id="a", api_key="k", env={"ROARK_CAPTURE": "-audio", "ROARK_SAMPLING": "0.25"})
    assert s.capture_audio is False and s.sampling == 0.25
    s = build_settings(agent_id="a", api_key="k", trace=True, capture_logs=True, log_level="info", env={})
    assert s.capture.traces and s.capture.logs and s.log_level == "INFO"
    assert build_settings(agent_id="a", api_key="k", env={"ROARK_LOG_LEVEL": "error"}).log_level == "ERROR"


def test_build_settings_rejects_bad_capture_arguments():
    with pytest.raises(ValueError, match="sampling must be a number between 0 and 1"):
        build_settings(agent_id="a", sampling=1.5, env={})
    with pytest.raises(ValueError, match="sampling must be a number"):
        build_settings(agent_id="a", sampling=True, env={})
    with pytest.raises(ValueError, match="ROARK_SAMPLING='ten'"):
        build_settings(agent_id="a", env={"ROARK_SAMPLING": "ten"})
    with pytest.raises(ValueError, match="defer_audio=True asks to hold a recording"):
        build_settings(agent_id="a", defer_audio=True, capture_audio=False, env={})
    with pytest.raises(TypeError, match="defer_audio must be True or False"):
        build_settings(agent_id="a", defer_audio="yes", env={})
    with pytest.raises(ValueError, match="defer_audio_max_bytes"):
        build_settings(agent_id="a", defer_audio=True, defer_audio_max_bytes=10, env={})
    with pytest.raises(ValueError, match="not a log level"):
        build_settings(agent_id="a", log_level="LOUD", env={})


# -- sampling ----------------------------------------------------------------------


def test_should_ship_is_a_stable_hash_of_the_id():
    # The threshold is the id's SHA-256, computed independently here.
    call_id = "call-42"
    point = int(hashlib.sha256(b"call-42").hexdigest()[:16], 16) / 2**64
    assert sample_point(call_id) == point
    assert should_ship(call_id, point + 1e-9) and not should_ship(call_id, point)


def test_sampling_fraction_edges_and_test_calls():
    ids = [f"call-{i}" for i in range(4000)]
    shipped = sum(should_ship(i, 0.1) for i in ids)
    assert 320 < shipped < 480  # ~10 %, a property of SHA-256, not luck of one seed
    assert all(should_ship(i, 1.0) for i in ids[:50])
    assert not any(should_ship(i, 0.0) for i in ids[:50])
    assert all(should_ship(i, 0.0, is_test=True) for i in ids[:50])
    # Monotonic: a call in the 10 % sample is in the 20 % one.
    assert all(should_ship(i, 0.2) for i in ids if should_ship(i, 0.1))


def test_sampling_counts():
    counts = SamplingCounts()
    for i in range(100):
        counts.decide(f"c{i}", 0.5)
    snap = counts.snapshot()
    assert snap["shipped"] + snap["skipped"] == 100 and snap["shipped"] == sum(should_ship(f"c{i}", 0.5) for i in range(100))
    counts.reset()
    assert counts.snapshot() == {"shipped": 0, "skipped": 0}
    assert isinstance(SAMPLING_COUNTS, SamplingCounts)


# -- consent gate --------------------------------------------------------------------


def test_gate_holds_until_allowed_then_releases_in_order_then_passes_through():
    g = AudioConsentGate(max_bytes=100)
    assert g.hold(1, b"b" * 10) == [] and g.hold(0, b"a" * 10) == []
    assert g.held_bytes == 20 and g.consent_field() == "not_given"
    assert g.allow() == [(0, b"a" * 10), (1, b"b" * 10)]
    assert g.held_bytes == 0 and g.consent_field() == "granted"
    assert g.hold(2, b"c") == [(2, b"c")]
    assert g.allow() == []  # once
    assert g.released_chunks == 3


def test_gate_discard_frees_everything_and_is_final():
    g = AudioConsentGate(max_bytes=100)
    g.hold(0, b"x" * 30)
    g.hold(1, b"y" * 30)
    assert g.discard() == 60
    assert g.held_bytes == 0 and not g.recording_wanted and g.consent_field() == "discarded"
    assert g.hold(2, b"z") == [] and g.held_bytes == 0
    assert g.allow() == []
    assert g.dropped_chunks == 0  # refused audio is not a loss


def test_gate_discard_after_allow_stops_later_chunks():
    g = AudioConsentGate(max_bytes=100)
    g.hold(0, b"a")
    g.allow()
    g.discard()
    assert g.hold(1, b"b") == [] and g.consent_field() == "revoked"


def test_gate_bound_cuts_the_recording_without_a_gap():
    g = AudioConsentGate(max_bytes=25)
    g.hold(0, b"a" * 10)
    g.hold(1, b"b" * 10)
    assert g.hold(2, b"c" * 10) == []  # over the bound: cut here
    assert g.truncated and not g.recording_wanted
    assert g.held_bytes == 20
    assert g.allow() == [(0, b"a" * 10), (1, b"b" * 10)]
    assert g.hold(3, b"d" * 10) == []  # after consent too: chunk 2 is gone, 3 would be shifted
    assert (g.dropped_chunks, g.dropped_bytes) == (2, 20)


def test_gate_resent_index_replaces():
    g = AudioConsentGate(max_bytes=100)
    g.hold(0, b"a" * 10)
    g.hold(0, b"b" * 12)
    assert g.held_bytes == 12 and g.allow() == [(0, b"b" * 12)]


def test_gate_rejects_bad_bound():
    with pytest.raises(ValueError, match="max_bytes"):
        AudioConsentGate(max_bytes=0)


# -- filtering what is sent -------------------------------------------------------------


def test_filter_ended_removes_what_is_off_and_says_so():
    payload = {
        "event": "call-ended", "pipecatCallId": "c", "transcript": [{"role": "user"}], "agentSpokeFirst": False,
        "toolCalls": [{"kind": "tool_call"}], "metrics": [{"kind": "llm"}], "logs": [{"message": "m"}],
        "callSummary": {"toolCalls": {"completed": 1}, "usage": {"promptTokens": 3}, "turns": {"user": 1}},
    }
    out = filter_ended(payload, CapturePolicy(transcript=False, tools=False, metrics=False, logs=False))
    assert "transcript" not in out and "toolCalls" not in out and "metrics" not in out and "logs" not in out
    assert "agentSpokeFirst" not in out
    assert out["callSummary"] == {"turns": {"user": 1}}
    assert out["captureOff"] == ["transcript", "tools", "metrics"]
    assert payload["transcript"]  # the input is not changed
    full = filter_ended(payload, CapturePolicy(logs=True, traces=True))
    assert full == payload
