"""A minimal contract client for the dev server tests (not the package's client:
these tests exercise the server, so the requests are spelled out by hand)."""

from __future__ import annotations

from typing import Any, Optional

import aiohttp

EVENT = "/v1/integrations/pipecat"
UPLOAD_URL = "/v1/integrations/pipecat/chunk-upload-url"
KEY = "test-key"
AUTH = {"x-roark-api-key": KEY, "Authorization": f"Bearer {KEY}"}
FRAMES = 4000  # per test chunk: 16000 bytes of stereo s16le, 0.25 s at 16 kHz


def started(call_id: str, **extra: Any) -> dict:
    return {
        "event": "call-started",
        "pipecatCallId": call_id,
        "eventTimestamp": "2025-05-01T10:00:00.000Z",
        "agentId": "agent-1",
        "agentName": "Support bot",
        **extra,
    }


def ended(call_id: str, *, seconds: float = 3.0, rate: Optional[int] = 16000, **extra: Any) -> dict:
    body = {
        "event": "call-ended",
        "pipecatCallId": call_id,
        "eventTimestamp": "2025-05-01T10:00:05.000Z",
        "callStartedAt": "2025-05-01T10:00:00.000Z",
        "callEndedAt": f"2025-05-01T10:00:{seconds:06.3f}Z",
        "callEndedReason": "EndFrame",
    }
    if rate is not None:
        body["recordingSampleRate"] = rate
        body["recordingNumChannels"] = 2
    body.update(extra)
    return body


async def post_event(http: aiohttp.ClientSession, base: str, payload: Any, headers=AUTH) -> aiohttp.ClientResponse:
    async with http.post(base + EVENT, json=payload, headers=headers) as r:
        await r.read()
        return r


async def upload_url(
    http: aiohttp.ClientSession, base: str, call_id: str, index: int, headers=AUTH, content_type: str = "audio/pcm"
) -> str:
    body = {"pipecatCallId": call_id, "chunkIndex": index, "contentType": content_type}
    async with http.post(base + UPLOAD_URL, json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        j = await r.json()
    obj = j["data"] if "data" in j else j  # the contract allows both shapes
    return obj["uploadUrl"]


async def put(http: aiohttp.ClientSession, url: str, data: bytes, headers: Optional[dict] = None) -> int:
    async with http.put(url, data=data, headers=headers or {"Content-Type": "audio/pcm"}) as r:
        await r.read()
        return r.status


async def send_chunk(http: aiohttp.ClientSession, base: str, call_id: str, index: int, data: bytes) -> None:
    url = await upload_url(http, base, call_id, index)
    status = await put(http, url, data)
    assert status == 200


def pcm(n_frames: int, seed: int) -> bytes:
    """Distinct stereo s16le content per chunk, so order mistakes show."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=n_frames * 2, dtype="<i2").tobytes()


#: Issue 14's extensions, as the package sends them.
TELEPHONY = {"provider": "twilio", "callId": "CA1", "streamId": "MZ1", "fromNumber": "+15550001111", "toNumber": "+15550002222", "direction": "inbound", "carrierSampleRate": 8000, "encoding": "PCMU"}


async def full_call(server, http, cid: str) -> dict:
    """A short complete call: 2 chunks, 2 turns (one interrupted), a tool call and its result.

    With the extensions the package sends: response and barge-in latency,
    a failed tool, metrics, an error, recording health and the summary.
    """
    base = server.base_url
    await post_event(http, base, started(cid, isTest=True, telephony=TELEPHONY))
    for i in range(2):
        await send_chunk(http, base, cid, i, pcm(FRAMES, 50 + i))
    end = ended(
        cid, seconds=0.5, agentSpokeFirst=False,
        transcript=[
            {"role": "user", "content": "</script><b>hi</b>", "timestamp": "2025-05-01T10:00:00.050Z",
             "endTimestamp": "2025-05-01T10:00:00.200Z", "audioOffsetMs": 50, "endAudioOffsetMs": 200},
            {"role": "assistant", "content": "Hello", "timestamp": "2025-05-01T10:00:00.250Z",
             "endTimestamp": "2025-05-01T10:00:00.400Z", "audioOffsetMs": 250, "endAudioOffsetMs": 400,
             "interrupted": True, "responseLatencyMs": 50, "bargeInLatencyMs": 100},
        ],
        toolCalls=[
            {"kind": "tool_call", "toolCallId": "t1", "name": "lookup", "arguments": '{"q":1}',
             "timestamp": "2025-05-01T10:00:00.300Z", "audioOffsetMs": 300},
            {"kind": "tool_result", "toolCallId": "t1", "content": "ok", "timestamp": "2025-05-01T10:00:00.350Z",
             "status": "failed", "error": "RuntimeError: db down", "durationMs": 50},
        ],
        metrics=[
            {"kind": "stt", "metric": "ttfb", "ttfb": 0.03, "timestamp": "2025-05-01T10:00:00.210Z",
             "audioOffsetMs": 210, "turnIndex": 0},
            {"kind": "llm", "metric": "ttfb", "ttfb": 0.02, "ttft": 0.02, "timestamp": "2025-05-01T10:00:00.230Z",
             "audioOffsetMs": 230, "turnIndex": 0, "interrupted": True},
            {"kind": "llm", "metric": "usage", "promptTokens": 20, "completionTokens": 3, "totalTokens": 23,
             "timestamp": "2025-05-01T10:00:00.240Z", "turnIndex": 0, "interrupted": True},
        ],
        errors=[{"message": "tts quota low", "processor": "TTS#0", "fatal": False,
                 "timestamp": "2025-05-01T10:00:00.300Z", "audioOffsetMs": 300}],
        recordingStatus="degraded",
        recordingHealth={"chunksProduced": 2, "chunksDelivered": 2, "chunksLost": 0, "recordedMs": 500, "callMs": 500,
                         "channels": {"caller": {"soundMs": 150, "sound": True}, "bot": {"soundMs": 0, "sound": False}},
                         "warnings": ["the bot channel is silent although the bot spoke"]},
        callSummary={"turns": {"user": 1, "assistant": 1}, "talkTimeMs": {"user": 150, "assistant": 150},
                     "silenceMs": 200, "interruptions": 1,
                     "toolCalls": {"total": 1, "completed": 0, "failed": 1, "cancelled": 0, "timedOut": 0, "noResult": 0},
                     "errors": 1, "latency": {"count": 1, "medianMs": 50, "p95Ms": 50, "maxMs": 50},
                     "usage": {"promptTokens": 20, "completionTokens": 3, "totalTokens": 23, "cachedTokens": 0,
                               "ttsCharacters": 5, "sttAudioSeconds": 0.15},
                     "recordingStatus": "degraded"},
        callEndedStatus="caller_hung_up", callEndedBy="caller", lastSpeaker="bot", telephony=TELEPHONY,
        events=[
            {"kind": "dtmf", "name": "dtmf", "direction": "inbound", "data": {"digits": "5"},
             "timestamp": "2025-05-01T10:00:00.100Z", "audioOffsetMs": 100},
            {"kind": "user", "name": "transfer", "data": {"to": "sales"},
             "timestamp": "2025-05-01T10:00:00.450Z", "audioOffsetMs": 450},
        ],
        cost={"currency": "USD", "totalUsd": 0.000135, "complete": False, "byComponent": {"llm": 0.000105, "tts": 0.00003},
              "components": [
                  {"component": "llm", "model": "gpt-4o", "usd": 0.000105, "status": "priced", "source": "table",
                   "basis": "tokens", "quantity": {"text_in": 20, "text_out": 3}},
                  {"component": "tts", "model": "tts-1", "usd": 0.00003, "status": "priced", "source": "override",
                   "basis": "characters", "quantity": {"characters": 5}},
                  {"component": "stt", "model": "my-stt", "status": "unknown",
                   "source": "model not in the price table: pass prices={...}", "basis": "call duration"}],
              "unknown": ["stt:my-stt"], "perTurn": [{"turnIndex": 0, "usd": 0.000135, "complete": False}],
              "pricesAsOf": "2025-06-30"},
        turnTaking={"turns": {"user": 1, "assistant": 1}, "interruptions": {"caller": 1, "pipeline": 0, "total": 1},
                    "overlapMs": 0, "talkTimeMs": {"user": 150, "assistant": 150}, "talkRatio": 0.5,
                    "longestMonologueMs": {"user": 150, "assistant": 150}, "longSilences": [],
                    "longSilenceThresholdMs": 3000},
    )
    await post_event(http, base, end)
    await server.wait_for_call_ended(cid)
    return end
