"""The dev server over real loopback HTTP: contract endpoints, storage, API, pages."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
import wave
from urllib.parse import quote

import aiohttp
import pytest

from devserver_helpers import (
    AUTH,
    EVENT,
    FRAMES,
    KEY,
    UPLOAD_URL,
    ended,
    pcm,
    full_call,
    post_event,
    put,
    send_chunk,
    started,
    upload_url,
)
from pipecat_roark.devserver import DevServer
from pipecat_roark.devserver.app import parse_range
from pipecat_roark.devserver.store import DB_NAME


@pytest.fixture
async def make_server(tmp_path):
    """Start extra servers with custom options; all are stopped at the end."""
    servers: list[DevServer] = []

    async def make(**kw) -> DevServer:
        kw.setdefault("data_dir", tmp_path / "custom")
        srv = DevServer(**kw)
        await srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        await srv.stop()




# ---- a whole call -------------------------------------------------------------


async def test_happy_path_call_is_stored_and_stitched_in_index_order(server, http):
    base, cid = server.base_url, "call-happy"
    chunks = [pcm(FRAMES, seed) for seed in range(3)]
    turn = {
        "role": "assistant", "content": "Hello!", "timestamp": "2025-05-01T10:00:00.100Z",
        "endTimestamp": "2025-05-01T10:00:00.500Z", "audioOffsetMs": 100, "endAudioOffsetMs": 500,
    }
    end_payload = ended(cid, seconds=0.75, agentSpokeFirst=True, transcript=[turn])

    r = await post_event(http, base, started(cid))
    assert r.status == 200
    # Out of order, and two in flight at once, as a client with concurrency would send them.
    await send_chunk(http, base, cid, 2, chunks[2])
    await asyncio.gather(send_chunk(http, base, cid, 0, chunks[0]), send_chunk(http, base, cid, 1, chunks[1]))
    async with http.post(base + EVENT, json=end_payload, headers=AUTH) as r:
        assert r.status == 200
        assert await r.json() == {"ok": True}

    rec = await server.wait_for_call_ended(cid, timeout=5)
    assert rec.events == [started(cid), end_payload]
    assert rec.started == started(cid) and rec.ended == end_payload
    assert rec.chunks == {0: len(chunks[0]), 1: len(chunks[1]), 2: len(chunks[2])}
    assert rec.problems == []

    assert server.store.pcm(cid) == b"".join(chunks)
    with wave.open(io.BytesIO(server.store.wav_bytes(cid))) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        assert w.readframes(w.getnframes()) == b"".join(chunks)
    async with http.get(f"{base}/api/calls/{cid}/recording.wav") as r:
        assert r.status == 200 and r.content_type == "audio/wav"
        assert await r.read() == server.store.wav_bytes(cid)
    # The chunk files are where the layout says.
    files = sorted(p.name for p in (server.store.audio_dir).glob("*/*.pcm"))
    assert files == ["0.pcm", "1.pcm", "2.pcm"]


async def test_gap_is_reported_and_the_wav_holds_the_chunks_present(server, http):
    base, cid = server.base_url, "call-gap"
    c0, c2 = pcm(FRAMES, 10), pcm(FRAMES, 12)
    await post_event(http, base, started(cid))
    await send_chunk(http, base, cid, 0, c0)
    await send_chunk(http, base, cid, 2, c2)
    await post_event(http, base, ended(cid, seconds=0.75))
    rec = await server.wait_for_call_ended(cid)
    assert [p for p in rec.problems if "missing chunk index(es) 1" in p], rec.problems
    assert server.store.pcm(cid) == c0 + c2
    async with http.get(f"{base}/api/calls/{cid}/recording.wav") as r:
        assert r.status == 200
        assert (await r.read())[44:] == c0 + c2


async def test_duplicate_index_is_reported_and_the_last_upload_wins(server, http):
    base, cid = server.base_url, "call-dup"
    first, second, c1 = pcm(FRAMES, 1), pcm(FRAMES, 2), pcm(FRAMES, 3)
    await post_event(http, base, started(cid))
    await send_chunk(http, base, cid, 0, first)
    await send_chunk(http, base, cid, 0, second)
    await send_chunk(http, base, cid, 1, c1)
    await post_event(http, base, ended(cid, seconds=0.5))
    rec = await server.wait_for_call_ended(cid)
    assert [p for p in rec.problems if "chunk 0 uploaded 2 times, with DIFFERENT bytes" in p], rec.problems
    assert len(rec.uploads) == 3
    assert server.store.pcm(cid) == second + c1


async def test_incomplete_call_and_early_call_ended_are_reported(server, http):
    base = server.base_url
    await post_event(http, base, started("only-started"))
    rec = server.store.get_call("only-started")
    assert any("no call-ended received" in p for p in rec.problems)

    await post_event(http, base, ended("backwards", rate=None))
    await post_event(http, base, started("backwards"))
    rec = server.store.get_call("backwards")
    assert any("call-ended arrived before call-started" in p for p in rec.problems), rec.problems


# ---- endpoint C behaves like an object store --------------------------------------


@pytest.mark.parametrize("header", ["Authorization", "x-roark-api-key"])
async def test_put_with_an_auth_header_is_rejected_400_and_recorded(server, http, header):
    base, cid = server.base_url, "call-put-auth"
    url = await upload_url(http, base, cid, 0)
    status = await put(http, url, b"\0" * 16, {"Content-Type": "audio/pcm", header: "Bearer x"})
    assert status == 400
    rec = server.store.get_call(cid)
    assert rec.chunks == {}
    assert [p for p in rec.problems if f"carried a {header} header" in p], rec.problems
    # A rejected request does not burn the URL; a correct retry succeeds.
    assert await put(http, url, b"\0" * 16) == 200
    assert server.store.get_call(cid).chunks == {0: 16}


async def test_used_url_is_refused_403(server, http):
    base, cid = server.base_url, "call-reuse"
    url = await upload_url(http, base, cid, 0)
    assert await put(http, url, b"\1" * 16) == 200
    async with http.put(url, data=b"\2" * 16, headers={"Content-Type": "audio/pcm"}) as r:
        assert r.status == 403
        assert "already used" in await r.text()
    rec = server.store.get_call(cid)
    assert server.store.pcm(cid) == b"\1" * 16
    assert [p for p in rec.problems if "upload URL reused" in p], rec.problems


async def test_wrong_content_type_is_refused_403(server, http):
    base, cid = server.base_url, "call-ctype"
    url = await upload_url(http, base, cid, 0)
    assert await put(http, url, b"\0" * 16, {"Content-Type": "application/octet-stream"}) == 403
    rec = server.store.get_call(cid)
    assert rec.chunks == {}
    assert [p for p in rec.problems if "Content-Type is 'application/octet-stream'" in p], rec.problems


async def test_altered_or_unknown_url_is_refused_403(server, http):
    base, cid = server.base_url, "call-sig"
    url = await upload_url(http, base, cid, 0)
    no_query = url.split("?", 1)[0]
    assert await put(http, no_query, b"\0" * 16) == 403
    assert [p for p in server.store.get_call(cid).problems if "query string was altered" in p]
    assert await put(http, base + "/upload/not-a-token?X-Amz-Signature=x", b"\0" * 16) == 403
    assert await put(http, url, b"\0" * 16) == 200  # the real URL still works


async def test_expired_url_is_refused_403(server, http):
    server.upload_url_ttl = 0  # expires the moment it is issued
    base, cid = server.base_url, "call-expired"
    async with http.post(base + UPLOAD_URL, json={"pipecatCallId": cid, "chunkIndex": 0, "contentType": "audio/pcm"},
                         headers=AUTH) as r:
        body = await r.json()
    assert body["data"]["expiresInSeconds"] == 0
    assert await put(http, body["data"]["uploadUrl"], b"\0" * 16) == 403
    assert [p for p in server.store.get_call(cid).problems if "after it expired" in p]


# ---- endpoint A and B edge cases ------------------------------------------------


async def test_unknown_event_is_stored_and_answered_400(server, http):
    base, cid = server.base_url, "call-unknown"
    payload = {"event": "call-paused", "pipecatCallId": cid, "eventTimestamp": "2025-05-01T10:00:00Z"}
    r = await post_event(http, base, payload)
    assert r.status == 400
    rec = server.store.get_call(cid)
    assert rec.events == [payload]
    assert rec.event_rows[0].status == 400
    assert [p for p in rec.problems if "unknown event 'call-paused'" in p], rec.problems


async def test_raw_body_is_kept_exactly(server, http):
    base, cid = server.base_url, "call-raw"
    raw = '{"event":"call-started",  "pipecatCallId":"call-raw","eventTimestamp":"2025-05-01T10:00:00Z","agentId":"a"}'
    async with http.post(base + EVENT, data=raw, headers={**AUTH, "Content-Type": "application/json"}) as r:
        assert r.status == 200
    assert server.store.get_call(cid).event_rows[0].raw == raw


async def test_non_json_and_anonymous_bodies_are_400(server, http):
    base = server.base_url
    async with http.post(base + EVENT, data="not json", headers=AUTH) as r:
        assert r.status == 400
    async with http.post(base + EVENT, json={"event": "call-started"}, headers=AUTH) as r:
        assert r.status == 400
    async with http.post(base + UPLOAD_URL, json={"pipecatCallId": "c", "chunkIndex": -1, "contentType": "audio/pcm"},
                         headers=AUTH) as r:
        assert r.status == 400
        assert "chunkIndex must be an int >= 0" in (await r.json())["error"]
    assert server.store.call_ids() == ["c"]  # the bad B request is recorded against its call
    assert any("chunkIndex" in p for p in server.store.get_call("c").problems)


async def test_upload_response_wrapped_and_bare(server, http):
    base, cid = server.base_url, "call-shapes"
    req = {"pipecatCallId": cid, "chunkIndex": 0, "contentType": "audio/pcm"}
    async with http.post(base + UPLOAD_URL, json=req, headers=AUTH) as r:
        wrapped = await r.json()
    assert set(wrapped) == {"data"}
    obj = wrapped["data"]
    assert obj["chunkIndex"] == 0 and obj["method"] == "PUT" and obj["contentType"] == "audio/pcm"
    assert obj["expiresInSeconds"] == 900 and obj["s3Key"].endswith("/0.pcm")
    assert obj["uploadUrl"].startswith(base + "/upload/") and "X-Amz-Signature=" in obj["uploadUrl"]

    server.wrap_upload_response = False
    async with http.post(base + UPLOAD_URL, json={**req, "chunkIndex": 1}, headers=AUTH) as r:
        bare = await r.json()
    assert "data" not in bare and bare["chunkIndex"] == 1
    assert bare["uploadUrl"] != obj["uploadUrl"]  # fresh URL per request
    assert await put(http, obj["uploadUrl"], b"\0" * 4) == 200
    assert await put(http, bare["uploadUrl"], b"\1" * 4) == 200
    assert server.store.get_call(cid).chunks == {0: 4, 1: 4}


async def test_bare_upload_response_as_constructor_option(make_server, http):
    srv = await make_server(wrap_upload_response=False)
    async with http.post(srv.base_url + UPLOAD_URL, json={"pipecatCallId": "c", "chunkIndex": 0, "contentType": "audio/pcm"},
                         headers=AUTH) as r:
        assert "uploadUrl" in await r.json()


# ---- durability ------------------------------------------------------------------


async def test_restart_on_the_same_data_dir_loses_nothing(data_dir, http):
    cid = "call-durable"
    chunks = [pcm(FRAMES, 40), pcm(FRAMES, 41)]
    async with DevServer(data_dir=data_dir) as first:
        base = first.base_url
        await post_event(http, base, started(cid))
        for i, c in enumerate(chunks):
            await send_chunk(http, base, cid, i, c)
        pending_url = await upload_url(http, base, cid, 2)  # issued before the restart, used after
        before = first.store.get_call(cid)

    assert (data_dir / DB_NAME).exists()
    async with DevServer(data_dir=data_dir) as second:
        after = second.store.get_call(cid)
        assert after is not None
        assert (after.events, after.chunks, after.problems) == (before.events, before.chunks, before.problems)
        assert second.store.pcm(cid) == b"".join(chunks)
        # Tokens survive too: the same path on the new server's port still uploads once.
        moved = second.base_url + pending_url[len(base):]
        c2 = pcm(FRAMES, 42)
        assert await put(http, moved, c2) == 200
        await post_event(http, second.base_url, ended(cid, seconds=0.75))
        rec = await second.wait_for_call_ended(cid)
        assert rec.problems == []
    # Still readable after stop, as tests using `async with` expect.
    assert second.store.pcm(cid) == b"".join(chunks) + c2


# ---- auth ---------------------------------------------------------------------------


async def test_api_key_required_on_a_and_b_when_configured(make_server, http):
    srv = await make_server(api_key=KEY)
    base, cid = srv.base_url, "call-auth"
    bad_headers = [
        {},
        {"x-roark-api-key": KEY},
        {"Authorization": f"Bearer {KEY}"},
        {"x-roark-api-key": KEY, "Authorization": "Bearer wrong"},
        {"x-roark-api-key": "wrong", "Authorization": f"Bearer {KEY}"},
        {"x-roark-api-key": KEY, "Authorization": KEY},
    ]
    for headers in bad_headers:
        r = await post_event(http, base, started(cid), headers=headers)
        assert r.status == 401, headers
        async with http.post(base + UPLOAD_URL, json={"pipecatCallId": cid, "chunkIndex": 0, "contentType": "audio/pcm"},
                             headers=headers) as r:
            assert r.status == 401, headers
    assert srv.store.get_call(cid) is None  # nothing unauthenticated is stored

    assert (await post_event(http, base, started(cid), headers=AUTH)).status == 200
    url = await upload_url(http, base, cid, 0, headers=AUTH)
    assert await put(http, url, b"\0" * 4) == 200  # C is presigned: no key needed (or allowed)


async def test_disagreeing_keys_are_recorded_without_api_key(server, http):
    cid = "call-keys"
    headers = {"x-roark-api-key": "one", "Authorization": "Bearer two"}
    assert (await post_event(http, server.base_url, started(cid), headers=headers)).status == 200
    assert (await post_event(http, server.base_url, ended(cid, rate=None), headers=headers)).status == 200
    problems = server.store.get_call(cid).problems
    # The same problem on every request shows once, with a count.
    assert [p for p in problems if "carry different keys (2 times)" in p], problems


def test_non_loopback_without_api_key_refuses_to_start(tmp_path):
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(ValueError, match="non-loopback"):
            DevServer(data_dir=tmp_path, host=host)
    DevServer(data_dir=tmp_path, host="localhost")
    DevServer(data_dir=tmp_path, host="::1")


async def test_non_loopback_server_protects_pages_with_the_key(make_server, http):
    srv = await make_server(host="0.0.0.0", api_key=KEY)
    local = f"http://127.0.0.1:{srv.port}"
    async with http.get(local + "/api/calls") as r:
        assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
    async with http.get(local + "/api/calls", auth=aiohttp.BasicAuth("me", KEY)) as r:
        assert r.status == 200
    async with http.get(local + "/healthz") as r:
        assert r.status == 200


# ---- fault injection ---------------------------------------------------------------


async def test_status_sequence_is_consumed_then_normal(server, http):
    server.faults.set("event", statuses=[500, 502, 503])
    statuses = [(await post_event(http, server.base_url, started("call-f"))).status for _ in range(4)]
    assert statuses == [500, 502, 503, 200]
    assert server.faults.count("event") == 4
    assert len(server.store.get_call("call-f").events) == 1  # faulted requests store nothing


async def test_retry_after_header(server, http):
    server.faults.set("upload_url", statuses=[429], retry_after=3)
    req = {"pipecatCallId": "c", "chunkIndex": 0, "contentType": "audio/pcm"}
    async with http.post(server.base_url + UPLOAD_URL, json=req, headers=AUTH) as r:
        assert r.status == 429
        assert r.headers["Retry-After"] == "3"
    async with http.post(server.base_url + UPLOAD_URL, json=req, headers=AUTH) as r:
        assert r.status == 200 and "Retry-After" not in r.headers
    assert server.faults.count("upload_url") == 2


async def test_hang_outlasts_a_client_timeout_and_is_not_processed(server, http):
    cid = "call-hang"
    url = await upload_url(http, server.base_url, cid, 0)
    server.faults.set("put", hang_seconds=30)
    t0 = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with http.put(url, data=b"\0" * 8, headers={"Content-Type": "audio/pcm"},
                            timeout=aiohttp.ClientTimeout(total=0.3)) as r:
            await r.read()
    assert time.monotonic() - t0 < 5
    assert server.faults.count("put") == 1
    assert server.store.get_call(cid).chunks == {}
    assert await put(http, url, b"\0" * 8) == 200  # the hung attempt did not use the URL


async def test_short_hang_then_respond_delays_the_answer(server, http):
    server.faults.set("event", hang_seconds=0.3, hang_then="respond")
    t0 = time.monotonic()
    r = await post_event(http, server.base_url, started("call-slow"))
    assert r.status == 200
    assert time.monotonic() - t0 >= 0.3
    assert server.store.get_call("call-slow") is not None


async def test_hang_forever_ends_when_the_server_stops(data_dir, http):
    srv = DevServer(data_dir=data_dir)
    await srv.start()
    srv.faults.set("event", hang_forever=True)
    task = asyncio.ensure_future(post_event(http, srv.base_url, started("call-forever")))
    await srv.wait_for(lambda: srv.faults.count("event") == 1, timeout=5)
    assert not task.done()
    await asyncio.wait_for(srv.stop(), timeout=5)
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(task, timeout=5)


@pytest.mark.parametrize(
    "kind, check",
    [
        ("not_json", lambda status, ctype, body: ctype == "text/html" and not body.startswith(b"{")),
        ("no_upload_url", lambda status, ctype, body: "uploadUrl" not in json.loads(body).get("data", {})),
        ("empty", lambda status, ctype, body: body == b""),
    ],
)
async def test_malformed_upload_url_responses(server, http, kind, check):
    server.faults.set("upload_url", malformed=kind)
    req = {"pipecatCallId": "c", "chunkIndex": 0, "contentType": "audio/pcm"}
    async with http.post(server.base_url + UPLOAD_URL, json=req, headers=AUTH) as r:
        assert r.status == 200
        assert check(r.status, r.content_type, await r.read())
    url = await upload_url(http, server.base_url, "c", 0)  # next request is normal
    assert url.startswith(server.base_url)


async def test_down_drops_the_connection_then_recovers(server, http):
    server.faults.set("event", down=2)
    for _ in range(2):
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_event(http, server.base_url, started("call-down"))
    assert (await post_event(http, server.base_url, started("call-down"))).status == 200
    assert server.faults.count("event") == 3


async def test_expired_fault_kills_the_url(server, http):
    cid = "call-expire-fault"
    url = await upload_url(http, server.base_url, cid, 0)
    server.faults.set("put", expired=1)
    async with http.put(url, data=b"\0" * 4, headers={"Content-Type": "audio/pcm"}) as r:
        assert r.status == 403 and "Request has expired" in await r.text()
    assert await put(http, url, b"\0" * 4) == 403  # retrying the same URL is the client's bug
    fresh = await upload_url(http, server.base_url, cid, 0)
    assert await put(http, fresh, b"\0" * 4) == 200
    assert server.faults.count("put") == 3


async def test_wait_for_call_ended_times_out(server):
    with pytest.raises(TimeoutError):
        await server.wait_for_call_ended("never", timeout=0.2)


# ---- JSON API, pages, export ---------------------------------------------------------


async def test_api_list_and_detail(server, http):
    cid = "team/call 1?"  # ids are free text: routes must survive "/", " " and "?"
    await full_call(server, http, cid)
    async with http.get(server.base_url + "/api/calls") as r:
        calls = (await r.json())["calls"]
    assert [c["callId"] for c in calls] == [cid]
    row = calls[0]
    assert (row["turns"], row["toolCalls"], row["durationS"], row["endReason"], row["problemCount"]) == (
        2, 1, 0.5, "EndFrame", 0)
    assert (row["latencyP95Ms"], row["errorCount"]) == (50, 1)
    async with http.get(server.base_url + row["links"]["api"]) as r:
        d = await r.json()
    assert d["callId"] == cid
    assert d["tools"][0]["call"]["name"] == "lookup" and d["tools"][0]["result"]["content"] == "ok"
    assert d["tools"][0]["argumentsParsed"] == {"q": 1}
    assert d["latency"]["rows"][0] == {"turnIndex": 1, "offsetMs": 250, "endOffsetMs": 400, "latencyMs": 50,
                                       "interrupted": True, "cause": "caller", "bargeInMs": 100, "content": "Hello"}
    assert [(r["turnIndex"], r["stt"], r["llm"], r["interrupted"]) for r in d["ttfb"]] == [(0, 0.03, 0.02, True)]
    # The caller's turn 0 was measured for the bot's reply, turn 1, which the caller cut off.
    assert [(r["replyTurnIndex"], r["replyCause"]) for r in d["ttfb"]] == [(1, "caller")]
    assert d["interruptions"] == {"caller": 1, "pipeline": 0}
    assert d["downloads"] == {"wav": "team_call_1_.wav", "json": "team_call_1_.json", "export": "team_call_1_.html"}
    assert d["recordingStatus"] == "degraded" and d["errors"][0]["message"] == "tts quota low"
    assert [e["json"]["event"] for e in d["events"]] == ["call-started", "call-ended"]
    rec = d["recording"]
    assert (rec["available"], rec["sampleRate"], rec["channels"], rec["assumedFormat"]) == (True, 16000, 2, False)
    assert rec["durationMs"] == 500.0
    assert len(rec["peaks"]["caller"]) == len(rec["peaks"]["bot"]) > 0
    async with http.get(server.base_url + d["links"]["json"]) as r:
        assert r.headers["Content-Disposition"] == 'attachment; filename="team_call_1_.json"'
        assert json.loads(await r.text())["callId"] == cid
    async with http.get(server.base_url + d["links"]["wav"]) as r:
        assert r.headers["Content-Disposition"] == 'inline; filename="team_call_1_.wav"'
    async with http.get(server.base_url + "/api/calls/nope") as r:
        assert r.status == 404


async def test_assumed_format_and_rate_query_before_call_ended(server, http):
    cid = "call-live"
    await send_chunk(http, server.base_url, cid, 0, pcm(FRAMES, 1))
    for query, rate in (("", 16000), ("?rate=8000", 8000)):
        async with http.get(f"{server.base_url}/api/calls/{cid}/recording.wav{query}") as r:
            with wave.open(io.BytesIO(await r.read())) as w:
                assert (w.getframerate(), w.getnchannels()) == (rate, 2)
    async with http.get(f"{server.base_url}/api/calls/{cid}") as r:
        assert (await r.json())["recording"]["assumedFormat"] is True


async def test_export_is_one_self_contained_file(server, http):
    cid = "call-export"
    await full_call(server, http, cid)
    async with http.get(f"{server.base_url}/api/calls/{cid}/export.html") as r:
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        html = await r.text()
    # Nothing fetched from anywhere: no src/href to a server, no stylesheet link, no script src.
    assert not re.search(r'(src|href)="(https?:)?/', html)
    assert "<script src=" not in html and '<link rel="stylesheet"' not in html
    m = re.search(r'<script id="call-data" type="application/json">(.*?)</script>', html, re.S)
    data = json.loads(m.group(1))
    assert data["exported"] is True and data["callId"] == cid
    assert data["transcript"][0]["content"] == "</script><b>hi</b>"  # escaped in HTML, intact as data
    wav_b64 = data["recording"]["src"].split(",", 1)[1]
    assert base64.b64decode(wav_b64) == server.store.wav_bytes(cid)


async def test_pages_have_stable_hooks(server, http):
    cid = "call-page"
    await full_call(server, http, cid)
    async with http.get(server.base_url + "/") as r:
        index = await r.text()
    assert 'id="calls"' in index and "/static/calls.js" in index
    async with http.get(f"{server.base_url}/calls/{quote(cid, safe='')}") as r:
        page = await r.text()
    for hook in ('id="wave-caller"', 'id="wave-bot"', 'id="player"', 'id="transcript"', 'id="problems"',
                 'id="tools"', 'id="events"', 'id="link-export"'):
        assert hook in page
    for asset in ("app.css", "call.js", "calls.js"):
        async with http.get(f"{server.base_url}/static/{asset}") as r:
            assert r.status == 200
    async with http.get(server.base_url + "/healthz") as r:
        assert await r.json() == {"ok": True}



@pytest.mark.parametrize(
    "header, size, expected",
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=95-200", 100, (95, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=100-", 100, "unsatisfiable"),
        ("bytes=5-2", 100, "unsatisfiable"),
        ("bytes=0-1,4-5", 100, None),
        ("items=0-1", 100, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


async def test_wav_answers_range_requests_so_the_player_can_seek(server, http):
    cid = "call-range"
    await send_chunk(http, server.base_url, cid, 0, pcm(FRAMES, 5))
    whole = server.store.wav_bytes(cid)
    url = f"{server.base_url}/api/calls/{cid}/recording.wav"
    async with http.get(url, headers={"Range": "bytes=100-199"}) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
        assert await r.read() == whole[100:200]
    async with http.get(url, headers={"Range": f"bytes={len(whole)}-"}) as r:
        assert r.status == 416
