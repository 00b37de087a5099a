"""A local fake of the OpenAI Live websocket API (full duplex, ``gpt-live-1``), on 127.0.0.1.

Point the real ``OpenAILiveLLMService`` (Pipecat 1.14) at it with
``base_url=fake.url``. A full-duplex model differs from OpenAI Realtime in
everything the capture relies on, and the fake plays those differences:

- ``session.start`` (sent by the service on its first ``LLMContextFrame``)
  -> ``session.started``; the caller's audio (``session.input_audio.append``)
  is only sent once the session has started.
- The output is one continuous real-time stream of
  ``session.output_audio.delta`` (100 ms each, silence included, kept
  ``lead_secs`` ahead of real time): there are no responses, no
  ``response.done`` and no truncation. The bot's words come as
  ``session.output_transcript.delta`` fragments with the audio where each
  word starts.
- The caller's words come as ``session.input_transcript.delta`` fragments
  while they speak (a word every 300 ms from 200 ms after the server VAD
  hears speech, the rest 200 ms after it stops); the service closes a user
  turn 0.8 s after its last fragment (``Heard.transcript_delay_secs`` is
  not used: the lateness comes from the service).
- Barge-in: the model notices the caller talking over it and falls silent by
  itself ``yield_secs`` later; nothing tells the client (Pipecat broadcasts
  no ``InterruptionFrame`` with this service).
- Tools (Responses delegation): ``session.delegation.created``, then
  ``response.event`` envelopes (``response.created``, a function call in
  ``response.output_item.done``, ``response.completed`` with token usage);
  the service answers with ``response.item.create`` + ``response.create``,
  after which the model speaks the scripted follow-up.
- ``session.close`` -> ``session.closed`` with the audio seconds used.

Everything received and produced is kept in :attr:`OpenAILiveFake.truth`
(the same :class:`~.script.Truth` as the Realtime fake; a "response" is one
thing the model said).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from typing import Any, Optional

import numpy as np

from pipecat_roark.testing.realtime._fake_base import CHUNK_SAMPLES, FakeServer
from pipecat_roark.testing.realtime._fake_base import new_id as _id
from pipecat_roark.testing.realtime.script import RATE, Heard, RealtimeScript, ResponseTruth, Say, UtteranceTruth


class OpenAILiveFake(FakeServer):
    """The fake server. ``async with OpenAILiveFake(script) as fake: ... fake.url``.

    Args:
        script: What the model says and hears (``Say.pace`` is ignored: the
            stream is real time).
        reply_delay_secs: How long after the caller's speech stops the model
            starts its reply.
        yield_secs: How long the model keeps talking over the caller.
        lead_secs: How far ahead of real time the audio stream runs.
    """

    name = "live fake"

    def __init__(self, script: RealtimeScript, *, reply_delay_secs: float = 0.3, yield_secs: float = 0.3,
                 lead_secs: float = 0.2, host: str = "127.0.0.1"):
        super().__init__(script, host)
        self._reply_delay = reply_delay_secs
        self._yield = yield_secs
        self._lead = lead_secs
        self._queue: deque[ResponseTruth] = deque()
        self._speaking: Optional[ResponseTruth] = None
        self._pos = 0  # samples of the current response already streamed
        self._stream_samples = 0  # samples of output streamed since the session started
        self._started = False
        self._delegations: dict[str, int] = {}

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        return f"ws://{self._host}:{self.port}/v1/live/sessions"

    async def _send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", _id("event"))
        if event["type"] != "session.output_audio.delta":
            self.truth.events.append((time.monotonic(), "out", event["type"]))
        await self._transmit(json.dumps(event))

    async def _on_message(self, raw: str | bytes) -> None:
        await self._on_client_event(json.loads(raw))

    async def _on_client_event(self, evt: dict[str, Any]) -> None:
        kind = evt.get("type", "")
        if kind == "session.input_audio.append":
            await self._on_audio(base64.b64decode(evt["audio"]))
            return
        self.truth.events.append((time.monotonic(), "in", kind))
        if kind == "session.start":
            self.truth.session = evt.get("session") or {}
            self._started = True
            await self._send({"type": "session.started", "client_event_id": evt.get("event_id"),
                              "session": {"id": _id("sess"), "status": "active",
                                          "model": self.truth.session.get("model")}})
            self._spawn(self._output_stream())
            if self.script.greeting is not None:
                self._say("greeting", None, self.script.greeting)
        elif kind == "session.close":
            await self._send({"type": "session.closed", "reason": "client_closed",
                              "usage": {"seconds": round(self._stream_samples / RATE, 1)}})
        elif kind == "response.item.create":
            item = evt.get("item") or {}
            call_id = item.get("call_id", "")
            self.truth.tool_outputs[call_id] = item.get("output") or ""
        elif kind == "response.create":
            for call_id in list(self._tool_owner):
                if call_id in self.truth.tool_outputs:
                    owner = self._tool_owner.pop(call_id)
                    heard = self.script.heard[owner]
                    if heard.after_tool is not None:
                        self._say("after_tool", owner, heard.after_tool)
        elif kind in ("session.update", "session.commentary.append", "session.thinking.append",
                      "session.instructions.append"):
            pass
        else:
            self.truth.problems.append(f"unexpected client event {kind}")

    # ------------------------------------------------------------------ #
    # what the model says: one continuous real-time stream
    # ------------------------------------------------------------------ #

    def _say(self, kind: str, utterance: Optional[int], say: Say) -> None:
        self._queue.append(self._new_response(kind, utterance, say, _id("speech")))

    async def _output_stream(self) -> None:
        t0 = time.monotonic() - self._lead
        k = 0
        while True:
            await asyncio.sleep(max(0.0, t0 + k * CHUNK_SAMPLES / RATE - time.monotonic()))
            chunk, words = self._next_chunk()
            for w in words:
                await self._send(w)
            await self._send({"type": "session.output_audio.delta",
                              "delta": base64.b64encode(chunk.astype("<i2").tobytes()).decode()})
            self._stream_samples += len(chunk)
            k += 1

    def _next_chunk(self) -> tuple[np.ndarray, list[dict[str, Any]]]:
        words: list[dict[str, Any]] = []
        if self._speaking is None and self._queue:
            self._speaking, self._pos = self._queue.popleft(), 0
        r = self._speaking
        if r is None:
            return np.zeros(CHUNK_SAMPLES, dtype=np.int16), words
        if r.first_audio_at is None:
            r.first_audio_at = time.monotonic()
        start, end = self._pos, min(len(r.audio), self._pos + CHUNK_SAMPLES)
        lead = int(r.say.text_lead_secs * RATE) if r.say else 0
        for i, off in enumerate(r.offsets):
            if start <= off - lead < end or (start == 0 and off - lead < 0):
                at_ms = int((self._stream_samples + max(0, off - start)) * 1000 / RATE)
                words.append({"type": "session.output_transcript.delta", "delta": r.say.deltas[i],
                              "start_ms": at_ms, "end_ms": at_ms + 200})
        chunk = np.zeros(CHUNK_SAMPLES, dtype=np.int16)
        chunk[: end - start] = r.audio[start:end]
        self._pos = r.sent_samples = end
        if end >= len(r.audio):
            self._finish(r, "completed")
        return chunk, words

    def _finish(self, r: ResponseTruth, status: str) -> None:
        r.status, r.done_at = status, time.monotonic()
        self._bill(r)
        self._speaking = None
        self._check_done()

    async def _stop_talking_later(self, r: ResponseTruth) -> None:
        await asyncio.sleep(self._yield)
        if self._speaking is r:
            # What it was about to say is moot too.
            while self._queue:
                dropped = self._queue.popleft()
                dropped.status, dropped.done_at = "cancelled", time.monotonic()
            self._finish(r, "cancelled")

    # ------------------------------------------------------------------ #
    # what the model hears
    # ------------------------------------------------------------------ #

    async def _on_audio(self, pcm: bytes) -> None:
        if not self._started:
            self.truth.problems.append("audio before session.started")
        await super()._on_audio(pcm)

    async def _speech_started(self, sample: int) -> None:
        u = self._new_utterance(sample)
        heard = self._heard(u.index)
        if heard is not None:
            self._spawn(self._stream_transcript(u, heard))
        if self._speaking is not None:  # talked over: the model yields by itself
            self._spawn(self._stop_talking_later(self._speaking))

    async def _stream_transcript(self, u: UtteranceTruth, heard: Heard) -> None:
        """Fragments while the caller speaks (a word every 300 ms), the rest once they stop."""
        words = heard.transcript.split(" ")
        sent = 0
        k = 0
        while sent < len(words) and u.end_sample is None:
            await asyncio.sleep(max(0.0, u.started_at + 0.2 + k * 0.3 - time.monotonic()))
            k += 1
            if u.end_sample is not None:
                break
            await self._fragment(u, words[sent] if sent == 0 else " " + words[sent])
            sent += 1
        while u.end_sample is None:
            await asyncio.sleep(0.05)
        await asyncio.sleep(max(0.0, (u.stopped_at or 0) + 0.2 - time.monotonic()))
        rest = " ".join(words[sent:])
        if rest:
            await self._fragment(u, rest if sent == 0 else " " + rest)
        u.transcript_at = time.monotonic()
        self._check_done()

    async def _fragment(self, u: UtteranceTruth, text: str) -> None:
        ms = int(len(self.truth.received) // 2 * 1000 / RATE)
        await self._send({"type": "session.input_transcript.delta", "delta": text,
                          "start_ms": max(0, ms - 200), "end_ms": ms})

    async def _speech_stopped(self, sample: int) -> None:
        u = self._utterance_ended(sample)
        heard = self._heard(u.index)
        if heard is not None and heard.reply is not None:
            self._spawn(self._reply_later(u.index, heard.reply))

    async def _reply_later(self, index: int, say: Say) -> None:
        await asyncio.sleep(self._reply_delay)
        if say.tool is not None:
            self._spawn(self._delegate(index, say))
        self._say("reply", index, say)

    async def _delegate(self, index: int, say: Say) -> None:
        tool = say.tool
        assert tool is not None
        delegation, response = _id("dlg"), _id("resp")
        self._tool_owner[tool.call_id] = index
        await self._send({"type": "session.delegation.created", "offset_ms": 0,
                          "delegation": {"id": delegation, "type": "delegation", "target": "responses",
                                         "response_id": response}})
        env = {"type": "response.event", "delegation_id": delegation}
        await self._send({**env, "event": {"type": "response.created", "response": {"id": response}}})
        await self._send({**env, "event": {"type": "response.output_item.done", "output_index": 0, "item": {
            "id": _id("fc"), "type": "function_call", "status": "completed", "call_id": tool.call_id,
            "name": tool.name, "arguments": json.dumps(tool.arguments)}}})
        await self._send({**env, "event": {"type": "response.completed", "response": {
            "id": response, "output": [], "usage": {"input_tokens": 300, "output_tokens": 20, "total_tokens": 320,
                                                    "input_tokens_details": {"cached_tokens": 128},
                                                    "output_tokens_details": {"reasoning_tokens": 8}}}}})

    def _quiet(self) -> bool:
        return self._speaking is None and not self._queue


__all__ = ["OpenAILiveFake"]
