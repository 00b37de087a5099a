"""A real phone-style call: Pipecat's Twilio serializer over a real websocket transport on 127.0.0.1 at 8 kHz.

A client plays Twilio's side of the Media Streams protocol (connected,
start, media every 20 ms, a DTMF keypress, stop); the bot answers the
keypress with half a second of audio and ends the call itself
(EndWorkerFrame). Only what the dev server received is read.
"""

import asyncio
import base64
import json
import socket

import numpy as np
import websockets
from pipecat.frames.frames import InputDTMFFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import EndWorkerFrame, PipelineParams, PipelineWorker, WorkerRunner

from .conftest import API_KEY

try:  # 1.x
    from pipecat.transports.websocket.server import SingleClientWebsocketServerParams as ServerParams
    from pipecat.transports.websocket.server import SingleClientWebsocketServerTransport as ServerTransport
except ImportError:  # 0.0.10x
    from pipecat.transports.websocket.server import WebsocketServerParams as ServerParams
    from pipecat.transports.websocket.server import WebsocketServerTransport as ServerTransport

RATE = 8000
STREAM_SID = "MZ00000000000000000000000000000000"
CALL_SID = "CA00000000000000000000000000000000"
TELNYX_STREAM = "32de0dea-53cb-4b21-89a4-9610d8a0f3f6"
TELNYX_CALL = "v3:placeholder-call-control-id"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AnswerKeypress(FrameProcessor):
    """On the caller's first keypress: 0.5 s of bot audio, then the bot ends the call."""

    def __init__(self):
        super().__init__()
        self._answered = False

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame) and not self._answered:
            self._answered = True
            self.create_task(self._answer())

    async def _answer(self):
        tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 440 / RATE) * 8000).astype("<i2").tobytes()
        for i in range(0, len(tone), 320):
            await self.push_frame(OutputAudioRawFrame(audio=tone[i:i + 320], sample_rate=RATE, num_channels=1))
        await asyncio.sleep(0.8)  # let it play
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


def _messages(provider: str):
    """(start messages, media(i, payload), dtmf(digit), stop) in the carrier's own protocol."""
    if provider == "telnyx":
        sid = {"stream_id": TELNYX_STREAM}
        start = [{"event": "connected", "version": "1.0.0"},
                 {"event": "start", "sequence_number": "1", **sid,
                  "start": {"call_control_id": TELNYX_CALL, "from": "+15550001111", "to": "+15550002222",
                            "media_format": {"encoding": "PCMU", "sample_rate": RATE, "channels": 1}}}]
        return (start,
                lambda i, p: {"event": "media", **sid, "media": {"track": "inbound", "chunk": str(i + 1),
                                                                 "timestamp": str(i * 20), "payload": p}},
                lambda d: {"event": "dtmf", **sid, "dtmf": {"digit": d}},
                {"event": "stop", **sid})
    start = [{"event": "connected", "protocol": "Call", "version": "1.0.0"},
             {"event": "start", "sequenceNumber": "1", "streamSid": STREAM_SID,
              "start": {"streamSid": STREAM_SID, "callSid": CALL_SID, "accountSid": "AC0", "tracks": ["inbound"],
                        "customParameters": {},
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1}}}]
    return (start,
            lambda i, p: {"event": "media", "streamSid": STREAM_SID,
                          "media": {"track": "inbound", "chunk": str(i + 1), "timestamp": str(i * 20), "payload": p}},
            lambda d: {"event": "dtmf", "streamSid": STREAM_SID, "dtmf": {"track": "inbound_track", "digit": d}},
            {"event": "stop", "streamSid": STREAM_SID, "stop": {"callSid": CALL_SID}})


async def twilio_client(port: int, digit_at=25, frames: int = 150, provider: str = "twilio"):
    """The carrier's side: start, 20 ms of mu-law per media message, a DTMF keypress, stop."""
    uri = f"ws://127.0.0.1:{port}"
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            ws = await websockets.connect(uri)
            break
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)
    received = []

    async def drain():
        try:
            async for msg in ws:
                received.append(msg)
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.create_task(drain())
    rng = np.random.default_rng(0)
    start, media, dtmf, stop = _messages(provider)
    loop = asyncio.get_running_loop()
    try:
        for msg in start:
            await ws.send(json.dumps(msg))
        t0 = loop.time()
        for i in range(frames):
            payload = base64.b64encode(rng.integers(0, 256, 160, dtype=np.uint8).tobytes()).decode()
            await ws.send(json.dumps(media(i, payload)))
            if i == digit_at:
                await ws.send(json.dumps(dtmf("5")))
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - loop.time()))
        await ws.send(json.dumps(stop))
    except websockets.ConnectionClosed:
        pass  # the bot ended the call first
    finally:
        await ws.close()
        await asyncio.wait_for(reader, 5)
    return received


async def run_call(server):
    port = free_port()
    serializer = TwilioFrameSerializer(
        stream_sid=STREAM_SID, call_sid=CALL_SID, account_sid="AC0", auth_token="placeholder",
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),  # no request to Twilio's API
    )
    transport = ServerTransport(
        params=ServerParams(audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
                            serializer=serializer),
        host="127.0.0.1", port=port)
    roark = RoarkObserver(agent_id="telephony", api_key=API_KEY, base_url=server.base_url)
    pipeline = Pipeline([transport.input(), AnswerKeypress(), transport.output(), roark.audio_processor])
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
                            observers=[roark])
    runner = asyncio.create_task(WorkerRunner(handle_sigint=False).run(worker))
    received = await twilio_client(port)
    await asyncio.wait_for(runner, 30)
    return server.store.get_call(roark.pipecat_call_id), received


async def test_a_twilio_call_is_recorded_at_the_carrier_rate(server):
    rec, received = await run_call(server)
    assert any(json.loads(m).get("event") == "media" for m in received if isinstance(m, str))  # the bot spoke
    assert rec is not None and rec.started is not None and rec.ended is not None
    assert rec.ended["recordingSampleRate"] == RATE
    assert rec.chunks


async def test_a_twilio_call_carries_the_telephony_context_the_keypress_and_the_outcome(server):
    rec, _ = await run_call(server)
    tel = rec.started.get("telephony") or {}
    assert (tel.get("provider"), tel.get("callId"), tel.get("streamId"), tel.get("carrierSampleRate")) == (
        "twilio", CALL_SID, STREAM_SID, RATE)
    dtmf = [e for e in rec.ended.get("events") or [] if e["kind"] == "dtmf"]
    assert [(e["direction"], e["data"]["digits"]) for e in dtmf] == [("inbound", "5")]
    assert 0 < dtmf[0]["audioOffsetMs"] < 1500  # pressed ~0.5 s into the caller's audio
    assert (rec.ended.get("callEndedStatus"), rec.ended.get("callEndedBy")) == ("bot_ended", "bot")
