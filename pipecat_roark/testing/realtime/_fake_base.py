"""What the speech-to-speech fakes share, whatever protocol they speak.

:class:`FakeServer` is the websocket server on 127.0.0.1 that each fake
(:mod:`.openai_fake`, :mod:`.live_fake`, :mod:`.gemini_fake`) subclasses:
one connection at a time, tasks cancelled on exit, sends serialized and
never raising once the client is gone, the caller's audio kept verbatim and
run through the script's server VAD, responses created and streamed at a
pace, and ``script_done`` set once the whole script has played. Subclasses
say how a message is parsed and sent and what each VAD edge means in their
protocol; nothing here names a protocol event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable, Optional

import numpy as np
from loguru import logger
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from pipecat_roark.testing.realtime.script import (RATE, EnergyVAD, Heard, RealtimeScript, ResponseTruth, Say, Truth,
                                                  UtteranceTruth)

#: Audio per streamed message (100 ms).
CHUNK_SAMPLES = RATE // 10


def new_id(prefix: str) -> str:
    """A fresh API-style id (``prefix_`` + 16 hex digits)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def usage_for(say: Optional[Say], sent_samples: int, heard_samples: int) -> dict[str, Any]:
    """Token usage the fakes report for a response (deterministic, by modality; OpenAI's shape)."""
    text_out = len(say.text) // 4 + 1 if say else 0
    audio_out = sent_samples // (RATE // 20)  # ~20 audio tokens a second
    audio_in = heard_samples // (RATE // 10)
    text_in = 120
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": {"text_tokens": text_in, "audio_tokens": audio_in, "cached_tokens": 64,
                                "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0}},
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


class FakeServer:
    """The protocol-free part of a fake. Subclasses implement :meth:`_on_message`,
    :meth:`_speech_started`, :meth:`_speech_stopped` and :meth:`_quiet`, and send
    through :meth:`_transmit`."""

    #: Prefix of the fake's log lines.
    name = "fake"

    def __init__(self, script: RealtimeScript, host: str):
        self.script = script
        self.truth = Truth()
        self._host = host
        self._server = None
        self.port: Optional[int] = None
        self._ws: Optional[ServerConnection] = None
        self._vad = EnergyVAD(threshold=script.vad_threshold, start_windows=script.vad_start_windows,
                              silence_ms=script.silence_ms)
        self._tasks: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()
        self._tool_owner: dict[str, int] = {}
        self.script_done = asyncio.Event()

    # ------------------------------------------------------------------ #
    # server and connection
    # ------------------------------------------------------------------ #

    def _ssl(self) -> Any:
        """The server's SSL context (None: plain ``ws://``)."""
        return None

    async def __aenter__(self):
        self._server = await serve(self._handle, self._host, 0, ssl=self._ssl(), max_size=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            except asyncio.TimeoutError:  # pragma: no cover
                logger.warning(f"{self.name}: server did not close in 5 s")

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _transmit(self, data: str | bytes) -> None:
        """Sends one frame, one at a time; a client gone away just ends the call."""
        ws = self._ws
        if ws is None:
            return
        async with self._send_lock:
            try:
                await ws.send(data)
            except Exception as e:  # the client went away: the call is over
                logger.debug(f"{self.name}: send failed: {e}")

    async def _on_connect(self, ws: ServerConnection) -> None:
        """Called once the connection is accepted, before its first message."""

    def _on_closed(self, e: ConnectionClosed) -> bool:
        """The client closed with an error; True: expected (swallowed), False: raised."""
        return False

    async def _handle(self, ws: ServerConnection) -> None:
        if self._ws is not None:
            self.truth.problems.append("a second connection")
            await ws.close()
            return
        self._ws = ws
        try:
            await self._on_connect(ws)
            async for raw in ws:
                try:
                    await self._on_message(raw)
                except Exception as e:  # a bug in the fake must show, not hang the call
                    self.truth.problems.append(f"fake error: {type(e).__name__}: {e}")
                    logger.exception(f"{self.name}: client message failed")
        except ConnectionClosed as e:
            if not self._on_closed(e):
                raise
        finally:
            self._ws = None

    async def _on_message(self, raw: str | bytes) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ #
    # what the model hears
    # ------------------------------------------------------------------ #

    async def _on_audio(self, pcm: bytes) -> None:
        """The caller's PCM: kept verbatim, and its VAD edges acted on."""
        if self.truth.first_audio_at is None:
            self.truth.first_audio_at = time.monotonic()
        self.truth.received.extend(pcm)
        for what, sample in self._vad.feed(np.frombuffer(pcm, dtype="<i2")):
            if what == "start":
                await self._speech_started(sample)
            else:
                await self._speech_stopped(sample)

    async def _speech_started(self, sample: int) -> None:
        raise NotImplementedError

    async def _speech_stopped(self, sample: int) -> None:
        raise NotImplementedError

    def _new_utterance(self, sample: int, item_id: str = "") -> UtteranceTruth:
        u = UtteranceTruth(index=len(self.truth.utterances), start_sample=sample, started_at=time.monotonic(),
                           item_id=item_id)
        self.truth.utterances.append(u)
        return u

    def _utterance_ended(self, sample: int) -> UtteranceTruth:
        u = self.truth.utterances[-1]
        u.end_sample, u.stopped_at = sample, time.monotonic()
        return u

    def _heard(self, index: int) -> Optional[Heard]:
        """What the script says utterance ``index`` is (None, and a problem, if it says nothing)."""
        if index < len(self.script.heard):
            return self.script.heard[index]
        self.truth.problems.append(f"unscripted utterance {index}")
        return None

    # ------------------------------------------------------------------ #
    # what the model says
    # ------------------------------------------------------------------ #

    def _new_response(self, kind: str, utterance: Optional[int], say: Optional[Say], response_id: str,
                      item_id: str = "") -> ResponseTruth:
        r = ResponseTruth(response_id=response_id, item_id=item_id, kind=kind, utterance=utterance, say=say,
                          audio=say.audio() if say else np.zeros(0, dtype=np.int16),
                          offsets=say.delta_offsets() if say else [], created_at=time.monotonic())
        self.truth.responses.append(r)
        return r

    async def _play(self, r: ResponseTruth, say: Say, lead_secs: float, send_text: Callable[[str], Awaitable[None]],
                    send_audio: Callable[[bytes], Awaitable[None]]) -> None:
        """Streams ``r.audio`` in :data:`CHUNK_SAMPLES` messages ``say.pace`` times faster than real
        time, each transcript delta before the chunk holding its word's start less ``lead_secs``."""
        lead = int(lead_secs * RATE)
        next_delta, n = 0, len(r.audio)
        t0 = time.monotonic()
        for k, start in enumerate(range(0, n, CHUNK_SAMPLES)):
            end = min(n, start + CHUNK_SAMPLES)
            while next_delta < len(say.deltas) and r.offsets[next_delta] - lead < end:
                await send_text(say.deltas[next_delta])
                next_delta += 1
            await send_audio(r.audio[start:end].astype("<i2").tobytes())
            if r.first_audio_at is None:
                r.first_audio_at = time.monotonic()
            r.sent_samples = end
            await asyncio.sleep(max(0.0, t0 + (k + 1) * CHUNK_SAMPLES / RATE / say.pace - time.monotonic()))
        while next_delta < len(say.deltas):
            await send_text(say.deltas[next_delta])
            next_delta += 1

    async def _stop_task(self, task: Optional[asyncio.Task]) -> None:
        """Cancels a response's streaming task and waits until it has stopped."""
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _bill(self, r: ResponseTruth) -> dict[str, Any]:
        """Sets and returns ``r.usage`` for what was sent of it and heard so far."""
        r.usage = usage_for(r.say, r.sent_samples, len(self.truth.received) // 2)
        return r.usage

    # ------------------------------------------------------------------ #
    # the end of the script
    # ------------------------------------------------------------------ #

    def _scripted_turns(self) -> list[tuple[str, Optional[int]]]:
        """(kind, utterance) of every response the script makes the model say."""
        expected: list[tuple[str, Optional[int]]] = [("greeting", None)] if self.script.greeting is not None else []
        for i, h in enumerate(self.script.heard):
            if h.reply is not None:
                expected.append(("reply", i))
            if h.after_tool is not None:
                expected.append(("after_tool", i))
        return expected

    def _transcripts_expected(self) -> bool:
        """Whether the caller's transcripts are part of the script (they must all go out)."""
        return True

    def _quiet(self) -> bool:
        """Nothing is being said or waits to be said."""
        raise NotImplementedError

    def _check_done(self) -> None:
        """Sets :attr:`script_done` once every scripted response ended, every transcript went
        out and the model is quiet."""
        ended = [(r.kind, r.utterance) for r in self.truth.responses if r.status != "in_progress"]
        utter = self.truth.utterances
        transcribed = not self._transcripts_expected() or (
            len(utter) >= len(self.script.heard) and all(u.transcript_at for u in utter))
        if all(e in ended for e in self._scripted_turns()) and self._quiet() and transcribed:
            self.script_done.set()


__all__ = ["CHUNK_SAMPLES", "FakeServer", "new_id", "usage_for"]
