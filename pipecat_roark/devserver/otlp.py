"""OTLP/HTTP traces: decode what arrives on /v1/traces, and shape it for the call page.

Pure (no I/O). Both encodings of OTLP/HTTP are accepted:

- ``application/json`` (OTLP/JSON: hex trace and span ids, enums as
  numbers, 64-bit integers as strings or numbers; lowerCamelCase keys, or
  snake_case): always, with the standard library.
- ``application/x-protobuf``: only when ``opentelemetry-proto`` is
  importable, i.e. with the ``pipecat-roark[tracing]`` extra. Without it the
  server answers 415 and says what to install; the server's own runtime
  dependencies stay aiohttp, numpy, loguru and pydantic.

``gzip`` and ``deflate`` request bodies are inflated, with a size cap.

Each span is normalised to one plain dict (hex ids, int nanoseconds,
attributes as JSON values, its resource's attributes alongside) and belongs
to the call its resource names: ``pipecat.call.id``, else ``roark.external_id``.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, Iterable, Optional

from .checks import parse_iso

TRACES_PATH = "/v1/traces"
CALL_ID_KEYS = ("pipecat.call.id", "roark.external_id")
MAX_INFLATED = 64 * 1024 * 1024
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
JSON_TYPES = ("application/json",)
INSTALL_HINT = 'pip install "pipecat-roark[tracing]" (in a clone of the repository: pip install -e ".[tracing]")'

SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}


class OtlpError(Exception):
    """A request that cannot be accepted: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def protobuf_available() -> bool:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------
# decoding


def inflate(body: bytes, encoding: Optional[str]) -> bytes:
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "x-gzip", "deflate"):
        raise OtlpError(415, f"unsupported Content-Encoding {encoding!r} (use gzip, deflate or none)")
    # aiohttp inflates request bodies itself (within client_max_size); a body
    # without the format's signature has been inflated already.
    if enc != "deflate" and body[:2] != b"\x1f\x8b":
        return body
    if enc == "deflate" and not (len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] * 256 + body[1]) % 31 == 0):
        return body
    # wbits: 16+ for gzip, 0 lets zlib read a zlib header (what "deflate" means in HTTP).
    d = zlib.decompressobj(16 + zlib.MAX_WBITS if enc != "deflate" else 0)
    try:
        out = d.decompress(body, MAX_INFLATED + 1)
    except zlib.error as e:
        if enc == "deflate":  # some clients send raw deflate
            try:
                d = zlib.decompressobj(-zlib.MAX_WBITS)
                out = d.decompress(body, MAX_INFLATED + 1)
            except zlib.error:
                raise OtlpError(400, f"body is not valid {enc}: {e}") from None
        else:
            raise OtlpError(400, f"body is not valid {enc}: {e}") from None
    if len(out) > MAX_INFLATED or d.unconsumed_tail:
        raise OtlpError(413, f"inflated body larger than {MAX_INFLATED} bytes")
    return out


def media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def decode_request(body: bytes, content_type: Optional[str], content_encoding: Optional[str] = None) -> list[dict]:
    """An ExportTraceServiceRequest body -> normalised spans. Raises OtlpError."""
    kind = media_type(content_type)
    if kind not in PROTOBUF_TYPES and kind not in JSON_TYPES:
        raise OtlpError(415, f"unsupported Content-Type {content_type!r}: send application/x-protobuf or application/json")
    if kind in PROTOBUF_TYPES and not protobuf_available():
        raise OtlpError(
            415,
            "this server cannot decode OTLP protobuf without opentelemetry-proto "
            f"({INSTALL_HINT}); or export OTLP/JSON (application/json)",
        )
    raw = inflate(body, content_encoding)
    if kind in PROTOBUF_TYPES:
        return _decode_protobuf(raw)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise OtlpError(400, f"body is not JSON: {e}") from None
    return decode_json(doc)


def _decode_protobuf(raw: bytes) -> list[dict]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(raw)
    except DecodeError as e:
        raise OtlpError(400, f"body is not an OTLP ExportTraceServiceRequest: {e}") from None
    out = []
    for rs in req.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = {"name": ss.scope.name, "version": ss.scope.version}
            for sp in ss.spans:
                out.append(
                    {
                        "traceId": sp.trace_id.hex(),
                        "spanId": sp.span_id.hex(),
                        "parentSpanId": sp.parent_span_id.hex() or None,
                        "name": sp.name,
                        "kind": int(sp.kind),
                        "startTimeUnixNano": int(sp.start_time_unix_nano),
                        "endTimeUnixNano": int(sp.end_time_unix_nano),
                        "attributes": _pb_attrs(sp.attributes),
                        "status": {"code": int(sp.status.code), "message": sp.status.message},
                        "events": [
                            {"name": e.name, "timeUnixNano": int(e.time_unix_nano), "attributes": _pb_attrs(e.attributes)}
                            for e in sp.events
                        ],
                        "links": [
                            {"traceId": ln.trace_id.hex(), "spanId": ln.span_id.hex(), "attributes": _pb_attrs(ln.attributes)}
                            for ln in sp.links
                        ],
                        "resource": resource,
                        "scope": scope,
                    }
                )
    return out


def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _pb_attrs(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


def _get(d: Any, camel: str) -> Any:
    """A field of an OTLP/JSON object, by its lowerCamelCase or snake_case name."""
    if not isinstance(d, dict):
        return None
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake)


def _list(d: Any, camel: str) -> list:
    v = _get(d, camel)
    return v if isinstance(v, list) else []


def _int(v: Any, what: str) -> int:
    if v is None or v == "":
        return 0
    try:
        if isinstance(v, bool):
            raise ValueError
        return int(v)
    except (TypeError, ValueError):
        raise OtlpError(400, f"{what} is not an integer: {v!r}") from None


def _id(v: Any, nbytes: int, what: str, required: bool = True) -> Optional[str]:
    """OTLP/JSON ids are hex; base64 (protobuf's default JSON mapping) is accepted too."""
    if v in (None, ""):
        if required:
            raise OtlpError(400, f"{what} missing")
        return None
    if not isinstance(v, str):
        raise OtlpError(400, f"{what} must be a string")
    if len(v) == 2 * nbytes:
        try:
            bytes.fromhex(v)
            return v.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == nbytes:
        return raw.hex()
    raise OtlpError(400, f"{what} {v!r} is not {nbytes} bytes of hex")


def _enum(v: Any, names: dict[int, str], prefix: str) -> int:
    if isinstance(v, str) and not v.lstrip("-").isdigit():
        wanted = v.upper().removeprefix(prefix)
        for k, name in names.items():
            if name.upper() == wanted:
                return k
        return 0
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        got = _get(v, key)
        if got is not None:
            return got
    got = _get(v, "intValue")
    if got is not None:
        try:
            return int(got)
        except (TypeError, ValueError):
            return got
    arr = _get(v, "arrayValue")
    if arr is not None:
        return [_json_value(x) for x in _list(arr, "values")]
    kv = _get(v, "kvlistValue")
    if kv is not None:
        return _json_attrs(_list(kv, "values"))
    b = _get(v, "bytesValue")
    if b is not None:
        try:
            return base64.b64decode(b).hex()
        except (binascii.Error, ValueError):
            return b
    return None


def _json_attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs if isinstance(kvs, list) else []:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _json_value(kv.get("value"))
    return out


def decode_json(doc: Any) -> list[dict]:
    if not isinstance(doc, dict):
        raise OtlpError(400, "body must be a JSON object with resourceSpans")
    out = []
    for rs in _list(doc, "resourceSpans"):
        resource = _json_attrs(_list(_get(rs, "resource"), "attributes"))
        for ss in _list(rs, "scopeSpans"):
            sc = _get(ss, "scope") or {}
            scope = {"name": _get(sc, "name") or "", "version": _get(sc, "version") or ""}
            for sp in _list(ss, "spans"):
                if not isinstance(sp, dict):
                    raise OtlpError(400, "a span is not an object")
                status = _get(sp, "status") or {}
                out.append(
                    {
                        "traceId": _id(_get(sp, "traceId"), 16, "traceId"),
                        "spanId": _id(_get(sp, "spanId"), 8, "spanId"),
                        "parentSpanId": _id(_get(sp, "parentSpanId"), 8, "parentSpanId", required=False),
                        "name": str(_get(sp, "name") or ""),
                        "kind": _enum(_get(sp, "kind"), SPAN_KINDS, "SPAN_KIND_"),
                        "startTimeUnixNano": _int(_get(sp, "startTimeUnixNano"), "startTimeUnixNano"),
                        "endTimeUnixNano": _int(_get(sp, "endTimeUnixNano"), "endTimeUnixNano"),
                        "attributes": _json_attrs(_get(sp, "attributes")),
                        "status": {
                            "code": _enum(_get(status, "code"), STATUS_CODES, "STATUS_CODE_"),
                            "message": str(_get(status, "message") or ""),
                        },
                        "events": [
                            {
                                "name": str(_get(e, "name") or ""),
                                "timeUnixNano": _int(_get(e, "timeUnixNano"), "event timeUnixNano"),
                                "attributes": _json_attrs(_get(e, "attributes")),
                            }
                            for e in _list(sp, "events")
                        ],
                        "links": [
                            {
                                "traceId": _id(_get(ln, "traceId"), 16, "link traceId"),
                                "spanId": _id(_get(ln, "spanId"), 8, "link spanId"),
                                "attributes": _json_attrs(_get(ln, "attributes")),
                            }
                            for ln in _list(sp, "links")
                        ],
                        "resource": resource,
                        "scope": scope,
                    }
                )
    return out


def response(kind: str, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    """An ExportTraceServiceResponse in the request's encoding: (body, content type)."""
    if media_type(kind) in PROTOBUF_TYPES:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        resp = ExportTraceServiceResponse()
        if rejected:
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = message
        return resp.SerializeToString(), "application/x-protobuf"
    body: dict[str, Any] = {}
    if rejected:
        body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return json.dumps(body).encode(), "application/json"


# --------------------------------------------------------------------------
# attribution and checks


def call_id_of(span: dict) -> Optional[str]:
    resource = span.get("resource") or {}
    for key in CALL_ID_KEYS:
        v = resource.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def span_problems(span: dict) -> list[str]:
    """What a span's resource gets wrong about naming its call (request time)."""
    resource = span.get("resource") or {}
    a, b = resource.get("pipecat.call.id"), resource.get("roark.external_id")
    problems = []
    if a and not b:
        problems.append("traces: resource attribute roark.external_id missing (Roark links spans by it)")
    elif b and not a:
        problems.append("traces: resource attribute pipecat.call.id missing")
    elif a and b and a != b:
        problems.append(f"traces: pipecat.call.id {a!r} and roark.external_id {b!r} disagree")
    skip = resource.get("roark.skip")
    if skip is not None and not isinstance(skip, bool):
        problems.append(f"traces: roark.skip must be a boolean, got {skip!r}")
    return problems


def check_traces(started: Optional[dict], ended: Optional[dict], spans: list[dict]) -> list[str]:
    """Whole-call checks between the events and the spans that arrived."""
    problems = []
    said = (ended or {}).get("tracesSent")
    if said is True and not spans:
        problems.append("call-ended says tracesSent, but no span has arrived on /v1/traces")
    if spans:
        skip = any((s.get("resource") or {}).get("roark.skip") is True for s in spans)
        is_test = bool((started or {}).get("isTest"))
        if skip != is_test:
            problems.append(
                f"traces: roark.skip is {'set' if skip else 'not set'} but call-started "
                f"{'flags' if is_test else 'does not flag'} a test call"
            )
        if said is False:
            problems.append("call-ended says tracesSent: false, yet spans arrived for this call")
    return problems


# --------------------------------------------------------------------------
# the call page's waterfall


def _epoch_ms(iso: Any) -> Optional[float]:
    dt = parse_iso(iso) if isinstance(iso, str) else None
    if dt is None or dt.tzinfo is None:
        return None
    return dt.timestamp() * 1000.0


def anchor_ms(started: Optional[dict], ended: Optional[dict], spans: list[dict]) -> tuple[Optional[float], str]:
    """Wall time (epoch ms) of recording sample 0, the origin of every audioOffsetMs; and where it came from."""
    ended = ended or {}
    t = _epoch_ms(ended.get("recordingStartedAt"))
    if t is not None:
        return t, "recordingStartedAt"
    for turn in ended.get("transcript") or []:
        if isinstance(turn, dict) and isinstance(turn.get("audioOffsetMs"), int):
            ts = _epoch_ms(turn.get("timestamp"))
            if ts is not None:
                return ts - turn["audioOffsetMs"], "transcript"
    t = _epoch_ms(ended.get("callStartedAt")) or _epoch_ms((started or {}).get("eventTimestamp"))
    if t is not None:
        return t, "callStartedAt"
    starts = [s["startTimeUnixNano"] for s in spans if s.get("startTimeUnixNano")]
    if starts:
        return min(starts) / 1e6, "first span"
    return None, "none"


def _summary(span: dict) -> str:
    a = span.get("attributes") or {}
    name = span.get("name")
    if name == "turn":
        n = a.get("turn.number")
        return f"turn {n}" + (" (interrupted)" if a.get("turn.was_interrupted") else "")
    for key in ("transcript", "text", "output", "conversation.id"):
        v = a.get(key)
        if isinstance(v, str) and v:
            return v[:200]
    return ""


def _ttfb_ms(attrs: dict) -> Optional[float]:
    v = attrs.get("metrics.ttfb")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return round(v * 1000.0, 1)
    return None


def waterfall(started: Optional[dict], ended: Optional[dict], spans: list[dict]) -> dict[str, Any]:
    """Spans in tree order (each followed by its children, by start), placed on the recording's time axis."""
    anchor, source = anchor_ms(started, ended, spans)
    by_id: dict[str, dict] = {}
    for s in spans:
        by_id.setdefault(s["spanId"], s)  # a re-sent span counts once
    children: dict[Optional[str], list[dict]] = {}
    for s in by_id.values():
        parent = s.get("parentSpanId")
        key = parent if parent in by_id and parent != s["spanId"] else None
        children.setdefault(key, []).append(s)
    for lst in children.values():
        lst.sort(key=lambda s: (s.get("startTimeUnixNano") or 0, s.get("name") or ""))

    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(s: dict, depth: int, turn: Optional[int]) -> None:
        if s["spanId"] in seen:
            return
        seen.add(s["spanId"])
        a = s.get("attributes") or {}
        if s.get("name") == "turn" and isinstance(a.get("turn.number"), int):
            turn = a["turn.number"]
        start_ms = (s.get("startTimeUnixNano") or 0) / 1e6
        end_ns = s.get("endTimeUnixNano") or 0
        end_ms = end_ns / 1e6 if end_ns else start_ms
        offset = None if anchor is None else round(start_ms - anchor, 1)
        ordered.append(
            {
                "spanId": s["spanId"],
                "parentSpanId": s.get("parentSpanId"),
                "traceId": s["traceId"],
                "name": s.get("name"),
                "depth": depth,
                "turn": turn,
                "offsetMs": offset,
                "endOffsetMs": None if anchor is None else round(end_ms - anchor, 1),
                "durationMs": round(max(0.0, end_ms - start_ms), 1),
                "ttfbMs": _ttfb_ms(a),
                "model": a.get("gen_ai.request.model"),
                "provider": a.get("gen_ai.provider.name"),
                "summary": _summary(s),
                "status": STATUS_CODES.get((s.get("status") or {}).get("code", 0), "unset"),
                "kind": SPAN_KINDS.get(s.get("kind", 0), "unspecified"),
                "scope": (s.get("scope") or {}).get("name"),
                "attributes": a,
                "events": s.get("events") or [],
            }
        )
        for c in children.get(s["spanId"], []):
            visit(c, depth + 1, turn)

    for root in children.get(None, []):
        visit(root, 0, None)
    first = next(iter(by_id.values()), None)
    return {
        "count": len(by_id),
        "traceIds": sorted({s["traceId"] for s in by_id.values()}),
        "anchorUnixMs": anchor,
        "anchorSource": source,
        "resource": (first or {}).get("resource") or {},
        "spans": ordered,
    }

