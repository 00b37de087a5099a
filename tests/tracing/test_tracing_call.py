"""Real Pipecat calls with tracing on, exporting through the real OpenTelemetry SDK to the dev server.

The calls run in real time (the harness's transport, VAD, turn strategies,
Pipecat's TurnTraceObserver and tracing decorators); the spans travel as
OTLP/HTTP protobuf over loopback, and the call page is checked in Chromium.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

pytest.importorskip("opentelemetry.sdk.trace")

from pipecat_roark import RoarkObserver  # noqa: E402
from pipecat_roark.devserver import view  # noqa: E402
from pipecat_roark.testing.audio import normalize_text  # noqa: E402
from pipecat_roark.testing.scenario import CallerTurn, CallScript, build_call, run_call  # noqa: E402

from tracing_helpers import API_KEY  # noqa: E402

from tests.integration.helpers import short_script  # noqa: E402
from devserver_browser import Browser, find_chromium  # noqa: E402
from traced_services import trace_services  # noqa: E402

CHROMIUM = find_chromium()
READY = "document.body && document.body.dataset.ready === '1'"
SERVICE_SPANS = ("stt", "llm", "tts")
VAD_LEAD_NS = 1_000_000_000


def script_a() -> CallScript:
    return short_script()


def script_b() -> CallScript:
    return CallScript(
        greeting="Acme support, how can I help?",
        turns=[CallerTurn("change_address", 2600, reply="Sure, go ahead.")],
        duration_ms=7500,
    )


def traced_call(server, script: CallScript, **kw):
    roark = RoarkObserver(agent_id="support-bot-v3", api_key=API_KEY, base_url=server.base_url, trace=True, **kw)
    call = build_call(
        script, audio_processor=roark.audio_processor, observers=[roark], enable_metrics=True,
        worker_kwargs={"enable_tracing": True, "conversation_id": roark.pipecat_call_id},
    )
    trace_services(call)
    return roark, call


async def spans_of(server, call_id: str, timeout: float = 15.0) -> list[dict]:
    """The call's spans once its conversation root (the last span to end) has arrived."""
    await server.wait_for(
        lambda: any(s["name"] == "conversation" for s in server.store.spans(call_id)), timeout
    )
    return server.store.spans(call_id)


def check_tree(spans: list[dict], call_id: str) -> dict:
    """One trace, rooted at the conversation; turns under it; every service span under a turn."""
    by_id = {s["spanId"]: s for s in spans}
    assert len(by_id) == len(spans), "a span arrived twice"
    roots = [s for s in spans if s["name"] == "conversation"]
    assert len(roots) == 1
    root = roots[0]
    assert root["parentSpanId"] is None and root["attributes"]["conversation.id"] == call_id
    assert {s["traceId"] for s in spans} == {root["traceId"]}
    for s in spans:
        assert s["resource"]["pipecat.call.id"] == call_id
        assert s["resource"]["roark.external_id"] == call_id
        if s["name"] == "turn":
            assert s["parentSpanId"] == root["spanId"]
        elif s["name"] in SERVICE_SPANS:
            parent = by_id.get(s["parentSpanId"])
            assert parent is not None and parent["name"] == "turn", f"{s['name']} span not under a turn"
            # Inside its turn. An STT span starts where the speech did, which is
            # before Pipecat opens the turn (after the VAD's start_secs).
            assert s["startTimeUnixNano"] >= parent["startTimeUnixNano"] - VAD_LEAD_NS
            assert s["startTimeUnixNano"] <= parent["endTimeUnixNano"]
    return root


async def test_a_real_call_sends_its_spans_linked_nested_and_shown(server, app_tracing, tmp_path, logs):
    roark, call = traced_call(server, script_a())
    cid = roark.pipecat_call_id
    app = app_tracing.tracer()
    with app.start_as_current_span("bot-session"):  # the app's own tracing around the bot
        result = await run_call(call)
        with app.start_as_current_span("after-call"):
            pass
    assert result.ended_by == "end" and result.script_completed

    rec = await server.wait_for_call_ended(cid)
    spans = await spans_of(server, cid)
    names = [s["name"] for s in spans]
    for name in ("turn", *SERVICE_SPANS):
        assert names.count(name) >= 2, names
    root = check_tree(spans, cid)
    assert all("roark.skip" not in s["resource"] for s in spans)

    # call-ended says traces were sent, and which trace.
    assert rec.ended["tracesSent"] is True and rec.ended["traceId"] == root["traceId"]
    assert rec.problems == []

    # What the services did is on their spans: models, texts, TTFB.
    by_name = {n: [s for s in spans if s["name"] == n] for n in SERVICE_SPANS}
    assert {s["attributes"]["gen_ai.request.model"] for s in by_name["llm"]} == {"scripted-llm"}
    assert all(s["attributes"]["metrics.ttfb"] > 0.2 for s in by_name["llm"])  # the LLM's scripted 0.25 s
    assert all(s["attributes"]["metrics.ttfb"] > 0.1 for s in by_name["stt"])  # 0.15 s after the speech ended
    said = {normalize_text(s["attributes"]["transcript"]) for s in by_name["stt"]}
    assert said == {normalize_text(t.text) for t in script_a().turns}
    outputs = {normalize_text(s["attributes"].get("output", "")) for s in by_name["llm"]}
    assert normalize_text("Sure, what's the order number?") in outputs

    # The app's provider kept its own spans and got none of Roark's.
    assert sorted(s.name for s in app_tracing.spans()) == ["after-call", "bot-session"]
    assert not any("Roark rejected" in line or "could not send" in line for line in logs)

    # The page: a waterfall on the recording's axis, service spans inside their turns, TTFB visible.
    rec = server.store.get_call(cid)  # now with every span
    data = view.detail(rec, server.store.pcm(cid))["traces"]  # what the page renders
    assert data["anchorSource"] == "recordingStartedAt" and data["count"] == len(spans)
    turns_on_page = [s for s in data["spans"] if s["name"] == "turn"]
    user_turns = [t for t in rec.ended["transcript"] if t["role"] == "user"]
    for t in user_turns:  # each caller turn starts inside some Pipecat turn span (within 0.5 s)
        assert any(s["offsetMs"] - 500 <= t["audioOffsetMs"] <= s["endOffsetMs"] for s in turns_on_page), t

    if CHROMIUM is None:
        return
    async with Browser(CHROMIUM, tmp_path / "profile") as b:
        await b.open(f"{server.base_url}/calls/{quote(cid, safe='')}")
        await b.wait_until(READY)
        assert await b.eval("document.getElementById('lane-traces').hidden") is False
        rows = await b.eval(
            "[...document.querySelectorAll('.wf-row')].map(r => ({name: r.dataset.name, id: r.dataset.spanId,"
            " parent: r.dataset.parentSpanId || null, depth: +r.dataset.depth, start: +r.dataset.offsetMs,"
            " end: +r.dataset.endOffsetMs, ttfb: r.dataset.ttfbMs ? +r.dataset.ttfbMs : null,"
            " left: parseFloat(r.querySelector('.wf-bar').style.left)}))"
        )
        assert len(rows) == len(spans)
        assert rows[0]["name"] == "conversation" and rows[0]["depth"] == 0
        pos = {r["id"]: i for i, r in enumerate(rows)}
        for r in rows:
            if r["name"] in SERVICE_SPANS:
                parent = rows[pos[r["parent"]]]
                assert parent["name"] == "turn" and r["depth"] == parent["depth"] + 1
                assert pos[r["parent"]] < pos[r["id"]]  # listed under its turn
                assert r["start"] >= parent["start"] - VAD_LEAD_NS / 1e6
        assert any(r["name"] == "llm" and r["ttfb"] and r["ttfb"] > 200 for r in rows)
        assert await b.eval("document.querySelectorAll('.wf-row[data-name=\"llm\"] .wf-ttfb').length") >= 2
        # Same axis as the waveform: a bar's left edge is its offset over the axis length.
        axis_ms = await b.eval(
            "Math.max(...[...document.querySelectorAll('.wf-row')].map(r => +r.dataset.endOffsetMs),"
            " +document.getElementById('player').dataset.durationMs || 0)"
        )
        assert axis_ms > 0
        # Clicking a span shows its attributes and seeks the player to it.
        await b.eval("document.getElementById('player').play = () => Promise.resolve()")
        llm = next(r for r in rows if r["name"] == "llm")
        await b.eval(f"document.querySelector('.wf-row[data-span-id=\"{llm['id']}\"]').click()")
        await b.wait_until(f"document.getElementById('span-detail').dataset.spanId === '{llm['id']}'")
        detail = await b.eval("document.getElementById('span-detail').textContent")
        assert "scripted-llm" in detail and "TTFB" in detail
        assert await b.eval("document.getElementById('player').dataset.seekMs") == str(llm["start"])
        await b.call("Page.captureScreenshot")  # renders without error


async def test_two_concurrent_calls_keep_their_spans_apart(server, app_tracing):
    roark_a, call_a = traced_call(server, script_a())
    roark_b, call_b = traced_call(server, script_b(), is_test=True)
    results = await asyncio.gather(run_call(call_a), run_call(call_b))
    assert all(r.ended_by == "end" for r in results)

    for roark, script, test in ((roark_a, script_a(), False), (roark_b, script_b(), True)):
        cid = roark.pipecat_call_id
        rec = await server.wait_for_call_ended(cid)
        spans = await spans_of(server, cid)
        root = check_tree(spans, cid)  # every span of this call names this call, in one trace
        assert rec.ended["traceId"] == root["traceId"]
        # The words on this call's STT spans are this call's caller's, and only those.
        said = {normalize_text(s["attributes"]["transcript"]) for s in spans if s["name"] == "stt"}
        assert said == {normalize_text(t.text) for t in script.turns}
        assert all((s["resource"].get("roark.skip") is True) == test for s in spans)
        assert rec.problems == []
    a, b = server.store.spans(roark_a.pipecat_call_id), server.store.spans(roark_b.pipecat_call_id)
    assert {s["traceId"] for s in a}.isdisjoint({s["traceId"] for s in b})
    assert {s["spanId"] for s in a}.isdisjoint({s["spanId"] for s in b})
    assert server.store.spans(None) == []  # nothing arrived unattributed
    assert app_tracing.spans() == []
