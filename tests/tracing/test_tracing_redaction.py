"""redact= with trace=True: the spans reaching Roark carry redacted text; the app's spans are untouched."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry import trace  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

from pipecat_roark.config import build_settings  # noqa: E402
from pipecat_roark.observer import CallLog  # noqa: E402
from pipecat_roark.redaction import REDACTION_FAILED  # noqa: E402
from pipecat_roark.tracing import CallTracing  # noqa: E402

from test_tracing_routing import FakeWorkerTracing, wait_spans  # noqa: E402
from tracing_helpers import API_KEY  # noqa: E402


def _personal_spans(w: FakeWorkerTracing) -> None:
    parent = w.ctx.get_conversation_context()
    with trace.get_tracer("pipecat").start_as_current_span("stt", context=parent) as span:
        span.set_attribute("transcript", "I'm jane@x.com, call (415) 555-0132")
        span.set_attribute("input", json.dumps([{"role": "user", "content": "card 4111 1111 1111 1111"}]))
        span.set_attribute("tags", ["jane@x.com", "plain"])
        span.set_attribute("metrics.ttfb", 0.1)
        span.add_event("heard", {"text": "jane@x.com"})
        span.set_status(Status(StatusCode.ERROR, "failed for jane@x.com"))


async def test_span_text_is_redacted_on_the_way_to_roark(server, app_tracing):
    failures: list[str] = []
    settings = build_settings(agent_id="a", api_key=API_KEY, base_url=server.base_url,
                              redact=["email", "card", "phone", lambda t: None if t == "plain" else t])
    tracing = CallTracing.create("call-redact", settings, CallLog("call-redact"), on_redaction_failure=failures.append)
    w = FakeWorkerTracing("call-redact")
    w.start()
    _personal_spans(w)
    with app_tracing.tracer().start_as_current_span("app-op") as span:
        span.set_attribute("email", "jane@x.com")
    w.end()
    assert await tracing.aclose(10)

    spans = await wait_spans(server, "call-redact", 2)
    stt = next(s for s in spans if s["name"] == "stt")
    a = stt["attributes"]
    assert a["transcript"] == "I'm [EMAIL], call [PHONE]"
    assert json.loads(a["input"]) == [{"role": "user", "content": "card [CARD]"}]
    assert a["tags"] == ["[EMAIL]", REDACTION_FAILED] and a["metrics.ttfb"] == 0.1
    assert stt["events"][0]["attributes"] == {"text": "[EMAIL]"}
    assert stt["status"]["message"] == "failed for [EMAIL]"
    root = next(s for s in spans if s["name"] == "conversation")
    assert root["attributes"]["conversation.id"] == "call-redact"  # identifiers are left alone
    assert "jane" not in json.dumps(spans) and "4111" not in json.dumps(spans)
    assert failures and all("jane" not in f for f in failures)
    assert [dict(s.attributes) for s in app_tracing.spans()] == [{"email": "jane@x.com"}]  # the app's own
