"""A speech-to-speech call through the real ``OpenAIRealtimeLLMService`` (Pipecat 1.14).

One ~17 s real-time call (see :mod:`tests.s2s.scripts`) runs once for the
module against a local fake of the OpenAI Realtime API
(:mod:`pipecat_roark.testing.realtime.openai_fake`), with ``RoarkObserver``
and its ``audio_processor`` shipping to the dev server over loopback. The
truth is what the fake produced and received, sample-exact: the caller's
PCM it got, each reply's PCM and words, where each word starts in the
reply's audio, how far the cut reply was sent and truncated. The tests
compare Roark's transcript, tool records, metrics and recording with it.

Tests marked ``xfail(strict=True)`` state what the current capture gets
wrong; remove the mark when the capture is fixed (strict: a fixed one
fails until its mark goes).

What reaches the observer and the recorder in this pipeline (measured on
1.14 with this module, ``-s`` prints the digest; stream seconds are
positions in the caller's audio; ``svc`` = OpenAIRealtimeLLMService,
``out`` = transport.output(), recorder = the processor after ``out``):

- ``LLMServiceMetadataFrame(is_realtime_service=True)``: broadcast by svc at
  start (down to out and the recorder, up to the user aggregator).
- Caller audio: ``InputAudioRawFrame`` every 20 ms, passed through by svc,
  reaches the recorder in real time. No VAD frames (no local VAD).
- ``ProposedUserStarted/StoppedSpeakingFrame``: broadcast by svc on the
  server's ``speech_started`` (caller onset + the server VAD's ~30-40 ms)
  and ``speech_stopped`` (caller offset + ``silence_duration_ms``, 500 ms).
  The user aggregator turns them into ``UserStarted/StoppedSpeakingFrame``
  (broadcast, ~1 ms later) and, at every start, an ``InterruptionFrame``
  (also when the bot is silent). All reach the recorder downstream.
- ``TranscriptionFrame`` (``user_id=""``, final): pushed **upstream** by svc
  to the user aggregator, which consumes it: it never travels downstream
  and never reaches the recorder. It arrives when the API's input
  transcription completes: here 0.7-1.4 s after ``speech_stopped``, i.e.
  after the reply's audio started. The observer sees it (first push,
  direction UPSTREAM). ``InterimTranscriptionFrame`` likewise (upstream)
  when the API streams transcription deltas.
- Bot audio: ``TTSAudioRawFrame`` (24 kHz) pushed by svc as the API streams
  it (faster than real time); ``TTSStartedFrame`` before the first delta,
  ``TTSStoppedFrame`` at ``response.done``. The output transport plays it
  and passes ``OutputAudioRawFrame``\\ s on to the recorder at playback pace,
  with ``BotStarted/StoppedSpeakingFrame``.
- Bot text: per transcript delta one ``LLMTextFrame(append_to_context=False)``
  and one ``TTSTextFrame(text_type=sentence, includes_inter_frame_spaces=True,
  pts unset)`` pushed by svc as the delta arrives (up to seconds before its
  audio); the output transport re-pushes each to the recorder after the
  audio queued before it has played, and drops the unplayed ones on an
  interruption.
- Barge-in: svc gets ``speech_started`` while the bot is playing; the user
  aggregator broadcasts ``InterruptionFrame``; svc sends
  ``conversation.item.truncate`` (``audio_end_ms`` = wall time since the
  first delta, capped at the audio received) and pushes
  ``LLMFullResponseEndFrame`` + ``TTSStoppedFrame``; the output transport
  stops within one chunk and emits ``BotStoppedSpeakingFrame``.
- Tools: ``FunctionCallsStartedFrame``, ``FunctionCallInProgressFrame``,
  ``FunctionCallResultFrame``: broadcast by svc when
  ``response.function_call_arguments.done`` arrives (before the reply's
  audio has played); the downstream copies are held by the output
  transport behind the queued audio, so they reach the recorder after it.
- Metrics: ``MetricsFrame`` with ``LLMUsageMetricsData`` (prompt/completion/
  total, cached, input/output audio tokens) per ``response.done``
  (cancelled ones too), TTFB from ``speech_stopped`` to the first audio.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipecat_roark._compat import PIPECAT_1X

pytestmark = pytest.mark.skipif(not PIPECAT_1X, reason="OpenAIRealtimeLLMService of Pipecat 1.x")

if PIPECAT_1X:
    from tests.s2s import common
    from tests.s2s.common import (
        ACCEPTED_SPLITS, collapse, cut_truth, expected_assistant, expected_user_texts, responses,
    )

from tests.s2s import frames, scripts

@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return common.run_once(tmp_path_factory, "openai_realtime")


# --------------------------------------------------------------------------- #
# The harness itself (must pass: it proves the truth is sound)
# --------------------------------------------------------------------------- #


def test_the_fake_played_the_whole_script(outcome):
    t = outcome.call.truth
    assert outcome.call.ended_by == "end" and outcome.call.script_completed
    assert t.problems == []
    assert outcome.call.wall_secs < 30
    # It received exactly the caller's PCM (same rate: no resampling on the way).
    got = t.received_samples
    caller = outcome.call.timeline.samples
    n = min(len(got), len(caller))
    assert n >= len(caller) - 24000 and np.array_equal(got[:n], caller[:n])
    # Its server VAD found the three utterances where they are (within 40 ms).
    spans = outcome.call.timeline.speech_spans
    assert len(t.utterances) == 3
    for u, s in zip(t.utterances, spans):
        assert abs(u.start_sample - s.start_sample) < 960 and abs(u.end_sample - s.end_sample) < 960
        assert u.transcript_at > min(r.first_audio_at for r in t.responses if r.utterance == u.index)
    # The barge-in cancelled the tool's follow-up mid-generation, and Pipecat truncated it.
    cut = responses(outcome)[("after_tool", 1)]
    assert cut.status == "cancelled" and 0 < cut.sent_samples < len(cut.audio)
    assert cut.truncated_at_ms is not None
    assert all(r.status == "completed" for r in t.responses if r is not cut)
    assert t.tool_outputs == {"call_lookup_427": json.dumps(scripts.ORDER_RESULT, ensure_ascii=False)}
    assert "conversation.item.truncate" in t.types("in")


def test_frames_seen_by_observer_and_recorder(outcome):
    """The measured facts of the module docstring (and docs/pipecat-s2s-frames.md)."""
    ps = frames.pushes(outcome.call)
    rec = outcome.call.audio_processor.name.split("#")[0]
    print("\n" + frames.table(ps, rec) + "\n" + "\n".join(frames.timing(outcome)))
    prod = frames.first_producers(ps)
    svc = "OpenAIRealtimeLLMService"
    assert prod["TranscriptionFrame"] == {(svc, "up")}
    assert not [p for p in ps if p.kind == "TranscriptionFrame" and p.direction == "down"]
    assert {(svc, "down"), (svc, "up")} <= prod["LLMServiceMetadataFrame"]
    assert prod["ProposedUserStartedSpeakingFrame"] >= {(svc, "down"), (svc, "up")}
    assert ("LLMUserAggregator", "down") in prod["InterruptionFrame"]
    assert (svc, "down") in prod["TTSTextFrame"] and ("DeviceOutputTransport", "down") in prod["TTSTextFrame"]
    at_rec = {p.kind for p in frames.reaching(ps, rec)}
    assert "TranscriptionFrame" not in at_rec
    assert {"TTSTextFrame", "UserStartedSpeakingFrame", "InterruptionFrame", "BotStoppedSpeakingFrame",
            "FunctionCallResultFrame"} <= at_rec
    # Each transcript reaches the observer after its reply's audio started.
    t = outcome.call.truth
    tr = [p for p in ps if p.kind == "TranscriptionFrame"]
    assert [p.text for p in tr] == [h.transcript for h in scripts.SCRIPT.heard]
    for p, u in zip(tr, t.utterances):
        first_audio = min(r.first_audio_at for r in t.responses if r.utterance == u.index)
        assert p.secs > outcome.call.stream_secs_at_monotonic(first_audio)
    # Bot text is pushed by the service ahead of its audio and released by the transport.
    svc_text = [p.text for p in ps if p.kind == "TTSTextFrame" and p.source == svc]
    out_text = [p.text for p in ps if p.kind == "TTSTextFrame" and p.source == "DeviceOutputTransport"]
    # The service streamed the cut reply's text ahead of its audio; the transport dropped what
    # it had not released at the barge-in, but had released a word whose audio was cut.
    heard, _ = cut_truth(outcome)
    assert " expédiée." in svc_text and " expédiée." not in heard and " expédiée." in out_text
    assert len(out_text) <= len(svc_text)


# --------------------------------------------------------------------------- #
# What Roark received
# --------------------------------------------------------------------------- #


def test_call_delivered_with_a_complete_recording(outcome):
    # The caller's audio, every utterance verbatim, in order.
    common.check_delivered_with_the_callers_speech_verbatim(outcome)
    # Every reply verbatim on the right, the cut one up to where it was cut.
    common.check_replies_verbatim_the_cut_one_to_its_stop(outcome)


def test_user_turns_have_the_transcripts(outcome):
    assert [t["content"] for t in outcome.role("user")] == expected_user_texts()
    assert all("interrupted" not in t for t in outcome.role("user"))


def test_turns_in_spoken_order(outcome):
    common.check_turns_in_spoken_order(outcome)
    assert [t["content"] for t in outcome.role("user")] == [h.transcript for h in scripts.SCRIPT.heard]


def test_user_turns_sit_on_the_callers_speech(outcome):
    common.check_user_turns_sit_on_the_callers_speech(outcome)


def test_assistant_turns_hold_the_words_heard(outcome):
    got = [collapse(t["content"]) for t in outcome.role("assistant")]
    assert got in expected_assistant(outcome), ACCEPTED_SPLITS


def test_responses_in_one_turn_are_separated(outcome):
    text = " ".join(t["content"] for t in outcome.role("assistant"))
    assert "🔎Commande" not in text


def test_no_assistant_turn_holds_words_never_played(outcome):
    heard, _ = cut_truth(outcome)
    unplayed = collapse(scripts.SHIPPED.text[len(heard):])
    text = collapse(" ".join(t["content"] for t in outcome.role("assistant")))
    assert unplayed and "expédiée" not in text and "vendredi" not in text


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
    assert sum(m["totalTokens"] for m in usage) == sum(u["total_tokens"] for u in truth)
    audio_out = sum(m.get("extra", {}).get("outputAudioTokens", 0) for m in usage)
    assert audio_out == sum(u["output_token_details"]["audio_tokens"] for u in truth)
