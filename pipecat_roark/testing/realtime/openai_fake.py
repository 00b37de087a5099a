"""A local fake of the OpenAI Realtime websocket API (GA event names), on 127.0.0.1.

Point the real ``OpenAIRealtimeLLMService`` at it with
``base_url=fake.url``. It speaks the protocol that service parses in Pipecat
1.14 and plays a :class:`~.script.RealtimeScript`:

- ``session.created`` on connect; ``session.update`` -> ``session.updated``
  (input transcription is on only if the session asks for it, as in the API).
- ``conversation.item.create`` -> ``conversation.item.added`` / ``.done``
  (a ``function_call_output`` queues the scripted follow-up).
- Server VAD on the caller audio it receives (``input_audio_buffer.append``):
  ``speech_started`` (which cancels a response still being generated, as
  ``interrupt_response`` does), ``speech_stopped`` after ``silence_ms``,
  ``committed``, the user item, then the scripted reply; the input
  transcription completes ``transcript_delay_secs`` after the stop.
- Responses stream ``response.output_audio.delta`` (100 ms of 24 kHz PCM
  each, ``pace`` times faster than real time) with the transcript deltas at
  the audio where their word starts, then an optional function call, then
  ``response.done`` with token usage by modality.
- ``conversation.item.truncate`` -> ``conversation.item.truncated``;
  ``response.create`` while a response runs -> the API's
  ``conversation_already_has_active_response`` error.

Everything it received and produced is kept in :attr:`OpenAIRealtimeFake.truth`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from typing import Any, Optional

from websockets.asyncio.server import ServerConnection

# CHUNK_SAMPLES and usage_for live in the shared base; they stay importable from here.
from pipecat_roark.testing.realtime._fake_base import CHUNK_SAMPLES, FakeServer, usage_for
from pipecat_roark.testing.realtime._fake_base import new_id as _id
from pipecat_roark.testing.realtime.script import RATE, Heard, RealtimeScript, ResponseTruth, Say, UtteranceTruth


class OpenAIRealtimeFake(FakeServer):
    """The fake server. ``async with OpenAIRealtimeFake(script) as fake: ... fake.url``."""

    name = "realtime fake"

    def __init__(self, script: RealtimeScript, *, turn_events: bool = True, host: str = "127.0.0.1"):
        """``turn_events=False``: send no ``input_audio_buffer.speech_started`` /
        ``speech_stopped`` / ``committed`` (the server still detects speech, answers
        and cancels a reply talked over): a stand-in for services that give the
        pipeline no user-turn frames at all (Gemini Live, Nova Sonic, Ultravox)."""
        super().__init__(script, host)
        self._turn_events = turn_events
        self._client_queue: deque[tuple[str, Optional[int], Optional[Say]]] = deque()
        if script.greeting is not None:
            self._client_queue.append(("greeting", None, script.greeting))
        self._active: Optional[ResponseTruth] = None
        self._active_task: Optional[asyncio.Task] = None
        self._transcription = False

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        return f"ws://{self._host}:{self.port}/v1/realtime"

    # ------------------------------------------------------------------ #
    # connection
    # ------------------------------------------------------------------ #

    async def _send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", _id("event"))
        if event["type"] != "response.output_audio.delta":
            self.truth.events.append((time.monotonic(), "out", event["type"]))
        await self._transmit(json.dumps(event))

    async def _on_connect(self, ws: ServerConnection) -> None:
        await self._send({"type": "session.created", "session": {"type": "realtime", "id": _id("sess"),
                                                                 "object": "realtime.session"}})

    async def _on_message(self, raw: str | bytes) -> None:
        await self._on_client_event(json.loads(raw))

    async def _on_client_event(self, evt: dict[str, Any]) -> None:
        kind = evt.get("type", "")
        if kind == "input_audio_buffer.append":
            await self._on_audio(base64.b64decode(evt["audio"]))
            return
        self.truth.events.append((time.monotonic(), "in", kind))
        if kind == "session.update":
            session = evt.get("session") or {}
            self.truth.session = session
            audio_in = ((session.get("audio") or {}).get("input") or {})
            self._transcription = bool(audio_in.get("transcription"))
            await self._send({"type": "session.updated", "session": session})
        elif kind == "conversation.item.create":
            await self._on_item_create(evt["item"])
        elif kind == "response.create":
            await self._on_response_create()
        elif kind == "response.cancel":
            if self._active is None:
                await self._error("response_cancel_not_active", "no active response")
            else:
                await self._cancel_active("client_cancelled")
        elif kind == "conversation.item.truncate":
            for r in self.truth.responses:
                if r.item_id == evt["item_id"]:
                    r.truncated_at_ms = evt["audio_end_ms"]
            await self._send({"type": "conversation.item.truncated", "item_id": evt["item_id"],
                              "content_index": evt.get("content_index", 0), "audio_end_ms": evt["audio_end_ms"]})
        elif kind == "input_audio_buffer.clear":
            await self._send({"type": "input_audio_buffer.cleared"})
        elif kind == "input_audio_buffer.commit":
            await self._send({"type": "input_audio_buffer.committed", "item_id": _id("item")})
        else:
            self.truth.problems.append(f"unexpected client event {kind}")

    async def _error(self, code: str, message: str) -> None:
        await self._send({"type": "error", "error": {"type": "invalid_request_error", "code": code,
                                                     "message": message}})

    async def _on_item_create(self, item: dict[str, Any]) -> None:
        item = dict(item)
        item.setdefault("id", _id("item"))
        item["status"] = "completed"
        item["object"] = "realtime.item"
        await self._send({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        await self._send({"type": "conversation.item.done", "previous_item_id": None, "item": item})
        if item.get("type") == "function_call_output":
            call_id = item.get("call_id", "")
            self.truth.tool_outputs[call_id] = item.get("output") or ""
            owner = self._tool_owner.pop(call_id, None)
            if owner is not None:
                heard = self.script.heard[owner]
                if heard.after_tool is not None:
                    self._client_queue.append(("after_tool", owner, heard.after_tool))

    # ------------------------------------------------------------------ #
    # caller audio and server VAD
    # ------------------------------------------------------------------ #

    def _ms(self, sample: int) -> int:
        return int(sample * 1000 / RATE)

    async def _speech_started(self, sample: int) -> None:
        u = self._new_utterance(sample, item_id=_id("item"))
        if self._turn_events:
            await self._send({"type": "input_audio_buffer.speech_started", "item_id": u.item_id,
                              "audio_start_ms": max(0, self._ms(sample) - self.script.prefix_padding_ms)})
        if self._active is not None:  # turn_detection.interrupt_response
            await self._cancel_active("turn_detected")

    async def _speech_stopped(self, sample: int) -> None:
        u = self._utterance_ended(sample)
        if self._turn_events:
            await self._send({"type": "input_audio_buffer.speech_stopped", "item_id": u.item_id,
                              "audio_end_ms": self._ms(sample)})
            await self._send({"type": "input_audio_buffer.committed", "item_id": u.item_id,
                              "previous_item_id": None})
        user_item = {"id": u.item_id, "object": "realtime.item", "type": "message", "role": "user",
                     "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
        await self._send({"type": "conversation.item.added", "previous_item_id": None, "item": user_item})
        heard = self._heard(u.index)
        if heard is None:
            return
        if self._transcription:
            self._spawn(self._transcribe_later(u, heard))
        if heard.reply is not None:
            await self._start_response("reply", u.index, heard.reply)

    async def _transcribe_later(self, u: UtteranceTruth, heard: Heard) -> None:
        await asyncio.sleep(heard.transcript_delay_secs)
        u.transcript_at = time.monotonic()
        await self._send({"type": "conversation.item.input_audio_transcription.completed",
                          "item_id": u.item_id, "content_index": 0, "transcript": heard.transcript,
                          "usage": {"type": "duration", "seconds": 2}})
        self._check_done()

    # ------------------------------------------------------------------ #
    # responses
    # ------------------------------------------------------------------ #

    async def _on_response_create(self) -> None:
        if self._active is not None:
            await self._error("conversation_already_has_active_response",
                              "Conversation already has an active response")
            return
        if self._client_queue:
            kind, utterance, say = self._client_queue.popleft()
        else:
            kind, utterance, say = "unscripted", None, None
            self.truth.problems.append("response.create with nothing scripted")
        await self._start_response(kind, utterance, say)

    async def _start_response(self, kind: str, utterance: Optional[int], say: Optional[Say]) -> None:
        r = self._new_response(kind, utterance, say, _id("resp"), _id("item"))
        self._active = r
        self._active_task = self._spawn(self._stream(r))

    def _response_obj(self, r: ResponseTruth, output: list[dict[str, Any]], usage: Optional[dict] = None,
                      status_details: Any = None) -> dict[str, Any]:
        return {"id": r.response_id, "object": "realtime.response", "status": r.status,
                "status_details": status_details, "output": output, "output_modalities": ["audio"],
                "usage": usage}

    def _message_item(self, r: ResponseTruth, status: str) -> dict[str, Any]:
        content = [{"type": "output_audio", "transcript": r.heard_text(r.sent_samples) if status != "in_progress" else ""}]
        return {"id": r.item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": status, "content": content}

    async def _stream(self, r: ResponseTruth) -> None:
        say = r.say
        await self._send({"type": "response.created", "response": self._response_obj(r, [])})
        output: list[dict[str, Any]] = []
        try:
            if say is not None and len(r.audio):
                await self._stream_audio(r, say)
                output.append(self._message_item(r, "completed"))
            if say is not None and say.tool is not None:
                output.append(await self._stream_tool(r, say))
        except asyncio.CancelledError:
            return  # _cancel_active finishes the response
        r.status = "completed"
        r.done_at = time.monotonic()
        self._active, self._active_task = None, None
        await self._send({"type": "response.done", "response": self._response_obj(r, output, self._bill(r))})
        self._check_done()

    async def _stream_audio(self, r: ResponseTruth, say: Say) -> None:
        item = self._message_item(r, "in_progress")
        await self._send({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        await self._send({"type": "response.output_item.added", "response_id": r.response_id,
                          "output_index": 0, "item": item})
        ids = {"response_id": r.response_id, "item_id": r.item_id, "output_index": 0, "content_index": 0}
        await self._send({"type": "response.content_part.added", **ids,
                          "part": {"type": "output_audio", "transcript": ""}})

        async def text(delta: str) -> None:
            await self._send({"type": "response.output_audio_transcript.delta", **ids, "delta": delta})

        async def audio(chunk: bytes) -> None:
            await self._send({"type": "response.output_audio.delta", **ids,
                              "delta": base64.b64encode(chunk).decode()})

        await self._play(r, say, say.text_lead_secs, text, audio)
        await self._send({"type": "response.output_audio.done", **ids})
        await self._send({"type": "response.output_audio_transcript.done", **ids, "transcript": say.text})
        await self._send({"type": "response.content_part.done", **ids,
                          "part": {"type": "output_audio", "transcript": say.text}})
        done_item = self._message_item(r, "completed")
        await self._send({"type": "response.output_item.done", "response_id": r.response_id,
                          "output_index": 0, "item": done_item})
        await self._send({"type": "conversation.item.done", "previous_item_id": None, "item": done_item})

    async def _stream_tool(self, r: ResponseTruth, say: Say) -> dict[str, Any]:
        tool = say.tool
        assert tool is not None
        args = json.dumps(tool.arguments, ensure_ascii=False)
        item = {"id": _id("item"), "object": "realtime.item", "type": "function_call", "status": "in_progress",
                "call_id": tool.call_id, "name": tool.name, "arguments": ""}
        await self._send({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        await self._send({"type": "response.output_item.added", "response_id": r.response_id,
                          "output_index": 1, "item": item})
        ids = {"response_id": r.response_id, "item_id": item["id"], "output_index": 1, "call_id": tool.call_id}
        await self._send({"type": "response.function_call_arguments.delta", **ids, "delta": args})
        if r.utterance is not None:
            self._tool_owner[tool.call_id] = r.utterance
        await self._send({"type": "response.function_call_arguments.done", **ids, "arguments": args})
        done = {**item, "status": "completed", "arguments": args}
        await self._send({"type": "response.output_item.done", "response_id": r.response_id,
                          "output_index": 1, "item": done})
        await self._send({"type": "conversation.item.done", "previous_item_id": None, "item": done})
        return done

    async def _cancel_active(self, reason: str) -> None:
        r, task = self._active, self._active_task
        if r is None:
            return
        self._active, self._active_task = None, None
        await self._stop_task(task)
        r.status = "cancelled"
        r.done_at = time.monotonic()
        item = self._message_item(r, "incomplete")
        await self._send({"type": "response.output_item.done", "response_id": r.response_id,
                          "output_index": 0, "item": item})
        await self._send({"type": "response.done", "response": self._response_obj(
            r, [item], self._bill(r), {"type": "cancelled", "reason": reason})})
        self._check_done()

    def _transcripts_expected(self) -> bool:
        return self._transcription  # the API transcribes the caller only if the session asks

    def _quiet(self) -> bool:
        return self._active is None


__all__ = ["CHUNK_SAMPLES", "OpenAIRealtimeFake", "usage_for"]
