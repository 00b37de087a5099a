"""The dev server's /v1/traces (OTLP/HTTP, JSON and protobuf), its storage, checks and waterfall."""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote

import aiohttp
import pytest

from pipecat_roark.devserver import otlp

from devserver_browser import Browser, find_chromium
from tracing_helpers import API_KEY

CHROMIUM = find_chromium()
AUTH = {"Authorization": f"Bearer {API_KEY}"}
T0 = 1_746_093_600_000_000_000  # 2025-05-01T10:00:00Z in ns
TRACE = "5b8efff798038103d269b633813fc60c"


def kv(key, value):
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def jspan(span_id, name, start_ms, end_ms, parent=None, **attrs):
    s = {
        "traceId": TRACE, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": str(T0 + start_ms * 1_000_000), "endTimeUnixNano": str(T0 + end_ms * 1_000_000),
        "attributes": [kv(k.replace("_", "."), v) for k, v in attrs.items()],
        "status": {},
    }
    if parent:
        s["parentSpanId"] = parent
    return s


def otlp_json(call_id, spans, skip=None):
    res = [kv("service.name", "pipecat"), kv("pipecat.call.id", call_id), kv("roark.external_id", call_id)]
    if skip is not None:
        res.append(kv("roark.skip", skip))
    return {"resourceSpans": [{"resource": {"attributes": res}, "scopeSpans": [{"scope": {"name": "pipecat"}, "spans": spans}]}]}


def one_call(call_id):
    """conversation > turn 1 > stt, llm (ttfb 250 ms), tts; on the recording's axis from 0.5 s."""
    return otlp_json(call_id, [
        jspan("00000000000000a1", "conversation", 0, 4000, conversation_id=call_id),
        jspan("00000000000000b1", "turn", 500, 3000, parent="00000000000000a1", turn_number=1),
        jspan("00000000000000c1", "stt", 600, 1200, parent="00000000000000b1", transcript="hello there"),
        jspan("00000000000000c2", "llm", 1300, 1700, parent="00000000000000b1", metrics_ttfb=0.25, output="Hi!"),
        jspan("00000000000000c3", "tts", 1700, 1900, parent="00000000000000b1", metrics_ttfb=0.12, text="Hi!"),
    ])


def events(call_id, **ended_extra):
    started = {"event": "call-started", "pipecatCallId": call_id, "eventTimestamp": "2025-05-01T10:00:00.000Z",
               "agentId": "agent-1"}
    ended = {
        "event": "call-ended", "pipecatCallId": call_id, "eventTimestamp": "2025-05-01T10:00:05.000Z",
        "callStartedAt": "2025-05-01T10:00:00.000Z", "callEndedAt": "2025-05-01T10:00:04.000Z",
        "callEndedReason": "ended", "recordingStartedAt": "2025-05-01T10:00:00.000Z", "agentSpokeFirst": False,
        "transcript": [{"role": "user", "content": "hello there", "timestamp": "2025-05-01T10:00:00.600Z",
                        "endTimestamp": "2025-05-01T10:00:01.200Z"}],
        **ended_extra,
    }
    return started, ended


async def post_events(http, base, call_id, **ended_extra):
    for ev in events(call_id, **ended_extra):
        async with http.post(base + "/v1/integrations/pipecat", json=ev,
                             headers={"x-roark-api-key": API_KEY, **AUTH}) as r:
            assert r.status == 200, await r.text()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def test_otlp_json_is_stored_with_its_call_and_decoded(server, http):
    await post_events(http, server.base_url, "call-j", tracesSent=True)
    body = one_call("call-j")
    async with http.post(server.base_url + "/v1/traces", json=body, headers=AUTH) as r:
        assert r.status == 200 and r.content_type == "application/json"
        assert await r.json() == {}
    spans = server.store.spans("call-j")
    assert [s["name"] for s in spans] == ["conversation", "turn", "stt", "llm", "tts"]
    llm = spans[3]
    assert llm["traceId"] == TRACE and llm["parentSpanId"] == "00000000000000b1"
    assert llm["attributes"] == {"metrics.ttfb": 0.25, "output": "Hi!"}
    assert llm["startTimeUnixNano"] == T0 + 1_300_000_000
    assert spans[1]["attributes"]["turn.number"] == 1  # intValue sent as a string
    rec = server.store.get_call("call-j")
    assert rec.problems == [] and len(rec.spans) == 5
    # A retry of the same batch counts once.
    async with http.post(server.base_url + "/v1/traces", json=body, headers=AUTH) as r:
        assert r.status == 200
    assert len(server.store.spans("call-j")) == 5


async def test_otlp_protobuf_gzip_from_the_sdk_encoder(server, http):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    mem = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"pipecat.call.id": "call-p", "roark.external_id": "call-p"}),
                              shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(mem))
    tracer = provider.get_tracer("pipecat")
    with tracer.start_as_current_span("conversation") as conv:
        conv.set_attribute("conversation.id", "call-p")
        with tracer.start_as_current_span("llm", attributes={"metrics.ttfb": 0.3, "tools": ["a", "b"]}):
            pass
    body = gzip.compress(encode_spans(mem.get_finished_spans()).SerializeToString())
    headers = {**AUTH, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    async with http.post(server.base_url + "/v1/traces", data=body, headers=headers) as r:
        assert r.status == 200 and r.content_type == "application/x-protobuf"
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        ExportTraceServiceResponse().ParseFromString(await r.read())
    spans = server.store.spans("call-p")
    assert sorted(s["name"] for s in spans) == ["conversation", "llm"]
    llm = next(s for s in spans if s["name"] == "llm")
    conv_s = next(s for s in spans if s["name"] == "conversation")
    assert llm["parentSpanId"] == conv_s["spanId"] and conv_s["parentSpanId"] is None
    assert llm["attributes"] == {"metrics.ttfb": 0.3, "tools": ["a", "b"]}
    assert llm["resource"]["pipecat.call.id"] == "call-p"
    assert llm["traceId"] == format(conv.get_span_context().trace_id, "032x")


@pytest.mark.parametrize(
    "headers, body, status, says",
    [
        ({}, b"{}", 401, "Bearer"),
        ({"Authorization": "Bearer nope"}, b"{}", 401, "Bearer"),
        ({**AUTH, "Content-Type": "text/plain"}, b"x", 415, "application/x-protobuf or application/json"),
        ({**AUTH, "Content-Type": "application/json"}, b"{not json", 400, "not JSON"),
        ({**AUTH, "Content-Type": "application/json"}, b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
         400, "traceId"),
        ({**AUTH, "Content-Type": "application/x-protobuf"}, b"\xff\xff\xff", 400, "ExportTraceServiceRequest"),
    ],
)
async def test_bad_requests_are_refused_with_a_reason(server, http, headers, body, status, says):
    if "x-protobuf" in headers.get("Content-Type", "") and not otlp.protobuf_available():
        pytest.skip("opentelemetry-proto not installed")
    async with http.post(server.base_url + "/v1/traces", data=body, headers=headers) as r:
        assert r.status == status
        assert says in (await r.json())["error"]


async def test_spans_naming_no_call_are_kept_apart_and_bad_links_are_problems(server, http):
    body = one_call("x")
    body["resourceSpans"][0]["resource"]["attributes"] = [kv("service.name", "other")]
    async with http.post(server.base_url + "/v1/traces", json=body, headers=AUTH) as r:
        assert r.status == 200
    assert len(server.store.spans(None)) == 5 and server.store.call_ids() == []

    bad = one_call("call-bad")
    bad["resourceSpans"][0]["resource"]["attributes"] = [kv("pipecat.call.id", "call-bad"), kv("roark.skip", True)]
    for sp in bad["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        sp["traceId"] = "ab" * 16  # another trace than the batch above
    await post_events(http, server.base_url, "call-bad", tracesSent=False)
    async with http.post(server.base_url + "/v1/traces", json=bad, headers=AUTH) as r:
        assert r.status == 200
    problems = server.store.get_call("call-bad").problems
    assert "traces: resource attribute roark.external_id missing (Roark links spans by it) (5 times)" in problems
    assert any("roark.skip is set but call-started does not flag a test call" in p for p in problems)
    assert any("tracesSent: false, yet spans arrived" in p for p in problems)

    await post_events(http, server.base_url, "call-none", tracesSent=True)
    assert any("no span has arrived" in p for p in server.store.get_call("call-none").problems)


def test_inflate_handles_gzip_deflate_and_refuses_the_rest():
    import zlib

    raw = json.dumps(one_call("c")).encode()
    assert otlp.inflate(gzip.compress(raw), "gzip") == raw
    assert otlp.inflate(zlib.compress(raw), "deflate") == raw
    assert otlp.inflate(raw, "gzip") == raw  # already inflated by the HTTP layer
    with pytest.raises(otlp.OtlpError) as e:
        otlp.inflate(raw, "br")
    assert e.value.status == 415
    with pytest.raises(otlp.OtlpError) as e:
        otlp.inflate(gzip.compress(b"\0" * (otlp.MAX_INFLATED + 10)), "gzip")
    assert e.value.status == 413
    assert otlp.decode_request(gzip.compress(raw), "application/json; charset=utf-8", "gzip")[0]["name"] == "conversation"


def test_waterfall_orders_the_tree_and_places_it_on_the_recording_axis():
    spans = otlp.decode_json(one_call("c"))
    started, ended = events("c")
    w = otlp.waterfall(started, ended, list(reversed(spans)))
    assert w["anchorSource"] == "recordingStartedAt" and w["count"] == 5 and w["traceIds"] == [TRACE]
    rows = [(s["name"], s["depth"], s["offsetMs"], s["endOffsetMs"], s["ttfbMs"], s["turn"]) for s in w["spans"]]
    assert rows == [
        ("conversation", 0, 0.0, 4000.0, None, None),
        ("turn", 1, 500.0, 3000.0, None, 1),
        ("stt", 2, 600.0, 1200.0, None, 1),
        ("llm", 2, 1300.0, 1700.0, 250.0, 1),
        ("tts", 2, 1700.0, 1900.0, 120.0, 1),
    ]
    # No recordingStartedAt: the transcript's offsets place the axis instead.
    ended2 = dict(ended, recordingStartedAt=None)
    ended2["transcript"] = [dict(ended["transcript"][0], audioOffsetMs=100)]
    w2 = otlp.waterfall(started, ended2, spans)
    assert w2["anchorSource"] == "transcript"
    assert [s["offsetMs"] for s in w2["spans"]][:3] == [-500.0, 0.0, 100.0]  # the stt span is the turn
    # An orphan (its parent never arrived) is a root; nothing is lost.
    orphan = otlp.decode_json(otlp_json("c", [jspan("00000000000000d1", "tts", 10, 20, parent="00000000000000ff")]))
    assert [s["depth"] for s in otlp.waterfall(started, ended, spans + orphan)["spans"]].count(0) == 2


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH")
async def test_the_page_and_the_export_show_the_waterfall(server, http, tmp_path):
    cid = "traced call/1"
    await post_events(http, server.base_url, cid, tracesSent=True)
    async with http.post(server.base_url + "/v1/traces", json=one_call(cid), headers=AUTH) as r:
        assert r.status == 200
    server.settings.protect_viewer = False
    async with Browser(CHROMIUM, tmp_path / "profile") as b:
        for url in (f"{server.base_url}/calls/{quote(cid, safe='')}", None):
            if url is None:  # the self-contained export, from disk
                async with http.get(f"{server.base_url}/api/calls/{quote(cid, safe='')}/export.html") as r:
                    (tmp_path / "export.html").write_bytes(await r.read())
                url = (tmp_path / "export.html").as_uri()
            await b.open(url)
            await b.wait_until("document.body && document.body.dataset.ready === '1'")
            rows = await b.eval(
                "[...document.querySelectorAll('.wf-row')].map(r => [r.dataset.name, +r.dataset.depth,"
                " +r.dataset.offsetMs, +r.dataset.endOffsetMs, r.dataset.ttfbMs || null])"
            )
            assert rows == [
                ["conversation", 0, 0, 4000, None], ["turn", 1, 500, 3000, None], ["stt", 2, 600, 1200, None],
                ["llm", 2, 1300, 1700, "250"], ["tts", 2, 1700, 1900, "120"],
            ]
            # Bars on the axis: llm starts at 1300 / 4000 of the width; its TTFB shades 250 / 400 of the bar.
            left = await b.eval("parseFloat(document.querySelector('.wf-row[data-name=\"llm\"] .wf-bar').style.left)")
            assert abs(left - 32.5) < 0.01
            shade = await b.eval("parseFloat(document.querySelector('.wf-row[data-name=\"llm\"] .wf-ttfb').style.width)")
            assert abs(shade - 62.5) < 0.01
            assert "TTFB 250 ms" in await b.eval("document.querySelector('.wf-row[data-name=\"llm\"]').textContent")
            assert await b.eval("document.getElementById('traces-info').textContent") == "5 spans · aligned by recordingStartedAt"
            assert await b.eval("document.querySelector('#problem-list .no-problems') !== null")
