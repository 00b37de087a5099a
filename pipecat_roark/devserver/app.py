"""The aiohttp application: the contract's endpoints A, B, C, OTLP traces, pages and a JSON API.

Handlers are thin: parse, consult faults, check, store, answer. The rules
live in checks.py, storage in store.py, page data in view.py.

Endpoint C imitates an object store's presigned PUT: it answers errors the
way S3 does (XML bodies, 400 for an extra Authorization header, 403 for a
wrong Content-Type, a used or expired URL), so a client that passes here
does not meet new failure modes in production.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from aiohttp import web
from loguru import logger

from . import checks, otlp, view, wav
from .faults import Fault, Faults
from .store import Store

EVENT_PATH = "/v1/integrations/pipecat"
UPLOAD_URL_PATH = "/v1/integrations/pipecat/chunk-upload-url"
PUT_PREFIX = "/upload/"
MAX_BODY = 64 * 1024 * 1024  # chunks are ~256 KiB; be generous, a dev server should not be the failure


@dataclass
class Settings:
    """Mutable at run time (tests flip wrap_upload_response between requests)."""

    api_key: Optional[str] = None
    wrap_upload_response: bool = True
    upload_url_ttl: float = 900.0
    # Pages and /api need the key only when reachable from other machines.
    protect_viewer: bool = False
    default_rate: int = wav.DEFAULT_RATE


@dataclass
class State:
    store: Store
    faults: Faults
    settings: Settings
    stopping: asyncio.Event  # set when the server stops: ends "hang forever" faults
    notify: Callable[[], None]  # wakes DevServer.wait_for* after every stored change


STATE = web.AppKey("pipecat_roark_devserver_state", State)


def create_app(state: State) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_viewer_auth])
    app[STATE] = state
    r = app.router
    r.add_post(EVENT_PATH, handle_event)
    r.add_post(UPLOAD_URL_PATH, handle_upload_url)
    r.add_put(PUT_PREFIX + "{token}", handle_put)
    r.add_post(otlp.TRACES_PATH, handle_traces)
    r.add_get("/healthz", handle_healthz)
    r.add_get("/api/calls", handle_api_calls)
    # Specific suffixes first; {call_id:.+} because a call id may contain "/".
    r.add_get("/api/calls/{call_id:.+}/recording.wav", handle_api_wav)
    r.add_get("/api/calls/{call_id:.+}/call.json", handle_api_json)
    r.add_get("/api/calls/{call_id:.+}/export.html", handle_api_export)
    r.add_get("/api/calls/{call_id:.+}", handle_api_call)
    r.add_get("/", _static_page("index.html"))
    r.add_get("/calls/{call_id:.+}", _static_page("call.html"))
    r.add_static("/static/", view.STATIC_DIR)
    return app


# --------------------------------------------------------------------------
# helpers


def _state(request: web.Request) -> State:
    return request.app[STATE]


def _json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error": message, **extra}, status=status)


def _s3_error(status: int, code: str, message: str) -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(status=status, text=body, content_type="application/xml")


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees a disconnect)."""
    if request.transport is not None:
        request.transport.abort()
    # aiohttp needs a return value; nothing reaches the client any more.
    return web.Response(status=503)


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _apply_fault(request: web.Request, endpoint: str) -> Optional[web.StreamResponse]:
    """Count the request; return the faulty answer to send, or None to proceed."""
    state = _state(request)
    fault: Optional[Fault] = state.faults.take(endpoint)
    state.notify()  # request counters changed: tests may be waiting on them
    if fault is None:
        return None
    # The endpoint, not the path: a PUT path is a presigned token.
    logger.info("devserver fault on {} {}: {}", request.method, endpoint, fault)
    if fault.kind == "status":
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        if endpoint == "put":
            return web.Response(
                status=fault.status, headers=headers, content_type="application/xml",
                text=f"<Error><Code>Injected</Code><Message>injected {fault.status}</Message></Error>",
            )
        return web.json_response(
            {"ok": False, "error": f"injected {fault.status}"}, status=fault.status or 500, headers=headers
        )
    if fault.kind == "hang":
        try:
            await asyncio.wait_for(state.stopping.wait(), fault.seconds)
        except asyncio.TimeoutError:
            pass
        if fault.then == "respond" and not state.stopping.is_set() and not _client_gone(request):
            return None
        return _drop(request)
    if fault.kind == "malformed":
        if fault.malformed == "not_json":
            return web.Response(status=200, text="<html><body>Bad Gateway (injected)</body></html>", content_type="text/html")
        if fault.malformed == "empty":
            return web.Response(status=200, body=b"", content_type="application/json")
        # no_upload_url: valid JSON, right shape otherwise, the one required field missing
        return web.json_response({"data": {"s3Key": "injected/no-upload-url", "expiresInSeconds": 900}})
    if fault.kind == "expired":
        # The URL is dead from now on, as a really expired one would be: a
        # client that retries the same URL instead of asking B again fails.
        token = request.match_info.get("token")
        if token:
            state.store.expire_token(token)
        return _s3_error(403, "AccessDenied", "Request has expired")
    return _drop(request)  # "down"


def _auth_failure(request: web.Request) -> Optional[web.Response]:
    """With a configured key, A and B need it twice: x-roark-api-key and Bearer."""
    key = _state(request).settings.api_key
    if key is None:
        return None
    given = request.headers.get("x-roark-api-key", "")
    bearer = request.headers.get("Authorization", "")
    ok = hmac.compare_digest(given.encode(), key.encode()) and hmac.compare_digest(
        bearer.encode(), f"Bearer {key}".encode()
    )
    if ok:
        return None
    return _json_error(401, "unauthorized: send x-roark-api-key: <key> and Authorization: Bearer <key>")


def _record_auth_consistency(request: web.Request, call_id: str) -> None:
    state = _state(request)
    if state.settings.api_key is None:  # with a key, a mismatch was already a 401
        for p in checks.check_auth_consistency(request.headers):
            state.store.record_problem(call_id, f"{request.method} {request.path}: {p}")


async def _read_json(request: web.Request) -> tuple[str, Any, bool]:
    raw = (await request.read()).decode("utf-8", errors="replace")
    try:
        return raw, json.loads(raw), True
    except ValueError:
        return raw, None, False


@web.middleware
async def _viewer_auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Pages and /api carry call content: when the server is reachable from
    other machines, require the key (header, Bearer, or HTTP Basic password so a
    browser can log in). The contract endpoints do their own auth."""
    settings = _state(request).settings
    path = request.path
    contract = path.startswith(("/v1/", PUT_PREFIX)) or path == "/healthz"
    if contract or not settings.protect_viewer or settings.api_key is None:
        return await handler(request)
    key = settings.api_key
    candidates = [request.headers.get("x-roark-api-key", "")]
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        candidates.append(auth[7:])
    elif auth.startswith("Basic "):
        try:
            candidates.append(base64.b64decode(auth[6:]).decode("utf-8").partition(":")[2])
        except ValueError:
            pass
    if any(hmac.compare_digest(c.encode(), key.encode()) for c in candidates if c):
        return await handler(request)
    return web.Response(
        status=401, text="API key required (user: anything, password: the key)",
        headers={"WWW-Authenticate": 'Basic realm="pipecat-roark dev"'},
    )


# --------------------------------------------------------------------------
# A: events


async def handle_event(request: web.Request) -> web.StreamResponse:
    faulty = await _apply_fault(request, "event")
    if faulty is not None:
        return faulty
    denied = _auth_failure(request)
    if denied is not None:
        return denied
    state = _state(request)
    raw, payload, is_json = await _read_json(request)
    if not is_json:
        state.store.record_event(None, raw, 400)
        logger.warning("devserver: event body is not JSON: {!r}", raw[:200])
        return _json_error(400, "body is not JSON")
    call_id = payload.get("pipecatCallId") if isinstance(payload, dict) else None
    if not isinstance(call_id, str) or not call_id:
        state.store.record_event(None, raw, 400)
        logger.warning("devserver: event without pipecatCallId: {!r}", raw[:200])
        return _json_error(400, "pipecatCallId missing")
    name = payload.get("event")
    known = name in checks.KNOWN_EVENTS
    status = 200 if known else 400
    state.store.record_event(call_id, raw, status)  # stored raw even when unknown
    _record_auth_consistency(request, call_id)
    problems = checks.check_event(payload)
    for p in problems:
        logger.warning("devserver: call {} {}: {}", call_id, name, p)
    # One INFO line per call (its call-ended); everything else is DEBUG.
    if name == "call-ended":
        rec = state.store.get_call(call_id)
        chunks = len(rec.chunks) if rec is not None else 0
        logger.info("devserver: call {} ended: {} chunk(s), {} problem(s)", call_id, chunks, len(problems))
    else:
        logger.debug("devserver: {} for call {} ({} problem(s))", name, call_id, len(problems))
    state.notify()
    if not known:
        return _json_error(400, f"unknown event {name!r}")
    return web.json_response({"ok": True})


# --------------------------------------------------------------------------
# B: presigned upload URL


async def handle_upload_url(request: web.Request) -> web.StreamResponse:
    faulty = await _apply_fault(request, "upload_url")
    if faulty is not None:
        return faulty
    denied = _auth_failure(request)
    if denied is not None:
        return denied
    state = _state(request)
    _, body, is_json = await _read_json(request)
    if not is_json:
        return _json_error(400, "body is not JSON")
    problems = checks.check_upload_request(body)
    call_id = body.get("pipecatCallId") if isinstance(body, dict) else None
    index = body.get("chunkIndex") if isinstance(body, dict) else None
    valid_id = isinstance(call_id, str) and bool(call_id)
    valid_index = isinstance(index, int) and not isinstance(index, bool) and index >= 0
    if valid_id:
        for p in problems:
            state.store.record_problem(call_id, p)
        _record_auth_consistency(request, call_id)
    if not (valid_id and valid_index):
        state.notify()
        return _json_error(400, "; ".join(problems) or "bad request", problems=problems)
    # The PUT must repeat whatever content type was asked for (as with a real
    # presigned URL); a wrong one was recorded above as a problem.
    ctype = body.get("contentType") if isinstance(body.get("contentType"), str) else checks.PCM_CONTENT_TYPE
    ttl = state.settings.upload_url_ttl
    tok = state.store.issue_token(call_id, index, ctype, ttl)
    url = (
        f"{request.scheme}://{request.host}{PUT_PREFIX}{tok.token}"
        f"?X-Amz-Expires={int(ttl)}&X-Amz-Signature={tok.signature}"
    )
    obj = {
        "uploadUrl": url,
        "s3Key": f"pipecat/{call_id}/{index}.pcm",
        "chunkIndex": index,
        "expiresInSeconds": int(ttl),
        "method": "PUT",
        "contentType": ctype,
    }
    state.notify()
    return web.json_response({"data": obj} if state.settings.wrap_upload_response else obj)


# --------------------------------------------------------------------------
# C: the presigned PUT


async def handle_put(request: web.Request) -> web.StreamResponse:
    faulty = await _apply_fault(request, "put")
    if faulty is not None:
        return faulty
    state = _state(request)
    store = state.store
    info = store.token_info(request.match_info["token"])
    if info is None:
        return _s3_error(403, "AccessDenied", "Unknown upload URL")
    where = f"PUT chunk {info.chunk_index}"
    if not hmac.compare_digest(request.query.get("X-Amz-Signature", ""), info.signature):
        store.record_problem(info.call_id, f"{where}: the uploadUrl's query string was altered (signature missing or wrong)")
        state.notify()
        return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
    if info.used_at is not None:
        store.record_problem(info.call_id, f"{where}: upload URL reused (presigned URLs are single-use; ask B for a fresh one)")
        state.notify()
        return _s3_error(403, "AccessDenied", "Upload URL already used")
    if info.expired():
        store.record_problem(info.call_id, f"{where}: upload URL used after it expired")
        state.notify()
        return _s3_error(403, "AccessDenied", "Request has expired")

    header_problems = checks.check_put_headers(request.headers, info.content_type)
    for p in header_problems:
        store.record_problem(info.call_id, f"{where}: {p}")
    if header_problems:
        state.notify()
        has_auth = "Authorization" in request.headers or "x-roark-api-key" in request.headers
        if has_auth:
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        return _s3_error(403, "SignatureDoesNotMatch", "Content-Type does not match the signed one")

    data = await request.read()
    if not store.consume_token(info.token):  # two PUTs raced on one URL
        store.record_problem(info.call_id, f"{where}: upload URL used twice concurrently")
        state.notify()
        return _s3_error(403, "AccessDenied", "Upload URL already used")
    store.save_chunk(info.call_id, info.chunk_index, data, request.headers.get("Content-Type"), info.token)
    # DEBUG: a long call makes hundreds of chunks; the call's INFO line is its call-ended.
    logger.debug("devserver: call {} chunk {} ({} bytes)", info.call_id, info.chunk_index, len(data))
    state.notify()
    return web.Response(status=200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})


# --------------------------------------------------------------------------
# OTLP/HTTP traces (Roark as the collector)


async def handle_traces(request: web.Request) -> web.StreamResponse:
    """POST /v1/traces: OTLP/HTTP, protobuf or JSON; Authorization: Bearer <key> when a key is set."""
    state = _state(request)
    key = state.settings.api_key
    if key is not None:
        bearer = request.headers.get("Authorization", "")
        if not hmac.compare_digest(bearer.encode(), f"Bearer {key}".encode()):
            return _json_error(401, "unauthorized: send Authorization: Bearer <key>")
    ctype = request.headers.get("Content-Type")
    try:
        spans = otlp.decode_request(await request.read(), ctype, request.headers.get("Content-Encoding"))
    except otlp.OtlpError as e:
        logger.warning("devserver: /v1/traces rejected ({}): {}", e.status, e.message)
        return _json_error(e.status, e.message)
    stored = state.store.record_spans(spans)
    calls: dict[Optional[str], int] = {}
    for span in spans:
        cid = otlp.call_id_of(span)
        calls[cid] = calls.get(cid, 0) + 1
        if cid is not None:
            for p in otlp.span_problems(span):
                state.store.record_problem(cid, p)
    for cid, n in calls.items():
        if cid is None:
            logger.warning(
                "devserver: {} span(s) name no call (resource attribute pipecat.call.id / roark.external_id missing)", n
            )
        else:
            logger.debug("devserver: {} span(s) for call {}", n, cid)
    if stored < len(spans):
        logger.debug("devserver: {} span(s) already stored (exporter retry)", len(spans) - stored)
    state.notify()
    body, out_type = otlp.response(ctype or "")
    return web.Response(body=body, content_type=out_type)


# --------------------------------------------------------------------------
# JSON API and pages


async def handle_healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


def _default_rate(request: web.Request) -> int:
    try:
        rate = int(request.query.get("rate", ""))
        return rate if 1000 <= rate <= 384000 else _state(request).settings.default_rate
    except ValueError:
        return _state(request).settings.default_rate


def _get_record(request: web.Request):
    rec = _state(request).store.get_call(request.match_info["call_id"])
    if rec is None:
        raise web.HTTPNotFound(text=json.dumps({"ok": False, "error": "no such call"}), content_type="application/json")
    return rec


async def handle_api_calls(request: web.Request) -> web.StreamResponse:
    calls = [view.summary(rec) for rec in _state(request).store.list_calls()]
    return web.json_response({"calls": calls})


async def handle_api_call(request: web.Request) -> web.StreamResponse:
    rec = _get_record(request)
    pcm = _state(request).store.pcm(rec.call_id)
    return web.json_response(view.detail(rec, pcm, _default_rate(request)))


async def handle_api_json(request: web.Request) -> web.StreamResponse:
    rec = _get_record(request)
    pcm = _state(request).store.pcm(rec.call_id)
    data = view.detail(rec, pcm, _default_rate(request), with_peaks=False)
    fname = view.download_name(rec.call_id, "json")
    return web.Response(
        text=json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{fname}"'},
    )


async def handle_api_wav(request: web.Request) -> web.StreamResponse:
    rec = _get_record(request)
    store = _state(request).store
    if not rec.chunks:
        return _json_error(404, "no audio chunk received for this call")
    data = store.wav_bytes(rec.call_id, _default_rate(request))
    fname = view.download_name(rec.call_id, "wav")
    headers = {
        "Content-Disposition": f'inline; filename="{fname}"',
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes",
    }
    # Browsers seek an <audio> element with Range requests; without 206
    # answers, clicking a turn could not move the player.
    span = parse_range(request.headers.get("Range"), len(data))
    if span is None:
        return web.Response(body=data, content_type="audio/wav", headers=headers)
    if span == "unsatisfiable":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return web.Response(status=206, body=data[start : end + 1], content_type="audio/wav", headers=headers)


def parse_range(header: Optional[str], size: int):
    """A single "bytes=a-b" / "bytes=a-" / "bytes=-n" range -> (start, end inclusive).

    None: no (usable) Range header, send everything; "unsatisfiable": 416.
    Multi-range requests are answered whole (allowed by RFC 9110).
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes="):].strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return (max(0, size - n), size - 1) if size else "unsatisfiable"
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or start < 0 or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


async def handle_api_export(request: web.Request) -> web.StreamResponse:
    rec = _get_record(request)
    store = _state(request).store
    rate = _default_rate(request)
    pcm = store.pcm(rec.call_id)
    data = view.detail(rec, pcm, rate)
    fmt = wav.recording_format(rec.ended, rate)
    html = view.export_html(data, wav.to_wav(pcm, fmt.rate, fmt.channels) if pcm else None)
    fname = view.download_name(rec.call_id, "html")
    return web.Response(
        text=html, content_type="text/html",
        headers={"Content-Disposition": f'attachment; filename="{fname}"'},
    )


def _static_page(name: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        # Same file for every call: the script reads the id from the URL.
        return web.FileResponse(view.STATIC_DIR / name, headers={"Cache-Control": "no-store"})

    return handler
