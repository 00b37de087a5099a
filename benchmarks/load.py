#!/usr/bin/env python
"""Many concurrent real-time calls in one process: does everything reach Roark?

Runs ``--calls`` (default 100) Pipecat pipelines at once in this process, each
with ``RoarkObserver`` and ``roark.audio_processor``, with real-time audio in
both directions for ``--seconds`` (default 60), against the local dev server
(``pipecat_roark.devserver.DevServer``) in a process of its own (its CPU is
not counted) behind a loopback proxy that adds ``--latency-ms`` of round trip
(default 80) and can answer a fraction ``--fault-rate`` of all requests with
503. Calls start spread over ``--stagger-secs`` (default 5), like real traffic.

It prints:

- calls complete / total; events delivered / expected (``call-started`` and
  ``call-ended`` of every call, counted in the server's store); audio bytes
  and chunks delivered / expected (expected: what the recorders produced, as
  handed to the observer; delivered: what the server stored), with every
  chunk compared by SHA-256, so each call is checked byte for byte;
- process CPU seconds and cores used (CPU / wall), CPU per call, peak RSS
  and RSS per call;
- whether the event loop kept up: how late a 20 ms ticker in the same loop
  wakes up (p50, p99, max), and how much of each call's caller audio got
  through the pipeline before the call ended; the run is marked SATURATED
  when the ticker's p99 passes 40 ms or a call ended with audio still queued;
- finalization: from the end of each call (the EndFrame reaching the
  recorder, right after the output transport) to its ``call-ended`` accepted
  by the server, p50 / p95 / max;
- the server's request counts, retries and injected faults, and its contract
  checks.

Exit code 0 when everything expected was delivered (both events of every
call, every chunk byte-identical), every call ran to its end and, unless the
run was SATURATED, every transcript holds the scripted turns; 1 otherwise.

The pipeline. The offline harness of ``pipecat_roark.testing`` (Silero VAD,
scripted STT/LLM/TTS, LLM context aggregators) costs ~4.5 CPU s per
call-minute on the 2-core VM this was written on (``--pipeline harness
--calls 10 --seconds 30``, Pipecat 1.14, with Roark): 100 calls would need
~7.5 cores. So by default each call is

    caller transport -> scripted bot -> output transport -> roark.audio_processor

- the caller transport (``CallerInputTransport``) streams the harness's
  recorded caller clips at 16 kHz in 20 ms frames, in real time;
- the scripted bot stands in for VAD + STT + LLM + TTS without doing their
  work: from the caller audio's position it pushes the frames those services
  push, when they would (``VADUserStarted/StoppedSpeakingFrame`` 0.2 s after
  the speech edges, ``UserStarted/StoppedSpeakingFrame``, a final
  ``TranscriptionFrame``, a tool call and its result every fourth turn, then
  the reply as ``TTSStartedFrame``, 24 kHz ``TTSAudioRawFrame``\\ s of the
  bot's recorded clips, one ``TTSTextFrame`` per sentence, ``TTSStoppedFrame``);
- the output transport (``DeviceOutputTransport``) plays the bot's audio on a
  simulated device clock, so the recorder gets it at playback pace, and
  Pipecat's own ``BotStarted/StoppedSpeakingFrame``\\ s come from it;
- the worker runs without RTVI, turn tracking and idle detection, Pipecat
  conveniences that handle every frame and that nothing here uses
  (``--pipecat-defaults`` keeps them: roughly 1.5x the CPU without Roark).

The bot greets, then every 6.5 s the caller says something and the bot
answers about a second after the caller stops. The call ends the way a bot
hangs up: ``EndWorkerFrame`` upstream at ``--seconds``; the transport plays its
2 s closing silence, then the ``EndFrame`` reaches the recorder. All of the
integration's work is real: the recorder's resampling, levels and turn edges,
the observer's bookkeeping, ~256 KiB chunk uploads while the call runs, the
disk spool's bookkeeping (in the work directory) and finalization against a
server with a real round trip. What is missing is the services' own CPU.
At 50 calls x 60 s this costs 0.64 CPU s per call-minute without Roark and
1.09 with it (1.1% and 1.8% of a core per call). An event loop has one core,
so on that VM about 50 calls keep up in one process and 100 saturate it
(Pipecat alone is at the edge at 100). The run then shows what the
integration does when the process cannot keep up (benchmarks/README.md).
``--pipeline harness`` runs the full harness instead (needs the ``silero``
extra; pass far fewer ``--calls``).

    python benchmarks/load.py                      # 100 calls x 60 s (~80 s)
    python benchmarks/load.py --quick              # 100 calls x 20 s
    python benchmarks/load.py --fault-rate 0.05    # 5% of requests answered 503
    python benchmarks/load.py --calls 50 --seconds 30 --latency-ms 200
    python benchmarks/load.py --calls 50 --without-roark   # the same calls, no integration

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import hashlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from _common import pct, pipecat_version, rss_kb, start_server, stop_server  # noqa: E402

CALLER_RATE = 16000
BOT_RATE = 24000
TICK_SECS = 0.020
#: The run is flagged SATURATED when the ticker's p99 lateness passes this
#: (two audio frames), or when a call ended with caller audio still queued.
SATURATED_LAG_P99_MS = 40.0

# When the scripted bot pushes what, relative to the caller's speech (seconds).
VAD_START_SECS = 0.2  # Silero's default start_secs: VAD "started" lags the speech by this
VAD_STOP_SECS = 0.2  # and "stopped" lags its end by this
TRANSCRIPT_SECS = 0.35  # the STT's final, after the speech ends
USER_STOP_SECS = 0.5  # the user turn ends (turn-stop strategy)
REPLY_SECS = 0.95  # the reply's first audio (LLM + TTS time to first byte)
TOOL_SECS = (0.8, 1.1, 1.4)  # tool call, its result, then the reply
TTS_CHUNK_SECS = 0.2  # TTS audio frame length
SENTENCE_PAUSE_SECS = 0.15
TURN_SLOT_SECS = 6.5
FIRST_TURN_SECS = 2.6
GREETING_AT_SECS = 0.3

#: (caller clip, bot sentences, tool call?), cycled.
CYCLE: list[tuple[str, list[str], bool]] = [
    ("order_status", ["ask_number"], False),
    ("order_number", ["shipped", "arrives"], True),
    ("change_address", ["of_course", "update_address"], False),
    ("thanks", ["goodbye"], False),
]


# =========================================================================== #
# The light call
# =========================================================================== #


@dataclass
class Plan:
    """One call's script, shared by every call: the caller's audio and what the bot pushes when."""

    timeline: Any  # CallerTimeline: the caller's audio (shared, read-only)
    #: (caller sample position, action name, argument), sorted by position
    steps: list[tuple[int, str, Any]]
    turns: int  # caller turns (each answered; the greeting comes on top)
    tools: int  # tool calls
    sentences: dict[str, tuple[str, list[bytes]]]  # bot clip -> (text, bot_rate audio in TTS-sized chunks)
    bot_rate: int = BOT_RATE  # the TTS's output rate (overhead.py also runs 16 kHz calls)


def make_plan(seconds: float, bot_rate: int = BOT_RATE) -> Plan:
    from pipecat_roark.testing._clipdata import BOT_CLIPS
    from pipecat_roark.testing.audio import CallerTimeline, load_clip, resample

    sentences: dict[str, tuple[str, list[bytes]]] = {}
    chunk = int(TTS_CHUNK_SECS * bot_rate) * 2
    for name in {s for _, says, _ in CYCLE for s in says} | {"greeting"}:
        clip = load_clip(f"bot_{name}")
        pcm = resample(clip.samples[clip.speech_start:clip.speech_end], clip.sample_rate, bot_rate).astype("<i2").tobytes()
        pcm += bytes(int(SENTENCE_PAUSE_SECS * bot_rate) * 2)
        sentences[name] = (BOT_CLIPS[name], [pcm[i:i + chunk] for i in range(0, len(pcm), chunk)])

    def secs(name: str) -> float:
        return sum(len(c) for c in sentences[name][1]) / 2 / bot_rate

    def at(t: float) -> int:
        return int(t * CALLER_RATE)

    steps: list[tuple[int, str, Any]] = [(at(GREETING_AT_SECS), "say", ["greeting"])]
    placements = []
    t = FIRST_TURN_SECS
    i = 0
    while True:
        clip_name, says, tool = CYCLE[i % len(CYCLE)]
        clip = load_clip(f"caller_{clip_name}")
        start = t + clip.speech_start / clip.sample_rate
        end = t + clip.speech_end / clip.sample_rate
        reply_at = end + (TOOL_SECS[2] if tool else REPLY_SECS)
        # The whole answer has played a second before the call ends.
        if reply_at + sum(secs(s) for s in says) + 1.0 > seconds:
            break
        placements.append((t * 1000, f"caller_{clip_name}"))
        steps += [
            (at(start + VAD_START_SECS), "user_started", None),
            (at(end + VAD_STOP_SECS), "vad_stopped", None),
            (at(end + TRANSCRIPT_SECS), "transcript", clip.text),
            (at(end + USER_STOP_SECS), "user_stopped", None),
        ]
        if tool:
            steps += [(at(end + TOOL_SECS[0]), "tool_call", i), (at(end + TOOL_SECS[1]), "tool_result", i)]
        steps.append((at(reply_at), "say", says))
        t += TURN_SLOT_SECS
        i += 1
    steps.sort(key=lambda s: s[0])
    timeline = CallerTimeline(placements, duration_ms=seconds * 1000, sample_rate=CALLER_RATE)
    tools = sum(1 for _, action, _ in steps if action == "tool_call")
    return Plan(timeline, steps, i, tools, sentences, bot_rate)


@functools.lru_cache(maxsize=None)
def _bot_class():
    """The scripted bot processor (defined late: Pipecat is imported only when needed)."""
    from pipecat.frames.frames import (
        FunctionCallInProgressFrame,
        FunctionCallResultFrame,
        InputAudioRawFrame,
        TranscriptionFrame,
        TTSAudioRawFrame,
        TTSStartedFrame,
        TTSStoppedFrame,
        TTSTextFrame,
        UserStartedSpeakingFrame,
        UserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.processors.frame_processor import FrameProcessor

    # Pipecat 1.13 renamed AggregatedTextFrame.aggregated_by to text_type.
    text_kind = "text_type" if "text_type" in TTSTextFrame.__dataclass_fields__ else "aggregated_by"

    class ScriptedBot(FrameProcessor):
        """Pushes what VAD, STT, LLM and TTS would, when the caller's audio reaches each step."""

        def __init__(self, plan: Plan, user_id: str, **kwargs):
            super().__init__(**kwargs)
            # (Names of our own: FrameProcessor already has a _next.)
            self._script = plan
            self._user_id = user_id
            self._step = 0
            self._caller_pos = 0
            self._replies = 0

        @property
        def caller_samples(self) -> int:
            """Caller audio that reached this processor (the input transport passed it on)."""
            return self._caller_pos

        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                self._caller_pos += len(frame.audio) // 2
                steps = self._script.steps
                while self._step < len(steps) and steps[self._step][0] <= self._caller_pos:
                    _, action, arg = steps[self._step]
                    self._step += 1
                    await self._do(action, arg)

        async def _do(self, action: str, arg: Any) -> None:
            push = self.push_frame
            if action == "user_started":
                await push(VADUserStartedSpeakingFrame(start_secs=VAD_START_SECS))
                await push(UserStartedSpeakingFrame())
            elif action == "vad_stopped":
                await push(VADUserStoppedSpeakingFrame(stop_secs=VAD_STOP_SECS))
            elif action == "transcript":
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
                await push(TranscriptionFrame(text=arg, user_id=self._user_id, timestamp=stamp))
            elif action == "user_stopped":
                await push(UserStoppedSpeakingFrame())
            elif action == "tool_call":
                await push(FunctionCallInProgressFrame(
                    function_name="lookup_order", tool_call_id=f"tool-{arg}", arguments={"order_id": "427"}))
            elif action == "tool_result":
                await push(FunctionCallResultFrame(
                    function_name="lookup_order", tool_call_id=f"tool-{arg}", arguments={"order_id": "427"},
                    result={"order": "427", "status": "shipped", "eta": "Friday"}))
            elif action == "say":
                self._replies += 1
                ctx = f"reply-{self._replies}"
                await push(TTSStartedFrame(context_id=ctx))
                for name in arg:
                    text, chunks = self._script.sentences[name]
                    for pcm in chunks:
                        await push(TTSAudioRawFrame(audio=pcm, sample_rate=self._script.bot_rate, num_channels=1, context_id=ctx))
                    # No pts: the transport releases it once the sentence's audio has played.
                    await push(TTSTextFrame(text=text, context_id=ctx, **{text_kind: "sentence"}))
                await push(TTSStoppedFrame(context_id=ctx))

    return ScriptedBot


# =========================================================================== #
# Running the calls
# =========================================================================== #


@dataclass
class CallOutcome:
    key: str
    started: float = 0.0
    end_out: Optional[float] = None  # perf_counter: the EndFrame reached the recorder (left the output transport)
    ended_ok: Optional[float] = None  # perf_counter: call-ended accepted
    returned: Optional[float] = None  # perf_counter: the runner returned
    ok: bool = False  # ran to its end (not timed out, no exception)
    error: Optional[str] = None
    caller_secs: float = 0.0  # caller audio the input transport was handed (real time)
    caller_through_secs: Optional[float] = None  # ... of which got past the input transport before the end
    max_input_late_ms: float = 0.0
    chunks: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (bytes, sha256) as produced
    stats: Any = None  # the observer's DeliveryStats


class Probe:
    """Taps the call's session, which the recorder calls inline (never per frame).

    - ``chunk``: SHA-256 of every chunk the recorder produces, for the
      byte-for-byte comparison with what the server stored. The CPU time this
      takes is measured and subtracted from the figures.
    - ``end``: the moment the EndFrame reaches the recorder, right after the
      output transport: the start of finalization.
    """

    def __init__(self) -> None:
        self.hash_cpu = 0.0

    def attach(self, observer: Any, outcome: CallOutcome) -> None:
        session = observer.session
        chunk, end = session.chunk, session.end

        @functools.wraps(chunk)
        def capture_chunk(index, data, *args, **kwargs):
            t0 = time.thread_time()
            outcome.chunks[index] = (len(data), hashlib.sha256(data).hexdigest())
            self.hash_cpu += time.thread_time() - t0
            return chunk(index, data, *args, **kwargs)

        @functools.wraps(end)
        def capture_end(*args, **kwargs):
            if outcome.end_out is None:
                outcome.end_out = time.perf_counter()
            return end(*args, **kwargs)

        # Instance attributes: the recorder calls its sink's methods by name.
        session.chunk = capture_chunk
        session.end = capture_end


def _run_worker(worker: Any) -> Any:
    from pipecat_roark._compat import WorkerRunner

    runner = WorkerRunner(handle_sigint=False)

    async def run() -> None:
        if hasattr(runner, "add_workers"):  # pipecat >= 1.3
            await runner.add_workers(worker)
            await runner.run()
        else:
            await runner.run(worker)

    return run()


#: Pipecat conveniences that observe or handle every frame and that nothing
#: here uses: RTVI (client UI messages), turn tracking (and its latency
#: observer), idle detection. Off unless --pipecat-defaults.
LEAN_WORKER = {"enable_rtvi": False, "enable_turn_tracking": False, "idle_timeout_secs": None}


async def light_call(args: argparse.Namespace, plan: Plan, outcome: CallOutcome, observer: Any) -> None:
    from pipecat.pipeline.pipeline import Pipeline

    from pipecat_roark._compat import PipelineParams, PipelineWorker
    from pipecat_roark.testing.transports import OfflineCallTransport, transport_params

    params = transport_params(sample_rate=CALLER_RATE, audio_out_sample_rate=BOT_RATE)
    transport = OfflineCallTransport(plan.timeline, params=params, user_id="caller")
    bot = _bot_class()(plan, "caller")
    processors = [transport.input(), bot, transport.output()]
    if observer is not None:
        processors.append(observer.audio_processor)
    worker = PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(audio_in_sample_rate=CALLER_RATE, audio_out_sample_rate=BOT_RATE,
                              enable_metrics=True, enable_usage_metrics=True),
        observers=[observer] if observer is not None else [],
        **({} if args.pipecat_defaults else LEAN_WORKER),
    )
    out, inp = transport.output(), transport.input()

    async def hang_up() -> None:
        await inp.stream_started.wait()
        assert inp.stream_t0_monotonic is not None
        delay = inp.stream_t0_monotonic + args.seconds - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await out.end_call()  # EndWorkerFrame upstream, as a bot's "hang up" does

    driver = asyncio.create_task(hang_up())
    try:
        await asyncio.wait_for(_run_worker(worker), timeout=args.seconds + 60)
        outcome.ok = True
    except asyncio.TimeoutError:
        outcome.error = "did not end within --seconds + 60 s"
        await worker.cancel()
    finally:
        driver.cancel()
        outcome.caller_secs = inp.samples_sent / CALLER_RATE
        outcome.caller_through_secs = bot.caller_samples / CALLER_RATE
        outcome.max_input_late_ms = inp.max_lateness_secs * 1000


# The full harness's call script (--pipeline harness): a caller turn every ~6.5 s.
#: (caller clip, bot reply, tool call?, slot secs). The slot leaves time for
#: the caller's clip, the turn-stop timeout, the stand-in latencies and the
#: bot's answer, so the caller never barges in.
def _cycle():
    from pipecat_roark.testing.scenario import ORDER_TOOL

    return [
        ("order_status", "Sure, what's the order number?", None, 6.0),
        ("order_number", None, ORDER_TOOL, 8.0),
        ("change_address", "Of course. I can update the delivery address.", None, 6.5),
        ("thanks", "You're welcome, goodbye!", None, 5.5),
    ]


def long_script(minutes: float):
    """A call of ``minutes`` of caller audio: a caller turn every ~6.5 s, each answered."""
    from pipecat_roark.testing.audio import load_clip
    from pipecat_roark.testing.scenario import CallerTurn, CallScript

    total_ms = minutes * 60_000.0
    turns = []
    t_ms = 2600.0  # after the greeting
    cycle = _cycle()
    i = 0
    while True:
        clip, reply, tool, slot = cycle[i % len(cycle)]
        if t_ms + load_clip(f"caller_{clip}").duration_secs * 1000 + 5000 > total_ms:
            break
        turns.append(CallerTurn(clip, t_ms, reply=reply, tool_call=tool))
        t_ms += slot * 1000
        i += 1
    return CallScript(greeting="Acme support, how can I help?", turns=turns, duration_ms=total_ms)


async def harness_call(args: argparse.Namespace, plan: Any, outcome: CallOutcome, observer: Any) -> None:
    from pipecat_roark.testing.scenario import build_call, run_call

    call = build_call(
        long_script(args.seconds / 60),
        audio_processor=observer.audio_processor if observer is not None else None,
        observers=[observer] if observer is not None else [],
        event_log=False,
    )
    result = await run_call(call)
    outcome.ok = result.ended_by == "end" and result.script_completed
    if not outcome.ok:
        outcome.error = f"ended by {result.ended_by}, script completed: {result.script_completed}"
    inp = call.transport.input()
    outcome.caller_secs = inp.samples_sent / call.timeline.sample_rate
    outcome.max_input_late_ms = inp.max_lateness_secs * 1000


async def run_load(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    from pipecat_roark import RoarkObserver
    from pipecat_roark.client import RoarkClient

    n = args.calls
    outcomes = [CallOutcome(f"{args.run_id}-{i:03d}") for i in range(n)]
    by_key = {o.key: o for o in outcomes}
    probe = Probe()

    original_post = RoarkClient.post_event

    @functools.wraps(original_post)
    async def post_event(self, payload, *a, **kw):
        result = await original_post(self, payload, *a, **kw)
        if payload.get("event") == "call-ended":  # returned: accepted (a failure raises)
            o = by_key.get(payload.get("pipecatCallId"))
            if o is not None and o.ended_ok is None:
                o.ended_ok = time.perf_counter()
        return result

    RoarkClient.post_event = post_event  # type: ignore[method-assign]

    plan = make_plan(args.seconds) if args.pipeline == "light" else None
    call_fn: Callable = light_call if args.pipeline == "light" else harness_call
    if args.pipeline == "light":
        _bot_class()  # import its frames now, not in the first call

    lags: list[float] = []
    stop_ticker = asyncio.Event()

    async def ticker() -> None:
        while not stop_ticker.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(TICK_SECS)
            lags.append(max(0.0, time.perf_counter() - t0 - TICK_SECS))

    async def one(i: int, o: CallOutcome) -> None:
        await asyncio.sleep(args.stagger_secs * i / max(1, n))
        o.started = time.perf_counter()
        observer = None
        if not args.without_roark:
            observer = RoarkObserver(agent_id="load-bench", agent_name="Load benchmark", base_url=base_url,
                                     pipecat_call_id=o.key, is_test=True)
            probe.attach(observer, o)
        try:
            await call_fn(args, plan, o, observer)
        except Exception as e:  # reported, and the exit code says so
            o.error = f"{type(e).__name__}: {e}"
        o.returned = time.perf_counter()
        if observer is not None:
            o.stats = observer.delivery_stats

    gc.collect()
    load_before = os.getloadavg()[0]
    rss_before = rss_kb()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    tick = asyncio.create_task(ticker())
    await asyncio.gather(*(one(i, o) for i, o in enumerate(outcomes)))
    stop_ticker.set()
    await tick
    cpu1, wall1 = time.process_time(), time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    RoarkClient.post_event = original_post  # type: ignore[method-assign]
    return {
        "outcomes": outcomes,
        "cpu_secs": cpu1 - cpu0 - probe.hash_cpu,
        "hash_cpu_secs": probe.hash_cpu,
        "utime": ru1.ru_utime - ru0.ru_utime,
        "stime": ru1.ru_stime - ru0.ru_stime,
        "wall_secs": wall1 - wall0,
        "rss_before_kb": rss_before,
        "loadavg": (load_before, os.getloadavg()[0]),
        "maxrss_kb": ru1.ru_maxrss,
        "lags_ms": sorted(x * 1000 for x in lags),
        "turns": 2 * plan.turns + 1 if plan is not None else None,  # user + assistant turns
        "tools": plan.tools if plan is not None else None,
    }


class LoggedErrors:
    """A loguru sink counting the integration's ERROR (and worse) records."""

    def __init__(self) -> None:
        self.count = 0
        self.first: dict[str, int] = {}  # first line of each distinct message -> times

    def __call__(self, message: Any) -> None:
        record = message.record
        if not str(record["name"] or "").startswith("pipecat_roark") or str(record["name"]).startswith("pipecat_roark.testing"):
            return
        self.count += 1
        text = str(record["message"]).splitlines()[0][:160]
        # Per-call prefixes aside, the same problem is one line.
        key = text.split(": ", 1)[1] if text.startswith(("[", "RoarkAudioRecorder#")) and ": " in text else text
        self.first[key] = self.first.get(key, 0) + 1


# =========================================================================== #
# What reached the server
# =========================================================================== #


@dataclass
class Verdict:
    calls: int = 0
    calls_complete: int = 0
    started: int = 0
    ended: int = 0
    duplicate_events: int = 0
    bytes_expected: int = 0
    bytes_delivered: int = 0
    chunks_expected: int = 0
    chunks_delivered: int = 0
    calls_identical: int = 0
    chunks_mismatched: int = 0
    extra_chunks: int = 0
    as_scripted: int = 0  # calls whose transcript has the scripted turns and tool calls, no errors
    turns: int = 0
    tools: int = 0
    errors: int = 0
    problems: int = 0
    problem_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    transcript_notes: list[str] = field(default_factory=list)


def check_server(data_dir: Path, outcomes: list[CallOutcome], turns: Optional[int], tools: Optional[int]) -> Verdict:
    """Compare what each call produced with what the server stored (read from its store).

    ``turns`` / ``tools``: what each call's transcript must hold (None: not checked).
    """
    from pipecat_roark.devserver import view
    from pipecat_roark.devserver.store import Store

    store = Store(data_dir)
    v = Verdict(calls=len(outcomes))
    try:
        for o in outcomes:
            rec = store.get_call(o.key)
            v.chunks_expected += len(o.chunks)
            v.bytes_expected += sum(size for size, _ in o.chunks.values())
            if rec is None:
                v.notes.append(f"{o.key}: nothing reached the server")
                continue
            accepted: dict[str, int] = defaultdict(int)
            for row in rec.event_rows:
                if 200 <= row.status < 300 and isinstance(row.payload, dict):
                    accepted[str(row.payload.get("event"))] += 1
            v.started += min(1, accepted["call-started"])
            v.ended += min(1, accepted["call-ended"])
            v.duplicate_events += max(0, accepted["call-started"] - 1) + max(0, accepted["call-ended"] - 1)
            stored = {}
            for u in rec.uploads:  # arrival order: the last upload of an index counts
                stored[u.index] = (u.size, u.digest)
            identical = True
            for index, (size, digest) in o.chunks.items():
                got = stored.get(index)
                if got is None:
                    identical = False
                    continue
                v.chunks_delivered += 1
                v.bytes_delivered += got[0]
                if got != (size, digest):
                    identical = False
                    v.chunks_mismatched += 1
            v.extra_chunks += len(set(stored) - set(o.chunks))
            v.calls_identical += identical
            row = view.summary(rec)
            v.turns += row["turns"]
            v.tools += row["toolCalls"]
            v.errors += row["errorCount"] or 0
            scripted = (turns is None or row["turns"] == turns) and (tools is None or row["toolCalls"] == tools) \
                and not row["errorCount"]
            v.as_scripted += scripted and rec.ended is not None
            if rec.ended is not None and not scripted:
                v.transcript_notes.append(f"{o.key}: transcript has {row['turns']} turns (expected {turns}), {row['toolCalls']} "
                               f"tool calls (expected {tools}), {row['errorCount']} errors")
            complete = identical and accepted["call-started"] > 0 and accepted["call-ended"] > 0 and o.ok
            v.calls_complete += complete
            if rec.problems:
                v.problems += len(rec.problems)
                v.problem_examples.extend(f"{o.key}: {p}" for p in rec.problems[:2])
            if not complete:
                what = []
                if not o.ok:
                    what.append(o.error or "did not run to its end")
                if not accepted["call-started"]:
                    what.append("no call-started")
                if not accepted["call-ended"]:
                    what.append("no call-ended")
                missing = sorted(set(o.chunks) - set(stored))
                if missing:
                    what.append(f"chunks missing {missing}")
                if not identical and not missing:
                    what.append("chunks differ from what was produced")
                st = o.stats
                if st is not None and st.loss_reasons:
                    what.append("observer: " + "; ".join(st.loss_reasons))
                v.notes.append(f"{o.key}: " + ", ".join(what))
    finally:
        store.close()
    return v


# =========================================================================== #
# Report
# =========================================================================== #


def _ratio(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.2f}%)" if b else f"{a}/{b}"


def _spread(values: list[float], unit: str = "ms", digits: int = 0) -> str:
    v = sorted(values)
    return f"p50 {pct(v, 0.5):.{digits}f} {unit}, p95 {pct(v, 0.95):.{digits}f} {unit}, max {v[-1]:.{digits}f} {unit}"


def report(args: argparse.Namespace, res: dict[str, Any], v: Optional[Verdict], server: dict[str, Any]) -> tuple[str, bool]:
    """The printed report, and whether the run passed."""
    outcomes: list[CallOutcome] = res["outcomes"]
    n = len(outcomes)
    lines: list[str] = []
    add = lines.append
    what = "without Roark (no observer, no recorder)" if args.without_roark else "RoarkObserver + roark.audio_processor"
    if args.pipeline == "harness":
        pipeline = "offline harness (Silero VAD, scripted STT/LLM/TTS)"
    else:
        pipeline = "light pipeline" + (" (Pipecat's worker defaults)" if args.pipecat_defaults else
                                       " (worker without RTVI, turn tracking, idle detection)")
    add(f"{n} concurrent calls x {args.seconds:g} s in one process, {pipeline}, {what}")
    add(f"Pipecat {pipecat_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"starts spread over {args.stagger_secs:g} s; dev server in its own process, {args.latency_ms:g} ms RTT, "
        f"{100 * args.fault_rate:g}% of requests answered 503; machine load average {res['loadavg'][0]:.2f} before, "
        f"{res['loadavg'][1]:.2f} after")
    add("")

    # Did the loop keep up?
    lags = res["lags_ms"]
    late = max(o.max_input_late_ms for o in outcomes)
    through = [o.caller_through_secs for o in outcomes if o.caller_through_secs is not None]
    behind = [o for o in outcomes if o.caller_through_secs is not None and o.caller_through_secs < o.caller_secs - 0.5]
    why = []
    if lags and pct(lags, 0.99) > SATURATED_LAG_P99_MS:
        why.append(f"ticker lag p99 > {SATURATED_LAG_P99_MS:g} ms")
    if behind:
        why.append(f"{len(behind)} calls ended with caller audio still queued in Pipecat")
    saturated = bool(why)

    rows: list[tuple[str, str]] = []
    ran = sum(1 for o in outcomes if o.ok)
    ok = ran == n
    if v is not None:
        delivered = (v.calls_complete == n and v.started == n and v.ended == n and v.chunks_mismatched == 0
                     and v.bytes_delivered == v.bytes_expected and v.chunks_delivered == v.chunks_expected)
        scripted_ok = res["turns"] is None or v.as_scripted == n or saturated
        errors = res.get("errors_logged")
        ok = ok and delivered and scripted_ok and not (errors and errors.count)
        rows.append(("calls complete", f"{_ratio(v.calls_complete, n)}  (ran to the end, both events, every chunk "
                                       f"byte-identical)"))
        rows.append(("events delivered", f"{_ratio(v.started + v.ended, 2 * n)}  (call-started {v.started}/{n}, "
                                         f"call-ended {v.ended}/{n}; {v.duplicate_events} duplicates)"))
        rows.append(("audio delivered", f"{_ratio(v.bytes_delivered, v.bytes_expected)} bytes, "
                                        f"{v.chunks_delivered}/{v.chunks_expected} chunks, {v.calls_identical}/{n} calls "
                                        f"byte-identical ({v.chunks_mismatched} chunks differ, {v.extra_chunks} unexpected)"))
        stats = [o.stats for o in outcomes if o.stats is not None]
        spooled = sum(getattr(s, "chunks_spooled", 0) for s in stats)
        rows.append(("observer's own count", f"call-started {sum(s.started_delivered for s in stats)}, call-ended "
                                             f"{sum(s.ended_delivered for s in stats)}, chunks "
                                             f"{sum(s.chunks_delivered for s in stats)}/{sum(s.chunks_produced for s in stats)} "
                                             f"delivered, {sum(s.chunks_lost for s in stats)} lost, {spooled} spooled to disk"))
        if res.get("spool_left") is not None:
            left = res["spool_left"]
            rows.append(("disk spool", f"{len(left)} calls left for replay" + (f" ({', '.join(left[:3])}...)" if left else "")))
        if res["turns"] is not None:
            note = "" if v.as_scripted == n else ("  (not comparable: SATURATED)" if saturated else "  MISMATCH")
            rows.append(("transcripts as scripted", f"{v.as_scripted}/{n} calls ({v.turns}/{n * res['turns']} turns, "
                                                    f"{v.tools}/{n * res['tools']} tool calls, {v.errors} errors){note}"))
        else:
            rows.append(("transcripts", f"{v.turns} turns, {v.tools} tool calls, {v.errors} errors"))
        errors = res.get("errors_logged")
        if errors is not None:
            rows.append(("integration errors", f"{errors.count} ERROR log records from pipecat_roark"
                                               + (" (below)" if errors.count else "")))
        if v.problems:
            rows.append(("dev server checks", f"{v.problems} contract problems (examples below)"))
        else:
            rows.append(("dev server checks", "no contract problems"))
    else:
        rows.append(("calls run to the end", _ratio(ran, n)))

    cpu, wall = res["cpu_secs"], res["wall_secs"]
    call_min = sum(o.caller_secs for o in outcomes) / 60
    cpu_note = f"; the benchmark's own hashing ({res['hash_cpu_secs']:.1f} s) excluded" if res["hash_cpu_secs"] else ""
    rows.append(("process CPU", f"{cpu:.1f} s in {wall:.1f} s wall = {cpu / wall:.2f} cores (user {res['utime']:.1f} + "
                                f"sys {res['stime']:.1f}{cpu_note})"))
    if call_min:
        rows.append(("CPU per call", f"{cpu / call_min:.3f} CPU s per call-minute = {100 * cpu / call_min / 60:.2f}% "
                                     f"of a core per call"))
    peak, before = res["maxrss_kb"] / 1024, res["rss_before_kb"] / 1024
    rows.append(("peak RSS", f"{peak:.0f} MB ({before:.0f} MB before the calls; +{(peak - before) / n:.2f} MB per call)"))
    if lags:
        rows.append(("event-loop lag", f"p50 {pct(lags, 0.5):.1f} ms, p99 {pct(lags, 0.99):.1f} ms, max {lags[-1]:.0f} ms "
                                       f"(a 20 ms ticker's lateness, {len(lags)} ticks)"))
    audio = f"max {late:.0f} ms late"
    if through:
        audio = (f"{statistics.mean(o.caller_secs for o in outcomes):.1f} s per call streamed in real time, "
                 f"{statistics.mean(through):.1f} s (min {min(through):.1f} s) through the pipeline before the end; " + audio)
    rows.append(("caller audio", audio))
    rec_secs = [sum(sz for sz, _ in o.chunks.values()) / 4 / BOT_RATE for o in outcomes if o.chunks]
    if rec_secs:
        rows.append(("recording per call", f"{statistics.mean(rec_secs):.1f} s mean, min {min(rec_secs):.1f} s "
                                           f"(stereo, {BOT_RATE // 1000} kHz; includes the transport's 2 s closing silence)"))
    rows.append(("loop verdict", f"SATURATED ({'; '.join(why)})" if saturated else "kept up"))
    fin = [(o.ended_ok - o.end_out) * 1000 for o in outcomes if o.ended_ok and o.end_out]
    if fin:
        rows.append(("finalization", f"{_spread(fin)}  (EndFrame at the recorder -> call-ended accepted, {len(fin)} calls)"))
    td = [(o.returned - o.end_out) * 1000 for o in outcomes if o.returned and o.end_out]
    if td:
        rows.append(("teardown", f"{_spread(td)}  (EndFrame at the recorder -> the runner returned)"))
    if server.get("requests"):
        r, inj = server["requests"], server.get("injected", {})
        extra = ""
        if v is not None:
            # One request per event, and an upload URL and a PUT per chunk; the rest are retries
            # (and the odd prefetched URL that was not used).
            extra = f", {sum(r.values()) - 2 * n - 2 * v.chunks_expected} more than one per event, URL and PUT"
        rows.append(("server requests", f"{sum(r.values())} (events {r.get('event', 0)}, upload URLs "
                                        f"{r.get('upload_url', 0)}, PUTs {r.get('put', 0)}); "
                                        f"{sum(inj.values())} answered 503 by fault injection{extra}"))
    if server.get("cpu_secs") is not None:
        rows.append(("server process CPU", f"{server['cpu_secs']:.1f} s (dev server + latency proxy, from its start; not counted above)"))
    width = max(len(k) for k, _ in rows)
    for k, val in rows:
        add(f"{k:<{width}}  {val}")
    notes = list(v.notes if v is not None else []) + [f"{o.key}: {o.error}" for o in outcomes if o.error and v is None]
    if v is not None and not saturated:  # saturated: the row above says why, and it is the same for every call
        notes += v.transcript_notes
    if notes or (v is not None and v.problem_examples) or (res.get("errors_logged") and res["errors_logged"].count):
        add("")
    for note in notes[:10]:
        add(f"- {note}")
    if len(notes) > 10:
        add(f"- ... and {len(notes) - 10} more")
    if v is not None:
        for p in v.problem_examples[:2]:
            add(f"- dev server: {p}")
    errors = res.get("errors_logged")
    if errors is not None:
        for text, times in list(errors.first.items())[:5]:
            add(f"- logged {times}x: {text}")
    add("")
    if args.without_roark:
        add("result: " + ("OK (every call ran to its end)" if ok else "FAILED"))
    else:
        add("result: " + ("OK: everything expected was delivered" if ok else "FAILED: see above"))
    return "\n".join(lines), ok


# =========================================================================== #
# Main
# =========================================================================== #


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See benchmarks/README.md.")
    p.add_argument("--calls", type=int, default=100, help="concurrent calls in this process (default 100)")
    p.add_argument("--seconds", type=float, default=None, help="length of each call (default 60; --quick 20)")
    p.add_argument("--quick", action="store_true", help="20-second calls")
    p.add_argument("--stagger-secs", type=float, default=5.0, help="spread of the calls' starts (default 5)")
    p.add_argument("--latency-ms", type=float, default=80.0, help="round-trip time added to every server exchange (default 80)")
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="fraction of all requests (events, upload URLs, PUTs) the server answers 503 (default 0)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fault injection (default 1)")
    p.add_argument("--pipeline", choices=["light", "harness"], default="light",
                   help="light (default; see the docstring) or the full offline harness with Silero VAD "
                        "(needs the silero extra; far heavier)")
    p.add_argument("--pipecat-defaults", action="store_true",
                   help="keep the worker's RTVI, turn tracking and idle detection on (Pipecat's defaults; "
                        "light pipeline only; more CPU per call)")
    p.add_argument("--without-roark", action="store_true",
                   help="the same calls without observer and recorder, for comparison (no server checks)")
    p.add_argument("--log-level", default="ERROR", help="loguru level (default ERROR)")
    p.add_argument("--keep", default=None, metavar="DIR", help="keep the server's data and log in DIR")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 20.0 if args.quick else 60.0
    if not 0 <= args.fault_rate < 1:
        p.error("--fault-rate must be in [0, 1)")
    if args.calls < 1 or args.seconds < 5:
        p.error("need --calls >= 1 and --seconds >= 5")
    args.run_id = f"load-{os.getpid()}"

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    logged = LoggedErrors()
    logger.add(logged, level="ERROR", format="{message}")

    keep = Path(args.keep) if args.keep else None
    tmp = tempfile.TemporaryDirectory(prefix="roark-load-")
    workdir = keep or Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    # The calls run in this process: none of the caller's ROARK_* settings
    # apply, and the disk spool (what could not be delivered in time) goes to
    # the work directory, where the report looks for leftovers.
    for name in [k for k in os.environ if k.startswith("ROARK_")]:
        del os.environ[name]
    os.environ["ROARK_SPOOL_DIR"] = str(workdir / "spool")
    server, urls = start_server(workdir, args.latency_ms, fault_rate=args.fault_rate, seed=args.seed)
    print(f"# dev server {urls['direct_url']} behind a {args.latency_ms:g} ms RTT proxy at {urls['base_url']}"
          f"{f', {100 * args.fault_rate:g}% of requests answered 503' if args.fault_rate else ''}", file=sys.stderr)
    print(f"# {args.calls} calls x {args.seconds:g} s, starts spread over {args.stagger_secs:g} s ...", file=sys.stderr, flush=True)
    server_stats: dict[str, Any] = {}
    try:
        res = asyncio.run(run_load(args, urls["base_url"]))
    finally:
        server_stats = stop_server(server)
    v = None if args.without_roark else check_server(workdir / "roark-data", res["outcomes"], res["turns"], res["tools"])
    res["errors_logged"] = logged
    spool = workdir / "spool"
    res["spool_left"] = sorted(p.name for p in spool.iterdir() if p.is_dir()) if spool.is_dir() else None
    text, ok = report(args, res, v, server_stats)
    print(text)
    print(f"# server data and log: {workdir if keep else '(temp dir, use --keep DIR)'}", file=sys.stderr)
    if not keep:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
