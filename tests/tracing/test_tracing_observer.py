"""RoarkObserver(trace=True): the kill switch, bad input, failures of Roark, and never raising into Pipecat."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("opentelemetry.sdk.trace")

from aiohttp import web  # noqa: E402
from opentelemetry import trace  # noqa: E402

from pipecat_roark import RoarkObserver, tracing  # noqa: E402
from pipecat_roark.config import build_settings  # noqa: E402
from pipecat_roark.observer import CallLog  # noqa: E402

from test_tracing_routing import FakeWorkerTracing  # noqa: E402
from tracing_helpers import API_KEY  # noqa: E402


def test_the_kill_switch_turns_tracing_off_too(server, monkeypatch, logs, app_tracing):
    monkeypatch.setenv("ROARK_OBSERVABILITY_ENABLED", "off")
    roark = RoarkObserver(agent_id="a", api_key=API_KEY, base_url=server.base_url, trace=True)
    assert roark._tracing is None
    assert not any("tracing on" in line for line in logs)
    # Pipecat's spans for that conversation stay with the app, as without pipecat-roark.
    w = FakeWorkerTracing(roark.pipecat_call_id)
    w.start()
    w.end()
    assert [s.name for s in app_tracing.spans()] == ["conversation"]


def test_trace_must_be_a_bool(server):
    with pytest.raises(TypeError, match="trace must be True or False"):
        RoarkObserver(agent_id="a", api_key=API_KEY, base_url=server.base_url, trace="yes")


async def test_a_worker_that_does_not_trace_is_explained(server, logs):
    roark = RoarkObserver(agent_id="a", api_key=API_KEY, base_url=server.base_url, trace=True)
    roark._tracing.call_finished()  # what cleanup() does
    assert await roark._tracing.aclose(10)
    assert roark._tracing.ended_fields() == {"tracesSent": False}
    assert any("enable_tracing=True, conversation_id=roark.pipecat_call_id" in line for line in logs)


def settings_for(base_url, key=API_KEY):
    return build_settings(agent_id="a", api_key=key, base_url=base_url)


async def test_a_rejected_key_is_reported_once_and_call_ended_says_no_traces(server, logs, app_tracing):
    t = tracing.CallTracing.create("call-401", settings_for(server.base_url, key="wrong-key"), CallLog("call-401"))
    w = FakeWorkerTracing("call-401")
    w.start()
    await w.turn(1)
    w.end()
    await t.aclose(10)
    assert t.ended_fields()["tracesSent"] is False
    rejected = [line for line in logs if "Roark rejected the traces (HTTP 401): check ROARK_API_KEY" in line]
    assert len(rejected) == 1 and "wrong-key" not in "".join(logs)
    assert server.store.spans("call-401") == [] and app_tracing.spans() == []


@pytest.fixture
def short_deadlines(monkeypatch):
    for name, value in (("REQUEST_TIMEOUT_SECS", 0.3), ("RETRY_BUDGET_SECS", 0.8), ("FINAL_FLUSH_SECS", 1.0),
                        ("ROOT_WAIT_SECS", 0.5), ("STRAGGLER_GRACE_SECS", 0.2)):
        monkeypatch.setattr(tracing, name, value)


async def test_a_hanging_or_absent_roark_costs_a_bounded_time_and_never_raises(short_deadlines, logs):
    async def hang(request):
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/traces", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        for base in (f"http://127.0.0.1:{port}", "http://127.0.0.1:9"):  # hangs; refuses
            cid = f"call-{base[-4:]}"
            t = tracing.CallTracing.create(cid, settings_for(base), CallLog(cid))
            w = FakeWorkerTracing(cid)
            w.start()
            await w.turn(1)
            w.end()
            started = time.monotonic()
            await t.aclose(10)
            assert time.monotonic() - started < 4.0
            assert t.ended_fields()["tracesSent"] is False
    finally:
        await runner.cleanup()
    assert any("could not send" in line or "flush timed out" in line for line in logs)


async def test_a_failure_inside_routing_leaves_the_span_to_the_app(server, monkeypatch, app_tracing):
    t = tracing.CallTracing.create("call-boom", settings_for(server.base_url), CallLog("call-boom"))

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(tracing.CallTracing, "start_root", boom)
    w = FakeWorkerTracing("call-boom")
    w.start()  # Pipecat's code runs on, unharmed
    await w.turn(1, services=("llm",))
    w.end()
    await t.aclose(5)
    assert sorted(s.name for s in app_tracing.spans()) == ["conversation", "llm", "turn"]


async def test_the_global_get_tracer_is_wrapped_once_and_only_for_pipecat(server, app_tracing):
    calls = [tracing.CallTracing.create(c, settings_for(server.base_url), CallLog(c)) for c in ("wrap-1", "wrap-2")]
    wrapped = trace.get_tracer
    assert getattr(wrapped, "_pipecat_roark_router", False)
    assert not getattr(wrapped.__wrapped__, "_pipecat_roark_router", False)  # not wrapped twice
    other = trace.get_tracer("my.app")
    assert type(other).__name__ != "RoutingTracer"
    assert type(trace.get_tracer("pipecat")).__name__ == "RoutingTracer"
    # An explicit provider is honoured as given.
    assert type(trace.get_tracer("pipecat", tracer_provider=app_tracing.provider)).__name__ != "RoutingTracer"
    for c in calls:
        await c.aclose(5)


async def test_a_second_traced_call_with_the_same_id_is_refused(server, logs):
    a = tracing.CallTracing.create("dup", settings_for(server.base_url), CallLog("dup"))
    b = tracing.CallTracing.create("dup", settings_for(server.base_url), CallLog("dup"))
    assert a is not None and b is None
    assert any("another traced call with this id" in line for line in logs)
    await a.aclose(5)
