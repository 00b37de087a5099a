"""Real Pipecat calls, in real time, shipped over loopback HTTP to the dev server.

Each test asserts what Roark received: the events, the turns, the tool
records and the reassembled stereo audio. run_call() returns when the
runner's run() returns, so every assertion on the server made right after
it also proves call-ended was delivered before run() returned.
"""

import asyncio
import json

import numpy as np
import pytest

from pipecat_roark import RoarkObserver
from pipecat_roark.models import CallEnded, CallStarted
from pipecat_roark.testing.audio import normalize_text
from pipecat_roark.testing.scenario import CallerTurn, CallScript, build_call, default_demo_script, run_call

from .conftest import API_KEY
from .helpers import edge_errors, recording, short_script


def observer(server, **kw) -> RoarkObserver:
    kw.setdefault("agent_id", "support-bot-v3")
    return RoarkObserver(api_key=API_KEY, base_url=server.base_url, **kw)


async def run(script, roark, **kw):
    call = build_call(script, audio_processor=roark.audio_processor, observers=[roark], **kw.pop("build", {}))
    result = await run_call(call, **kw)
    return call, result


def words(turns, role):
    return [normalize_text(t["content"]) for t in turns if t["role"] == role]


async def test_demo_call_is_captured_word_for_word_and_ms_for_ms(server, logs):
    roark = observer(server, agent_name="Support Bot v3", agent_prompt="Be brief.", metadata={"plan": "gold"})
    call, result = await run(default_demo_script(), roark)
    assert result.ended_by == "end" and result.script_completed

    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.problems == []
    assert [e["event"] for e in rec.events] == ["call-started", "call-ended"]
    CallStarted.model_validate(rec.started)
    CallEnded.model_validate(rec.ended)
    assert rec.started["agentName"] == "Support Bot v3" and rec.started["metadata"] == {"plan": "gold"}
    ended = rec.ended
    assert ended["callEndedReason"] == "ended" and ended["agentSpokeFirst"] is True

    turns = ended["transcript"]
    # The caller: one turn per utterance; the late final joined its own turn.
    assert words(turns, "user") == [
        "hi i'd like to check my order status",
        "it's order number four two seven",
        "actually wait can you also change the address",
        "thanks that's all",
    ]
    # The bot: what the caller heard. The barge-in cut "Of course. I can
    # update the delivery address. What's the new street and zip code?" short.
    bot = [t for t in turns if t["role"] == "assistant"]
    assert normalize_text(bot[0]["content"]) == "acme support how can i help"
    assert normalize_text(bot[2]["content"]) == "order four two seven shipped it arrives friday"
    cut = [t for t in bot if t.get("interrupted")]
    assert cut and all("zip code" not in t["content"] for t in cut)
    assert "interrupted" not in bot[0] and "interrupted" not in bot[-1]
    assert normalize_text(bot[-1]["content"]) == "you're welcome goodbye"

    # One tool call and one result, arguments a JSON string.
    tools = ended["toolCalls"]
    assert [t["kind"] for t in tools] == ["tool_call", "tool_result"]
    assert tools[0]["name"] == "lookup_order" and json.loads(tools[0]["arguments"]) == {"order_id": "427"}
    assert json.loads(tools[1]["content"])["status"] == "shipped"
    assert tools[0]["toolCallId"] == tools[1]["toolCallId"]

    # The audio: stereo, caller left, bot right, as long as the call.
    pcm, rate = recording(server, roark.pipecat_call_id)
    assert rate == 24000
    errs = edge_errors(turns, pcm, rate)
    assert errs.median <= 20 and errs.worst <= 50, "\n".join(errs.detail)

    # Logs: one INFO line per lifecycle event, the call id on each, no secrets.
    # The package's own lines (not the dev server's, not the test harness's).
    ours = [line for line in logs if "| pipecat_roark." in line and not any(
        part in line for part in ("pipecat_roark.devserver", "pipecat_roark.testing"))]
    assert all(roark.pipecat_call_id in line for line in ours), [l for l in ours if roark.pipecat_call_id not in l]
    assert not any(API_KEY in line or "X-Amz-Signature" in line for line in logs)
    info = [line for line in ours if line.startswith("INFO")]
    assert len(info) == 3, info  # started, ended, delivered


async def test_back_to_back_user_turns_and_non_ascii_text(server):
    script = CallScript(
        turns=[
            CallerTurn("order_status", 600, transcript="Grüße aus Köln 👋 — ça va?"),
            CallerTurn("order_number", 4600, transcript="Número 427, 谢谢", reply="¡Sí! 😀 Привет, one moment."),
        ],
        duration_ms=9000,
    )
    roark = observer(server)
    # The LLM stays silent after the first utterance: two user turns in a row.
    _, result = await run(script, roark, build={"llm_fallback_text": ""})
    assert result.script_completed
    ended = server.store.get_call(roark.pipecat_call_id).ended
    turns = ended["transcript"]
    assert [(t["role"], t["content"]) for t in turns] == [
        ("user", "Grüße aus Köln 👋 — ça va?"),
        ("user", "Número 427, 谢谢"),
        ("assistant", "¡Sí! 😀 Привет, one moment."),
    ]
    assert ended["agentSpokeFirst"] is False
    assert all(t.get("userId") == "caller" for t in turns if t["role"] == "user")


async def test_cancel_frame_ends_the_call_as_cancelled(server):
    roark = observer(server)
    _, result = await run(short_script(), roark, cancel_at_secs=7.0)
    assert result.ended_by == "cancel"
    ended = server.store.get_call(roark.pipecat_call_id).ended
    assert ended["callEndedReason"] != "ended" and "cancel" in ended["callEndedReason"]
    assert words(ended["transcript"], "user") == ["hi i'd like to check my order status"]
    pcm, rate = recording(server, roark.pipecat_call_id)
    assert 6.0 < len(pcm) / rate < 9.0


async def test_aflush_without_end_frame(server):
    """SmallWebRTC / Pipecat Cloud: the client leaves, the app flushes, then cancels."""
    roark = observer(server)
    call = build_call(short_script(), audio_processor=roark.audio_processor, observers=[roark])
    flushed = {}

    @call.transport.event_handler("on_client_disconnected")
    async def _gone(_transport, _client):  # what examples/bot.py does
        flushed["ok"] = await roark.aflush(reason="client-disconnected")
        flushed["seen"] = server.store.get_call(roark.pipecat_call_id).ended is not None
        await call.worker.cancel()

    async def hang_up_after(secs):
        await asyncio.sleep(secs)  # the caller hangs up mid-call
        await call.transport.input()._call_event_handler("on_client_disconnected", None)

    hang_up = asyncio.create_task(hang_up_after(6.0))
    await run_call(call)
    await hang_up
    assert flushed == {"ok": True, "seen": True}
    rec = server.store.get_call(roark.pipecat_call_id)
    assert [e["event"] for e in rec.events] == ["call-started", "call-ended"]  # exactly once
    assert rec.ended["callEndedReason"] == "client-disconnected"
    assert await roark.aflush(reason="again") is True  # idempotent
    assert len(server.store.get_call(roark.pipecat_call_id).events) == 2


async def test_bring_your_own_audio_buffer_processor(server):
    from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
    from pipecat_roark._compat import PIPECAT_1X

    kwargs = {"auto_start_recording": True} if PIPECAT_1X else {}
    abp = AudioBufferProcessor(num_channels=2, buffer_size=96_000, **kwargs)
    mine: list[bytes] = []

    @abp.event_handler("on_audio_data")
    async def keep(_p, audio, sample_rate, num_channels):
        mine.append(bytes(audio))

    roark = observer(server, audio_buffer_processor=abp)
    assert roark.audio_processor is abp
    _, result = await run(short_script(), roark)
    assert result.script_completed
    rec = server.store.get_call(roark.pipecat_call_id)
    # What Roark has is exactly what the user's own processor produced.
    assert server.store.pcm(roark.pipecat_call_id) == b"".join(mine)
    assert sorted(rec.chunks) == list(range(len(mine))) and len(mine) > 1
    assert words(rec.ended["transcript"], "user") == ["hi i'd like to check my order status", "thanks that's all"]
    assert rec.ended["recordingSampleRate"] == abp.sample_rate
    pcm, rate = recording(server, roark.pipecat_call_id)
    errs = edge_errors(rec.ended["transcript"], pcm, rate)
    assert errs.worst <= 60, "\n".join(errs.detail)


async def test_capture_audio_false_sends_no_recording(server):
    roark = observer(server, capture_audio=False)
    _, result = await run(short_script(), roark)
    assert result.script_completed
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.chunks == {} and server.faults.count("put") == 0
    assert "recordingSampleRate" not in rec.ended
    turns = rec.ended["transcript"]
    assert len(turns) == 5 and all("audioOffsetMs" not in t for t in turns)


async def test_kill_switch_makes_the_observer_inert(server, monkeypatch):
    monkeypatch.setenv("ROARK_OBSERVABILITY_ENABLED", "Off")
    roark = observer(server)
    assert not roark.enabled
    _, result = await run(short_script(), roark)
    assert result.script_completed  # frames still flow through the processor
    assert server.store.list_calls() == []
    assert sum(server.faults.count(e) for e in ("event", "upload_url", "put")) == 0


async def test_observer_not_registered_is_registered_by_the_processor(server, logs):
    roark = observer(server)
    call = build_call(short_script(), audio_processor=roark.audio_processor, observers=[])
    await run_call(call)
    rec = server.store.get_call(roark.pipecat_call_id)
    # Transcripts only come through the observer: it was registered.
    assert words(rec.ended["transcript"], "user") == ["hi i'd like to check my order status", "thanks that's all"]
    warnings = [line for line in logs if line.startswith("WARNING") and "observers=[roark]" in line]
    assert len(warnings) == 1


async def test_roark_answering_500_is_retried(server):
    server.faults.set("event", statuses=[500, 502])  # call-started fails twice
    server.faults.set("upload_url", statuses=[503])
    server.faults.set("put", statuses=[500])
    roark = observer(server)
    _, result = await run(short_script(), roark)
    assert result.script_completed
    rec = server.store.get_call(roark.pipecat_call_id)
    assert [e["event"] for e in rec.events] == ["call-started", "call-ended"]
    assert rec.problems == []
    assert len(rec.ended["transcript"]) == 5
    assert roark.delivery_stats.chunks_lost == 0


async def test_slow_roark_delays_nothing_and_loses_nothing(server):
    server.faults.add("event", hang_seconds=3.0, hang_then="respond")  # call-started takes 3 s
    roark = observer(server)
    _, result = await run(short_script(), roark)
    assert result.script_completed
    ended = server.store.get_call(roark.pipecat_call_id).ended
    assert len(ended["transcript"]) == 5 and ended["transcript"][0]["audioOffsetMs"] < 1000


async def test_roark_hanging_does_not_hold_shutdown_hostage(server):
    server.faults.set("event", hang_forever=True, count=100)
    roark = observer(server, finalize_timeout_secs=2.0)
    script = short_script()
    # Must return: if finalization had no deadline, this would hang.
    _, result = await asyncio.wait_for(run(script, roark), timeout=script.duration_ms / 1000 + 30)
    assert result.script_completed
    assert not roark.delivery_stats.ended_delivered
    assert server.store.get_call(roark.pipecat_call_id) is None or server.store.get_call(roark.pipecat_call_id).ended is None
