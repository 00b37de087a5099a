"""Pure tests of the contract checks (no server)."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipecat_roark.devserver import checks
from pipecat_roark.devserver.checks import ChunkUpload

STARTED = {
    "event": "call-started",
    "pipecatCallId": "c1",
    "eventTimestamp": "2025-05-01T10:00:00Z",
    "agentId": "agent-1",
    "agentName": "Bot",
    "agentPrompt": "Be nice",
    "roarkIntegrationId": "int-1",
    "isTest": True,
    "metadata": {"k": [1, 2]},
}

ENDED = {
    "event": "call-ended",
    "pipecatCallId": "c1",
    "eventTimestamp": "2025-05-01T10:00:11.000+00:00",
    "callStartedAt": "2025-05-01T10:00:00.000Z",
    "callEndedAt": "2025-05-01T10:00:10.000Z",
    "callEndedReason": "EndFrame",
    "agentSpokeFirst": True,
    "recordingSampleRate": 16000,
    "recordingNumChannels": 2,
    "transcript": [
        {
            "role": "assistant",
            "content": "Hello, how can I help?",
            "timestamp": "2025-05-01T10:00:00.500Z",
            "endTimestamp": "2025-05-01T10:00:02.000Z",
            "audioOffsetMs": 500,
            "endAudioOffsetMs": 2000,
        },
        {
            "role": "user",
            "content": "Weather in Paris?",
            "timestamp": "2025-05-01T10:00:03.000Z",
            "endTimestamp": "2025-05-01T10:00:04.000Z",
            "audioOffsetMs": 3000,
            "endAudioOffsetMs": 4000,
            "userId": "u1",
            "language": "en-US",
        },
    ],
    "toolCalls": [
        {"kind": "tool_call", "toolCallId": "t1", "name": "weather", "arguments": '{"city":"Paris"}',
         "timestamp": "2025-05-01T10:00:04.100Z", "audioOffsetMs": 4100},
        {"kind": "tool_result", "toolCallId": "t1", "content": '{"temp":21}',
         "timestamp": "2025-05-01T10:00:04.300Z"},
    ],
    "metrics": [{"kind": "llm", "timestamp": "2025-05-01T10:00:04.000Z", "ttfb": 0.3}],
}


def with_(base: dict, path: str, value) -> dict:
    """Copy of base with a dotted path set (value=DELETE removes it)."""
    out = copy.deepcopy(base)
    node = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


DELETE = object()


def test_good_payloads_have_no_problem():
    assert checks.check_event(STARTED) == []
    assert checks.check_event(ENDED) == []
    minimal_started = {k: STARTED[k] for k in ("event", "pipecatCallId", "eventTimestamp", "agentId")}
    assert checks.check_event(minimal_started) == []
    minimal_ended = {k: ENDED[k] for k in ("event", "pipecatCallId", "eventTimestamp", "callStartedAt",
                                           "callEndedAt", "callEndedReason")}
    assert checks.check_event(minimal_ended) == []
    assert checks.check_event(with_(minimal_ended, "callStartedAt", None)) == []


@pytest.mark.parametrize(
    "payload, expected",
    [
        ([1, 2], "must be a JSON object"),
        (with_(STARTED, "event", "call-paused"), "unknown event 'call-paused'"),
        (with_(STARTED, "event", DELETE), "missing required field 'event'"),
        (with_(STARTED, "pipecatCallId", DELETE), "missing required field 'pipecatCallId'"),
        (with_(STARTED, "pipecatCallId", 12), "pipecatCallId must be a string"),
        (with_(STARTED, "eventTimestamp", "yesterday"), "not an ISO-8601 timestamp"),
        (with_(STARTED, "eventTimestamp", "2025-05-01T10:00:00"), "has no timezone"),
        (with_(STARTED, "eventTimestamp", "2025-05-01T12:00:00+02:00"), "must be UTC"),
        (with_(STARTED, "agentId", DELETE), "missing required field 'agentId'"),
        (with_(STARTED, "isTest", "yes"), "isTest must be bool"),
        (with_(STARTED, "metadata", "x"), "metadata must be object"),
        (with_(ENDED, "callStartedAt", DELETE), "missing required field 'callStartedAt'"),
        (with_(ENDED, "callEndedAt", DELETE), "missing required field 'callEndedAt'"),
        (with_(ENDED, "callEndedAt", "2025-05-01T09:00:00Z"), "callEndedAt is before callStartedAt"),
        (with_(ENDED, "callEndedReason", DELETE), "missing required field 'callEndedReason'"),
        (with_(ENDED, "recordingNumChannels", DELETE), "must be sent together (recordingNumChannels missing)"),
        (with_(ENDED, "recordingSampleRate", "16000"), "recordingSampleRate must be a positive int"),
        (with_(ENDED, "transcript", []), "transcript is an empty list"),
        (with_(ENDED, "transcript", {}), "transcript must be a list"),
        (with_(ENDED, "agentSpokeFirst", DELETE), "agentSpokeFirst missing"),
        (with_(ENDED, "agentSpokeFirst", False), "earliest turn is by the assistant"),
        (with_(ENDED, "transcript.0.role", "bot"), "role must be 'user' or 'assistant'"),
        (with_(ENDED, "transcript.0.content", None), "content must be a string"),
        (with_(ENDED, "transcript.0.endTimestamp", DELETE), "missing required field 'endTimestamp'"),
        (with_(ENDED, "transcript.0.audioOffsetMs", -5), "audioOffsetMs must be >= 0"),
        (with_(ENDED, "transcript.0.audioOffsetMs", 1.5), "audioOffsetMs must be an int"),
        (with_(ENDED, "transcript.0.audioOffsetMs", True), "audioOffsetMs must be an int"),
        (with_(ENDED, "transcript.0.endAudioOffsetMs", 100), "endAudioOffsetMs (100) is before audioOffsetMs (500)"),
        (with_(ENDED, "transcript.0.endTimestamp", "2025-05-01T10:00:00.100Z"), "endTimestamp is before timestamp"),
        (with_(ENDED, "transcript.0.interrupted", "yes"), "interrupted must be a bool"),
        (with_(ENDED, "toolCalls.0.arguments", {"city": "Paris"}), "arguments must be a JSON string, got object"),
        (with_(ENDED, "toolCalls.0.arguments", "{city: Paris}"), "arguments is not valid JSON"),
        (with_(ENDED, "toolCalls.0.kind", "call"), "kind must be 'tool_call' or 'tool_result'"),
        (with_(ENDED, "toolCalls.0.name", DELETE), "missing required field 'name'"),
        (with_(ENDED, "toolCalls.1.content", {"temp": 21}), "content must be a string, got object"),
        (with_(ENDED, "toolCalls.1.toolCallId", "t9"), "tool_result 't9' has no matching tool_call"),
        (with_(ENDED, "toolCalls", ENDED["toolCalls"] + [ENDED["toolCalls"][0]]), "tool_call 't1' appears 2 times"),
        (with_(ENDED, "toolCalls", []), "toolCalls is an empty list"),
        (with_(ENDED, "metrics.0.kind", DELETE), "missing required field 'kind'"),
    ],
)
def test_bad_payloads_are_reported(payload, expected):
    problems = checks.check_event(payload)
    assert any(expected in p for p in problems), problems


def test_only_the_broken_field_is_reported():
    # One defect must produce one problem, not a cascade that buries it.
    problems = checks.check_event(with_(ENDED, "toolCalls.0.arguments", {"city": "Paris"}))
    assert len(problems) == 1, problems


def test_assistant_only_fields_on_assistant_turn_are_flagged():
    problems = checks.check_event(with_(ENDED, "transcript.0.language", "en"))
    assert any("only meaningful on user turns" in p for p in problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(sorted(ENDED)), value=json_values)
def test_checks_never_crash_on_arbitrary_json(key, value):
    # Whatever a broken client sends, the server must describe it, not raise.
    for base in (ENDED, STARTED):
        problems = checks.check_event(with_(base, key, value) if key in base else {**base, key: value})
        assert all(isinstance(p, str) for p in problems)
    assert all(isinstance(p, str) for p in checks.check_event(value))


# ---- endpoint B and headers -------------------------------------------------


def test_upload_request_checks():
    good = {"pipecatCallId": "c1", "chunkIndex": 0, "contentType": "audio/pcm"}
    assert checks.check_upload_request(good) == []
    assert "chunkIndex must be an int >= 0" in " ".join(checks.check_upload_request({**good, "chunkIndex": -1}))
    assert "chunkIndex must be an int >= 0" in " ".join(checks.check_upload_request({**good, "chunkIndex": "1"}))
    assert "contentType must be 'audio/pcm'" in " ".join(checks.check_upload_request({**good, "contentType": "audio/wav"}))
    assert "missing required field 'pipecatCallId'" in " ".join(checks.check_upload_request({"chunkIndex": 0}))


def test_put_header_checks():
    assert checks.check_put_headers({"Content-Type": "audio/pcm"}, "audio/pcm") == []
    p = checks.check_put_headers({"content-type": "audio/pcm", "authorization": "Bearer k"}, "audio/pcm")
    assert len(p) == 1 and "Authorization header" in p[0]
    p = checks.check_put_headers({"Content-Type": "audio/pcm", "X-Roark-Api-Key": "k"}, "audio/pcm")
    assert len(p) == 1 and "x-roark-api-key header" in p[0]
    p = checks.check_put_headers({"Content-Type": "application/octet-stream"}, "audio/pcm")
    assert len(p) == 1 and "Content-Type is 'application/octet-stream'" in p[0]


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({}, None),
        ({"x-roark-api-key": "k", "Authorization": "Bearer k"}, None),
        ({"x-roark-api-key": "k", "Authorization": "Bearer other"}, "carry different keys"),
        ({"x-roark-api-key": "k"}, "no Authorization header"),
        ({"Authorization": "Bearer k"}, "no x-roark-api-key header"),
        ({"x-roark-api-key": "k", "Authorization": "k"}, "not of the form 'Bearer <key>'"),
    ],
)
def test_auth_consistency(headers, expected):
    problems = checks.check_auth_consistency(headers)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0]


# ---- whole-call checks --------------------------------------------------------


def up(index: int, size: int = 64000, digest: str = "", seq: int = 0) -> ChunkUpload:
    return ChunkUpload(index, size, digest or f"d{index}", seq)


# A 10 s call at 16 kHz stereo s16le is 640000 bytes.
TEN_S = [up(0, 320000, seq=2), up(1, 320000, seq=3)]


def test_complete_call_has_no_problem():
    assert checks.check_call([(1, STARTED), (4, ENDED)], TEN_S) == []


def test_call_level_problems():
    def problems(events, uploads):
        return " | ".join(checks.check_call(events, uploads))

    assert "no call-started received" in problems([(4, ENDED)], TEN_S)
    assert "no call-ended received" in problems([(1, STARTED)], TEN_S)
    assert "call-ended arrived before call-started" in problems([(1, ENDED), (4, STARTED)], TEN_S)
    assert "call-started received 2 times" in problems([(1, STARTED), (2, STARTED), (5, ENDED)], TEN_S)
    assert "call-ended received 2 times" in problems([(1, STARTED), (5, ENDED), (6, ENDED)], TEN_S)
    assert "chunk(s) 1 arrived after call-ended" in problems(
        [(1, STARTED), (3, ENDED)], [up(0, 320000, seq=2), up(1, 320000, seq=4)]
    )
    no_rec = {k: v for k, v in ENDED.items() if not k.startswith("recording")}
    assert "no recordingSampleRate/recordingNumChannels" in problems([(1, STARTED), (4, no_rec)], TEN_S)
    assert "carries recording fields but no chunk was delivered" in problems([(1, STARTED), (4, ENDED)], [])


def test_gap_and_duplicates():
    events = [(1, STARTED), (9, ENDED)]
    gap = checks.check_call(events, [up(0, 320000, seq=2), up(2, 320000, seq=3)])
    assert any("missing chunk index(es) 1" in p for p in gap), gap

    dup_same = checks.check_call(events, [up(0, 320000, "a", 2), up(0, 320000, "a", 3), up(1, 320000, seq=4)])
    assert any("chunk 0 uploaded 2 times, identical bytes" in p for p in dup_same), dup_same
    dup_diff = checks.check_call(events, [up(0, 320000, "a", 2), up(0, 320000, "b", 3), up(1, 320000, seq=4)])
    assert any("chunk 0 uploaded 2 times, with DIFFERENT bytes" in p for p in dup_diff), dup_diff

    many = checks.check_call([(1, STARTED)], [up(0, seq=2), up(4, seq=3), up(5, seq=4), up(6, seq=5), up(9, seq=6)])
    assert any("missing chunk index(es) 1-3, 7-8" in p for p in many), many


def test_misaligned_and_empty_chunks():
    events = [(1, STARTED), (9, ENDED)]
    p = checks.check_call(events, [up(0, 320002, seq=2), up(1, 319998, seq=3)])
    assert any("chunk 0 is 320002 bytes, not a multiple of 4" in x for x in p), p
    p = checks.check_call(events, [up(0, 640000, seq=2), up(1, 0, seq=3)])
    assert any("chunk 1 is empty" in x for x in p), p


def test_recording_length_against_call_length():
    events = [(1, STARTED), (9, ENDED)]  # the call lasted 10 s
    ok = checks.check_call(events, [up(0, 16000 * 4 * 9, seq=2)])  # 9 s: within tolerance
    assert not any("recording is" in p for p in ok), ok
    short = checks.check_call(events, [up(0, 16000 * 4 * 5, seq=2)])
    assert any("recording is 5.00 s but the call lasted 10.00 s (shorter by 5.00 s" in p for p in short), short
    wrong_rate = {**ENDED, "recordingSampleRate": 8000}  # 10 s of 16 kHz audio read as 8 kHz = 20 s
    long = checks.check_call([(1, STARTED), (9, wrong_rate)], TEN_S)
    assert any("(longer by 10.00 s" in p for p in long), long


def test_offsets_past_the_recording_end():
    end = copy.deepcopy(ENDED)
    end["transcript"][1]["endAudioOffsetMs"] = 30000
    p = checks.check_call([(1, STARTED), (9, end)], TEN_S)
    assert any("transcript[1]: endAudioOffsetMs 30000 is past the end of the recording" in x for x in p), p


def test_parse_iso_accepts_z_and_offsets():
    assert checks.parse_iso("2025-05-01T10:00:00Z").utcoffset().total_seconds() == 0
    assert checks.parse_iso("2025-05-01T10:00:00.123456+00:00") is not None
    assert checks.parse_iso("not a date") is None
    assert checks.parse_iso(12) is None
    assert json.loads(json.dumps(checks.check_event(STARTED))) == []


# ---- extensions: metrics, latency, tool outcomes, errors, recording health ------

EXT = with_(ENDED, "transcript", [
    ENDED["transcript"][0],
    ENDED["transcript"][1],
    {"role": "assistant", "content": "Sunny.", "timestamp": "2025-05-01T10:00:05.000Z",
     "endTimestamp": "2025-05-01T10:00:06.000Z", "audioOffsetMs": 5000, "endAudioOffsetMs": 6000,
     "responseLatencyMs": 1000, "interrupted": True, "bargeInLatencyMs": 250},
])
EXT = {
    **with_(EXT, "toolCalls.1", {**ENDED["toolCalls"][1], "status": "failed", "error": "RuntimeError: x",
                                 "durationMs": 200}),
    "metrics": [{"kind": "llm", "metric": "ttfb", "timestamp": "2025-05-01T10:00:04.000Z", "ttfb": 0.3, "ttft": 0.3,
                 "turnIndex": 1, "interrupted": True, "processor": "LLM#0", "model": "m", "extra": {"a": 1}}],
    "errors": [{"message": "boom", "processor": "TTS#0", "fatal": False, "category": "network",
                "timestamp": "2025-05-01T10:00:04.000Z", "audioOffsetMs": 4000, "count": 2}],
    "recordingStatus": "degraded",
    "recordingHealth": {"chunksProduced": 1, "chunksDelivered": 1, "chunksLost": 0},
    "callSummary": {"turns": {"user": 1, "assistant": 2}},
}


def test_extensions_are_accepted():
    assert checks.check_event(EXT) == []
    for cause in ("caller", "pipeline"):
        assert checks.check_event(with_(EXT, "transcript.2.interruptionCause", cause)) == []


def test_a_payload_built_by_the_package_passes_the_checks():
    from pipecat_roark.call import Call, Edge
    from pipecat_roark.config import build_settings

    c = Call("c1")
    c.start(0, 1_800_000_000.0)
    c.set_recording(16000)
    s = 1_000_000_000

    def at(turn, t, pos, end=False, **kw):  # edges placed on the recording, as the session does
        if turn is not None:
            (c.set_end if end else c.set_start)(turn, Edge(t, pos), **kw)

    at(c.user_started(1 * s), 1 * s, 16000)
    c.transcription(int(1.5 * s), "hi")
    at(c.user_stopped(2 * s), 2 * s, 32000, end=True)
    c.add_metrics(int(2.2 * s), [{"kind": "llm", "metric": "ttfb", "ttfb": 0.2}], pos=35200)
    at(c.bot_started(3 * s), 3 * s, 48000, user_end=32000)
    c.bot_text(int(3.1 * s), "Hello")
    at(c.user_started(int(3.5 * s)), int(3.5 * s), 56000)
    c.interruption(int(3.6 * s), 57600)
    at(c.bot_stopped(int(3.7 * s)), int(3.7 * s), 59200, end=True)
    c.tool_call(4 * s, "t1", "lookup", {"q": 1})
    c.tool_cancelled(int(4.5 * s), "t1")
    c.error(4 * s, "boom", "TTS#0")
    c.end(6 * s, "ended")
    settings_ = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={})
    payload = c.build_ended(settings_, now_wall=1_800_000_010.0, recording_delivered=True,
                            recording=("ok", {"chunksProduced": 1, "chunksDelivered": 1, "chunksLost": 0}))
    assert payload["transcript"][1]["responseLatencyMs"] == 1000
    assert checks.check_event(payload) == []


@pytest.mark.parametrize(
    "payload, expected",
    [
        (with_(EXT, "transcript.2.responseLatencyMs", -1), "responseLatencyMs must be >= 0"),
        (with_(EXT, "transcript.1.responseLatencyMs", 10), "responseLatencyMs is only meaningful on assistant turns"),
        (with_(EXT, "transcript.2.interrupted", False), "bargeInLatencyMs sent on a turn that is not interrupted"),
        (with_(EXT, "transcript.2.interruptionCause", "bot"), "interruptionCause must be 'caller' or 'pipeline'"),
        (with_(EXT, "transcript.2", {**{k: v for k, v in EXT["transcript"][2].items() if k != "bargeInLatencyMs"},
                                     "interrupted": False, "interruptionCause": "pipeline"}),
         "interruptionCause sent on a turn that is not interrupted"),
        (with_(EXT, "toolCalls.1.status", "exploded"), "status must be one of"),
        (with_(EXT, "toolCalls.1.durationMs", 1.5), "durationMs must be an int"),
        (with_(EXT, "metrics.0.turnIndex", 3), "turnIndex 3 points past the transcript"),
        (with_(EXT, "metrics.0.interrupted", "yes"), "interrupted must be bool"),
        (with_(EXT, "errors.0.message", DELETE), "missing required field 'message'"),
        (with_(EXT, "errors.0.count", 0), "count must be a positive int"),
        (with_(EXT, "errors", []), "errors is an empty list"),
        (with_(EXT, "recordingStatus", "great"), "recordingStatus must be one of"),
        (with_(EXT, "callSummary", [1]), "callSummary must be object"),
    ],
)
def test_bad_extensions_are_reported(payload, expected):
    problems = checks.check_event(payload)
    assert any(expected in p for p in problems), problems
