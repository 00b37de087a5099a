"""Issue 15 end to end: capture switches, audio consent, sampling, call logs, STT quality.

Each test runs real Pipecat pipelines in real time (the light scripted
source, tests/scripted_call.py, a few seconds per call) with the observer
and its recorder, against the dev server on loopback, and asserts what the
server received, which requests it saw (upload-URL requests are counted from
the tokens it issued) and what is left in the disk spool.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from loguru import logger
from pipecat.frames.frames import (
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    MetricsFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_roark import RoarkObserver
from pipecat_roark._compat import PipelineParams, PipelineWorker, WorkerRunner
from pipecat_roark.calllogs import sink_installed
from pipecat_roark.devserver import view
from pipecat_roark.models import CallEnded
from pipecat_roark.policy import SAMPLING_COUNTS, should_ship

from ..scripted_call import Exchange, ScriptedCall, expected_turns
from .conftest import API_KEY
from .helpers import edge_errors, recording

#: A short exchange: 1.6 s, the caller then the bot.
SHAPE = Exchange(length_ms=1600, caller_ms=(200, 700), bot_ms=(900, 1400))
RATE = 24000
LOW, HIGH = 0.42, 0.97


def deepgram_result(text: str, confidence: float) -> dict:
    """A Deepgram live result as its JSON message has it (stt_quality reads dicts and SDK objects alike)."""
    words = [{"word": w, "punctuated_word": w, "start": 0.25 + 0.2 * i, "end": 0.4 + 0.2 * i,
              "confidence": confidence} for i, w in enumerate(text.split())]
    return {"channel": {"alternatives": [{"transcript": text, "confidence": confidence, "words": words}]}}


class Extras(FrameProcessor):
    """What services would add around the scripted call: a tool call, a metric, log lines.

    ``at_user_turn[k]`` runs when the caller's k-th turn starts.
    """

    def __init__(self, tag: str = "", at_user_turn: Optional[dict[int, Callable[[], Any]]] = None, **kw):
        super().__init__(**kw)
        self.tag = tag
        self.at_user_turn = at_user_turn or {}
        self._user_turns = 0
        self._transcripts = 0

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if direction != FrameDirection.DOWNSTREAM:
            return
        if isinstance(frame, UserStartedSpeakingFrame):
            action = self.at_user_turn.get(self._user_turns)
            self._user_turns += 1
            if action is not None:
                action()
        elif isinstance(frame, TranscriptionFrame):
            k = self._transcripts
            self._transcripts += 1
            if k == 0:
                await self.push_frame(FunctionCallInProgressFrame(
                    function_name="lookup", tool_call_id=f"t{k}", arguments={"q": k}))
                await self.push_frame(FunctionCallResultFrame(
                    function_name="lookup", tool_call_id=f"t{k}", arguments={"q": k}, result={"ok": True}))
                await self.push_frame(MetricsFrame(data=[TTFBMetricsData(processor="stt", value=0.2)]))
            if self.tag:
                logger.warning(f"slow lookup in call {self.tag}: turn {k}")


def stt_result(k: int, text: str):
    """Exchange 0: a confident Deepgram result; exchange 1: a doubtful one; later: none (a provider without them)."""
    return deepgram_result(text, HIGH if k == 0 else LOW) if k < 2 else None


class Failer(FrameProcessor):
    """Raises on the second transcription: Pipecat logs the error itself (a line of Pipecat's own code)."""

    def __init__(self, tag: str, **kw):
        super().__init__(**kw)
        self.tag, self._n = tag, 0

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self._n += 1
            if self._n == 2:
                raise RuntimeError(f"boom in call {self.tag}")
        await self.push_frame(frame, direction)


def observer(server, **kw) -> RoarkObserver:
    kw.setdefault("agent_id", "capture-control")
    return RoarkObserver(api_key=API_KEY, base_url=server.base_url, **kw)


async def run(roark: RoarkObserver, exchanges: int = 2, extras: Optional[Extras] = None, failer: bool = False,
              seed: int = 5) -> None:
    procs: list = [ScriptedCall(exchanges, in_rate=16000, out_rate=RATE, shape=SHAPE, seed=seed,
                                stt_result=stt_result), extras or Extras()]
    if failer:
        procs.append(Failer(extras.tag if extras else ""))
    procs.append(roark.audio_processor)
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=RATE,
                            enable_metrics=True, enable_usage_metrics=True)
    worker = PipelineWorker(Pipeline(procs), params=params, observers=[roark])
    runner = WorkerRunner(handle_sigint=False)
    if hasattr(runner, "add_workers"):
        await runner.add_workers(worker)
        await asyncio.wait_for(runner.run(), 30)
    else:
        await asyncio.wait_for(runner.run(worker), 30)


def upload_url_requests(server, call_id: str) -> int:
    return server.store.upload_url_requests(call_id)


def spooled_audio(spool_dir: Path) -> list[Path]:
    return sorted(p for p in spool_dir.rglob("*") if p.is_file() and p.name.startswith("chunk-"))


def ended(server, roark) -> dict:
    rec = server.store.get_call(roark.pipecat_call_id)
    assert rec is not None and rec.ended is not None, "call-ended arrived"
    assert rec.problems == [], rec.problems
    CallEnded.model_validate(rec.ended)
    return rec.ended


# -- capture switches ----------------------------------------------------------------


@pytest.mark.parametrize("switch", ["audio", "transcript", "tools", "metrics"])
async def test_a_switch_turned_off_leaves_out_exactly_its_part(server, tmp_path, switch):
    spool = tmp_path / "spool"
    roark = observer(server, capture={switch: False}, spool_dir=spool)
    sent: list[dict] = []
    roark.event_handler("on_call_ended")(lambda _r, _s, payload: sent.append(payload))
    await run(roark)
    end = ended(server, roark)
    cid = roark.pipecat_call_id
    assert end["captureOff"] == [switch]
    assert sent and sent[0] == end  # on_call_ended hands over exactly what was sent
    has = {
        "audio": bool(server.store.get_call(cid).chunks) and "recordingSampleRate" in end,
        "transcript": "transcript" in end,
        "tools": "toolCalls" in end,
        "metrics": "metrics" in end,
    }
    assert has == {name: name != switch for name in has}, has
    if switch == "audio":
        # Nothing of the audio: no upload-URL request, no PUT, no spooled chunk, no recording fields.
        assert upload_url_requests(server, cid) == 0 and server.store.get_call(cid).uploads == []
        assert end["recordingStatus"] == "off"
        assert [t["role"] for t in end["transcript"]] == [r for r, _ in expected_turns(2)]
    else:
        assert end["recordingStatus"] == "ok" and upload_url_requests(server, cid) >= 1
        if switch == "transcript":
            assert "agentSpokeFirst" not in end
    if switch == "tools":
        assert "toolCalls" not in end.get("callSummary", {})
    assert spooled_audio(spool) == []


async def test_everything_on_including_logs(server, tmp_path):
    roark = observer(server, capture="all,-traces", spool_dir=tmp_path / "spool")
    await run(roark, extras=Extras(tag="full"))
    end = ended(server, roark)
    assert "captureOff" not in end
    assert end["transcript"] and end["toolCalls"] and end["metrics"] and end["recordingStatus"] == "ok"
    assert [line["message"] for line in end["logs"] if "slow lookup" in line["message"]] == [
        "slow lookup in call full: turn 0", "slow lookup in call full: turn 1"]


# -- consent ---------------------------------------------------------------------------


async def test_deferred_then_allowed_gives_the_full_recording_from_sample_0(server, tmp_path):
    spool = tmp_path / "spool"
    roark = observer(server, defer_audio=True, spool_dir=spool)
    cid = roark.pipecat_call_id
    seen_before: dict = {}

    def allow():
        # Before consent: nothing of the audio has left or touched the disk.
        rec = server.store.get_call(cid)
        seen_before.update(url_requests=upload_url_requests(server, cid), uploads=len(rec.uploads) if rec else 0,
                           spooled=spooled_audio(spool), held=roark._policy.gate.held_bytes)
        assert roark.allow_audio() >= 1

    await run(roark, exchanges=3, extras=Extras(at_user_turn={2: allow}))
    assert seen_before["url_requests"] == 0 and seen_before["uploads"] == 0 and seen_before["spooled"] == []
    assert seen_before["held"] > 0
    end = ended(server, roark)
    assert end["audioConsent"] == "granted" and end["recordingStatus"] == "ok"
    # The whole call, chunk 0 included, with the turns where the sound is.
    rec = server.store.get_call(cid)
    assert sorted(rec.chunks) == list(range(len(rec.chunks))) and len(rec.chunks) >= 2
    pcm, rate = recording(server, cid)
    call_ms = end["recordingHealth"]["callMs"]
    assert abs(len(pcm) * 1000 / rate - call_ms) <= 100
    errors = edge_errors(end["transcript"], pcm, rate)
    assert errors.worst <= 50, errors.detail
    assert [(t["role"], t["content"]) for t in end["transcript"]] == expected_turns(3)
    assert spooled_audio(spool) == []


async def test_deferred_then_discarded_sends_and_keeps_no_audio(server, tmp_path):
    spool = tmp_path / "spool"
    roark = observer(server, defer_audio=True, spool_dir=spool)
    cid = roark.pipecat_call_id
    freed: list[int] = []
    await run(roark, exchanges=3, extras=Extras(at_user_turn={2: lambda: freed.append(roark.discard_audio())}))
    end = ended(server, roark)
    assert freed and freed[0] > 0  # the held recording was in memory, and is gone
    assert roark._policy.gate.held_bytes == 0 and roark._capture.tracks is None
    assert roark._delivery._chunks == {} and roark._delivery._pending_bytes == 0
    assert end["audioConsent"] == "discarded" and end["recordingStatus"] == "off"
    assert not {"recordingSampleRate", "recordingNumChannels", "recordingStartedAt"} & set(end)
    assert "discard_audio" in end["recordingHealth"]["warnings"][0]
    assert upload_url_requests(server, cid) == 0 and server.store.get_call(cid).uploads == []
    assert spooled_audio(spool) == []
    # The call itself is still reported whole.
    assert [(t["role"], t["content"]) for t in end["transcript"]] == expected_turns(3)
    assert all("audioOffsetMs" not in t for t in end["transcript"])


async def test_deferred_and_never_allowed_sends_no_audio(server, tmp_path):
    spool = tmp_path / "spool"
    roark = observer(server, defer_audio=True, spool_dir=spool)
    await run(roark)
    end = ended(server, roark)
    assert end["audioConsent"] == "not_given" and end["recordingStatus"] == "off"
    assert upload_url_requests(server, roark.pipecat_call_id) == 0
    assert server.store.get_call(roark.pipecat_call_id).uploads == []
    assert spooled_audio(spool) == [] and roark._policy.gate.held_bytes == 0


async def test_discard_mid_call_without_defer_stops_the_recording(server, tmp_path):
    spool = tmp_path / "spool"
    roark = observer(server, spool_dir=spool)
    cid = roark.pipecat_call_id
    state: dict = {}

    def discard():
        state["produced"] = roark.delivery_stats.chunks_produced
        roark.discard_audio()

    # Chunks are ~2.7 s at 24 kHz stereo: the first has gone out by the third exchange.
    await run(roark, exchanges=3, extras=Extras(at_user_turn={2: discard}))
    end = ended(server, roark)
    rec = server.store.get_call(cid)
    assert state["produced"] >= 1
    assert end["audioConsent"] == "revoked" and end["recordingStatus"] == "partial"
    # Only what was produced before the discard may have arrived; nothing recorded after it.
    assert set(rec.chunks) <= set(range(state["produced"]))
    pcm, rate = recording(server, cid)
    assert len(pcm) * 1000 / rate < 2 * SHAPE.length_ms + 300
    assert roark._capture.tracks is None and spooled_audio(spool) == []


# -- sampling --------------------------------------------------------------------------


async def test_a_call_left_out_by_sampling_sends_nothing_and_a_test_call_always_ships(server, tmp_path):
    SAMPLING_COUNTS.reset()
    out_id = next(f"call-{i}" for i in range(100) if not should_ship(f"call-{i}", 0.5))
    spool = tmp_path / "spool"
    left = observer(server, sampling=0.5, pipecat_call_id=out_id, spool_dir=spool)
    test = observer(server, sampling=0.0, is_test=True, spool_dir=spool)
    assert not left.enabled and test.enabled
    await asyncio.gather(run(left, exchanges=1), run(test, exchanges=1, seed=6))
    assert server.store.get_call(out_id) is None  # not a single request
    assert not (spool.exists() and any(p.name.startswith(out_id) for p in spool.iterdir()))
    assert ended(server, test)["transcript"]
    assert SAMPLING_COUNTS.snapshot() == {"shipped": 1, "skipped": 1}


# -- call logs ---------------------------------------------------------------------------


async def test_logs_of_two_concurrent_calls_stay_with_their_call(server):
    async def call(tag: str) -> RoarkObserver:
        # Created in the call's own task, as a runner does per connection.
        roark = observer(server, capture_logs=True)
        await run(roark, extras=Extras(tag=tag), failer=True, seed=11 if tag == "one" else 12)
        return roark

    one, two = await asyncio.gather(call("one"), call("two"))
    for roark, tag, other in ((one, "one", "two"), (two, "two", "one")):
        logs = ended(server, roark)["logs"]
        text = [line["message"] for line in logs]
        assert [m for m in text if "slow lookup" in m] == [f"slow lookup in call {tag}: turn 0",
                                                          f"slow lookup in call {tag}: turn 1"]
        pipecat = [line for line in logs if f"boom in call {tag}" in line["message"]]
        assert pipecat and all(line["logger"].startswith("pipecat.") for line in pipecat), logs
        assert not [m for m in text if f"call {other}" in m], text
        # On the recording: exchange k's transcription comes ~k * 1.6 s + 0.74 s in.
        offsets = [line["audioOffsetMs"] for line in logs if "slow lookup" in line["message"]]
        assert [round((o - 740) / SHAPE.length_ms) for o in offsets] == [0, 1], offsets
    assert not sink_installed()


# -- STT quality ------------------------------------------------------------------------


@pytest.mark.parametrize("redact", [None, True])
async def test_stt_confidence_and_word_timings_on_user_turns(server, redact):
    roark = observer(server, redact=redact)
    await run(roark, exchanges=3)
    end = ended(server, roark)
    users = [t for t in end["transcript"] if t["role"] == "user"]
    q0, q1 = users[0]["sttQuality"], users[1]["sttQuality"]
    assert (q0["confidence"], q1["confidence"]) == (HIGH, LOW) and q0["provider"] == "deepgram"
    assert "sttQuality" not in users[2]  # no result from the provider: absent, not zero
    for turn, q in ((users[0], q0), (users[1], q1)):
        words = q["words"]
        if redact:
            # Added after the payload's redaction, redacted the same way: word texts go, timings stay.
            assert all("word" not in w for w in words) and len(words) == 2
        else:
            assert [w["word"] for w in words] == turn["content"].split()
        # The first word starts where the turn starts on the recording; the rest keep their spacing.
        assert words[0]["audioOffsetMs"] == turn["audioOffsetMs"]
        assert words[1]["audioOffsetMs"] - words[0]["audioOffsetMs"] == 200
    # The call page highlights the doubtful turn, and only it.
    page = view.detail(server.store.get_call(roark.pipecat_call_id), b"", with_peaks=False)
    assert page["lowConfidenceTurns"] == [end["transcript"].index(users[1])]


async def test_discard_purges_chunks_waiting_in_the_spool(server, tmp_path):
    """Chunks already on disk (Roark slow, memory budget spent) are deleted by a discard, and never sent."""
    from pipecat_roark.client import RoarkClient
    from pipecat_roark.delivery import CallDelivery
    from pipecat_roark.spool import Journal, Spool, SpoolIO

    server.faults.set("put", hang_forever=True, count=100)  # no upload ever finishes
    spool = Spool.at(tmp_path / "spool")
    headers = {"x-roark-api-key": API_KEY, "Authorization": f"Bearer {API_KEY}"}
    delivery = CallDelivery(RoarkClient(server.base_url, headers, 5.0), "purge-1", spool=spool, memory_budget=1,
                            finalize_timeout=5.0)
    delivery.send_started({"event": "call-started", "pipecatCallId": "purge-1", "eventTimestamp": "2026-01-01T00:00:00Z",
                           "agentId": "a"})
    for i in range(3):
        delivery.add_chunk(i, bytes(4000), 16000, 2)
    await SpoolIO.run(lambda: None)  # the spool's one thread has written what was queued before
    call_dir = Path(delivery.spool_dir)
    assert len(spooled_audio(call_dir)) == 3
    assert delivery.discard_audio() == 3
    delivery.add_chunk(3, bytes(4000), 16000, 2)  # after the discard: refused, not spooled, not lost
    await SpoolIO.run(lambda: None)
    assert spooled_audio(call_dir) == [] and delivery._pending_bytes == 0
    assert Journal.read(call_dir / "journal.jsonl").produced == {}  # replay will not look for them
    assert delivery.stats.chunks_produced == 0 and delivery.stats.chunks_lost == 0
    ok = await delivery.finish(lambda delivered: {
        "event": "call-ended", "pipecatCallId": "purge-1", "eventTimestamp": "2026-01-01T00:00:02Z",
        "callStartedAt": "2026-01-01T00:00:00Z", "callEndedAt": "2026-01-01T00:00:02Z", "callEndedReason": "ended",
        "audioConsent": "revoked" if delivered else "discarded"})
    assert ok and not call_dir.exists()
    rec = server.store.get_call("purge-1")
    assert rec.ended["audioConsent"] == "discarded" and rec.uploads == [] and rec.problems == []
