"""Gemini Live with the caller's words sent while they speak (Pipecat 1.14, google-genai 2.x).

The API may stream the input transcription during the utterance; the
service pushes each sentence as soon as its mark arrives, so a sentence can
reach the pipeline before the caller has finished the utterance it belongs
to. Same call as :mod:`tests.s2s.test_gemini_live` otherwise.
"""

from __future__ import annotations

import pytest

from tests.s2s.test_gemini_live import TEXT_LEAD_SECS, USER_TEXTS, _gemini_live_available

pytestmark = pytest.mark.skipif(not _gemini_live_available(),
                                reason="GeminiLiveLLMService of Pipecat 1.x with google-genai installed")

if _gemini_live_available():
    from tests.s2s import common
    from tests.s2s.common import collapse

from tests.s2s import frames, scripts


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return common.run_once(tmp_path_factory, "gemini_live",
                           {"text_lead_secs": TEXT_LEAD_SECS, "transcribe_while_speaking": True}, scripts.SENTENCES)


def test_sentences_reached_the_pipeline_while_the_caller_spoke(outcome):
    assert outcome.call.script_completed and outcome.call.truth.problems == []
    tr = [p for p in frames.pushes(outcome.call) if p.kind == "TranscriptionFrame"]
    spans = outcome.call.timeline.speech_spans
    # The first utterance in three: "Hi." at its mark, then what the 0.5 s timeout flushed, both
    # while the caller spoke, then the rest after they stopped.
    assert [collapse(p.text) for p in tr][:3] == ["Hi.", "I'd like to check my", "order status."]
    assert tr[0].secs < spans[0].end_secs and tr[1].secs < spans[0].end_secs < tr[2].secs
    assert collapse(" ".join(p.text for p in tr)) == collapse(" ".join(USER_TEXTS))


def test_user_turns_have_the_transcripts(outcome):
    assert [collapse(t["content"]) for t in outcome.role("user")] == USER_TEXTS


def test_user_turns_sit_on_the_callers_speech(outcome):
    common.check_user_turns_sit_on_the_callers_speech(outcome)


def test_every_edge_within_20ms_median_50ms_max(outcome):
    common.check_every_edge_within_20ms_median_50ms_max(outcome)


def test_turns_in_spoken_order(outcome):
    common.check_turns_in_spoken_order(outcome)


def test_response_latency_per_turn(outcome):
    common.check_response_latency_per_turn(outcome)
