"""Routing of Pipecat's spans, with Pipecat's own tracing code and the real SDK, without a pipeline.

Pipecat's TurnTraceObserver makes the conversation and turn spans exactly as
in a worker; service spans are made the way its decorators make them (the
global ``trace.get_tracer("pipecat")``, parented on the worker's
TracingContext). The spans go over real loopback HTTP to the dev server.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry import trace  # noqa: E402
from pipecat.observers.turn_tracking_observer import TurnTrackingObserver  # noqa: E402
from pipecat.observers.user_bot_latency_observer import UserBotLatencyObserver  # noqa: E402
from pipecat.utils.tracing.tracing_context import TracingContext  # noqa: E402
from pipecat.utils.tracing.turn_trace_observer import TurnTraceObserver  # noqa: E402

from pipecat_roark.config import build_settings  # noqa: E402
from pipecat_roark.observer import CallLog  # noqa: E402
from pipecat_roark.tracing import CallTracing  # noqa: E402

from tracing_helpers import API_KEY  # noqa: E402


def call_tracing(server, call_id: str, **kw) -> CallTracing:
    settings = build_settings(agent_id="agent-t", api_key=API_KEY, base_url=server.base_url, **kw)
    tracing = CallTracing.create(call_id, settings, CallLog(call_id))
    assert tracing is not None
    return tracing


class FakeWorkerTracing:
    """What a PipelineWorker with enable_tracing=True does, with Pipecat's own classes."""

    def __init__(self, conversation_id: str):
        self.ctx = TracingContext()
        self.observer = TurnTraceObserver(
            TurnTrackingObserver(), latency_tracker=UserBotLatencyObserver(),
            conversation_id=conversation_id, tracing_context=self.ctx,
        )
        self.conversation_id = conversation_id

    def start(self):
        self.observer.start_conversation_tracing(self.conversation_id)

    async def turn(self, n: int, services=("stt", "llm", "tts")):
        await self.observer._handle_turn_started(n)
        for name in services:
            # As Pipecat's service decorators do it.
            parent = self.ctx.get_turn_context() or self.ctx.get_conversation_context()
            with trace.get_tracer("pipecat").start_as_current_span(name, context=parent) as span:
                span.set_attribute("metrics.ttfb", 0.125)
                await asyncio.sleep(0.001)
        await self.observer._handle_turn_ended(n, 0.5, False)

    def end(self):
        self.observer.end_conversation_tracing()


async def wait_spans(server, call_id: str, n: int, timeout: float = 10.0) -> list[dict]:
    await server.wait_for(lambda: len(server.store.spans(call_id)) >= n, timeout)
    return server.store.spans(call_id)


async def test_a_calls_spans_go_to_roark_linked_and_nested(server, app_tracing):
    tracing = call_tracing(server, "call-one")
    w = FakeWorkerTracing("call-one")
    w.start()
    await w.turn(1)
    await w.turn(2, services=("llm",))
    w.end()
    assert await tracing.aclose(10)

    spans = await wait_spans(server, "call-one", 7)
    assert sorted(s["name"] for s in spans) == sorted(["conversation", "turn", "turn", "stt", "llm", "tts", "llm"])
    for s in spans:
        assert s["resource"]["pipecat.call.id"] == "call-one"
        assert s["resource"]["roark.external_id"] == "call-one"
        assert "roark.skip" not in s["resource"]
    by_id = {s["spanId"]: s for s in spans}
    root = next(s for s in spans if s["name"] == "conversation")
    assert root["parentSpanId"] is None and root["attributes"]["conversation.id"] == "call-one"
    assert len({s["traceId"] for s in spans}) == 1
    for s in spans:
        if s["name"] == "turn":
            assert s["parentSpanId"] == root["spanId"]
        elif s["name"] != "conversation":
            assert by_id[s["parentSpanId"]]["name"] == "turn"
    # The app's provider got none of them.
    assert app_tracing.spans() == []
    assert tracing.ended_fields() == {"tracesSent": True, "traceId": root["traceId"]}
    # No events were sent here (only spans): the only problem is the missing call-started.
    assert server.store.get_call("call-one").problems == ["no call-started received for this call"]


async def test_the_apps_provider_keeps_its_own_spans_and_gets_none_of_roarks(server, app_tracing):
    app = app_tracing.tracer()
    tracing = call_tracing(server, "call-app")
    with app.start_as_current_span("http-request") as request_span:
        w = FakeWorkerTracing("call-app")
        w.start()  # under the app's span: Roark's conversation is a root of its own, linked to it
        with app.start_as_current_span("app-work"):
            pass
        await w.turn(1)
        w.end()
    # Pipecat without a Roark call: still the app's, as without pipecat-roark.
    other = FakeWorkerTracing("not-a-roark-call")
    other.start()
    await other.turn(1, services=("llm",))
    other.end()
    await tracing.aclose(10)

    roark = await wait_spans(server, "call-app", 5)
    app_names = sorted(s.name for s in app_tracing.spans())
    assert app_names == sorted(["http-request", "app-work", "conversation", "turn", "llm"])
    app_conv = next(s for s in app_tracing.spans() if s.name == "conversation")
    assert app_conv.attributes["conversation.id"] == "not-a-roark-call"
    assert all(s.resource.attributes.get("service.name") == "the-app" for s in app_tracing.spans())
    assert all(s["resource"]["pipecat.call.id"] == "call-app" for s in roark)
    conv = next(s for s in roark if s["name"] == "conversation")
    assert conv["parentSpanId"] is None
    assert conv["traceId"] != format(request_span.get_span_context().trace_id, "032x")
    assert conv["links"][0]["spanId"] == format(request_span.get_span_context().span_id, "016x")
    assert {s["traceId"] for s in server.store.spans(None)} == set()  # nothing unattributed


async def test_interleaved_calls_never_mix(server, app_tracing):
    a, b = call_tracing(server, "call-a"), call_tracing(server, "call-b", is_test=True)
    wa, wb = FakeWorkerTracing("call-a"), FakeWorkerTracing("call-b")
    wa.start()
    wb.start()
    async def two_turns(w):
        await w.turn(1)
        await w.turn(2)

    await asyncio.gather(two_turns(wa), two_turns(wb))  # interleaved at every await
    wa.end()
    wb.end()
    await asyncio.gather(a.aclose(10), b.aclose(10))
    sa, sb = await wait_spans(server, "call-a", 9), await wait_spans(server, "call-b", 9)
    assert len(sa) == len(sb) == 9
    assert len({s["traceId"] for s in sa}) == 1 and len({s["traceId"] for s in sb}) == 1
    assert {s["traceId"] for s in sa}.isdisjoint({s["traceId"] for s in sb})
    assert all("roark.skip" not in s["resource"] for s in sa)
    assert all(s["resource"]["roark.skip"] is True for s in sb)
    assert app_tracing.spans() == []


async def test_spans_after_the_call_closed_go_nowhere(server, app_tracing):
    tracing = call_tracing(server, "call-late")
    w = FakeWorkerTracing("call-late")
    w.start()
    await w.observer._handle_turn_started(1)
    turn_ctx = w.ctx.get_turn_context()
    w.end()
    await tracing.aclose(10)
    # A straggler parented on the finished call's trace: neither Roark's nor the app's.
    with trace.get_tracer("pipecat").start_as_current_span("tts", context=turn_ctx) as span:
        assert not span.is_recording()
    assert app_tracing.spans() == []
