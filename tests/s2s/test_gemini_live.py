"""A speech-to-speech call through the real ``GeminiLiveLLMService`` (Pipecat 1.14, google-genai 2.x).

Same script and checks as :mod:`tests.s2s.test_openai_realtime`, against a
local fake of the Gemini Live ``BidiGenerateContent`` websocket
(:mod:`pipecat_roark.testing.realtime.gemini_fake`). google-genai forces
``wss://`` on ``HttpOptions.base_url``, so the fake serves TLS on 127.0.0.1
with a self-signed certificate made at test time, trusted through
``HttpOptions(async_client_args={"ssl": context})``.

What is different about this service, measured with this module (``-s``
prints the digest):

- ``LLMServiceMetadataFrame(is_realtime_service=True)``, and no user-turn
  frames at all: no ``Proposed/UserStarted/StoppedSpeakingFrame``. The
  caller's turns come from the recording's left channel.
- Barge-in: the API's ``interrupted`` makes the service broadcast an
  ``InterruptionFrame`` (down to the output transport and the recorder, up
  to the user aggregator); the transport stops playing at once.
- Caller text: ``inputTranscription`` fragments buffered by the service
  into sentences, each pushed **upstream** as a ``TranscriptionFrame``
  when it ends with a sentence mark (or 0.5 s after the last fragment):
  after the reply's audio started.
- Bot audio: ``TTSAudioRawFrame`` (24 kHz) per ``modelTurn`` audio part,
  faster than real time, bracketed by ``TTSStartedFrame`` (first part) and
  ``TTSStoppedFrame`` (``turnComplete``).
- Bot text: per ``outputTranscription`` one ``LLMTextFrame`` + one
  ``TTSTextFrame(includes_inter_frame_spaces=True)``, pushed as it arrives
  (ahead of its audio when the text runs ahead); the output transport
  releases them after the audio queued before them.
- Tools: ``toolCall`` -> ``FunctionCallsStartedFrame``,
  ``FunctionCallInProgressFrame``, ``FunctionCallResultFrame`` (broadcast);
  the result goes back as ``toolResponse`` as soon as it is pushed.
- Usage: ``LLMUsageMetricsData`` per ``turnComplete`` (also after an
  interruption), with input/output audio tokens from the modality details.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from pipecat_roark._compat import PIPECAT_1X


def _gemini_live_available() -> bool:
    if not PIPECAT_1X or importlib.util.find_spec("google.genai") is None:
        return False
    try:
        from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService  # noqa: F401
    except Exception:  # the class or one of its imports is missing on this Pipecat
        return False
    return True


pytestmark = pytest.mark.skipif(not _gemini_live_available(),
                                reason="GeminiLiveLLMService of Pipecat 1.x with google-genai installed")

if PIPECAT_1X:
    from tests.s2s import common
    from tests.s2s.common import (
        ACCEPTED_SPLITS, collapse, cut_truth, expected_assistant, expected_user_texts, responses,
    )

from tests.s2s import frames, scripts

SVC = "GeminiLiveLLMService"
TEXT_LEAD_SECS = 0.3
USER_TEXTS = ["Hi. I'd like to check my order status.", "It's order number four two seven.", "Thanks, that's all"]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    # Gemini's output transcription runs ahead of its audio: 0.3 s more than the script's leads.
    return common.run_once(tmp_path_factory, "gemini_live", {"text_lead_secs": TEXT_LEAD_SECS}, scripts.SENTENCES)


# --------------------------------------------------------------------------- #
# The harness itself (must pass: it proves the truth is sound)
# --------------------------------------------------------------------------- #


def test_the_fake_played_the_whole_script(outcome):
    t = outcome.call.truth
    assert outcome.call.ended_by == "end" and outcome.call.script_completed
    assert t.problems == []
    assert outcome.call.wall_secs < 30
    # The real client reached it over TLS, on the Developer API's path, with our setup.
    assert t.session["path"].startswith("/ws/google.ai.generativelanguage.")
    assert t.session["model"].startswith("models/gemini")
    assert "inputAudioTranscription" in t.session and "outputAudioTranscription" in t.session
    # It received the caller's PCM verbatim from the moment the session was ready.
    common.check_fake_got_the_callers_pcm_from_its_start(outcome)
    # Its VAD found the three utterances; each transcript went out after its reply's audio started.
    assert len(t.utterances) == 3 and expected_user_texts(scripts.SENTENCES) == USER_TEXTS
    for u in t.utterances:
        assert u.transcript_at > min(r.first_audio_at for r in t.responses if r.utterance == u.index)
    # The barge-in cut the tool's follow-up mid-generation.
    cut = responses(outcome)[("after_tool", 1)]
    assert cut.status == "cancelled" and 0 < cut.sent_samples < len(cut.audio)
    assert all(r.status == "completed" for r in t.responses if r is not cut)
    assert t.tool_outputs == {"call_lookup_427": json.dumps(scripts.ORDER_RESULT, ensure_ascii=False)}
    assert "serverContent.interrupted" in t.types("out") and "toolResponse" in t.types("in")


def test_frames_seen_by_observer_and_recorder(outcome):
    """The measured facts of the module docstring (and docs/pipecat-s2s-frames.md)."""
    ps = frames.pushes(outcome.call)
    rec = outcome.call.audio_processor.name.split("#")[0]
    print("\n" + frames.table(ps, rec) + "\n" + "\n".join(frames.timing(outcome)))
    prod = frames.first_producers(ps)
    assert not set(prod) & {"ProposedUserStartedSpeakingFrame", "UserStartedSpeakingFrame",
                            "UserStoppedSpeakingFrame", "VADUserStartedSpeakingFrame"}
    assert prod["TranscriptionFrame"] == {(SVC, "up")}
    # Broadcast by the service on the API's `interrupted`; nobody else originates one.
    assert {(SVC, "down"), (SVC, "up")} <= prod["InterruptionFrame"]
    assert ("LLMUserAggregator", "down") not in prod["InterruptionFrame"]
    meta = [e.frame for e in outcome.call.events.events if e.kind == "LLMServiceMetadataFrame"]
    assert meta and all(m.is_realtime_service for m in meta)
    at_rec = {p.kind for p in frames.reaching(ps, rec)}
    assert "TranscriptionFrame" not in at_rec
    assert {"TTSTextFrame", "InterruptionFrame", "BotStoppedSpeakingFrame", "FunctionCallResultFrame"} <= at_rec
    # One transcript per sentence (text with no sentence mark: 0.5 s after its last fragment),
    # each after its reply's audio started.
    t = outcome.call.truth
    tr = [p for p in ps if p.kind == "TranscriptionFrame"]
    assert [p.text for p in tr] == ["Hi.", " I'd like to check my order status.", USER_TEXTS[1], USER_TEXTS[2]]
    assert tr[3].secs - outcome.call.stream_secs_at_monotonic(t.utterances[2].transcript_at) > 0.45
    tr = [tr[0], tr[2], tr[3]]
    for p, u in zip(tr, t.utterances):
        first_audio = min(r.first_audio_at for r in t.responses if r.utterance == u.index)
        assert p.secs > outcome.call.stream_secs_at_monotonic(first_audio)
    # The service pushed the cut reply's text ahead of its audio; the transport dropped the unplayed part.
    svc_text = [p.text for p in ps if p.kind == "TTSTextFrame" and p.source == SVC]
    out_text = [p.text for p in ps if p.kind == "TTSTextFrame" and p.source == "DeviceOutputTransport"]
    # ...and, its text running ahead, the transport had released a word whose audio the barge-in cut.
    heard, _ = cut_truth(outcome)
    assert " expédiée." in svc_text and " expédiée." not in heard and " expédiée." in out_text
    assert len(out_text) < len(svc_text)


# --------------------------------------------------------------------------- #
# What Roark received
# --------------------------------------------------------------------------- #


def test_call_delivered_with_a_complete_recording(outcome):
    common.check_delivered_with_the_callers_speech_verbatim(outcome)
    common.check_replies_verbatim_the_cut_one_to_its_stop(outcome)


def test_user_turns_have_the_transcripts(outcome):
    assert [t["content"] for t in outcome.role("user")] == USER_TEXTS
    assert all("interrupted" not in t for t in outcome.role("user"))


def test_turns_in_spoken_order(outcome):
    common.check_turns_in_spoken_order(outcome)


def test_user_turns_sit_on_the_callers_speech(outcome):
    common.check_user_turns_sit_on_the_callers_speech(outcome)


def test_assistant_turns_hold_the_words_heard(outcome):
    got = [collapse(t["content"]) for t in outcome.role("assistant")]
    assert got in expected_assistant(outcome), ACCEPTED_SPLITS


def test_no_assistant_turn_holds_words_never_played(outcome):
    text = collapse(" ".join(t["content"] for t in outcome.role("assistant")))
    assert "expédiée" not in text and "vendredi" not in text


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


def test_usage_by_modality_in_metrics(outcome):
    usage = common.llm_usage_metrics(outcome)
    truth = [r.usage for r in outcome.call.truth.responses]
    assert len(usage) == len(truth)
    assert sum(m["totalTokens"] for m in usage) == sum(u["total_tokens"] for u in truth)
    audio_in = sum(m.get("extra", {}).get("inputAudioTokens", 0) for m in usage)
    audio_out = sum(m.get("extra", {}).get("outputAudioTokens", 0) for m in usage)
    assert audio_in == sum(u["input_token_details"]["audio_tokens"] for u in truth)
    assert audio_out == sum(u["output_token_details"]["audio_tokens"] for u in truth)
