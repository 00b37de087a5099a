"""Cost per call and per component: known usage in (real Pipecat metrics data), the exact cost out."""

import pytest
from pipecat.metrics.metrics import LLMTokenUsage, LLMUsageMetricsData, TTFBMetricsData, TTSUsageMetricsData

from pipecat_roark.cost import call_cost, split_tokens
from pipecat_roark.metrics import to_records
from pipecat_roark.models import CallEnded
from pipecat_roark.prices import DEFAULT_PRICES, PRICES_AS_OF, build_prices, match

LLM = "OpenAILLMService#0"


def llm_usage(model="gpt-4o-mini", processor=LLM, **tokens):
    return to_records([LLMUsageMetricsData(processor=processor, model=model, value=LLMTokenUsage(**tokens))])


def tts_usage(model, chars, processor="TTSService#0"):
    return to_records([TTSUsageMetricsData(processor=processor, model=model, value=chars)])


def cost(records, **kw):
    kw.setdefault("use_genai_prices", False)  # the table's numbers, whether or not the extra is installed
    return call_cost(records, **kw)


def comp(result, component):
    (c,) = [c for c in result.components if c.component == component]
    return c


def test_openai_tokens_reported_gross_of_the_cache():
    # 1000 prompt tokens of which 400 cached, 200 out: 600 x 0.15 + 400 x 0.075 + 200 x 0.60 per 1M.
    recs = llm_usage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200, cache_read_input_tokens=400)
    c = cost(recs)
    assert c.total_usd == pytest.approx(0.00024, abs=1e-12)
    assert c.complete and c.by_component == {"llm": 0.00024}
    llm = comp(c, "llm")
    assert (llm.model, llm.source, llm.basis, llm.status) == ("gpt-4o-mini", "table", "tokens", "priced")
    assert llm.quantity == {"text_in": 600, "text_cached": 400, "text_out": 200}
    assert c.prices_as_of == PRICES_AS_OF


def test_anthropic_tokens_reported_net_of_the_cache():
    recs = llm_usage(model="claude-3-5-haiku-20241022", processor="AnthropicLLMService#0", prompt_tokens=600,
                     completion_tokens=200, total_tokens=1300, cache_read_input_tokens=400,
                     cache_creation_input_tokens=100)
    # 600 x 0.80 + 400 x 0.08 + 100 x 1.00 + 200 x 4.00 per 1M
    assert cost(recs).total_usd == pytest.approx(0.001412, abs=1e-12)


def test_split_tokens_without_totals_falls_back_on_the_service_family():
    net = split_tokens({"model": "claude-sonnet-4", "promptTokens": 600, "completionTokens": 10, "cachedTokens": 400})
    assert (net.text_in, net.text_cached) == (600, 400)
    gross = split_tokens({"model": "gpt-4o", "promptTokens": 600, "completionTokens": 10, "cachedTokens": 400})
    assert (gross.text_in, gross.text_cached) == (200, 400)


def test_speech_to_speech_audio_tokens_at_audio_rates():
    if "input_audio_tokens" not in LLMTokenUsage.model_fields:
        pytest.skip("audio token counts arrived after 0.0.108")
    recs = llm_usage(model="gpt-realtime", processor="OpenAIRealtimeLLMService#0", prompt_tokens=1000,
                     completion_tokens=500, total_tokens=1500, cache_read_input_tokens=200, input_audio_tokens=600,
                     output_audio_tokens=400, cache_read_input_audio_tokens=100)
    c = cost(recs)
    s2s = comp(c, "s2s")
    # text in 300 x 4 + text cached 100 x 0.4 + audio in 500 x 32 + audio cached 100 x 0.4
    # + text out 100 x 16 + audio out 400 x 64 (per 1M)
    assert s2s.usd == pytest.approx(0.04448, abs=1e-12)
    assert c.by_component == {"s2s": 0.04448}


def test_tts_characters_and_stt_by_the_call_length():
    recs = tts_usage("eleven_flash_v2_5", 2000, "ElevenLabsTTSService#0")
    recs += to_records([TTFBMetricsData(processor="DeepgramSTTService#0", model="nova-3-general", value=0.2)],
                       source_kind="stt")
    c = cost(recs, call_duration_secs=120)
    assert comp(c, "tts").usd == pytest.approx(0.1)  # 2000 chars x $0.05 / 1k
    stt = comp(c, "stt")
    assert (stt.basis, stt.quantity) == ("call duration", {"seconds": 120})
    assert stt.usd == pytest.approx(0.0154)  # 2 min x $0.0077
    assert c.total_usd == pytest.approx(0.1154)
    # The same call without its length: the STT is unknown, not free.
    c = cost(recs)
    assert comp(c, "stt").status == "unknown" and not c.complete and c.total_usd == pytest.approx(0.1)


def test_stt_by_the_audio_seconds_it_reported():
    metrics = pytest.importorskip("pipecat.metrics.metrics")
    if not hasattr(metrics, "STTUsageMetricsData"):
        pytest.skip("STT usage arrived after 0.0.108")
    recs = to_records([metrics.STTUsageMetricsData(processor="DeepgramSTTService#0", model="nova-3",
                                                   value=metrics.STTUsage(audio_seconds=90))])
    stt = comp(cost(recs, call_duration_secs=300), "stt")
    assert (stt.basis, stt.usd) == ("audio seconds", pytest.approx(0.01155))


def test_an_override_wins():
    recs = llm_usage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200, cache_read_input_tokens=400)
    prices = build_prices({"GPT-4o-mini": {"input_per_mtok": 1, "output_per_mtok": 2}})
    c = call_cost(recs, prices=prices)  # genai-prices or not: the override wins
    llm = comp(c, "llm")
    assert llm.source == "override"
    assert llm.usd == pytest.approx(0.0014)  # cached tokens at the input rate when no cached rate is given
    # A per-minute override prices by the call's length.
    c = cost(tts_usage("sonic-2", 500, "CartesiaTTSService#0"), call_duration_secs=90,
             prices=build_prices({"sonic-2": {"per_minute": 0.02}}))
    assert (comp(c, "tts").usd, comp(c, "tts").basis) == (pytest.approx(0.03), "call duration")


def test_an_unknown_model_is_unknown_never_zero():
    recs = llm_usage(model="my-local-llama", prompt_tokens=100, completion_tokens=10, total_tokens=110)
    recs += tts_usage("sonic-2", 500, "CartesiaTTSService#0")  # known, but plan-priced
    recs += llm_usage(prompt_tokens=1000, completion_tokens=0, total_tokens=1000, processor="OpenAILLMService#1")
    c = cost(recs)
    assert not c.complete
    assert sorted(c.unknown) == ["llm:my-local-llama", "tts:sonic-2"]
    unknown = [x for x in c.components if x.status == "unknown"]
    assert all(x.usd is None for x in unknown)
    assert "prices=" in comp_by_model(c, "my-local-llama").source
    assert "plan" in comp_by_model(c, "sonic-2").source
    assert c.total_usd == pytest.approx(0.00015)  # only what is known: 1000 x 0.15 / 1M
    wire = CallEnded(pipecat_call_id="c", event_timestamp="t", call_ended_at="t", call_ended_reason="r",
                     cost=c).to_wire()
    llama = [x for x in wire["cost"]["components"] if x.get("model") == "my-local-llama"][0]
    assert "usd" not in llama and llama["status"] == "unknown"
    assert wire["cost"]["totalUsd"] == pytest.approx(0.00015) and wire["cost"]["complete"] is False


def comp_by_model(result, model):
    (c,) = [c for c in result.components if c.model == model]
    return c


def test_usage_metrics_off_is_unknown_with_the_fix():
    recs = to_records([TTFBMetricsData(processor=LLM, model="gpt-4o", value=0.3)], source_kind="llm")
    c = cost(recs)
    assert comp(c, "llm").status == "unknown" and "enable_usage_metrics" in comp(c, "llm").source
    assert cost([]) is None


def test_per_turn_cost():
    recs = []
    for turn, (p, o) in enumerate([(1000, 100), (2000, 50)]):
        for r in llm_usage(model="gpt-4o", prompt_tokens=p, completion_tokens=o, total_tokens=p + o):
            r["turnIndex"] = turn
            recs.append(r)
    for r in tts_usage("eleven_flash_v2_5", 100):
        r["turnIndex"] = 1
        recs.append(r)
    c = cost(recs)
    # turn 0: 1000 x 2.5 + 100 x 10 = 3500e-6; turn 1: 2000 x 2.5 + 50 x 10 = 5500e-6, + 100 chars x 0.05/1k
    assert [(t.turn_index, t.usd, t.complete) for t in c.per_turn] == [
        (0, pytest.approx(0.0035), True), (1, pytest.approx(0.0105), True)]
    assert c.total_usd == pytest.approx(0.014)


def test_prices_are_validated_with_the_fix():
    for bad, match_ in [([1], "must be a dict"), ({"m": {"input": 1}}, "unknown field"),
                        ({"m": {"input_per_mtok": -1}}, "number >= 0"), ({"m": {}}, "sets no price"),
                        ({"m": 3}, "must be a dict")]:
        with pytest.raises(ValueError, match=match_):
            build_prices(bad)


def test_model_names_match_by_longest_prefix_and_provider_prefixes():
    assert match("gpt-4o-mini-2024-07-18", DEFAULT_PRICES)[0] == "gpt-4o-mini"
    assert match("gpt-4o-2024-08-06", DEFAULT_PRICES)[0] == "gpt-4o"
    assert match("openai/gpt-4.1-nano", DEFAULT_PRICES)[0] == "gpt-4.1-nano"
    assert match("us.anthropic.claude-3-5-haiku-20241022-v1:0", DEFAULT_PRICES)[0] == "claude-3-5-haiku"
    assert match("aura-2-thalia-en", DEFAULT_PRICES)[0] == "aura-2"
    assert match("aura-asteria-en", DEFAULT_PRICES)[0] == "aura-"
    assert match("aura-3-zeus-en", DEFAULT_PRICES) is None  # a later generation is not the first
    assert match("llama-3", DEFAULT_PRICES) is None and match(None, DEFAULT_PRICES) is None
    assert match("gemini-2.0-flash-001", DEFAULT_PRICES)[0] == "gemini-2.0-flash"
    assert match("gemini-2.5-flash-preview-05-20", DEFAULT_PRICES)[0] == "gemini-2.5-flash"
    assert match("gpt-4o-realtime-preview-2024-12-17", DEFAULT_PRICES)[0] == "gpt-4o-realtime-preview"
    assert match("nova-3-general", DEFAULT_PRICES)[0] == "nova-3"  # speech keys are families
    assert match("eleven_flash_v2_5", DEFAULT_PRICES)[0] == "eleven_flash"


@pytest.mark.parametrize("model", ["gpt-realtime-mini", "claude-opus-4-5", "claude-sonnet-4-5-20250929",
                                   "gpt-4o-audio-preview-xyz", "gemini-2.5-flash-native-audio-preview-09-2025"])
def test_another_model_is_not_priced_as_its_neighbour(model):
    assert match(model, DEFAULT_PRICES) is None


def test_an_override_covers_its_dated_versions_only():
    overrides = build_prices({"gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 1}})
    assert match("gpt-4o-2024-08-06", overrides)[0] == "gpt-4o"
    assert match("gpt-4o-mini", overrides) is None
    recs = llm_usage(model="gpt-4o-mini-2024-07-18", prompt_tokens=1000, completion_tokens=0, total_tokens=1000)
    assert comp(cost(recs, prices=overrides), "llm").source == "table"


def test_the_maintained_price_list_when_installed():
    genai_prices = pytest.importorskip("genai_prices")
    recs = llm_usage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200, cache_read_input_tokens=400)
    c = call_cost(recs)
    llm = comp(c, "llm")
    expected = float(genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=400), "gpt-4o-mini").total_price)
    assert llm.source == "genai-prices" and llm.usd == pytest.approx(expected)
    assert "genai-prices" in c.prices_as_of
    # A model it does not know falls back to the table.
    recs = tts_usage("eleven_flash_v2_5", 1000)
    assert comp(call_cost(recs), "tts").source == "table"


def test_price_list_warm_up_runs_once_per_process_in_its_own_thread(monkeypatch):
    import threading

    from pipecat_roark import cost

    ran: list[str] = []
    done = threading.Event()

    def fake_warm_up() -> bool:
        ran.append(threading.current_thread().name)
        done.set()
        return True

    monkeypatch.setattr(cost, "_warm_up_started", False)
    monkeypatch.setattr(cost, "warm_up", fake_warm_up)
    for _ in range(5):  # every call's start asks; only the first starts it
        cost.start_warm_up()
    assert done.wait(5.0)
    for t in threading.enumerate():  # any other one started would have finished too
        if t.name == "roark-prices-warm-up":
            t.join(5.0)
    assert ran == ["roark-prices-warm-up"]


def test_price_list_loaded_by_the_host_is_not_loaded_again(monkeypatch):
    from pipecat_roark import cost

    monkeypatch.setattr(cost, "_warm_up_started", False)
    cost.warm_up()  # e.g. at the host's startup; True or False whether genai-prices is installed
    started: list[dict] = []

    class CountingThread:
        def __init__(self, *args, **kwargs) -> None:
            started.append(kwargs)

        def start(self) -> None:
            pass

    monkeypatch.setattr(cost.threading, "Thread", CountingThread)
    cost.start_warm_up()
    assert started == []
