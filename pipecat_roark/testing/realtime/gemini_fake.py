"""A local fake of the Gemini Live API (``BidiGenerateContent`` over ``wss://``), on 127.0.0.1.

Point the real ``GeminiLiveLLMService`` (Pipecat 1.14, google-genai 2.x) at
it with ``http_options=fake.http_options()``: google-genai forces ``wss://``
on ``base_url``, so the fake serves TLS with a throwaway self-signed
certificate (:mod:`.tls`) and the options carry an SSL context trusting only
that certificate (``async_client_args={"ssl": ...}``, which the client uses
for its websocket). The fake plays a :class:`~.script.RealtimeScript` the
way the Gemini Developer API behaves as that service uses it:

- ``setup`` (the first message) -> ``setupComplete``.
- ``clientContent`` with ``turnComplete`` (the service seeds the context on
  its first ``LLMContextFrame``) -> the greeting. ``realtimeInput.text``
  (the nudge Gemini 3 needs) is ignored.
- ``realtimeInput.audio``: the caller's audio; server VAD on it. Speech
  while a reply is still being generated cancels it:
  ``serverContent.interrupted``, then ``turnComplete`` with the usage.
  When speech stops, the reply starts ``reply_delay_secs`` later.
- Replies: ``serverContent.modelTurn`` parts with ``inlineData`` audio
  (24 kHz PCM, 100 ms a message, ``Say.pace`` times faster than real time)
  and ``outputTranscription`` text sent ``Say.text_lead_secs`` +
  ``text_lead_secs`` (of audio) before the audio where its word starts; then
  ``generationComplete``, a ``toolCall`` if scripted, and ``turnComplete``
  with ``usageMetadata`` (token counts by modality).
- The caller's words: ``inputTranscription`` fragments of two words, the last
  ``Heard.transcript_delay_secs`` after the VAD's stop, 0.15 s apart (the
  service buffers them into sentences); with ``transcribe_while_speaking``
  also during the utterance.
- ``toolResponse`` -> the scripted follow-up of the call's reply.

Everything received and produced is kept in :attr:`GeminiLiveFake.truth`
(the :class:`~.script.Truth` the other fakes fill).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, Optional

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from pipecat_roark.testing.realtime._fake_base import FakeServer
from pipecat_roark.testing.realtime._fake_base import new_id as _id
from pipecat_roark.testing.realtime.script import RATE, Heard, RealtimeScript, ResponseTruth, Say, UtteranceTruth
from pipecat_roark.testing.realtime.tls import loopback_tls

AUDIO_MIME = f"audio/pcm;rate={RATE}"


def _get(d: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase or snake_case name (the client sends both styles)."""
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _b64(data: str) -> bytes:
    """Base64 as google-genai sends bytes (URL-safe alphabet, padding optional) or standard."""
    data = data.replace("-", "+").replace("_", "/")
    return base64.b64decode(data + "=" * (-len(data) % 4))


def gemini_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """The fake's deterministic usage (:func:`._fake_base.usage_for`) as Gemini's ``usageMetadata``."""
    i, o = usage["input_token_details"], usage["output_token_details"]
    return {
        "promptTokenCount": usage["input_tokens"],
        "responseTokenCount": usage["output_tokens"],
        "totalTokenCount": usage["total_tokens"],
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": i["text_tokens"]},
                                {"modality": "AUDIO", "tokenCount": i["audio_tokens"]}],
        "responseTokensDetails": [{"modality": "TEXT", "tokenCount": o["text_tokens"]},
                                  {"modality": "AUDIO", "tokenCount": o["audio_tokens"]}],
    }


class GeminiLiveFake(FakeServer):
    """The fake server. ``async with GeminiLiveFake(script) as fake: ... fake.http_options()``.

    Args:
        script: What the model says and hears.
        reply_delay_secs: From the VAD's stop to the reply's first message.
        text_lead_secs: Added to every ``Say.text_lead_secs``: the output
            transcription runs this much further ahead of the audio.
        transcribe_while_speaking: Send the caller's fragments while they
            speak too (one every 0.35 s from 0.4 s after the VAD's start; the
            last ones after the stop, 0.15 s apart from 0.3 s on), as the API
            can: a sentence may then reach the pipeline mid-utterance.
    """

    name = "gemini fake"

    def __init__(self, script: RealtimeScript, *, reply_delay_secs: float = 0.25, text_lead_secs: float = 0.0,
                 transcribe_while_speaking: bool = False, host: str = "127.0.0.1"):
        super().__init__(script, host)
        self._reply_delay = reply_delay_secs
        self._extra_lead = text_lead_secs
        self._while_speaking = transcribe_while_speaking
        self._client_ssl = None
        self._active: Optional[ResponseTruth] = None
        self._active_task: Optional[asyncio.Task] = None
        self._greeted = False

    # ------------------------------------------------------------------ #
    # connection
    # ------------------------------------------------------------------ #

    @property
    def base_url(self) -> str:
        assert self.port is not None, "not started"
        return f"https://{self._host}:{self.port}"

    def http_options(self) -> Any:
        """``HttpOptions`` pointing google-genai's Live client at this fake (and trusting its certificate)."""
        from google.genai.types import HttpOptions

        return HttpOptions(base_url=self.base_url, async_client_args={"ssl": self._client_ssl})

    def _ssl(self) -> Any:
        server_ssl, self._client_ssl = loopback_tls(self._host)
        return server_ssl

    async def _send(self, message: dict[str, Any]) -> None:
        content = message.get("serverContent") or {}
        if "modelTurn" not in content:
            kinds = [k for k in message if k != "usageMetadata"] + [f"serverContent.{k}" for k in content]
            self.truth.events.append((time.monotonic(), "out", ",".join(k for k in kinds if k != "serverContent")))
        # The real server sends its JSON in binary frames.
        await self._transmit(json.dumps(message, ensure_ascii=False).encode())

    async def _on_connect(self, ws: ServerConnection) -> None:
        self.truth.session["path"] = ws.request.path if ws.request else ""

    def _on_closed(self, e: ConnectionClosed) -> bool:
        # The service closes with 1011 when its task is cancelled at the end.
        self.truth.session["close_code"] = e.rcvd.code if e.rcvd else None
        return True

    async def _on_message(self, raw: str | bytes) -> None:
        await self._on_client_message(json.loads(raw))

    async def _on_client_message(self, msg: dict[str, Any]) -> None:
        realtime = _get(msg, "realtimeInput")
        if realtime is not None:
            audio = _get(realtime, "audio")
            if audio is not None:
                if _get(audio, "mimeType") != AUDIO_MIME:
                    self.truth.problems.append(f"caller audio as {_get(audio, 'mimeType')}")
                await self._on_audio(_b64(audio["data"]))
                return
            self.truth.events.append((time.monotonic(), "in", "realtimeInput." + ",".join(_camel(k) for k in realtime)))
            return
        kind = ",".join(_camel(k) for k in msg)
        self.truth.events.append((time.monotonic(), "in", kind))
        if "setup" in msg:
            self.truth.session.update(msg["setup"])
            await self._send({"setupComplete": {}})
        elif _get(msg, "clientContent") is not None:
            content = _get(msg, "clientContent")
            if _get(content, "turnComplete") and not self._greeted and self.script.greeting is not None:
                self._greeted = True
                self._start("greeting", None, self.script.greeting)
        elif _get(msg, "toolResponse") is not None:
            for fr in _get(_get(msg, "toolResponse"), "functionResponses") or []:
                call_id = fr.get("id", "")
                self.truth.tool_outputs[call_id] = json.dumps(fr.get("response"), ensure_ascii=False)
                owner = self._tool_owner.pop(call_id, None)
                if owner is not None and self.script.heard[owner].after_tool is not None:
                    self._start("after_tool", owner, self.script.heard[owner].after_tool)
        else:
            self.truth.problems.append(f"unexpected client message {kind}")

    # ------------------------------------------------------------------ #
    # what the model hears
    # ------------------------------------------------------------------ #

    async def _speech_started(self, sample: int) -> None:
        u = self._new_utterance(sample)
        if self._while_speaking and u.index < len(self.script.heard):
            self._spawn(self._transcribe(u, self.script.heard[u.index]))
        if self._active is not None:
            await self._interrupt()

    async def _speech_stopped(self, sample: int) -> None:
        u = self._utterance_ended(sample)
        heard = self._heard(u.index)
        if heard is None:
            return
        if not self._while_speaking:
            self._spawn(self._transcribe(u, heard))
        if heard.reply is not None:
            self._spawn(self._reply_later(u.index, heard.reply))

    async def _reply_later(self, index: int, say: Say) -> None:
        await asyncio.sleep(self._reply_delay)
        self._start("reply", index, say)

    async def _transcribe(self, u: UtteranceTruth, heard: Heard) -> None:
        words = heard.transcript.split(" ")
        pieces = [" ".join(words[k:k + 2]) for k in range(0, len(words), 2)]
        k = 0
        if self._while_speaking:
            while k < len(pieces) - 1:
                await asyncio.sleep(max(0.0, u.started_at + 0.4 + 0.35 * k - time.monotonic()))
                if u.stopped_at is not None:
                    break
                await self._fragment(pieces, k)
                k += 1
            while u.stopped_at is None:
                await asyncio.sleep(0.02)
            first = u.stopped_at + 0.3
        else:
            assert u.stopped_at is not None
            first = u.stopped_at + heard.transcript_delay_secs - 0.15 * (len(pieces) - 1)
        for n, j in enumerate(range(k, len(pieces))):
            await asyncio.sleep(max(0.0, first + 0.15 * n - time.monotonic()))
            await self._fragment(pieces, j)
        u.transcript_at = time.monotonic()
        self._check_done()

    async def _fragment(self, pieces: list[str], k: int) -> None:
        await self._send({"serverContent": {"inputTranscription": {"text": pieces[k] if k == 0 else " " + pieces[k]}}})

    # ------------------------------------------------------------------ #
    # what the model says
    # ------------------------------------------------------------------ #

    def _start(self, kind: str, utterance: Optional[int], say: Say) -> None:
        if self._active is not None:
            self.truth.problems.append(f"{kind} {utterance} while {self._active.kind} is being generated")
            return
        r = self._new_response(kind, utterance, say, _id("turn"))
        self._active = r
        self._active_task = self._spawn(self._stream(r, say))

    async def _stream(self, r: ResponseTruth, say: Say) -> None:
        async def text(delta: str) -> None:
            await self._send({"serverContent": {"outputTranscription": {"text": delta}}})

        async def audio(chunk: bytes) -> None:
            await self._send({"serverContent": {"modelTurn": {"role": "model", "parts": [
                {"inlineData": {"mimeType": AUDIO_MIME, "data": base64.b64encode(chunk).decode()}}]}}})

        try:
            await self._play(r, say, say.text_lead_secs + self._extra_lead, text, audio)
        except asyncio.CancelledError:
            return  # _interrupt ends the turn
        await self._send({"serverContent": {"generationComplete": True}})
        if say.tool is not None:
            if r.utterance is not None:
                self._tool_owner[say.tool.call_id] = r.utterance
            await self._send({"toolCall": {"functionCalls": [
                {"id": say.tool.call_id, "name": say.tool.name, "args": say.tool.arguments}]}})
        self._active, self._active_task = None, None
        await self._end_turn(r, "completed")

    async def _interrupt(self) -> None:
        r, task = self._active, self._active_task
        if r is None:
            return
        self._active, self._active_task = None, None
        await self._stop_task(task)
        await self._send({"serverContent": {"interrupted": True}})
        await self._end_turn(r, "cancelled")

    async def _end_turn(self, r: ResponseTruth, status: str) -> None:
        r.status, r.done_at = status, time.monotonic()
        await self._send({"serverContent": {"turnComplete": True}, "usageMetadata": gemini_usage(self._bill(r))})
        self._check_done()

    def _quiet(self) -> bool:
        return self._active is None


__all__ = ["GeminiLiveFake", "gemini_usage"]
