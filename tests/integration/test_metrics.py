"""Metrics, latency, interruptions, tool outcomes, errors and recording health,
measured on real calls against the dev server.

The stand-in services report known TTFB (LLM 0.25 s, TTS 0.12 s) and usage
(the LLM's word counts, the TTS's characters), and the recording is the
ground truth for every latency: each figure is compared with the gap
measured sample by sample on the uploaded audio.
"""

from __future__ import annotations

import asyncio

import pytest

from pipecat_roark.testing.audio import normalize_text
from pipecat_roark.testing.scenario import CallerTurn, CallScript
from pipecat_roark.testing.services import ToolCall

from .helpers import recording, sound_spans
from .test_capture import observer, run, words

LONG_REPLY = "Of course. I can update the delivery address. What's the new street and zip code?"
GOODBYE = "You're welcome, goodbye!"
#: |reported - measured on the recording|, ms.
TOLERANCE_MS = 50
#: Pauses inside one reply (sentence breaks) are shorter than this; the
#: silence between a cut-off reply and the next one can be as short as 0.4 s.
SPEECH_MERGE_MS = 250


def barge_in_script() -> CallScript:
    """Greeting; a question and a ~4.5 s answer the caller cuts off ~1 s in; goodbye.

    The caller's first turn starts while the bot is silent: Pipecat still
    broadcasts an interruption, which must not count as one.
    """
    return CallScript(
        greeting="Acme support, how can I help?",
        turns=[
            CallerTurn("order_status", 2600, reply=LONG_REPLY),
            CallerTurn("thanks", 7300, reply=GOODBYE, barge_in=True),
        ],
        duration_ms=12500,
    )


def bot_span_at(pcm, rate, offset_ms):
    """The stretch of bot sound a turn starting at offset_ms begins."""
    return min(sound_spans(pcm[:, 1], rate, SPEECH_MERGE_MS), key=lambda s: abs(s[0] - offset_ms))


def wait_truth(pcm, rate, turn) -> float:
    """Caller's last sound before the bot's reply -> the reply's first sound, on the recording."""
    bot = bot_span_at(pcm, rate, turn["audioOffsetMs"])
    before = [u for u in sound_spans(pcm[:, 0], rate, SPEECH_MERGE_MS) if u[1] <= bot[0] + 1]
    return bot[0] - before[-1][1]


def barge_in_truth(pcm, rate, turn) -> float:
    """How long the bot's sound went on after the caller's first sound over it."""
    bot = bot_span_at(pcm, rate, turn["audioOffsetMs"])
    caller = [u for u in sound_spans(pcm[:, 0], rate, SPEECH_MERGE_MS) if bot[0] < u[0] < bot[1]]
    return bot[1] - caller[0][0]


@pytest.mark.parametrize("turns_from", ["vad", "stt"])
async def test_metrics_latency_and_barge_in(server, turns_from):
    roark = observer(server)
    completed: list[dict] = []
    ended_events: list[tuple] = []

    @roark.event_handler("on_turn_completed")
    async def on_turn(_roark, turn):
        completed.append(turn)

    @roark.event_handler("on_call_ended")
    async def on_end(_roark, summary, payload):
        ended_events.append((summary, payload))

    @roark.event_handler("on_metrics")
    def broken(_roark, records):  # a user's handler that raises changes nothing
        raise RuntimeError("broken handler")

    build = {"enable_metrics": True}
    if turns_from == "stt":
        build["vad"] = "none"  # no local VAD at all: the STT's endpointing drives the turns
    call, result = await run(barge_in_script(), roark, build=build)
    assert result.script_completed

    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.problems == []
    ended = rec.ended
    turns = ended["transcript"]
    assert words(turns, "user") == ["hi i'd like to check my order status", "thanks that's all"]
    bot = [t for t in turns if t["role"] == "assistant"]
    assert [normalize_text(t["content"])[:8] for t in bot] == ["acme sup", "of cours", "you're w"]

    # Interruptions: the barge-in is one, the caller's first turn (bot silent) is not.
    assert [t.get("interrupted", False) for t in bot] == [False, True, False]
    pcm, rate = recording(server, roark.pipecat_call_id)
    assert abs(bot[1]["bargeInLatencyMs"] - barge_in_truth(pcm, rate, bot[1])) <= TOLERANCE_MS

    # Response latency of both answers, as the recording has it; none for the greeting.
    assert "responseLatencyMs" not in bot[0]
    for t in bot[1:]:
        truth = wait_truth(pcm, rate, t)
        assert abs(t["responseLatencyMs"] - truth) <= TOLERANCE_MS, (t["content"], t["responseLatencyMs"], truth)
    summary = ended["callSummary"]
    assert summary["latency"]["count"] == 2
    assert summary["latency"]["maxMs"] == max(t["responseLatencyMs"] for t in bot[1:])
    assert summary["turns"] == {"user": 2, "assistant": 3} and summary["interruptions"] == 1

    # Service metrics: the known TTFBs, on the turn current when they were pushed.
    metrics = ended["metrics"]
    llm_ttfb = [m for m in metrics if m["kind"] == "llm" and m["metric"] == "ttfb"]
    assert len(llm_ttfb) == len(call.llm.decisions) == 2
    for m, decision in zip(llm_ttfb, call.llm.decisions):
        assert 0.25 <= m["ttfb"] < 0.35 and m["ttft"] == m["ttfb"]
        assert m["model"] == "scripted-llm" and m["processor"] == call.llm.name
        answered = turns[m["turnIndex"]]
        assert answered["role"] == "user" and normalize_text(answered["content"]) == normalize_text(decision.user_text)
    tts_ttfb = [m for m in metrics if m["kind"] == "tts" and m["metric"] == "ttfb"]
    assert len(tts_ttfb) >= 3 and all(0.12 <= m["ttfb"] < 0.2 for m in tts_ttfb)
    stt_ttfb = [m for m in metrics if m["kind"] == "stt" and m["metric"] == "ttfb"]
    assert len(stt_ttfb) == 2 and all(0.1 < m["ttfb"] < 0.6 for m in stt_ttfb)
    # The all-zero roll call at start is not a measurement.
    assert all(m.get("ttfb", 1) > 0 and m.get("duration", 1) > 0 for m in metrics)
    assert all(isinstance(m.get("audioOffsetMs"), int) for m in metrics)

    # Usage, exactly as reported by the services.
    usage = [m for m in metrics if m["kind"] == "llm" and m["metric"] == "usage"]
    assert [(m["promptTokens"], m["completionTokens"], m["totalTokens"]) for m in usage] == [
        (u.prompt_tokens, u.completion_tokens, u.total_tokens) for u in call.llm.usage_reported]
    chars = [m["characters"] for m in metrics if m["kind"] == "tts" and m["metric"] == "usage"]
    assert set(chars) <= {len(s.text) for s in call.tts.spoken}
    assert summary["usage"]["ttsCharacters"] == sum(chars)
    assert summary["usage"]["completionTokens"] == sum(u.completion_tokens for u in call.llm.usage_reported)

    # The generation the caller cut off: its LLM/TTS metrics say so; the next one's do not.
    cut = turns.index(bot[1])
    of_cut = [m for m in metrics if m["kind"] in ("llm", "tts") and m["turnIndex"] == cut - 1]
    assert of_cut and all(m.get("interrupted") for m in of_cut)
    after = [m for m in metrics if m["kind"] == "llm" and m["turnIndex"] > cut]
    assert after and not any(m.get("interrupted") for m in after)

    assert ended["recordingStatus"] == "ok"
    health = ended["recordingHealth"]
    assert health["chunksLost"] == 0 and health["chunksDelivered"] == health["chunksProduced"] > 0
    assert health["channels"]["caller"]["sound"] and health["channels"]["bot"]["sound"]
    assert abs(health["recordedMs"] - len(pcm) * 1000 / rate) < 100

    # The same figures reached user code while the call ran, and at its end.
    assert [normalize_text(t["content"]) for t in completed] == [normalize_text(t["content"]) for t in bot]
    assert [t.get("responseLatencyMs") for t in completed] == [t.get("responseLatencyMs") for t in bot]
    assert [t["interrupted"] for t in completed] == [False, True, False]
    assert any(m["metric"] == "ttfb" for m in completed[1]["metrics"])
    assert len(ended_events) == 1 and ended_events[0][0] == summary and ended_events[0][1]["callSummary"] == summary


FAILING = ToolCall(name="lookup_order", arguments={"order_id": "1"}, result=None, followup="",
                   error="order database unavailable", latency_secs=0.2)
SLOW = ToolCall(name="find_order", arguments={"order_id": "427"}, result={"found": True}, followup="",
                latency_secs=6.0)
HANGING = ToolCall(name="change_address", arguments={"street": "Main"}, result={"ok": True}, followup="",
                   latency_secs=3.0, timeout_secs=1.0)


async def test_tool_outcomes_and_errors(server, logs):
    roark = observer(server)
    outcomes: list[dict] = []
    errors: list[dict] = []

    @roark.event_handler("on_tool_completed")
    async def on_tool(_roark, record):
        outcomes.append(record)

    @roark.event_handler("on_error")
    async def on_error(_roark, error):
        errors.append(error)

    script = CallScript(
        greeting="Acme support, how can I help?",
        turns=[
            CallerTurn("order_status", 2600, tool_call=FAILING),  # the handler raises
            CallerTurn("order_number", 6600, tool_call=SLOW),  # still running when the caller speaks again
            CallerTurn("change_address", 10000, tool_call=HANGING),  # runs past its 1 s timeout
            CallerTurn("thanks", 16000, reply=GOODBYE),
        ],
        duration_ms=19000,
    )
    from pipecat_roark.testing.scenario import build_call, run_call

    call = build_call(script, audio_processor=roark.audio_processor, observers=[roark], enable_metrics=True)

    async def report_an_error():
        await asyncio.sleep(4.0)
        await call.tts.push_error(error_msg="tts voice fallback used")

    pusher = asyncio.create_task(report_an_error())
    result = await run_call(call)
    await pusher
    assert result.script_completed

    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.problems == []
    ended = rec.ended
    results = {r["toolCallId"]: r for r in ended["toolCalls"] if r["kind"] == "tool_result"}
    by_name = {c["name"]: results[c["toolCallId"]] for c in ended["toolCalls"] if c["kind"] == "tool_call"}
    assert {n: r["status"] for n, r in by_name.items()} == {
        "lookup_order": "failed", "find_order": "cancelled", "change_address": "timed_out"}
    assert "order database unavailable" in by_name["lookup_order"]["error"]
    assert 150 <= by_name["lookup_order"]["durationMs"] < 600
    assert 900 <= by_name["change_address"]["durationMs"] < 1500
    assert by_name["find_order"]["durationMs"] < 6000 and "error" not in by_name["find_order"]
    assert ended["callSummary"]["toolCalls"] == {"total": 3, "completed": 0, "failed": 1, "cancelled": 1,
                                                 "timedOut": 1, "noResult": 0}
    assert sorted((o["name"], o["status"]) for o in outcomes) == sorted((n, r["status"]) for n, r in by_name.items())

    # Each ErrorFrame once: the one pushed, and the one Pipecat pushes for the failing tool.
    errs = ended["errors"]
    pushed = [e for e in errs if e["message"] == "tts voice fallback used"]
    assert len(pushed) == 1 and "count" not in pushed[0]
    assert pushed[0]["processor"] == call.tts.name and pushed[0]["fatal"] is False
    assert len([e for e in errs if "order database unavailable" in e["message"]]) == 1
    assert ended["callSummary"]["errors"] == len(errs) == 2
    assert sorted(e["message"] for e in errors) == sorted(e["message"] for e in errs)
    # Metrics were on: no advice in the logs.
    assert not any("metrics are off" in line for line in logs)


async def test_silent_bot_channel_is_reported(server, logs):
    """The processor placed before the output transport never sees the bot's audio."""
    roark = observer(server)
    _, result = await run(
        CallScript(greeting="Acme support, how can I help?",
                   turns=[CallerTurn("order_status", 2600, reply="Sure, what's the order number?")],
                   duration_ms=7000),
        roark, build={"audio_processor_at": "after_input"},
    )
    assert result.script_completed
    ended = server.store.get_call(roark.pipecat_call_id).ended
    assert ended["recordingStatus"] == "degraded"
    channels = ended["recordingHealth"]["channels"]
    assert channels["caller"]["sound"] is True and channels["bot"] == {"soundMs": 0, "sound": False}
    assert any("transport.output()" in w for w in ended["recordingHealth"]["warnings"])
    pcm, _ = recording(server, roark.pipecat_call_id)
    assert abs(pcm[:, 1]).max() == 0  # the truth: nothing on the right channel
    advice = [line for line in logs if line.startswith("WARNING") and "bot channel of the recording is silent" in line]
    assert len(advice) == 1
    # Metrics were off here: one line of advice for that too.
    assert len([line for line in logs if "enable_metrics=True, enable_usage_metrics=True" in line]) == 1
