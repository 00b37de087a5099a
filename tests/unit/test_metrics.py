"""Pipecat metrics -> Roark metric records (pure)."""

import json

from pipecat.metrics.metrics import (
    LLMTokenUsage,
    LLMUsageMetricsData,
    MetricsData,
    ProcessingMetricsData,
    TTFBMetricsData,
    TTSUsageMetricsData,
    TurnMetricsData,
)

from pipecat_roark.metrics import UsageTotals, is_initial_zero_frame, kind_from_name, to_records


def test_initial_all_zero_frame_is_not_a_measurement():
    zero = [TTFBMetricsData(processor="OpenAILLMService#0", value=0.0),
            ProcessingMetricsData(processor="OpenAILLMService#0", value=0.0)]
    assert is_initial_zero_frame(zero)
    assert not is_initial_zero_frame([TTFBMetricsData(processor="X", value=0.2)])
    assert not is_initial_zero_frame([TTSUsageMetricsData(processor="X", value=0)])
    # A zero inside a real frame is dropped on its own.
    assert to_records(zero + [TTFBMetricsData(processor="CartesiaTTSService#0", value=0.12)]) == [
        {"kind": "tts", "metric": "ttfb", "ttfb": 0.12, "processor": "CartesiaTTSService#0"}]


def test_llm_ttfb_usage_and_processing():
    usage = LLMTokenUsage(prompt_tokens=120, completion_tokens=30, total_tokens=150, cache_read_input_tokens=100,
                          reasoning_tokens=5)
    recs = to_records([
        TTFBMetricsData(processor="Brain#0", model="gpt-x", value=0.31),
        LLMUsageMetricsData(processor="Brain#0", model="gpt-x", value=usage),
        ProcessingMetricsData(processor="Brain#0", model="gpt-x", value=0.9),
    ], source_kind="llm")
    assert recs[0] == {"kind": "llm", "metric": "ttfb", "ttfb": 0.31, "ttft": 0.31, "processor": "Brain#0", "model": "gpt-x"}
    assert recs[1]["promptTokens"] == 120 and recs[1]["completionTokens"] == 30 and recs[1]["totalTokens"] == 150
    assert recs[1]["cachedTokens"] == 100 and recs[1]["extra"] == {"reasoningTokens": 5}
    assert recs[2]["metric"] == "processing" and recs[2]["duration"] == 0.9
    totals = UsageTotals()
    for r in recs + to_records([TTSUsageMetricsData(processor="T#0", value=42)]):
        totals.add(r)
    assert totals.to_dict() == {"promptTokens": 120, "completionTokens": 30, "totalTokens": 150, "cachedTokens": 100,
                                "ttsCharacters": 42, "sttAudioSeconds": 0.0}


def test_kinds_and_unknown_types_keep_their_numbers():
    assert kind_from_name("DeepgramSTTService#2") == "stt" and kind_from_name("Mixer#0") == "other"
    (turn,) = to_records([TurnMetricsData(processor="SmartTurn#0", is_complete=True, probability=0.93,
                                          e2e_processing_time_ms=120.0)])
    assert turn["kind"] == "eou" and turn["metric"] == "turn"
    assert turn["extra"] == {"isComplete": True, "probability": 0.93, "e2eProcessingTimeMs": 120.0}

    class FancyMetricsData(MetricsData):  # a metric type from a future Pipecat
        value: float

    (rec,) = to_records([FancyMetricsData(processor="Thing#0", value=3.5)], source_kind="tts")
    assert rec == {"kind": "tts", "metric": "fancy", "processor": "Thing#0", "extra": {"value": 3.5}}


def test_odd_processor_model_and_keys_are_made_utf8_safe():
    # Found by test_capture_properties: a lone surrogate in a processor name, a
    # model or a key of a service's usage dict reached the wire unencodable.
    recs = to_records([
        TTFBMetricsData.model_construct(processor="STT\ud800#0", model="m\udfff", value=0.2),
        LLMUsageMetricsData.model_construct(processor="LLM#0", value={"prompt_tokens": 3, "odd\ud800": 1}),
    ])
    assert recs[0]["processor"] == "STT\ufffd#0" and recs[0]["model"] == "m\ufffd"
    assert recs[1]["extra"] == {"odd\ufffd": 1}
    for rec in recs:
        json.dumps(rec, ensure_ascii=False).encode("utf-8")  # strict: no lone surrogate left
