"""Property-based: random valid frame sequences full of bad data never break the capture.

Random but valid sequences of real Pipecat frames (and random bad data in
them: odd types, unserializable tool arguments, lone surrogates, megabyte
text, None fields) go into a ``RoarkObserver`` (its ``on_push_frame``, called
directly as Pipecat would, with plausible source processors), into the
recorder's ``Capture`` (inline, as the recorder feeds it) and into the pure
``Call``, in random orders and at random positions. Properties:

- nothing raises, and nothing is swallowed by the observer's guards either
  (every exception it logs is a failure here);
- exactly one ``call-started`` and one ``call-ended`` are built, and every
  payload validates against the wire models, survives
  ``json.dumps(allow_nan=False)`` and encodes as strict UTF-8;
- turns end at or after their start, audio offsets are >= 0, each
  ``toolCallId`` appears at most once per kind, every ``tool_result`` has its
  ``tool_call``, and tool arguments are a strict JSON string.

No network: the observer points at ``http://127.0.0.1:9`` and its delivery
is replaced by an in-memory stand-in that only records the payloads. No
pipeline is ever started. Runs derandomized and without an example database
(see ``capture_strategies.property_settings``); set
``ROARK_PROPERTY_EXAMPLES=2000`` (and ``ROARK_PROPERTY_RANDOM=1``) for a
deeper local search.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import math
from types import SimpleNamespace
from typing import Any, Optional

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from loguru import logger
from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_roark import RoarkObserver

from .test_call import PlacedCall
from pipecat_roark.config import build_settings
from pipecat_roark.delivery import DeliveryStats
from pipecat_roark.metrics import to_records
from pipecat_roark.models import CallEnded, CallStarted, MetricRecord
from pipecat_roark.observer import EVENTS
from pipecat_roark.capture import EVENT_FRAMES, Capture
from pipecat_roark.timeline import BOT, USER
from pipecat_roark.text import MAX_TEXT_CHARS, clean_text, tool_arguments, tool_result_content

from . import capture_strategies as cs

# Malformed metric records (built without validation) make pydantic warn when they are dumped.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

S = 1_000_000_000
WALL = 1_800_000_000.0
SETTINGS = build_settings(agent_id="prop-agent", api_key="k", base_url="http://127.0.0.1:9", is_test=True, env={})
#: Nothing on disk and no replay of earlier calls' leftovers (where the observer has a spool).
NO_SPOOL = {"spool_dir": False} if "spool_dir" in inspect.signature(RoarkObserver.__init__).parameters else {}
HAS_FIRST_PUSH = "first_push" in getattr(FramePushed, "__dataclass_fields__", {})

# -- what every payload must satisfy -------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def strict_json_loads(text: str) -> Any:
    """JSON as any strict parser (a browser's JSON.parse) reads it: no NaN/Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


def assert_wire_safe(obj: Any) -> None:
    """Serializable without NaN, encodable as strict UTF-8, and unchanged by a round trip."""
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # strict: a lone surrogate raises
    assert json.loads(text) == obj


def _when(iso: str) -> dt.datetime:
    assert isinstance(iso, str) and iso.endswith("Z"), iso
    return dt.datetime.fromisoformat(iso[:-1] + "+00:00")


def check_started(payload: dict) -> None:
    CallStarted.model_validate(payload)
    assert payload["event"] == "call-started" and payload["agentId"] == "prop-agent"
    _when(payload["eventTimestamp"])
    assert_wire_safe(payload)


def check_ended(payload: dict, *, chunks_delivered: Optional[int] = None) -> None:
    CallEnded.model_validate(payload)
    assert_wire_safe(payload)
    assert payload["event"] == "call-ended"
    assert "callStartedAt" in payload  # present, possibly null
    _when(payload["callEndedAt"])
    _when(payload["eventTimestamp"])
    assert isinstance(payload["callEndedReason"], str)
    assert ("recordingSampleRate" in payload) == ("recordingNumChannels" in payload)
    if chunks_delivered is not None and "recordingSampleRate" in payload:
        assert chunks_delivered > 0, "recording fields without any delivered chunk"
    for turn in payload.get("transcript", []):
        assert turn["role"] in ("user", "assistant")
        assert isinstance(turn["content"], str) and turn["content"]
        assert len(turn["content"]) <= MAX_TEXT_CHARS + 100
        assert _when(turn["endTimestamp"]) >= _when(turn["timestamp"])
        start, end = turn.get("audioOffsetMs"), turn.get("endAudioOffsetMs")
        if start is not None:
            assert start >= 0
        if end is not None:
            assert start is not None and end >= start
        for k in ("responseLatencyMs", "bargeInLatencyMs"):
            assert turn.get(k, 0) >= 0
    if payload.get("transcript"):
        assert payload["agentSpokeFirst"] == (payload["transcript"][0]["role"] == "assistant")
        starts = [_when(t["timestamp"]) for t in payload["transcript"]]
        assert starts == sorted(starts), "turns out of order"
    seen: dict[str, set] = {"tool_call": set(), "tool_result": set()}
    for rec in payload.get("toolCalls", []):
        kind, tid = rec["kind"], rec["toolCallId"]
        assert isinstance(tid, str) and tid
        assert tid not in seen[kind], f"{kind} {tid!r} twice"
        seen[kind].add(tid)
        if kind == "tool_call":
            assert isinstance(rec["arguments"], str)
            strict_json_loads(rec["arguments"])
        else:
            assert tid in seen["tool_call"], f"tool_result {tid!r} without its tool_call"
            assert isinstance(rec["content"], str)
        _when(rec["timestamp"])
        assert rec.get("audioOffsetMs", 0) >= 0
    for rec in payload.get("metrics", []):
        assert rec.get("audioOffsetMs", 0) >= 0
        assert isinstance(rec["kind"], str)
        _when(rec["timestamp"])
    for rec in payload.get("errors", []):
        assert isinstance(rec["message"], str) and rec["message"]


# -- the observer, driven by hand ------------------------------------------------------


class Clock:
    """The pipeline clock: ns since the pipeline started, moved by the test."""

    def __init__(self) -> None:
        self.t = 0

    def get_time(self) -> int:
        return self.t


class Proc(FrameProcessor):
    """A set-up processor as the observer sees it: a name, a clock, maybe tool settings."""

    def __init__(self, name: str, clock: Clock, **attrs: Any):
        super().__init__(name=name)
        self._test_clock = clock
        for k, v in attrs.items():
            setattr(self, k, v)

    def get_clock(self) -> Any:
        return self._test_clock


def make_processors(clock: Clock) -> list[Proc]:
    tool = SimpleNamespace(timeout_secs=0.5)
    return [
        Proc("SmallWebRTCInputTransport#0", clock),
        Proc("DeepgramSTTService#0", clock),
        Proc("OpenAILLMService#0", clock, _functions={None: tool, "get_weather": SimpleNamespace(timeout_secs=None)},
             _function_call_timeout_secs=10.0),
        Proc("LLMUserAggregator#0", clock),
        Proc("CartesiaTTSService#0", clock),
        Proc("SmallWebRTCOutputTransport#0", clock),
        Proc("LLM\ud800Odd#0", clock, _functions="not a dict"),
        Proc("Pipeline#0::Sink", clock),
    ]


class FakeDelivery:
    """Stands in for CallDelivery: records what would be sent, sends nothing.

    Extra arguments (metadata the real delivery may take) are accepted and ignored.
    """

    def __init__(self, chunks_arrive: bool):
        self.chunks_arrive = chunks_arrive
        self.stats = DeliveryStats()  # the real counters, whatever the observer reads of them
        self.started: list[dict] = []
        self.ended: list[dict] = []
        self.chunk_indexes: list[int] = []
        self.bytes = 0
        self.ending = False

    def send_started(self, payload: dict, *args: Any, **kw: Any) -> None:
        self.started.append(payload)

    def add_chunk(self, index: int, data: bytes, *args: Any, **kw: Any) -> None:
        assert isinstance(data, (bytes, bytearray)) and len(data) % 4 == 0, "stereo s16 chunks are whole frames"
        self.chunk_indexes.append(index)
        self.bytes += len(data)
        self.stats.chunks_produced += 1
        if self.chunks_arrive:
            self.stats.chunks_delivered += 1
        else:
            self.stats.chunks_lost += 1

    def mark_ending(self, *args: Any, **kw: Any) -> None:
        self.ending = True

    async def finish(self, build_ended: Any, *args: Any, **kw: Any) -> bool:
        payload = build_ended(self.stats.chunks_delivered > 0)
        self.ended.append(payload)
        return True

    def abort(self, *args: Any, **kw: Any) -> None:
        pass

    def hand_off(self) -> None:
        pass


def abp_would_refuse(frame: Any, track: int, rates: dict) -> bool:
    """A user's AudioBufferProcessor raises on a track whose input rate changes
    (Pipecat's stream resampler refuses it) and drops that frame; the mirror of
    it does the same, inside AudioTap's guard. Such frames are left out of the
    mirror's runs, where the Capture is called without that guard."""
    if not frame.sample_rate or not len(frame.audio) // 2:
        return False
    return rates.setdefault(track, frame.sample_rate) != frame.sample_rate


MODES = ("no_recorder", "recorder", "small_chunks", "user_abp", "audio_off")


def _attach_capture(obs: RoarkObserver, mode: str) -> Optional[Capture]:
    """The capture the recorder would feed, for this mode (None: no recorder in the pipeline)."""
    if mode == "no_recorder":
        return None
    if mode == "small_chunks":  # the built-in recorder with chunks small enough to cut many
        obs._capture = Capture(obs.session, store_audio=True, chunk_bytes=4096)
    elif mode == "user_abp":  # AudioTap on a user's own AudioBufferProcessor: positions only
        obs._capture = Capture(obs.session, store_audio=False, track_positions=True, sample_rate=16000,
                               mirror={"mirror": True, "gap_fill": True, "mirror_flush_samples": 800})
    if mode in ("small_chunks", "user_abp"):
        obs._recorder = _Finisher(obs._capture)
    return obs._capture  # "recorder" / "audio_off": the one RoarkAudioRecorder built


class _Finisher:
    """What the observer asks of its recorder, around a Capture built here."""

    def __init__(self, capture: Capture):
        self.capture = capture

    async def finish(self, reason: str) -> None:
        self.capture.end(reason)


async def drive_observer(pushes: list[cs.Push], mode: str, finish: str, chunks_arrive: bool, reason: Any,
                         early_pipeline_started: bool, start_frame: Any) -> dict:
    logged: list[str] = []

    def sink(message: Any) -> None:
        logged.append(str(message.record["message"]))

    sink_id = logger.add(sink, level="ERROR", filter=lambda r: r["exception"] is not None, format="{message}")
    try:
        obs = RoarkObserver(agent_id="prop-agent", api_key="test-key", base_url="http://127.0.0.1:9", is_test=True,
                            capture_audio=mode != "audio_off", pipecat_call_id="prop-call", **NO_SPOOL)
        assert obs.enabled
        delivery = FakeDelivery(chunks_arrive)
        obs._delivery = obs.session.delivery = delivery  # type: ignore[assignment]
        events: list[tuple[str, tuple]] = []
        for name in EVENTS:
            async def handler(_obs: Any, *args: Any, _name: str = name) -> None:
                events.append((_name, args))
            obs.add_event_handler(name, handler)

        clock = Clock()
        procs = make_processors(clock)
        cap = _attach_capture(obs, mode)
        first = {"first_push": True} if HAS_FIRST_PUSH else {}
        down, up = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM
        if cap is not None:
            cap.start(start_frame or StartFrame(), clock)  # the recorder handles the StartFrame inline
        if start_frame is not None:  # else the observer never sees one (it joined late)
            await obs.on_push_frame(FramePushed(source=procs[0], destination=procs[1], frame=start_frame,
                                                direction=down, timestamp=0, **first))
        if early_pipeline_started:
            await obs.on_pipeline_started()
        abp_chunk, abp_rates = 0, {}
        for p in pushes:
            clock.t += p.dt_ns
            frame = p.frame
            if cap is not None and not p.upstream and p.again is None:
                if isinstance(frame, (InputAudioRawFrame, OutputAudioRawFrame)):
                    track = USER if isinstance(frame, InputAudioRawFrame) else BOT
                    if not (mode == "user_abp" and abp_would_refuse(frame, track, abp_rates)):
                        await cap.audio(frame, track)
                elif isinstance(frame, EVENT_FRAMES):
                    cap.event(frame)
                elif isinstance(frame, StartFrame):
                    cap.start(frame, clock)
                if mode == "user_abp" and isinstance(frame, (InputAudioRawFrame, OutputAudioRawFrame)) \
                        and len(frame.audio) >= 4:
                    # The user's processor hands over a chunk now and then.
                    obs.session.chunk(abp_chunk, bytes(len(frame.audio) // 4 * 4), sample_rate=16000, num_channels=2)
                    abp_chunk += 1
            kw = {"first_push": p.again is None} if HAS_FIRST_PUSH else {}
            await obs.on_push_frame(FramePushed(
                source=procs[p.source % len(procs)], destination=procs[(p.source + 1) % len(procs)], frame=frame,
                direction=up if p.upstream else down, timestamp=max(0, clock.t - p.lag_ns), **kw,
            ))
        clock.t += 1_000_000
        if finish == "end_frame":
            end = EndFrame(reason=reason)
            if cap is not None:
                cap.event(end)
            await obs.on_push_frame(FramePushed(source=procs[5], destination=procs[7], frame=end, direction=down,
                                                timestamp=clock.t, **first))
        elif finish == "aflush":
            await obs.aflush(reason)
            await obs.aflush("again")  # idempotent
        if cap is not None:
            await obs._recorder.finish("pipeline-finished")  # what the recorder's own cleanup does
        await obs.cleanup()  # always awaited by Pipecat at teardown
        for _ in range(3):
            await asyncio.sleep(0)

        assert not logged, f"the observer swallowed exceptions: {logged}"
        assert len(delivery.started) == 1, delivery.started
        check_started(delivery.started[0])
        assert len(delivery.ended) == 1, f"{len(delivery.ended)} call-ended payloads"
        ended = delivery.ended[0]
        check_ended(ended, chunks_delivered=delivery.stats.chunks_delivered)
        if mode in ("recorder", "small_chunks"):
            assert delivery.chunk_indexes == list(range(len(delivery.chunk_indexes)))
            if "recordingSampleRate" in ended:
                # Every offset points into the recording that was delivered.
                length_ms = delivery.bytes / 4 * 1000 / ended["recordingSampleRate"]
                for rec in ended.get("transcript", []) + ended.get("toolCalls", []) + ended.get("metrics", []):
                    for k in ("audioOffsetMs", "endAudioOffsetMs"):
                        assert rec.get(k, 0) <= length_ms + 1, (k, rec.get(k), length_ms)
        for delivered in (True, False):
            check_ended(obs.session.build_ended(delivered))
        for name, args in events:
            assert_wire_safe(list(args))
            if name == "on_tool_completed":
                assert args[0]["kind"] == "tool_result"
        assert not logged, f"the observer swallowed exceptions: {logged}"
        return ended
    finally:
        logger.remove(sink_id)


@cs.property_settings(200)
@given(
    pushes=cs.pushes(),
    mode=st.sampled_from(MODES),
    finish=st.sampled_from(["end_frame", "aflush", "cleanup"]),
    chunks_arrive=st.booleans(),
    reason=cs.reasons,
    early=st.booleans(),
    start_frame=st.one_of(cs.start_frames(), st.none()),
)
def test_observer_never_raises_and_builds_valid_payloads(pushes, mode, finish, chunks_arrive, reason, early,
                                                         start_frame):
    ended = asyncio.run(drive_observer(pushes, mode, finish, chunks_arrive, reason, early, start_frame))
    # What the examples covered (shown with --hypothesis-show-statistics).
    event(f"mode={mode}")
    for key in ("transcript", "toolCalls", "metrics", "errors", "recordingSampleRate"):
        if key in ended:
            event(f"call-ended has {key}")
    if any(t.get("audioOffsetMs") is not None for t in ended.get("transcript", [])):
        event("turns placed on the recording")


# -- the pure Call, events at random times and positions ---------------------------------

times = st.integers(0, 3_600 * S)
positions = st.one_of(st.none(), st.integers(0, 200_000_000))
rates = st.sampled_from([8000, 16000, 24000, 48000, 44100, 0])


def _records(items: list) -> list[dict]:
    return to_records(items, None)


call_ops = st.one_of(
    st.tuples(st.just("user_started"), st.fixed_dictionaries({"t_ns": times, "pos": positions})),
    st.tuples(st.just("user_stopped"), st.fixed_dictionaries({"t_ns": times, "pos": positions})),
    st.tuples(st.just("transcription"), st.fixed_dictionaries(
        {"t_ns": times, "text": cs.odd_text, "user_id": cs.user_ids, "language": cs.languages})),
    st.tuples(st.just("bot_started"), st.fixed_dictionaries({"t_ns": times, "pos": positions, "user_end": positions})),
    st.tuples(st.just("bot_stopped"), st.fixed_dictionaries({"t_ns": times, "pos": positions})),
    st.tuples(st.just("bot_text"), st.fixed_dictionaries({"t_ns": times, "text": cs.odd_text, "spaced": st.booleans()})),
    st.tuples(st.just("interruption"), st.fixed_dictionaries({"t_ns": times, "pos": positions})),
    st.tuples(st.just("recording_started"), st.fixed_dictionaries({"t_ns": times})),
    st.tuples(st.just("set_recording"), st.fixed_dictionaries({"sample_rate": rates, "num_channels": st.sampled_from([1, 2])})),
    st.tuples(st.just("tool_call"), st.fixed_dictionaries(
        {"t_ns": times, "tool_call_id": cs.tool_ids, "name": cs.tool_names, "arguments": cs.tool_values, "pos": positions})),
    st.tuples(st.just("tool_result"), st.fixed_dictionaries(
        {"t_ns": times, "tool_call_id": cs.tool_ids, "result": st.one_of(st.none(), cs.tool_values), "name": cs.tool_names,
         "arguments": cs.tool_values, "pos": positions, "final": st.booleans(),
         "error": st.one_of(st.none(), cs.odd_text), "timeout_secs": st.one_of(st.none(), st.sampled_from([0.5, 10.0]))})),
    st.tuples(st.just("tool_cancelled"), st.fixed_dictionaries(
        {"t_ns": times, "tool_call_id": cs.tool_ids, "name": cs.tool_names, "timed_out": st.booleans(), "pos": positions})),
    st.tuples(st.just("tool_failed"), st.fixed_dictionaries(
        {"t_ns": times, "name": cs.tool_names, "error": cs.odd_text, "pos": positions, "final": st.booleans()})),
    st.tuples(st.just("add_metrics"), st.fixed_dictionaries(
        {"t_ns": times, "records": st.lists(cs.metric_items(), max_size=4).map(_records), "pos": positions})),
    st.tuples(st.just("error"), st.fixed_dictionaries(
        {"t_ns": times, "message": cs.odd_text, "processor": cs.processor_names, "fatal": st.booleans(),
         "category": st.one_of(st.none(), cs.odd_text), "pos": positions})),
    st.tuples(st.just("start"), st.fixed_dictionaries({"t_ns": times, "wall_origin": st.just(WALL)})),
    st.tuples(st.just("end"), st.fixed_dictionaries({"t_ns": times, "reason": cs.odd_text.map(clean_text)})),
    st.tuples(st.just("close_all"), st.just({})),
)


@cs.property_settings(300)
@given(ops=st.lists(call_ops, max_size=50), delivered=st.booleans(),
       recording=st.one_of(st.none(), st.just(("ok", {"samples": 1}))))
def test_call_events_in_any_order_build_valid_payloads(ops, delivered, recording):
    call = PlacedCall("prop-call")  # edges placed as they come (the session resolves them later)
    for name, kwargs in ops:
        result = getattr(call, name)(**kwargs)
        if call.wall_origin is None:
            continue
        # What the observer hands its event handlers after each event.
        for turn in call.take_closed():
            assert_wire_safe(call.turn_report(turn))
        if name.startswith("tool_") and result is not None:
            report = call.tool_report(result)
            if report is not None:
                assert_wire_safe(report.to_wire())
    call.start(0, WALL)  # the observer always starts the call before building anything
    check_started(call.build_started(SETTINGS, call.started_t))
    call.end(call.started_t + 1, "ended")
    call.close_all()
    for turn in call.take_closed():
        assert_wire_safe(call.turn_report(turn))
    payload = call.build_ended(SETTINGS, now_wall=WALL + 7200, recording_delivered=delivered, recording=recording)
    check_ended(payload)
    if not (delivered and call.sample_rate):
        assert "recordingSampleRate" not in payload
        assert all("audioOffsetMs" not in t for t in payload.get("transcript", []))


# -- the recorder's Capture alone ---------------------------------------------------------


class RecordingSink:
    """What the capture reports (the CaptureSink protocol), checked as it comes."""

    def __init__(self) -> None:
        self.started = 0
        self.chunks: list[int] = []
        self.events: list[tuple] = []

    def start(self, t_ns: int, wall_origin: float, sample_rate: Optional[int] = None) -> None:
        self.started += 1
        assert sample_rate is None or sample_rate > 0
        assert math.isfinite(wall_origin)

    def attach_recording(self, timeline: Any, position_at: Any, health: Any) -> None:
        pass

    def chunk(self, index: int, data: bytes, sample_rate: Optional[int] = None, num_channels: Optional[int] = None) -> None:
        assert len(data) % 4 == 0 and len(data) > 0
        self.chunks.append(index)

    def audio_advanced(self) -> None:
        pass

    def _event(self, kind: str, t_ns: Any, *positions: Any) -> None:
        assert isinstance(t_ns, int), (kind, t_ns)
        for pos in positions:
            assert pos is None or isinstance(pos, int), (kind, pos)
        self.events.append((kind, t_ns) + positions)

    def recording_started(self, t_ns: int) -> None:
        self._event("recording_started", t_ns)

    def user_started(self, t_ns: int, head: Any = None, est: Any = None, prefer: str = "forward") -> None:
        assert head is None or head >= 0
        self._event("user_started", t_ns, head, est)

    def user_stopped(self, t_ns: int, head: Any = None, est: Any = None) -> None:
        assert head is None or head >= 0
        self._event("user_stopped", t_ns, head, est)

    def bot_started(self, t_ns: int, head: Any = None) -> None:
        assert head is None or head >= 0
        self._event("bot_started", t_ns, head)

    def bot_stopped(self, t_ns: int, head: Any = None) -> None:
        assert head is None or head >= 0
        self._event("bot_stopped", t_ns, head)

    def bot_text(self, t_ns: int, text: Any, spaced: bool = False, frame_id: Any = None, head: Any = None) -> None:
        self._event("bot_text", t_ns)

    def interruption(self, t_ns: int, head: Any = None) -> None:
        assert head is None or head >= 0
        self._event("interruption", t_ns, head)

    def bot_response_started(self, t_ns: int, head: Any = None) -> None:
        self._event("bot_response_started", t_ns)

    def end(self, t_ns: Any, reason: str, hurry: bool = False) -> bool:
        assert t_ns is None or isinstance(t_ns, int)
        self.events.append(("end", t_ns))
        return True


@cs.property_settings(200)
@given(pushes=cs.pushes(max_size=60), store=st.booleans(), rate=st.one_of(st.none(), st.sampled_from([8000, 16000, 24000])),
       mirror=st.booleans(), stop_at=st.one_of(st.none(), st.integers(0, 60)))
def test_capture_never_raises_and_reports_sane_events(pushes, store, rate, mirror, stop_at):
    async def run() -> None:
        sink = RecordingSink()
        opts = {"mirror": True, "gap_fill": True, "mirror_flush_samples": 1600} if mirror else None
        cap = Capture(sink, store_audio=store and not mirror, track_positions=True, chunk_bytes=2048, sample_rate=rate,
                      mirror=opts)
        clock = Clock()
        abp_rates: dict = {}
        cap.start(StartFrame(), clock)
        for i, p in enumerate(pushes):
            if i == stop_at:
                cap.stop_audio()  # AudioBufferProcessor.stop_recording(): the call goes on
            clock.t += p.dt_ns
            frame = p.frame
            if isinstance(frame, (InputAudioRawFrame, OutputAudioRawFrame)):
                track = USER if isinstance(frame, InputAudioRawFrame) else BOT
                if not (mirror and abp_would_refuse(frame, track, abp_rates)):
                    await cap.audio(frame, track)
            elif isinstance(frame, EVENT_FRAMES):
                cap.event(frame)
            cap.position_at(max(0, clock.t - p.lag_ns))
            assert cap.position_at(clock.t) is None or cap.position_at(clock.t) >= 0
        cap.health()
        cap.end("done")
        cap.end("twice")  # idempotent
        assert sink.started == 1
        assert sink.chunks == list(range(len(sink.chunks)))
        assert [e[0] for e in sink.events].count("end") == 1
        assert_wire_safe(cap.health())

    asyncio.run(run())


# -- the helpers every odd value goes through -----------------------------------------------


@cs.property_settings(500)
@given(value=st.one_of(cs.tool_values, cs.odd_text))
def test_text_helpers_are_total_and_wire_safe(value):
    args = tool_arguments(value)
    assert isinstance(args, str)
    args.encode("utf-8")
    strict_json_loads(args)  # the contract's arguments: always a JSON string
    content = tool_result_content(value)
    assert isinstance(content, str)
    content.encode("utf-8")
    text = clean_text(value)
    text.encode("utf-8")
    assert len(text) <= MAX_TEXT_CHARS + 20
    assert len(content) <= MAX_TEXT_CHARS + 20
    assert len(args) <= 6 * (MAX_TEXT_CHARS + 20) + 2  # bounded; JSON escaping can grow cut text (\u0000: 6 chars)


@cs.property_settings(200)
@given(items=st.lists(cs.metric_items(), max_size=6), kind=st.sampled_from([None, "stt", "llm", "tts", "other"]))
def test_metric_records_validate_whatever_the_data(items, kind):
    for rec in to_records(items, kind):
        wire = MetricRecord.model_validate({**rec, "timestamp": "2027-01-15T08:00:00.000Z"}).to_wire()
        assert_wire_safe(wire)
        assert_wire_safe(rec)
