"""Confidence and word timings from TranscriptionFrame.result (stt_quality.py)."""

import datetime
from types import SimpleNamespace

import pytest

from pipecat_roark.models import SttQuality
from pipecat_roark.stt_quality import Quality, Word, anchor_offset_ms, extract, is_low_confidence, merge, to_wire

DEEPGRAM_MESSAGE = {
    # A final result as Deepgram's live API sends it (fields the SDK requires).
    "type": "Results", "channel_index": [0, 1], "duration": 1.2, "start": 3.5, "is_final": True,
    "speech_final": True,
    "channel": {"alternatives": [{
        "transcript": "order one two", "confidence": 0.91,
        "words": [
            {"word": "order", "start": 3.52, "end": 3.9, "confidence": 0.99, "punctuated_word": "Order"},
            {"word": "one", "start": 3.9, "end": 4.1, "confidence": 0.8, "punctuated_word": "one"},
            {"word": "two", "start": 4.1, "end": 4.6, "confidence": 0.94, "punctuated_word": "two."},
        ],
    }]},
    "metadata": {"request_id": "r", "model_info": {"name": "nova-3", "version": "1", "arch": "a"}, "model_uuid": "u"},
}


def _deepgram_result(message=DEEPGRAM_MESSAGE):
    types = pytest.importorskip("deepgram.listen.v1.types")
    return types.ListenV1Results.model_validate(message)


def test_deepgram_sdk_result():
    q = extract(_deepgram_result())
    assert q.provider == "deepgram" and q.confidence == 0.91 and q.confidence_from == "provider"
    assert [w.word for w in q.words] == ["Order", "one", "two."]
    assert q.words[0] == Word("Order", 3.52, 3.9, 0.99)


async def test_deepgram_service_puts_that_object_in_the_frame():
    """The installed DeepgramSTTService hands the SDK message to TranscriptionFrame.result unchanged."""
    from pipecat.frames.frames import TranscriptionFrame
    from pipecat.services.deepgram.stt import DeepgramSTTService

    svc = DeepgramSTTService(api_key="test-key")
    pushed = []

    async def push_frame(frame, direction=None):
        pushed.append(frame)

    async def nothing(*a, **k):
        return None

    svc.push_frame = push_frame
    for name in ("emit_stt_usage_metrics", "_handle_transcription", "stop_ttfb_metrics", "stop_processing_metrics"):
        if hasattr(svc, name):
            setattr(svc, name, nothing)
    await svc._on_message(_deepgram_result())
    frames = [f for f in pushed if isinstance(f, TranscriptionFrame)]
    assert len(frames) == 1
    q = extract(frames[0].result)
    assert q is not None and q.confidence == 0.91 and len(q.words) == 3


def test_deepgram_missing_confidence_is_none_not_zero():
    msg = {**DEEPGRAM_MESSAGE, "channel": {"alternatives": [{
        "transcript": "hi", "confidence": 0.0, "words": [{"word": "hi", "start": 1.0, "end": 1.2, "confidence": 0.0}],
    }]}}
    q = extract(_deepgram_result(msg))
    assert q.confidence is None and q.words[0].confidence is None and q.words[0].start == 1.0
    wire = to_wire(q)
    assert "confidence" not in wire and "confidence" not in wire["words"][0]


def test_assemblyai_streaming_turn_message():
    from pipecat.services.assemblyai.models import TurnMessage

    msg = TurnMessage.model_validate({
        "type": "Turn", "turn_order": 0, "turn_is_formatted": True, "end_of_turn": True,
        "transcript": "Hello there.", "end_of_turn_confidence": 0.7,
        "words": [
            {"start": 1200, "end": 1500, "text": "Hello", "confidence": 0.9, "word_is_final": True},
            {"start": 1520, "end": 1900, "text": "there.", "confidence": 0.7, "word_is_final": True},
        ],
    })
    q = extract(msg)
    assert q.provider == "assemblyai"
    assert q.words[0] == Word("Hello", 1.2, 1.5, 0.9)  # milliseconds -> seconds
    assert q.confidence == pytest.approx(0.8) and q.confidence_from == "words"  # not end_of_turn_confidence


def test_assemblyai_file_api_dict():
    q = extract({"text": "yes", "confidence": 0.88, "words": [{"text": "yes", "start": 100, "end": 400, "confidence": 0.88}]})
    assert q.provider == "assemblyai" and q.confidence == 0.88 and q.confidence_from == "provider"
    assert q.words[0].start == 0.1


def test_speechmatics_results_list():
    results = [
        {"type": "word", "start_time": 0.5, "end_time": 0.9, "alternatives": [{"content": "Good", "confidence": 1.0}]},
        {"type": "word", "start_time": 0.9, "end_time": 1.3, "alternatives": [{"content": "morning", "confidence": 0.6}]},
        {"type": "punctuation", "start_time": 1.3, "end_time": 1.3, "alternatives": [{"content": ".", "confidence": 1.0}]},
    ]
    q = extract(results)
    assert q.provider == "speechmatics" and [w.word for w in q.words] == ["Good", "morning"]
    assert q.confidence == pytest.approx(0.8)


def test_google_like_result_with_durations():
    result = SimpleNamespace(alternatives=[SimpleNamespace(confidence=0.75, words=[
        SimpleNamespace(word="hi", start_offset=datetime.timedelta(seconds=2), end_offset=datetime.timedelta(seconds=2.4),
                        confidence=0.0),
    ])])
    q = extract(result)
    assert q.provider == "google" and q.confidence == 0.75 and q.words[0] == Word("hi", 2.0, 2.4, None)


@pytest.mark.parametrize("result", [None, "text", b"x", {}, {"text": "no words"}, [], 42, object(),
                                    {"channel": {"alternatives": []}}])
def test_no_quality_is_none(result):
    assert extract(result) is None


def test_broken_result_never_raises():
    class Boom:
        @property
        def channel(self):
            raise RuntimeError("no")

    assert extract(Boom()) is None


def test_merge_weights_by_words_and_keeps_order():
    a = Quality("deepgram", 0.9, (Word("a", 1.0, 1.1, 0.9),), "provider")
    b = Quality("deepgram", 0.6, (Word("b", 2.0, 2.1, 0.5), Word("c", 2.1, 2.2, 0.7)), "provider")
    m = merge([a, None, b])
    assert [w.word for w in m.words] == ["a", "b", "c"]
    assert m.confidence == pytest.approx((0.9 + 0.6 * 2) / 3) and m.confidence_from == "provider"
    assert merge([None]) is None and merge([a]) is a
    assert merge([Quality("x", None, (Word("a", 1.0, 1.1, None),))]).confidence is None


def test_words_placed_on_the_recording():
    q = extract(_deepgram_result())
    origin = anchor_offset_ms(q, turn_onset_ms=12_000)  # the turn's onset on the recording
    assert origin == pytest.approx(12_000 - 3520)
    wire = to_wire(q, origin)
    assert [(w["audioOffsetMs"], w["endAudioOffsetMs"]) for w in wire["words"]] == [
        (12000, 12380), (12380, 12580), (12580, 13080)]
    assert anchor_offset_ms(q, None) is None
    # A word that would land before sample 0 gets no offset rather than a negative one.
    early = to_wire(Quality("x", None, (Word("w", 0.1, 0.5, None),)), -300.0)
    assert "audioOffsetMs" not in early["words"][0] and early["words"][0]["endAudioOffsetMs"] == 200
    assert SttQuality.model_validate(wire).to_wire()["confidenceFrom"] == "provider"


def test_low_confidence_is_unknown_without_confidence():
    assert is_low_confidence(Quality("x", 0.4)) is True
    assert is_low_confidence(Quality("x", 0.9)) is False
    assert is_low_confidence(Quality("x", None)) is None and is_low_confidence(None) is None


def test_redaction_drops_the_words_and_keeps_their_timings():
    from pipecat_roark.redaction import build_redactor

    wire = {"transcript": [{"role": "user", "content": "my number is 5 5 5", "sttQuality": to_wire(extract(_deepgram_result()), 0.0)}]}
    build_redactor(lambda t: t.replace("5", "#")).payload(wire)
    words = wire["transcript"][0]["sttQuality"]["words"]
    assert all("word" not in w for w in words) and words[0]["start"] == 3.52 and words[0]["confidence"] == 0.99
