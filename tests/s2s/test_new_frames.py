"""The frames Pipecat added in 1.13-1.14, through a real worker to Roark (Pipecat 1.14 only).

One ~5 s real-time call from a scripted source (like ``tests/scripted_call.py``:
caller and bot audio every 20 ms, the turn frames a cascaded bot would push)
that also pushes, where a real bot would:

- ``EagerTranscriptionFrame`` then ``EagerEndOfTurnCancelFrame`` while the
  caller still speaks (an STT's withdrawn early end of turn), then the final
  ``TranscriptionFrame``;
- ``InputDTMFFrame`` (the caller presses 5) after their turn;
- ``ExternalFunctionCall*`` frames (a backend worker's tool call, as
  ``LLMWithBackend``'s frontend re-pushes them) while the bot speaks;
- ``UserBackchannelFrame("mhm")`` with caller sound over the bot, which
  keeps talking (no interruption);
- ``OutputDTMFFrame`` ("12") after the bot's turn.

And a cascaded call (:mod:`pipecat_roark.testing.scenario`: real STT/LLM/TTS
service classes, output transport) where the app pushes a
``BotBackchannelFrame("Mm-hmm.")`` while the caller talks: the TTS speaks it
(a segment typed ``"backchannel"``, then its words), the output transport
plays it over the caller. With word timestamps the words are typed
``"word"``, name the segment, and are released as the sound starts (with or
just before ``BotStartedSpeakingFrame``: the hint early or exact); without,
one text frame typed ``"backchannel"`` comes after its audio (the hint late,
just before ``BotStoppedSpeakingFrame``).
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from pipecat_roark._compat import PIPECAT_1X

pytestmark = pytest.mark.skipif(not PIPECAT_1X, reason="frames added in Pipecat 1.13-1.14")

if PIPECAT_1X:
    from pipecat.audio.dtmf.types import KeypadEntry
    from pipecat.frames.frames import (
        BotBackchannelFrame,
        BotStartedSpeakingFrame,
        BotStoppedSpeakingFrame,
        EagerEndOfTurnCancelFrame,
        EagerTranscriptionFrame,
        ExternalFunctionCall,
        ExternalFunctionCallInProgressFrame,
        ExternalFunctionCallResultFrame,
        ExternalFunctionCallsStartedFrame,
        InputAudioRawFrame,
        InputDTMFFrame,
        OutputAudioRawFrame,
        OutputDTMFFrame,
        StartFrame,
        TranscriptionFrame,
        UserBackchannelFrame,
        UserStartedSpeakingFrame,
        UserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat_roark import RoarkObserver
    from pipecat_roark._compat import EndWorkerFrame, PipelineParams, PipelineWorker, WorkerRunner
    from pipecat_roark.devserver.server import DevServer
    from pipecat_roark.testing.scenario import CallerTurn, CallScript, build_call, run_call

from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from tests.integration.helpers import sound_spans
from tests.scripted_call import tts_text

API_KEY = "rk_test_new_frames"
RATE = 24000
#: (frame index) -> what happens; 20 ms frames.
CALLER = (20, 70)  # 0.4-1.4 s
BACKCHANNEL = (130, 143)  # 2.6-2.86 s, over the bot
BOT = (90, 190)  # 1.8-3.8 s
END = 250


def _script():
    """Non-audio frames by frame index (built lazily: the classes exist on 1.x only)."""
    return {
        CALLER[0]: [VADUserStartedSpeakingFrame(start_secs=0.0), UserStartedSpeakingFrame()],
        55: [EagerTranscriptionFrame("Je voudrais", "caller", "")],
        58: [EagerEndOfTurnCancelFrame()],
        CALLER[1] + 2: [VADUserStoppedSpeakingFrame(stop_secs=0.04), UserStoppedSpeakingFrame(),
                        TranscriptionFrame("Je voudrais suivre ma commande 📦", "caller", "")],
        80: [InputDTMFFrame(KeypadEntry.FIVE)],
        BOT[0]: [BotStartedSpeakingFrame()],
        BOT[0] + 2: [tts_text("Votre")],
        100: [ExternalFunctionCallsStartedFrame([ExternalFunctionCall("lookup_order", "ext_427")]),
              ExternalFunctionCallInProgressFrame("lookup_order", "ext_427", {"order_id": "427"})],
        115: [ExternalFunctionCallResultFrame("lookup_order", "ext_427", {"order_id": "427"},
                                              {"status": "expédiée"})],
        120: [tts_text("commande")],
        BACKCHANNEL[1] + 1: [UserBackchannelFrame("mhm", "caller", "")],
        150: [tts_text("arrive")],
        170: [tts_text("vendredi.")],
        BOT[1] + 4: [BotStoppedSpeakingFrame()],
        200: [OutputDTMFFrame.from_string("12")],
    }


class NewFramesCall(FrameProcessor):
    def __init__(self):
        super().__init__()
        self.t0 = None

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._run())

    async def _run(self):
        rng = np.random.default_rng(11)
        script = _script()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(END):
            caller = CALLER[0] <= i < CALLER[1] or BACKCHANNEL[0] <= i < BACKCHANNEL[1]
            noise = rng.standard_normal(RATE // 50)
            await self.push_frame(InputAudioRawFrame(
                audio=(noise * (4000 if caller else 0)).astype("<i2").tobytes(), sample_rate=RATE, num_channels=1))
            if BOT[0] <= i < BOT[1]:
                await self.push_frame(OutputAudioRawFrame(
                    audio=(noise * 4000).astype("<i2").tobytes(), sample_rate=RATE, num_channels=1))
            for f in script.get(i, []):
                await self.push_frame(f)
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - loop.time()))
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


async def _run(data_dir):
    async with DevServer(data_dir=data_dir, port=0, api_key=API_KEY) as server:
        roark = RoarkObserver(agent_id="new-frames", api_key=API_KEY, base_url=server.base_url)
        params = PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE)
        worker = PipelineWorker(Pipeline([NewFramesCall(), roark.audio_processor]), params=params,
                                observers=[roark])
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await asyncio.wait_for(runner.run(), 30)
        rec = server.store.get_call(roark.pipecat_call_id)
        pcm = np.frombuffer(server.store.pcm(roark.pipecat_call_id), dtype="<i2").reshape(-1, 2)
        return rec, pcm


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROARK_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))
        for name in ("ROARK_API_KEY", "ROARK_BASE_URL", "ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED"):
            mp.delenv(name, raising=False)
        return asyncio.run(_run(tmp_path_factory.mktemp("roark")))


def test_delivered(call):
    rec, pcm = call
    assert rec.ended is not None and rec.problems == []
    assert [(round(s), round(e)) for s, e in sound_spans(pcm[:, 1], RATE)] == [(1800, 3800)]


def test_eager_text_is_never_recorded(call):
    rec, _ = call
    users = [t["content"] for t in rec.ended["transcript"] if t["role"] == "user"]
    assert users[0] == "Je voudrais suivre ma commande 📦"
    assert all(t["content"] != "Je voudrais" for t in rec.ended["transcript"])


def test_backchannel_kept_without_splitting_the_bot_turn(call):
    rec, _ = call
    turns = rec.ended["transcript"]
    bots = [t for t in turns if t["role"] == "assistant"]
    assert len(bots) == 1 and bots[0]["content"] == "Votre commande arrive vendredi."
    assert not bots[0].get("interrupted")
    bc = [t for t in turns if t.get("backchannel")]
    assert len(bc) == 1 and bc[0]["content"] == "mhm" and bc[0]["role"] == "user"
    assert abs(bc[0]["audioOffsetMs"] - BACKCHANNEL[0] * 20) <= 50


def test_backchannel_does_not_split_or_cut_the_bot_turn(call):
    rec, _ = call
    bots = [t for t in rec.ended["transcript"] if t["role"] == "assistant"]
    assert [b["content"] for b in bots] == ["Votre commande arrive vendredi."]
    assert not bots[0].get("interrupted")


def test_external_tool_calls_become_tool_records(call):
    rec, _ = call
    tools = rec.ended.get("toolCalls") or []
    assert [t["kind"] for t in tools] == ["tool_call", "tool_result"]
    assert tools[0]["toolCallId"] == tools[1]["toolCallId"] == "ext_427"
    assert tools[0]["name"] == "lookup_order" and json.loads(tools[0]["arguments"]) == {"order_id": "427"}
    assert json.loads(tools[1]["content"]) == {"status": "expédiée"}


def test_dtmf_keypresses_are_timeline_events(call):
    rec, _ = call
    events = [e for e in rec.ended.get("events") or [] if e.get("kind") == "dtmf"]
    assert [(e["direction"], e["data"]["digits"]) for e in events] == [("inbound", "5"), ("outbound", "12")]
    assert abs(events[0]["audioOffsetMs"] - 80 * 20) <= 50
    assert abs(events[1]["audioOffsetMs"] - 200 * 20) <= 50


# --------------------------------------------------------------------------- #
# BotBackchannelFrame through a real TTS and output transport
# --------------------------------------------------------------------------- #

#: The caller's "Actually, wait, can you also change the address?" (2.95 s) starts at 2.6 s;
#: the app asks for "Mm-hmm." 1.3 s into it.
BC_CALLER_MS = 2600
BC_AT_SECS = 3.9
BC_REPLY = "Sure, go ahead."


async def _run_backchannel(data_dir, word_timestamps: bool):
    async with DevServer(data_dir=data_dir, port=0, api_key=API_KEY) as server:
        roark = RoarkObserver(agent_id="bot-backchannel", api_key=API_KEY, base_url=server.base_url)
        script = CallScript(greeting="Acme support, how can I help?",
                            turns=[CallerTurn("change_address", BC_CALLER_MS, reply=BC_REPLY)])
        call = build_call(script, audio_processor=roark.audio_processor, observers=[roark],
                          tts_word_timestamps=word_timestamps)

        async def acknowledge():
            inp = call.transport.input()
            await inp.stream_started.wait()
            await asyncio.sleep(max(0.0, inp.stream_t0_monotonic + BC_AT_SECS - time.monotonic()))
            await call.worker.queue_frames([BotBackchannelFrame("Mm-hmm.")])

        task = asyncio.create_task(acknowledge())
        result = await run_call(call)
        await task
        rec = server.store.get_call(roark.pipecat_call_id)
        pcm = np.frombuffer(server.store.pcm(roark.pipecat_call_id), dtype="<i2").reshape(-1, 2)
        return result, rec, pcm, rec.ended["recordingSampleRate"]


@pytest.fixture(scope="module", params=[True, False], ids=["word-timestamps", "text-after-audio"])
def bc_call(request, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROARK_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))
        for name in ("ROARK_API_KEY", "ROARK_BASE_URL", "ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED"):
            mp.delenv(name, raising=False)
        return asyncio.run(_run_backchannel(tmp_path_factory.mktemp("roark"), request.param))


def test_bot_backchannel_was_spoken_over_the_caller(bc_call):
    result, rec, pcm, rate = bc_call
    assert result.ended_by == "end" and result.script_completed and rec.problems == []
    bot = sound_spans(pcm[:, 1], rate)
    caller = sound_spans(pcm[:, 0], rate)
    assert len(bot) == 3 and len(caller) == 1, (bot, caller)
    assert caller[0][0] < bot[1][0] and bot[1][1] < caller[0][1]  # within the caller's speech
    # The TTS spoke it: a segment typed "backchannel", and words of it (typed "word"
    # and naming the segment when the TTS reports word times).
    ev = result.call.events.events
    seg = {e.frame.id for e in ev if e.kind == "AggregatedTextFrame" and e.frame.text_type == "backchannel"}
    words = {e.frame.text for e in ev if e.kind == "TTSTextFrame" and e.source.startswith("ScriptedTTSService")
             and (e.frame.text_type == "backchannel" or e.frame.segment_id in seg)}
    assert len(seg) == 1 and words == {"Mm-hmm."}, (seg, words)


def test_bot_backchannel_is_a_flagged_turn_on_its_sound(bc_call):
    _, rec, pcm, rate = bc_call
    turns = rec.ended["transcript"]
    got = [(t["role"], t["content"], t.get("backchannel")) for t in turns]
    assert got == [("assistant", "Acme support, how can I help?", None),
                   ("user", "Actually, wait, can you also change the address?", None),
                   ("assistant", "Mm-hmm.", True),
                   ("assistant", BC_REPLY, None)], got
    bc = turns[2]
    span = sound_spans(pcm[:, 1], rate)[1]
    assert abs(bc["audioOffsetMs"] - span[0]) <= 50 and abs(bc["endAudioOffsetMs"] - span[1]) <= 50, (bc, span)
    assert not bc.get("interrupted") and "responseLatencyMs" not in bc


def test_bot_backchannel_neither_splits_the_callers_turn_nor_is_the_reply(bc_call):
    _, rec, pcm, rate = bc_call
    turns = rec.ended["transcript"]
    caller = sound_spans(pcm[:, 0], rate)[0]
    user = [t for t in turns if t["role"] == "user"]
    assert len(user) == 1
    assert abs(user[0]["audioOffsetMs"] - caller[0]) <= 50 and abs(user[0]["endAudioOffsetMs"] - caller[1]) <= 50
    reply = turns[3]
    start = sound_spans(pcm[:, 1], rate)[2][0]
    assert abs(reply["audioOffsetMs"] - start) <= 50
    assert abs(reply["responseLatencyMs"] - (start - caller[1])) <= 50, reply
