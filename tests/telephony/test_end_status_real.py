"""Each end status produced by its real cause, in a real Twilio-over-websocket pipeline on 127.0.0.1.

The outcome tracker, the DTMF events and the telephony object are fed here
by a small observer and transport handlers: the same calls the RoarkObserver
will make once they are wired in (issue 14). Causes: the bot ends the call,
the caller hangs up (the app cancels on disconnect, as Pipecat's examples
do), the idle timeout, a fatal error, a cancel from the host.
"""

import asyncio

import pytest
from pipecat.frames.frames import ErrorFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.telnyx import TelnyxFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer

from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.events import EventLog, dtmf_event, dtmf_frame_classes
from pipecat_roark.outcome import OutcomeTracker
from pipecat_roark.telephony import DISCONNECT_EVENTS, find_transport, find_worker, telephony_context

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

DTMF = dtmf_frame_classes()


class OutcomeObserver(BaseObserver):
    """What the RoarkObserver will do: every frame to the tracker once, DTMF frames to the event log."""

    def __init__(self):
        super().__init__()
        self.tracker = OutcomeTracker()
        self.events = EventLog()
        self._seen: set[int] = set()
        self.clock = None
        self.worker = None

    def now(self):
        return self.clock.get_time() if self.clock is not None else None

    async def on_push_frame(self, data):
        frame = data.frame
        if self.clock is None:
            self.clock = data.source.get_clock()
        if self.worker is None:
            # The observer is never given the worker: its source processor leads to it.
            self.worker = find_worker([data.source])
            if self.worker is not None:
                self.worker.add_event_handler("on_idle_timeout", lambda *_: self.tracker.idle_timeout(self.now()))
        if getattr(data, "first_push", None) is False or frame.id in self._seen:
            return
        self._seen.add(frame.id)
        self.tracker.frame(frame, data.timestamp)
        if isinstance(frame, DTMF):
            self.events.add(dtmf_event(frame, timestamp="t", audio_offset_ms=data.timestamp // 1_000_000))


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


async def run_scenario(scenario, provider="twilio"):
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
    middle = [FailAfter()] if scenario == "error" else [AnswerKeypress()]
    pipeline = Pipeline([transport.input(), *middle, transport.output()])
    obs = OutcomeObserver()
    kw = {"idle_timeout_secs": 1.0} if scenario == "idle" else {}
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
                            observers=[obs], **kw)

    # The user's app: hang up means cancel (as Pipecat's telephony examples do).
    @transport.event_handler("on_client_disconnected")
    async def _hang_up(_transport, _client):
        await worker.cancel()

    # The wiring issue 14 asks for: the transport's disconnect and the worker's idle timeout.
    found = find_transport(pipeline)
    assert found is transport
    for name in DISCONNECT_EVENTS:
        if name in found._event_handlers:
            found.add_event_handler(name, lambda *_: obs.tracker.client_disconnected(obs.now()))

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
    assert obs.worker is worker
    obs.tracker.ended()
    return obs, telephony_context(pipeline)


@pytest.mark.parametrize("scenario, status, ended_by", [
    ("bot", "bot_ended", "bot"),
    ("hangup", "caller_hung_up", "caller"),
    ("idle", "idle_timeout", "system"),
    ("error", "error", "system"),
    ("cancel", "cancelled", "system"),
])
async def test_each_end_status_from_its_real_cause(scenario, status, ended_by):
    obs, tel = await run_scenario(scenario)
    outcome = obs.tracker.outcome()
    assert (outcome.status, outcome.ended_by) == (status, ended_by), outcome
    assert (tel.provider, tel.call_id, tel.stream_id, tel.carrier_sample_rate) == ("twilio", CALL_SID, STREAM_SID,
                                                                                  RATE)
    if scenario == "bot":
        (ev,) = obs.events.to_wire()
        assert (ev["direction"], ev["data"]) == ("inbound", {"digits": "5"})
        assert 300 < ev["audioOffsetMs"] < 2000  # pressed ~0.5 s after the stream started


async def test_a_telnyx_call_the_keypress_and_the_bot_ending_it():
    obs, tel = await run_scenario("bot", provider="telnyx")
    assert (obs.tracker.outcome().status, obs.tracker.outcome().ended_by) == ("bot_ended", "bot")
    assert tel.to_wire() == {"provider": "telnyx", "callId": TELNYX_CALL, "streamId": TELNYX_STREAM,
                             "carrierSampleRate": RATE, "encoding": "PCMU"}
    (ev,) = obs.events.to_wire()
    assert (ev["direction"], ev["data"]) == ("inbound", {"digits": "5"})
