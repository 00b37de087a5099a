"""Each end status produced by its real cause, in a real Twilio-over-websocket pipeline on 127.0.0.1.

The RoarkObserver sends the call to the dev server; only what the server
received is read: ``callEndedStatus`` / ``callEndedBy``, the ``telephony``
object on call-started, the DTMF keypress and the app's own event with
their offsets, the recording at the carrier's 8 kHz. Causes: the bot ends
the call, the caller hangs up (the app cancels on disconnect, as Pipecat's
examples do), the idle timeout, a fatal error, a cancel from the host.
"""

import asyncio

import pytest
from pipecat.frames.frames import ErrorFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.telnyx import TelnyxFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner

from .conftest import API_KEY
from .test_twilio_call import (
    CALL_SID,
    RATE,
    STREAM_SID,
    TELNYX_CALL,
    TELNYX_STREAM,
    AnswerKeypress,
    ServerParams,
    ServerTransport,
    free_port,
    twilio_client,
)


class FailAfter(FrameProcessor):
    """A service that fails for good shortly after the call starts (a fatal ErrorFrame upstream)."""

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if type(frame).__name__ == "StartFrame":
            self.create_task(self._fail())

    async def _fail(self):
        await asyncio.sleep(0.6)
        await self.push_frame(ErrorFrame(error="upstream provider rejected the key", fatal=True),
                              FrameDirection.UPSTREAM)


async def run_scenario(server, scenario, provider="twilio", **roark_kw):
    port = free_port()
    if provider == "telnyx":
        serializer = TelnyxFrameSerializer(
            stream_id=TELNYX_STREAM, outbound_encoding="PCMU", inbound_encoding="PCMU", call_control_id=TELNYX_CALL,
            params=TelnyxFrameSerializer.InputParams(auto_hang_up=False))
    else:
        serializer = TwilioFrameSerializer(
            stream_sid=STREAM_SID, call_sid=CALL_SID, account_sid="AC0", auth_token="placeholder",
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
    transport = ServerTransport(
        params=ServerParams(audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
                            serializer=serializer),
        host="127.0.0.1", port=port)
    roark = RoarkObserver(agent_id="telephony", api_key=API_KEY, base_url=server.base_url, **roark_kw)
    middle = [FailAfter()] if scenario == "error" else [AnswerKeypress()]
    pipeline = Pipeline([transport.input(), *middle, transport.output(), roark.audio_processor])
    kw = {"idle_timeout_secs": 1.0} if scenario == "idle" else {}
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
                            observers=[roark], **kw)

    # The user's app: hang up means cancel (as Pipecat's telephony examples do) ...
    @transport.event_handler("on_client_disconnected")
    async def _hang_up(_transport, _client):
        await worker.cancel()

    # ... and an event of its own on the timeline, from a sync handler.
    @transport.event_handler("on_client_connected")
    def _connected(_transport, _client):
        roark.event_nowait("caller_connected", {"line": 1})

    runner = asyncio.create_task(WorkerRunner(handle_sigint=False).run(worker))
    if scenario == "bot":
        client = twilio_client(port, digit_at=25, frames=150, provider=provider)
    elif scenario == "hangup":
        client = twilio_client(port, digit_at=None, frames=40, provider=provider)  # 0.8 s, then stop and close
    else:
        client = twilio_client(port, digit_at=None, frames=250, provider=provider)
    client_task = asyncio.create_task(client)
    if scenario == "cancel":
        await asyncio.sleep(1.0)
        await worker.cancel()
    await asyncio.wait_for(runner, 30)
    await asyncio.wait_for(client_task, 30)
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec is not None and rec.started is not None and rec.ended is not None
    assert rec.problems == []  # the dev server's contract checks, issue 14's fields included
    return rec


@pytest.mark.parametrize("scenario, status, ended_by", [
    ("bot", "bot_ended", "bot"),
    ("hangup", "caller_hung_up", "caller"),
    ("idle", "idle_timeout", "system"),
    ("error", "error", "system"),
    ("cancel", "cancelled", "system"),
])
async def test_each_end_status_from_its_real_cause(server, scenario, status, ended_by):
    rec = await run_scenario(server, scenario)
    ended = rec.ended
    assert (ended["callEndedStatus"], ended["callEndedBy"]) == (status, ended_by), ended["callEndedReason"]
    tel = rec.started["telephony"]
    assert (tel["provider"], tel["callId"], tel["streamId"], tel["carrierSampleRate"]) == (
        "twilio", CALL_SID, STREAM_SID, RATE)
    assert ended["telephony"] == tel
    assert ended["recordingSampleRate"] == RATE and rec.chunks
    events = ended["events"]
    (mine,) = [e for e in events if e["kind"] == "user"]
    assert (mine["name"], mine["data"]) == ("caller_connected", {"line": 1})
    assert 0 <= mine["audioOffsetMs"] < 300  # the caller connected as the recording began
    dtmf = [e for e in events if e["kind"] == "dtmf"]
    if scenario == "bot":
        (ev,) = dtmf
        assert (ev["direction"], ev["data"]) == ("inbound", {"digits": "5"})
        assert 300 < ev["audioOffsetMs"] < 1500  # pressed ~0.5 s after the stream started
        assert [e["kind"] for e in events] == ["user", "dtmf"]  # in the order they happened
    else:
        assert dtmf == []


async def test_a_telnyx_call_the_keypress_and_the_bot_ending_it(server):
    rec = await run_scenario(server, "bot", provider="telnyx")
    ended = rec.ended
    assert (ended["callEndedStatus"], ended["callEndedBy"]) == ("bot_ended", "bot")
    assert rec.started["telephony"] == {"provider": "telnyx", "callId": TELNYX_CALL, "streamId": TELNYX_STREAM,
                                        "carrierSampleRate": RATE, "encoding": "PCMU"}
    assert ended["recordingSampleRate"] == RATE
    (ev,) = [e for e in ended["events"] if e["kind"] == "dtmf"]
    assert (ev["direction"], ev["data"]) == ("inbound", {"digits": "5"})
    assert 300 < ev["audioOffsetMs"] < 1500


async def test_the_callers_numbers_from_the_runner_arguments_are_redacted(server):
    """Pipecat 1.x's runner hands the parsed handshake (numbers from the app's stream parameters) to the bot."""
    from types import SimpleNamespace

    runner_args = SimpleNamespace(transport_type="twilio", call_data={
        "call_id": CALL_SID, "stream_id": STREAM_SID, "from": "+15550001111", "to": "+15550002222"})
    rec = await run_scenario(server, "bot", runner_args=runner_args, redact=True)
    for payload in (rec.started, rec.ended):
        tel = payload["telephony"]
        assert (tel["provider"], tel["callId"], tel["fromNumber"], tel["toNumber"]) == (
            "twilio", CALL_SID, "[PHONE]", "[PHONE]")
    assert "+1555000" not in str(rec.events)  # nowhere in what was sent
