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

import pytest

from pipecat_roark._compat import PIPECAT_1X

pytestmark = pytest.mark.skipif(not PIPECAT_1X, reason="OpenAILiveLLMService of Pipecat 1.14")

if PIPECAT_1X:
    from tests.s2s import common
    from tests.s2s.common import (
        ACCEPTED_SPLITS, collapse, expected_assistant, expected_user_texts, placed_responses, responses,
    )

from tests.s2s import frames, scripts


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return common.run_once(tmp_path_factory, "openai_live")


def test_the_fake_played_the_whole_script(outcome):
    t = outcome.call.truth
    assert outcome.call.ended_by == "end" and outcome.call.script_completed
    assert t.problems == []
    # It received the caller's PCM verbatim from the moment the session started.
    common.check_fake_got_the_callers_pcm_from_its_start(outcome)
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
    common.check_delivered_with_the_callers_speech_verbatim(outcome)
    placed = placed_responses(outcome)
    for r in outcome.call.truth.responses:
        if r.sent_samples:
            # No interruption: everything the model sent was played.
            assert placed[(r.kind, r.utterance)].played >= r.sent_samples - 2400, (r.kind, r.utterance)


def test_user_turns_have_the_transcripts(outcome):
    assert [collapse(t["content"]) for t in outcome.role("user")] == expected_user_texts()


def test_turns_in_spoken_order(outcome):
    common.check_turns_in_spoken_order(outcome)


def test_user_turns_sit_on_the_callers_speech(outcome):
    common.check_user_turns_sit_on_the_callers_speech(outcome)


def test_assistant_turns_hold_the_words_heard(outcome):
    got = [collapse(t["content"]) for t in outcome.role("assistant")]
    assert got in expected_assistant(outcome), ACCEPTED_SPLITS


def test_cut_turn_is_flagged_and_ends_where_the_audio_stopped(outcome):
    common.check_cut_turn_flagged_ending_where_its_audio_stopped(outcome)


def test_cut_turn_with_text_ahead_is_flagged_approximate(outcome):
    common.check_cut_turn_with_text_ahead_is_approximate(outcome)


def test_barge_in_latency(outcome):
    common.check_barge_in_latency(outcome)


def test_response_latency_per_turn(outcome):
    common.check_response_latency_per_turn(outcome)


def test_tool_records_once_each(outcome):
    common.check_tool_records_once_each(outcome)


def test_every_edge_within_20ms_median_50ms_max(outcome):
    common.check_every_edge_within_20ms_median_50ms_max(outcome)


def test_backend_usage_in_metrics(outcome):
    assert sum(m["totalTokens"] for m in common.llm_usage_metrics(outcome)) == 320
