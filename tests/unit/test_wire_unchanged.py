"""The wire of call-ended, key for key, as it was before every part of it became a model.

``tests/unit/data/wire_golden.json`` was written by the code that built the
summary, the recording health, the metric records and the recovery record as
free dicts (``python -m tests.unit.test_wire_unchanged`` rewrites it: do that
only for a deliberate change of the wire). Each scenario below goes through
the same public code path (Call.build_ended, summary.recording_health,
metrics.to_records, replay.rebuild_ended, Redactor.payload) and must give the
same JSON, values and key order both (see the one exception in the test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipecat_roark.call import Call, Edge
from pipecat_roark.config import build_settings
from pipecat_roark.metrics import to_records
from pipecat_roark.redaction import Redactor
from pipecat_roark.replay import CallReplay, rebuild_ended
from pipecat_roark.spool import Journal
from pipecat_roark.summary import recording_health

GOLDEN = Path(__file__).parent / "data" / "wire_golden.json"
S = 1_000_000_000
SETTINGS = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}, roark_integration_id="int-1")
REDACTING = build_settings(agent_id="a", base_url="http://127.0.0.1:9", env={}, redact=True)


# Pipecat's metric data, duck-typed (to_records reads class names and attributes only).
class _Data:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class TTFBMetricsData(_Data):
    pass


class ProcessingMetricsData(_Data):
    pass


class LLMUsageMetricsData(_Data):
    pass


class TTSUsageMetricsData(_Data):
    pass


class STTUsageMetricsData(_Data):
    pass


class TTFAMetricsData(_Data):
    pass


class SmartTurnMetricsData(_Data):
    pass


class _Placed(Call):
    """Edges placed on the recording as they come (as tests/unit/test_call.py does)."""

    def _place(self, turn, which, t, pos, **kw):
        if turn is not None and pos is not None:
            (self.set_start if which == "start" else self.set_end)(turn, Edge(t, pos), **kw)
        return turn

    def user_started(self, t_ns, pos=None):
        return self._place(super().user_started(t_ns), "start", t_ns, pos)

    def user_stopped(self, t_ns, pos=None):
        return self._place(super().user_stopped(t_ns), "end", t_ns, pos)

    def bot_started(self, t_ns, pos=None, user_end=None):
        return self._place(super().bot_started(t_ns), "start", t_ns, pos, user_end=user_end)

    def bot_stopped(self, t_ns, pos=None):
        return self._place(super().bot_stopped(t_ns), "end", t_ns, pos)


def _metric_records():
    usage = _Data(prompt_tokens=120, completion_tokens=30, total_tokens=150, cache_read_input_tokens=20,
                  reasoning_tokens=4)
    return (
        to_records([TTFBMetricsData(processor="OpenAILLMService#0", model="gpt-4o", value=0.42)], "llm"),
        to_records([ProcessingMetricsData(processor="OpenAILLMService#0", value=0.9),
                    LLMUsageMetricsData(processor="OpenAILLMService#0", model="gpt-4o", value=usage)], "llm"),
        to_records([TTSUsageMetricsData(processor="CartesiaTTSService#0", value=41),
                    TTFAMetricsData(processor="CartesiaTTSService#0", ttfa=0.31, ttfb=0.2, leading_silence=0.05)],
                   "tts"),
        to_records([STTUsageMetricsData(processor="DeepgramSTTService#0", value=_Data(audio_seconds=2.34567))]),
        to_records([SmartTurnMetricsData(processor="LocalSmartTurnAnalyzerV3#0", is_complete=True,
                                         probability=0.93, inference_time_ms=12.5)]),
    )


def rich_call() -> _Placed:
    c = _Placed("rich")
    c.start(0, 1_800_000_000.0)
    c.set_recording(16000)
    c.recording_started(int(0.05 * S))
    ttfb, llm, tts, stt, eou = _metric_records()
    c.bot_started(int(0.1 * S), 1600)
    c.bot_text(int(0.2 * S), "Hello! How can I help?")
    c.add_metrics(int(0.15 * S), tts)
    c.bot_stopped(1 * S, 16000)
    c.user_started(2 * S, 32000)
    c.transcription(int(2.6 * S), "I need my order", user_id="u-1", language="en-US")
    c.user_stopped(3 * S, 48000)
    c.add_metrics(int(3.1 * S), stt + eou, pos=49600)
    c.add_metrics(int(3.3 * S), ttfb + llm, pos=52800)
    c.tool_call(int(3.4 * S), "t1", "lookup_order", {"order": 42}, pos=54400)
    c.tool_result(int(3.7 * S), "t1", {"status": "shipped"}, pos=59200)
    c.tool_call(int(3.8 * S), "t2", "charge", {}, pos=60800)
    c.tool_result(int(3.9 * S), "t2", "no", error="RuntimeError: declined", pos=62400)
    c.tool_call(int(3.95 * S), "t3", "slow", {})
    c.bot_started(int(4.2 * S), 67200, user_end=int(3.05 * 16000))
    c.bot_text(int(4.3 * S), "It shipped yesterday, and")
    c.user_started(int(5.0 * S), 80000)
    c.interruption(int(5.2 * S), 83200)
    c.bot_stopped(int(5.3 * S), 84800)
    c.transcription(int(5.6 * S), "thanks, bye")
    c.user_stopped(6 * S, 96000)
    c.error(int(6.1 * S), "TTS socket closed", "CartesiaTTSService#0")
    c.error(int(6.2 * S), "TTS socket closed", "CartesiaTTSService#0")
    c.error(int(6.3 * S), "fatal thing", "X#0", fatal=True, category="network")
    c.end(8 * S, "EndFrame")
    return c


def _health(**kw):
    args = dict(capture_audio=True, recorder_present=True,
                capture={"rate": 16000, "samples": 126_400, "sound_ms": [2500, 3100]},
                chunks_produced=2, chunks_delivered=2, chunks_lost=0, call_ms=7950.0, bot_spoke=True,
                user_spoke=True)
    args.update(kw)
    return recording_health(**args)


def scenarios() -> dict:
    out = {}
    out["rich"] = rich_call().build_ended(SETTINGS, now_wall=1_800_000_100.0, recording_delivered=True,
                                          recording=_health())
    out["rich-partial"] = rich_call().build_ended(
        SETTINGS, now_wall=1_800_000_100.0, recording_delivered=True,
        recording=_health(chunks_produced=3, chunks_delivered=2, chunks_lost=1,
                          capture={"rate": 16000, "samples": 400_000, "sound_ms": [0, 3100]}))
    out["rich-not-delivered"] = rich_call().build_ended(
        SETTINGS, now_wall=1_800_000_100.0, recording_delivered=False,
        recording=_health(chunks_delivered=0, chunks_lost=2))
    out["recording-off"] = rich_call().build_ended(
        SETTINGS, now_wall=1_800_000_100.0, recording_delivered=False, recording=_health(capture_audio=False))
    out["recording-empty"] = rich_call().build_ended(
        SETTINGS, now_wall=1_800_000_100.0, recording_delivered=False,
        recording=_health(capture={"rate": 16000, "samples": 0}, call_ms=None))

    empty = Call("empty")
    empty.start(0, 1_800_000_000.0)
    empty.end(2 * S, "CancelFrame")
    out["empty"] = empty.build_ended(SETTINGS, now_wall=1_800_000_100.0, recording_delivered=False)

    journal = Journal(produced={0: 1000, 1: 1000, 2: 1000, 3: 600}, delivered={0}, formats=[(16000, 2)],
                      last_write=1_800_000_050.0)
    replay = CallReplay("rec-1", "failed", chunks=[2], silenced=[1], lost_tail=[3], bytes_lost=1600)
    recovered = rebuild_ended({"callId": "rec-1", "callStartedAt": "2027-01-15T08:00:00.000Z",
                               "integrationId": "int-1", "sampleRate": 8000}, journal, replay, 0.0)
    recovered["eventTimestamp"] = "<now>"
    out["recovered"] = recovered
    bare = rebuild_ended({"callId": "rec-2"}, Journal(), CallReplay("rec-2", "failed"), 1_800_000_001.0)
    bare["eventTimestamp"] = "<now>"
    out["recovered-nothing"] = bare

    redacted = rich_call().build_ended(REDACTING, now_wall=1_800_000_100.0, recording_delivered=True,
                                       recording=_health())
    out["redacted"] = redacted
    out["redacted-extensions"] = Redactor(True).payload(_extension_payload())
    return out


def _extension_payload() -> dict:
    """Every extension the redactor covers, as a wire dict (and a field it must leave alone)."""
    return {
        "event": "call-ended",
        "transcript": [
            {"role": "user", "content": "mail jane@x.com", "userId": "+14155550132",
             "sttQuality": {"provider": "deepgram", "confidence": 0.9,
                            "words": [{"word": "jane@x.com", "punctuatedWord": "Jane@x.com", "start": 1.0,
                                       "end": 1.5, "confidence": 0.8}, {"start": 2.0}]}},
            "not a turn",
        ],
        "toolCalls": [
            {"kind": "tool_call", "toolCallId": "t", "name": "jane@x.com", "arguments": "\"4111 1111 1111 1111\""},
            {"kind": "tool_result", "toolCallId": "t", "content": "call 415-555-0132", "error": "jane@x.com"},
        ],
        "errors": [{"message": "jane@x.com", "processor": "jane@x.com"}],
        "logs": [{"message": "user said jane@x.com", "logger": "jane@x.com", "level": "INFO"}],
        "telephony": {"provider": "twilio", "fromNumber": "+14155550132", "toNumber": "sip:bob@example.com",
                      "callId": "CA1"},
        "events": [{"kind": "dtmf", "name": "jane@x.com", "data": {"digits": "4111 1111 1111 1111",
                                                                   "nested": ["jane@x.com", 4111111111111111]}},
                   {"kind": "user", "name": "x", "data": "jane@x.com"}],
        "callSummary": {"note": "jane@x.com"},
        "metadata": {"email": "jane@x.com"},
    }


def test_call_ended_wire_is_unchanged_key_for_key():
    golden = json.loads(GOLDEN.read_text())
    now = json.loads(json.dumps(scenarios()))
    assert sorted(now) == sorted(golden)
    for name in golden:
        assert now[name] == golden[name], name
        # Same keys in the same order, at every level; except that a rebuilt
        # call-ended (built by hand before) now has the top-level order of
        # every other call-ended: the model's.
        if not name.startswith("recovered"):
            assert list(now[name]) == list(golden[name]), name
        for key in golden[name]:
            assert json.dumps(now[name][key]) == json.dumps(golden[name][key]), (name, key)


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(scenarios(), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
