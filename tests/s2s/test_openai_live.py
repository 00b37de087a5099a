"""A full-duplex speech-to-speech call through the real ``OpenAILiveLLMService`` (Pipecat 1.14).

Same script and checks as :mod:`tests.s2s.test_openai_realtime`, against a
local fake of the OpenAI Live API (:mod:`pipecat_roark.testing.realtime.live_fake`).
What is different about this service, measured with this module:

- No ``InterruptionFrame`` is ever pushed: the recommended
  ``ExternalUserTurnStrategies(enable_interruptions=False)`` turn the
  service's ``ProposedUser*SpeakingFrame``\\ s into ``UserStarted/Stopped
  SpeakingFrame`` only. The model falls silent by itself when talked over,
  so the output transport just runs out of speech: a barge-in is visible
  only on the recording (caller sound overlapping bot sound, then the bot
  stopping) and in ``BotStoppedSpeakingFrame``.
- ``LLMServiceMetadataFrame(is_realtime_service=False)``: the aggregators
  do not run in realtime mode.
- Caller text: ``InterimTranscriptionFrame`` (upstream, accumulated text)
  per API fragment while the caller speaks; the service closes a user turn
  0.8 s after the last fragment and only then pushes the final
  ``TranscriptionFrame`` (upstream) and broadcasts
  ``ProposedUserStoppedSpeakingFrame``. ``ProposedUserStartedSpeakingFrame``
  comes with the first fragment (~240 ms after the caller's onset here).
- Bot audio: one continuous ``SpeechOutputAudioRawFrame`` stream, silence
  included; ``BotStarted/StoppedSpeakingFrame`` are derived by the output
  transport from the audio's energy (they lag the sound), and the
  service's ``TTSStarted/StoppedFrame`` + ``LLMFullResponseStart/EndFrame``
  bracket a bot "turn" it closes 0.8 s after its last transcript fragment.
- Bot text: ``LLMTextFrame`` + ``TTSTextFrame`` per output transcript
  fragment, released by the output transport with the audio queued before.
- Tools (Responses delegation): ``FunctionCallsStartedFrame``,
  ``FunctionCallInProgressFrame``, ``FunctionCallResultFrame`` broadcast by
  the service; never cancelled by the caller speaking.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipecat_roark._compat import PIPECAT_1X

pytestmark = pytest.mark.skipif(not PIPECAT_1X, reason="OpenAILiveLLMService of Pipecat 1.14")

if PIPECAT_1X:
    from tests.s2s import common
    from tests.s2s.common import (
        ACCEPTED_SPLITS, assistant_at, caller_spans, collapse, cut_played, expected_assistant,
        expected_user_texts, placed_responses, responses,
    )

from tests.integration.helpers import edge_errors
from tests.s2s import frames, scripts
from tests.s2s.truth import find_exact


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return common.run_once(tmp_path_factory, "openai_live")


def test_the_fake_played_the_whole_script(outcome):
    t = outcome.call.truth
    assert outcome.call.ended_by == "end" and outcome.call.script_completed
    assert t.problems == []
    # It received the caller's PCM verbatim from the moment the session started.
    got, caller = t.received_samples, outcome.call.timeline.samples
    s0 = t.utterances[0].start_sample  # locate a stretch of speech
    start = find_exact(caller, got[s0:s0 + 4800])
    assert start is not None
    offset = start - s0
    n = min(len(got), len(caller) - offset)
    assert 0 <= offset < 24000 and np.array_equal(got[:n], caller[offset:offset + n])
    assert len(t.utterances) == 3
    cut = responses(outcome)[("after_tool", 1)]
    assert cut.status == "cancelled" and 0 < cut.sent_samples < len(cut.audio)
    assert "session.close" in t.types("in") and "response.create" in t.types("in")
    assert t.tool_outputs == {"call_lookup_427": json.dumps(scripts.ORDER_RESULT, ensure_ascii=False)}


def test_frames_seen_by_observer_and_recorder(outcome):
    ps = frames.pushes(outcome.call)
    rec = outcome.call.audio_processor.name.split("#")[0]
    print("\n" + frames.table(ps, rec) + "\n" + "\n".join(frames.timing(outcome)))
    prod = frames.first_producers(ps)
    svc = "OpenAILiveLLMService"
    assert "InterruptionFrame" not in prod
    assert prod["TranscriptionFrame"] == {(svc, "up")}
    assert prod["InterimTranscriptionFrame"] == {(svc, "up")}
    meta = [e.frame for e in outcome.call.events.events if e.kind == "LLMServiceMetadataFrame"]
    assert meta and not any(m.is_realtime_service for m in meta)
    tr = [p for p in ps if p.kind == "TranscriptionFrame"]
    assert [collapse(p.text) for p in tr] == expected_user_texts()
    # The final transcript comes 0.8 s after the API's last fragment: after the speech ended.
    for p, s in zip(tr, outcome.call.timeline.speech_spans):
        assert p.secs > s.end_secs + 0.2


def test_call_delivered_with_a_complete_recording(outcome):
    assert outcome.events == ["call-started", "call-ended"]
    assert outcome.problems == []
    assert outcome.rate == 24000 and outcome.pcm is not None
    left = outcome.pcm[:, 0]
    caller = outcome.call.timeline.samples
    cursor = 0
    for s in outcome.call.timeline.speech_spans:
        at = find_exact(left, caller[s.start_sample:s.end_sample], cursor)
        assert at is not None, f"caller utterance {s.clip} is not verbatim on the left channel"
        cursor = at
    placed = placed_responses(outcome)
    for r in outcome.call.truth.responses:
        if r.sent_samples:
            # No interruption: everything the model sent was played.
            assert placed[(r.kind, r.utterance)].played >= r.sent_samples - 2400, (r.kind, r.utterance)


def test_user_turns_have_the_transcripts(outcome):
    assert [collapse(t["content"]) for t in outcome.role("user")] == expected_user_texts()


def test_turns_in_spoken_order(outcome):
    roles = [t["role"] for t in outcome.turns]
    assert roles in (["assistant", "user", "assistant", "user", "assistant", "user", "assistant"],
                     ["assistant", "user", "assistant", "user", "assistant", "assistant", "user", "assistant"])


def test_user_turns_sit_on_the_callers_speech(outcome):
    users = outcome.role("user")
    assert len(users) == 3
    for turn, (s, e) in zip(users, caller_spans(outcome)):
        assert "audioOffsetMs" in turn, turn
        assert abs(turn["audioOffsetMs"] - s) <= 50 and abs(turn["endAudioOffsetMs"] - e) <= 50, turn


def test_assistant_turns_hold_the_words_heard(outcome):
    got = [collapse(t["content"]) for t in outcome.role("assistant")]
    assert got in expected_assistant(outcome), ACCEPTED_SPLITS


def test_cut_turn_is_flagged_and_ends_where_the_audio_stopped(outcome):
    placed, played = cut_played(outcome)
    cut = [t for t in outcome.role("assistant") if t.get("interrupted")]
    assert len(cut) == 1
    assert abs(cut[0]["endAudioOffsetMs"] - (placed.start + played) * 1000 / outcome.rate) <= 50
    assert all(not t.get("interrupted") for t in outcome.turns if t is not cut[0])


def test_cut_turn_with_text_ahead_is_flagged_approximate(outcome):
    cut = [t for t in outcome.role("assistant") if t.get("interrupted") or "quatre" in t["content"]]
    assert cut and cut[0].get("approximate") is True


def test_barge_in_latency(outcome):
    placed, played = cut_played(outcome)
    truth = (placed.start + played) * 1000 / outcome.rate - caller_spans(outcome)[2][0]
    cut = [t for t in outcome.role("assistant") if t.get("interrupted")]
    assert cut and abs(cut[0].get("bargeInLatencyMs", -1e9) - truth) <= 30, (cut, truth)


def test_response_latency_per_turn(outcome):
    placed = placed_responses(outcome)
    spans = caller_spans(outcome)
    for i in range(3):
        start = placed[("reply", i)].ms(outcome.rate)[0]
        turn = assistant_at(outcome, start)
        assert turn is not None, f"no assistant turn starts at {start:.0f} ms"
        assert abs(turn.get("responseLatencyMs", -1e9) - (start - spans[i][1])) <= 50, turn


def test_tool_records_once_each(outcome):
    tools = (outcome.ended or {}).get("toolCalls") or []
    assert [t["kind"] for t in tools] == ["tool_call", "tool_result"]
    assert tools[0]["name"] == "lookup_order" and json.loads(tools[0]["arguments"]) == {"order_id": "427"}
    assert tools[0]["toolCallId"] == tools[1]["toolCallId"] == "call_lookup_427"
    assert json.loads(tools[1]["content"]) == scripts.ORDER_RESULT


def test_every_edge_within_20ms_median_50ms_max(outcome):
    assert len(outcome.role("user")) == 3
    assert all("audioOffsetMs" in t for t in outcome.turns), [(t["role"], t["content"][:20], t.get("audioOffsetMs")) for t in outcome.turns]
    e = edge_errors(outcome.turns, outcome.pcm, outcome.rate)
    assert e.median <= 20 and e.worst <= 50, "\n".join(e.detail)


def test_backend_usage_in_metrics(outcome):
    usage = [m for m in (outcome.ended or {}).get("metrics") or []
             if m.get("kind") == "llm" and m.get("metric") == "usage"]
    assert sum(m["totalTokens"] for m in usage) == 320
