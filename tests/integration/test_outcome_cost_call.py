"""Issue 14 on a real call: cost from the usage the services reported, turn-taking, who spoke last.

The stand-in services (real Pipecat LLM/TTS/STT service classes) report
known usage through Pipecat's metrics; the observer is given prices for the
LLM and TTS models and none for the STT model. Only what the dev server
received is read.
"""

from __future__ import annotations

import asyncio

import pytest

from pipecat_roark.models import CallEnded
from pipecat_roark.testing.scenario import build_call, run_call

from .helpers import short_script

from .test_capture import observer, run
from .test_metrics import barge_in_script

LLM_PRICE = {"input_per_mtok": 3.0, "cached_input_per_mtok": 0.3, "output_per_mtok": 15.0}
TTS_PRICE = {"per_1k_characters": 0.05}


async def test_cost_turn_taking_and_outcome_of_a_real_call(server):
    roark = observer(server, prices={"scripted-llm": LLM_PRICE, "scripted-tts": TTS_PRICE})
    call, result = await run(barge_in_script(), roark, build={"enable_metrics": True})
    assert result.script_completed
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec.problems == []  # the dev server's contract checks, issue 14's fields included
    ended = rec.ended
    CallEnded.model_validate(ended)  # the extensions fit the wire models

    # Cost: the exact figures from the usage the services reported.
    usage = call.llm.usage_reported
    assert usage and all(not getattr(u, "cache_read_input_tokens", None) for u in usage)
    llm_usd = (sum(u.prompt_tokens for u in usage) * 3.0 + sum(u.completion_tokens for u in usage) * 15.0) / 1e6
    chars = sum(m["characters"] for m in ended["metrics"] if m["kind"] == "tts" and m["metric"] == "usage")
    assert chars > 0
    tts_usd = chars * 0.05 / 1000
    cost = ended["cost"]
    assert cost["currency"] == "USD"
    assert cost["byComponent"]["llm"] == pytest.approx(llm_usd, abs=1e-6)
    assert cost["byComponent"]["tts"] == pytest.approx(tts_usd, abs=1e-6)
    assert cost["totalUsd"] == pytest.approx(llm_usd + tts_usd, abs=2e-6)
    by = {c["component"]: c for c in cost["components"]}
    assert by["llm"]["source"] == by["tts"]["source"] == "override"
    assert by["llm"]["quantity"]["text_in"] == sum(u.prompt_tokens for u in usage)
    # The STT's model has no price: unknown, never zero, and the total says it is a lower bound.
    assert by["stt"]["status"] == "unknown" and "usd" not in by["stt"]
    assert cost["complete"] is False and cost["unknown"] == ["stt:scripted-stt"]
    assert sum(t["usd"] for t in cost["perTurn"]) == pytest.approx(llm_usd + tts_usd, abs=1e-5)

    # Turn-taking: the caller's barge-in is an interruption by the caller.
    turns = ended["transcript"]
    bot = [t for t in turns if t["role"] == "assistant"]
    assert [t.get("interruptionCause") for t in bot] == [None, "caller", None]
    tt = ended["turnTaking"]
    assert tt["turns"] == {"user": 2, "assistant": 3}
    assert tt["interruptions"] == {"caller": 1, "pipeline": 0, "total": 1}
    assert tt["overlapMs"] > 0  # the caller spoke over the cut reply
    assert tt["talkTimeMs"]["assistant"] > tt["talkTimeMs"]["user"] > 0
    assert 0.5 < tt["talkRatio"] < 1

    # The bot said goodbye last and ended the call itself.
    assert ended["lastSpeaker"] == "bot"
    assert (ended["callEndedStatus"], ended["callEndedBy"]) == ("bot_ended", "bot")


async def test_the_apps_event_and_aflush_status_on_a_real_call(server):
    with pytest.raises(ValueError, match="not one of"):
        observer(server, end_status="hung up on")
    with pytest.raises(ValueError, match="prices"):
        observer(server, prices={"gpt-4o": {"input_per_token": 1}})
    roark = observer(server, end_status="voicemail")  # aflush(status=) below wins over it
    call = build_call(short_script(), audio_processor=roark.audio_processor, observers=[roark])
    with pytest.raises(TypeError, match="data must be a dict"):
        roark.event_nowait("transfer", ["sales"])

    async def transfer_after(secs):
        await asyncio.sleep(secs)
        assert await roark.event("transfer", {"to": "sales"}) is True
        assert await roark.aflush(reason="handed to sales", status="transferred") is True
        assert roark.event_nowait("too late") is False
        await call.worker.cancel()

    transfer = asyncio.create_task(transfer_after(2.0))
    await run_call(call)
    await transfer
    ended = server.store.get_call(roark.pipecat_call_id).ended
    assert (ended["callEndedStatus"], ended["callEndedBy"], ended["callEndedReason"]) == (
        "transferred", "bot", "handed to sales")
    (ev,) = ended["events"]
    assert (ev["kind"], ev["name"], ev["data"]) == ("user", "transfer", {"to": "sales"})
    assert 1700 < ev["audioOffsetMs"] < 2300  # 2 s into the call, on the recording
    assert "telephony" not in ended  # not a phone call
