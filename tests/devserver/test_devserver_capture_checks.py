"""Pure tests of the capture-control checks (issue 15): new fields accepted, leaks reported."""

from __future__ import annotations

import copy

import pytest

from pipecat_roark.devserver import checks
from pipecat_roark.devserver.checks import ChunkUpload

from test_devserver_checks import ENDED, STARTED  # tests/devserver has no __init__ (rootdir-relative imports)

USER = {"role": "user", "content": "hi there", "timestamp": "2025-05-01T10:00:01Z",
        "endTimestamp": "2025-05-01T10:00:02Z", "audioOffsetMs": 1000, "endAudioOffsetMs": 2000}
QUALITY = {"provider": "deepgram", "confidence": 0.42, "confidenceFrom": "provider",
           "words": [{"word": "hi", "start": 0.2, "end": 0.4, "confidence": 0.4, "audioOffsetMs": 1000,
                      "endAudioOffsetMs": 1200}, {"start": 0.5, "end": 0.7}]}
LOGS = [{"timestamp": "2025-05-01T10:00:03.000Z", "level": "WARNING", "message": "slow", "logger": "pipecat.x",
         "audioOffsetMs": 3000}, {"timestamp": "2025-05-01T10:00:04.000Z", "level": "ERROR", "message": "x", "count": 3}]


def ended(**fields):
    end = copy.deepcopy(ENDED)
    end.update(fields)
    return {k: v for k, v in end.items() if v is not None}


def test_the_new_fields_are_accepted():
    end = ended(transcript=[{**USER, "sttQuality": QUALITY}], logs=LOGS, logsDropped=2, audioConsent="granted",
                captureOff=["tools"], toolCalls=None, agentSpokeFirst=False)
    assert checks.check_event(end) == []


@pytest.mark.parametrize("fields, expected", [
    ({"captureOff": ["transcript"]}, "transcript sent although captureOff says 'transcript' is off"),
    ({"captureOff": ["sound"]}, "unknown switch 'sound'"),
    ({"audioConsent": "maybe"}, "audioConsent must be one of"),
    ({"audioConsent": "discarded"}, "recordingSampleRate sent although audioConsent is 'discarded'"),
    ({"logs": [{"level": "LOUD", "message": "m", "timestamp": "t"}]}, "level 'LOUD' is not a log level"),
    ({"logs": [{**LOGS[0], "audioOffsetMs": -5}]}, "logs[0]: audioOffsetMs must be an int >= 0"),
    ({"logs": []}, "logs must be a non-empty list"),
    ({"logsDropped": 0}, "logsDropped must be an int >= 1"),
    ({"transcript": [{**USER, "sttQuality": {**QUALITY, "confidence": 0}}]}, "sttQuality.confidence must be in (0, 1]"),
    ({"transcript": [{**USER, "role": "assistant", "sttQuality": QUALITY}]}, "only meaningful on user turns"),
    ({"transcript": [{**USER, "sttQuality": {"words": [{"audioOffsetMs": 1.5}]}}]}, "words[0].audioOffsetMs"),
])
def test_bad_capture_fields_are_reported(fields, expected):
    if fields.get("audioConsent") == "discarded":
        fields.update(recordingSampleRate=24000, recordingNumChannels=2)
    problems = checks.check_event(ended(**fields))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("fields", [{"audioConsent": "not_given"}, {"captureOff": ["audio"]}])
def test_audio_that_arrives_without_consent_or_with_audio_off_is_a_problem(fields):
    end = ended(recordingSampleRate=None, recordingNumChannels=None, recordingStartedAt=None, **fields)
    uploads = [ChunkUpload(index=0, size=4000, digest="d", seq=2)]
    problems = checks.check_call([(1, STARTED), (3, end)], uploads)
    assert any("arrived although" in p for p in problems), problems
    assert not any("arrived although" in p for p in checks.check_call([(1, STARTED), (3, end)], []))
