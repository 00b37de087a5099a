"""The pure parts of capture_control / callpolicy added when wiring issue 15."""

from types import SimpleNamespace

from pipecat_roark.callpolicy import CallPolicy
from pipecat_roark.capture_control import quality_of_turn
from pipecat_roark.policy import CapturePolicy, SamplingCounts, filter_ended
from pipecat_roark.stt_quality import Quality


def test_a_transcription_joins_the_turn_its_words_went_to():
    q = [(t, Quality("deepgram", c)) for t, c in ((100, 0.9), (250, 0.5), (400, 0.7))]
    turn = SimpleNamespace(first_text_t=100, last_text_t=250)
    assert [x.confidence for x in quality_of_turn(turn, q)] == [0.9, 0.5]
    assert quality_of_turn(SimpleNamespace(first_text_t=None, last_text_t=None), q) == []
    assert quality_of_turn(SimpleNamespace(first_text_t=401, last_text_t=500), q) == []


def test_a_recording_still_waiting_for_consent_is_freed_at_the_end_and_still_reads_not_given():
    policy = CallPolicy("c", capture=CapturePolicy(), defer_audio=True, counts=SamplingCounts())
    assert policy.chunk(0, b"\0" * 400) == [] and policy.gate.held_bytes == 400
    policy.close()
    assert policy.gate.held_bytes == 0 and policy.ended_extra()["audio_consent"] == "not_given"
    assert policy.allow_audio() == []  # nothing comes back after the end


def test_metrics_lose_their_turn_index_when_the_transcript_is_not_sent():
    payload = {"transcript": [{"role": "user"}], "metrics": [{"kind": "stt", "turnIndex": 0}]}
    out = filter_ended(payload, CapturePolicy(transcript=False))
    assert out["metrics"] == [{"kind": "stt"}] and "transcript" not in out and out["captureOff"] == ["transcript"]
    assert filter_ended(payload, CapturePolicy())["metrics"] == [{"kind": "stt", "turnIndex": 0}]
