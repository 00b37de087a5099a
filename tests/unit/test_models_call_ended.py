"""Every part of call-ended is a model: summary, recording health, metric records, recovery."""

from __future__ import annotations

from pipecat_roark.call import Call
from pipecat_roark.metrics import UsageTotals, measurements, to_records
from pipecat_roark.models import (
    CallEnded, CallSummary, MetricMeasurement, MetricRecord, RecordingHealth, Recovery, wire_names,
)
from tests.unit.test_wire_unchanged import GOLDEN, LLMUsageMetricsData, TTFBMetricsData, _Data

import json

S = 1_000_000_000


def test_a_call_ended_read_back_has_typed_parts():
    golden = json.loads(GOLDEN.read_text())
    rich = CallEnded.model_validate(golden["rich"])
    assert isinstance(rich.call_summary, CallSummary) and rich.call_summary.latency.median_ms == 1150
    assert rich.call_summary.tool_calls.no_result == 1 and rich.call_summary.usage.cached_tokens == 20
    assert isinstance(rich.recording_health, RecordingHealth) and rich.recording_health.channels.bot.sound_ms == 3100
    assert all(isinstance(m, MetricRecord) for m in rich.metrics)
    recovered = CallEnded.model_validate(golden["recovered"])
    assert isinstance(recovered.recovery, Recovery) and recovered.recovery.chunks_replaced_by_silence == [1]
    # Read back and written again: the same wire.
    assert rich.to_wire() == golden["rich"] and recovered.to_wire() == golden["recovered"]


def test_extensions_of_the_parts_stay_allowed():
    s = CallSummary.model_validate({"turns": {"user": 1, "assistant": 1}, "talkTimeMs": {"user": 1, "assistant": 2},
                                    "cost": {"usd": 0.1}, "latency": {"count": 0, "perTurn": [1]}})
    assert s.to_wire()["cost"] == {"usd": 0.1} and s.to_wire()["latency"] == {"count": 0, "perTurn": [1]}
    h = RecordingHealth.model_validate({"samples": 1})  # any measurement: never costs the call-ended
    assert h.to_wire() == {"samples": 1}


def test_measurements_are_models_and_to_records_their_wire_dicts():
    data = [TTFBMetricsData(processor="OpenAILLMService#0", model="m", value=0.4),
            TTFBMetricsData(processor="OpenAILLMService#0", value=0.0),  # not a measurement
            LLMUsageMetricsData(processor="OpenAILLMService#0", value=_Data(prompt_tokens=3, completion_tokens=None))]
    ms = measurements(data, "llm")
    assert [type(m) for m in ms] == [MetricMeasurement, MetricMeasurement]
    assert ms[0].ttft == ms[0].ttfb == 0.4 and ms[1].prompt_tokens == 3 and ms[1].completion_tokens == 0
    assert to_records(data, "llm") == [m.to_wire() for m in ms]
    assert to_records(data, "llm")[1]["promptTokens"] == 3


def test_usage_totals_count_models_and_wire_dicts_alike():
    a, b = UsageTotals(), UsageTotals()
    recs = measurements([LLMUsageMetricsData(value=_Data(prompt_tokens=3, completion_tokens=2, total_tokens=5,
                                                         cache_read_input_tokens=1))], "llm")
    recs.append(MetricMeasurement(kind="stt", metric="usage", audio_duration=1.2345))
    for r in recs:
        a.add(r)
        b.add(r.to_wire())
    b.add({"kind": "llm", "metric": "ttfb", "ttfb": 1.0})
    b.add({"metric": "usage", "promptTokens": "lots"})  # not a measurement: ignored, never raises
    assert a.summary() == b.summary() and a.to_dict()["sttAudioSeconds"] == 1.234
    assert a.to_dict() == {"promptTokens": 3, "completionTokens": 2, "totalTokens": 5, "cachedTokens": 1,
                           "ttsCharacters": 0, "sttAudioSeconds": 1.234}


def test_build_metrics_takes_stored_measurements_as_models_too():
    def call(records):
        c = Call("c")
        c.start(0, 1_800_000_000.0)
        c.add_metrics(1 * S, records)
        c.end(2 * S, "x")
        return [m.to_wire() for m in c.build_metrics(False)]

    ms = measurements([TTFBMetricsData(processor="OpenAILLMService#0", value=0.4)], "llm")
    assert call(ms) == call([m.to_wire() for m in ms])
    assert call(ms)[0]["timestamp"] == "2027-01-15T08:00:01.000Z"


def test_wire_names():
    assert wire_names(MetricRecord)["audio_offset_ms"] == "audioOffsetMs"
    assert wire_names(Recovery)["chunks_replaced_by_silence"] == "chunksReplacedBySilence"
