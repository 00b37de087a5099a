"""A speech-to-speech call with no user-turn frames at all (Pipecat 1.14).

Some services (Gemini Live, AWS Nova Sonic, Ultravox) give the pipeline no
user-turn frames: only the caller's text (upstream ``TranscriptionFrame``,
late) and the bot's audio and text. Stand-in: the real
``OpenAIRealtimeLLMService`` against the Realtime fake with
``turn_events=False`` (no ``speech_started``/``speech_stopped``: the
service broadcasts no ``ProposedUser*SpeakingFrame``, so the aggregator
pushes no ``UserStarted/StoppedSpeakingFrame`` and no ``InterruptionFrame``;
the server still answers, and cancels the reply it is generating when
talked over). The caller's turns can only come from the recording's left
channel.
"""

from __future__ import annotations

import pytest

from pipecat_roark._compat import PIPECAT_1X

pytestmark = pytest.mark.skipif(not PIPECAT_1X, reason="OpenAIRealtimeLLMService of Pipecat 1.x")

if PIPECAT_1X:
    from tests.s2s import common
    from tests.s2s.common import collapse, expected_user_texts

from tests.s2s import frames


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return common.run_once(tmp_path_factory, "openai_realtime", {"turn_events": False})


def test_the_pipeline_had_no_turn_frames(outcome):
    assert outcome.call.script_completed and outcome.call.truth.problems == []
    kinds = {p.kind for p in frames.pushes(outcome.call)}
    assert not kinds & {"ProposedUserStartedSpeakingFrame", "UserStartedSpeakingFrame",
                        "UserStoppedSpeakingFrame", "InterruptionFrame"}
    assert "TranscriptionFrame" in kinds
    assert outcome.problems == [] and outcome.pcm is not None


def test_user_turns_have_the_transcripts(outcome):
    assert [collapse(t["content"]) for t in outcome.role("user")] == expected_user_texts()


def test_turns_in_spoken_order(outcome):
    common.check_turns_in_spoken_order(outcome)


def test_user_turns_sit_on_the_callers_speech(outcome):
    common.check_user_turns_sit_on_the_callers_speech(outcome)


def test_barge_in_detected_from_the_recording(outcome):
    cut = [t for t in outcome.role("assistant") if t.get("interrupted")]
    assert len(cut) == 1 and "quatre" in cut[0]["content"]


def test_every_edge_within_20ms_median_50ms_max(outcome):
    common.check_every_edge_within_20ms_median_50ms_max(outcome)
