#!/usr/bin/env python
"""What RoarkObserver + roark.audio_processor cost a Pipecat bot.

Runs the same deliberately light pipeline (the offline harness: real-time
caller transport, paced output transport, scripted STT/LLM/TTS, Silero VAD)
with and without the integration, every run in a fresh process, and prints:

- process CPU seconds per call-minute (``time.process_time()`` in the child,
  over the calls only: imports and pipeline construction excluded), and the
  ratio with/without;
- peak RSS (``ru_maxrss``) and, for the concurrent scenario, the memory each
  additional concurrent call costs, with and without the integration;
- finalization time: from the EndFrame leaving the output transport (the
  recorder sees it right then) to call-ended accepted by the server, behind a
  configurable network round-trip time (``--latency-ms``);
- the observer's own work per observed push (``RoarkObserver.on_push_frame``)
  and the recorder's per-frame work (``process_frame`` / its capture part).

The server is ``pipecat_roark.devserver.DevServer`` in a process of its own
(its CPU is not counted), behind a loopback TCP proxy in that same process
that delays every byte by half the round-trip time in each direction and
every new connection by one round trip. Everything talks to 127.0.0.1 only.

    python benchmarks/overhead.py --quick                 # ~5 minutes
    python benchmarks/overhead.py                         # full: 10-min call, 20 x 2-min calls
    python benchmarks/overhead.py --scenario single --minutes 3 --with-stock-abp
    python benchmarks/overhead.py --quick --profile       # + where the added CPU goes

Modes used internally: ``--child`` (one measured run, result as JSON) and
``--serve`` (dev server + latency proxy). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))
import _common  # noqa: E402  (benchmarks/_common.py: the server process and shared helpers)
from _common import child_env, pct, pipecat_version, rss_kb, server_calls, start_server, stop_server  # noqa: E402

VARIANTS = ("baseline", "floor", "roark", "stock-abp")
#: Runs with this many calls or more get the machine to themselves.
ALONE_FROM_CALLS = 3
#: A run is flagged as saturated (numbers not comparable) past these.
SATURATED_CPU_PCT = 80.0
SATURATED_LATENESS_MS = 100.0
LABELS = {"baseline": "baseline", "floor": "empty observer + pass-through", "roark": "with Roark", "stock-abp": "stock ABP"}


# =========================================================================== #
# The call script (same in every variant)
# =========================================================================== #

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


# =========================================================================== #
# Child: one measured run in a fresh process
# =========================================================================== #


class _Timer:
    __slots__ = ("count", "ns", "max_ns")

    def __init__(self) -> None:
        self.count = 0
        self.ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "ns": self.ns, "max_ns": self.max_ns}


def _timed_method(cls: type, name: str, timer: _Timer) -> None:
    """Replace an async method of ``cls`` with one that times each call (perf_counter_ns).

    The wrapped methods do not suspend in practice (no network, unbounded
    queues), so wall time per call is their CPU time.
    """
    original = getattr(cls, name)
    clock = time.perf_counter_ns

    # functools.wraps keeps the signature visible: Pipecat 0.0.10x picks the
    # calling convention of on_push_frame from it.
    @functools.wraps(original)
    async def timed(self, *args, **kwargs):
        t0 = clock()
        try:
            return await original(self, *args, **kwargs)
        finally:
            timer.add(clock() - t0)

    setattr(cls, name, timed)


def _timed_instance(obj: Any, name: str, timer: _Timer) -> None:
    original = getattr(obj, name)
    clock = time.perf_counter_ns

    @functools.wraps(original)
    async def timed(*args, **kwargs):
        t0 = clock()
        try:
            return await original(*args, **kwargs)
        finally:
            timer.add(clock() - t0)

    setattr(obj, name, timed)


def _wrapper_overhead_ns() -> float:
    """Median cost of the timing wrapper itself around an empty coroutine method."""

    class _Nop:
        async def m(self, x):
            return None

    t = _Timer()
    _timed_method(_Nop, "m", t)
    obj = _Nop()

    async def run():
        for _ in range(20000):
            await obj.m(1)

    asyncio.run(run())
    return t.ns / max(1, t.count)


def _floor():
    """The least any observer + inline processor can cost: both do nothing.

    What Pipecat itself spends on one more registered observer (every frame
    processed or pushed is queued to it) and one more processor hop, so the
    integration's own share can be told apart from the framework's.
    """
    from pipecat.observers.base_observer import BaseObserver
    from pipecat.processors.frame_processor import FrameProcessor

    class EmptyObserver(BaseObserver):
        def __init__(self):
            try:
                super().__init__(observe_every_push=False)  # as RoarkObserver does on 1.12+
            except TypeError:
                super().__init__()

    class PassThrough(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)

    return EmptyObserver(), PassThrough()


def _stock_abp():
    """Pipecat's AudioBufferProcessor, stereo, 128 KiB buffer, recording from the start, no-op handler."""
    from pipecat.frames.frames import StartFrame
    from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

    from pipecat_roark._compat import PIPECAT_1X

    if PIPECAT_1X:
        abp = AudioBufferProcessor(num_channels=2, buffer_size=128 * 1024, auto_start_recording=True)
    else:

        class _StartedABP(AudioBufferProcessor):
            async def process_frame(self, frame, direction):
                await super().process_frame(frame, direction)
                if isinstance(frame, StartFrame) and not getattr(self, "_recording", False):
                    await self.start_recording()

        abp = _StartedABP(num_channels=2, buffer_size=128 * 1024)

    @abp.event_handler("on_audio_data")
    async def _noop(processor, audio, sample_rate, num_channels):
        return None

    return abp


def child_main(args: argparse.Namespace) -> int:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)

    from pipecat.frames.frames import EndFrame
    from pipecat.processors.frame_processor import FrameDirection

    from pipecat_roark import RoarkObserver
    from pipecat_roark.client import RoarkClient
    from pipecat_roark.recorder import RoarkAudioRecorder
    from pipecat_roark.testing.scenario import build_call, run_call

    variant = args.variant
    n = args.calls
    wrapper_ns = _wrapper_overhead_ns()

    obs_timer, rec_timer, cap_timer = _Timer(), _Timer(), _Timer()
    end_out: dict[str, float] = {}  # call key -> perf_counter when EndFrame left the output transport
    ended_ok: dict[str, float] = {}  # call id -> perf_counter when call-ended was accepted
    run_done: dict[str, float] = {}

    if variant == "roark":
        _timed_method(RoarkObserver, "on_push_frame", obs_timer)
        _timed_method(RoarkAudioRecorder, "process_frame", rec_timer)
        _timed_method(RoarkAudioRecorder, "_observe", cap_timer)
        original_post = RoarkClient.post_event

        @functools.wraps(original_post)
        async def post_event(self, payload, budget=None):
            await original_post(self, payload, budget)
            if payload.get("event") == "call-ended":
                ended_ok.setdefault(payload.get("pipecatCallId"), time.perf_counter())

        RoarkClient.post_event = post_event  # type: ignore[method-assign]

    async def measure() -> dict[str, Any]:
        calls, observers = [], []
        for i in range(n):
            key = f"{args.run_id}-{i}"
            observer = None
            if variant == "roark":
                observer = RoarkObserver(agent_id="overhead-bench", base_url=args.base_url, pipecat_call_id=key)
                processor = observer.audio_processor
            elif variant == "floor":
                observer, processor = _floor()
            elif variant == "stock-abp":
                processor = _stock_abp()
                _timed_instance(processor, "process_frame", rec_timer)
            else:
                processor = None
            call = build_call(
                long_script(args.minutes),
                audio_processor=processor,
                observers=[observer] if observer is not None else [],
                event_log=False,
            )
            out = call.transport.output()
            original_push = out.push_frame

            async def push_frame(frame, direction=FrameDirection.DOWNSTREAM, _orig=original_push, _key=key):
                if isinstance(frame, EndFrame) and direction == FrameDirection.DOWNSTREAM:
                    end_out.setdefault(_key, time.perf_counter())
                await _orig(frame, direction)

            out.push_frame = push_frame  # type: ignore[method-assign]
            calls.append((key, call))
            observers.append(observer)

        async def one(i: int, key: str, call):
            await asyncio.sleep(args.stagger_secs * i / max(1, n))
            result = await run_call(call)
            run_done[key] = time.perf_counter()
            return result

        gc.collect()
        profiler = _start_profiler(args)
        rss_before = rss_kb()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, wall0 = time.process_time(), time.monotonic()
        results = await asyncio.gather(*(one(i, key, call) for i, (key, call) in enumerate(calls)))
        cpu1, wall1 = time.process_time(), time.monotonic()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        _stop_profiler(profiler, args)

        call_secs = [c.transport.input().samples_sent / c.timeline.sample_rate for _, c in calls]
        finalization, teardown = [], []
        for key, _ in calls:
            if key in end_out and key in ended_ok:
                finalization.append((ended_ok[key] - end_out[key]) * 1000)
            if key in end_out and key in run_done:
                teardown.append((run_done[key] - end_out[key]) * 1000)
        delivery: dict[str, int] = defaultdict(int)
        for o in observers:
            if o is None or not hasattr(o, "delivery_stats"):  # none, or the floor's empty observer
                continue
            st = o.delivery_stats
            delivery["chunks_produced"] += st.chunks_produced
            delivery["chunks_delivered"] += st.chunks_delivered
            delivery["chunks_lost"] += st.chunks_lost
            delivery["started_delivered"] += int(st.started_delivered)
            delivery["ended_delivered"] += int(st.ended_delivered)
        return {
            "variant": variant,
            "scenario": args.scenario,
            "calls": n,
            "minutes": args.minutes,
            "run_id": args.run_id,
            "cpu_secs": cpu1 - cpu0,
            "utime": ru1.ru_utime - ru0.ru_utime,
            "stime": ru1.ru_stime - ru0.ru_stime,
            "wall_secs": wall1 - wall0,
            "call_secs": call_secs,
            "rss_before_kb": rss_before,
            "rss_after_kb": rss_kb(),
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "completed": sum(1 for r in results if r.script_completed),
            "ended_by": sorted({r.ended_by for r in results}),
            "max_input_lateness_ms": 1000 * max(c.transport.input().max_lateness_secs for _, c in calls),
            "observer_push": obs_timer.to_json(),
            "recorder_frame": rec_timer.to_json(),
            "recorder_capture": cap_timer.to_json(),
            "wrapper_ns": wrapper_ns,
            "finalization_ms": finalization,
            "teardown_ms": teardown,
            "delivery": dict(delivery),
        }

    result = asyncio.run(measure())
    Path(args.out).write_text(json.dumps(result))
    return 0


# -- profiling inside the child (only in --profile runs, never in measured ones)


def _py_spy() -> Optional[str]:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _start_profiler(args: argparse.Namespace) -> Any:
    if not args.profile_out:
        return None
    if args.profiler == "py-spy":
        cmd = [
            _py_spy() or "py-spy", "record", "--pid", str(os.getpid()), "--rate", "200",
            "--format", "raw", "--nonblocking", "--output", args.profile_out,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # let it attach before the measured window starts
        return proc
    import cProfile

    # CPU time of the main thread, so time idle in epoll is not counted.
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    return prof


def _stop_profiler(profiler: Any, args: argparse.Namespace) -> None:
    if profiler is None:
        return
    if isinstance(profiler, subprocess.Popen):
        profiler.send_signal(signal.SIGINT)
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            profiler.kill()
        return
    profiler.disable()
    profiler.dump_stats(args.profile_out)


# =========================================================================== #
# Server: DevServer + loopback latency proxy, in a process of their own (_common.py)
# =========================================================================== #


def serve_main(args: argparse.Namespace) -> int:
    """``--serve``: the shared dev server + latency proxy (see _common.py)."""
    return _common.serve_main(args.data_dir, args.latency_ms, args.log_level)


# =========================================================================== #
# Parent: plan, run children, report
# =========================================================================== #


@dataclass
class Run:
    variant: str
    scenario: str
    calls: int
    minutes: float
    profile: bool = False
    result: Optional[dict[str, Any]] = None
    error: Optional[str] = None
    log: Optional[Path] = None
    profile_out: Optional[Path] = None

    @property
    def name(self) -> str:
        p = "-profile" if self.profile else ""
        return f"{self.scenario}{p}-{self.calls}x{self.minutes:g}min-{self.variant}"


@dataclass
class Plan:
    phases: list[list[Run]] = field(default_factory=list)

    def all_runs(self) -> list[Run]:
        return [r for p in self.phases for r in p]


def make_plan(args: argparse.Namespace) -> Plan:
    variants = ["baseline"] + (["floor"] if args.with_floor else []) + ["roark"] + (["stock-abp"] if args.with_stock_abp else [])
    single_min = args.minutes or (2.0 if args.quick else 10.0)
    conc_min = args.minutes or (1.0 if args.quick else 2.0)
    plan = Plan()
    if args.scenario in ("single", "all"):
        plan.phases.append([Run(v, "single", 1, single_min) for v in variants])
    if args.scenario in ("concurrent", "all"):
        plan.phases.append([Run(v, "concurrent", args.calls, conc_min) for v in variants])
        if args.mem_calls and args.mem_calls != args.calls:
            plan.phases.append([Run(v, "concurrent", args.mem_calls, conc_min) for v in variants])
    if args.profile:
        # Several calls in one process: enough samples, and less of the
        # wake-up noise a single mostly idle call has.
        plan.phases.append(
            [Run(v, "concurrent", args.profile_calls, args.profile_minutes, profile=True) for v in ("baseline", "roark")]
        )
    # A process with several calls keeps most of a core busy: it runs alone so
    # the variants do not slow each other down. Single calls run side by side.
    split = []
    for phase in plan.phases:
        if args.serial or phase[0].calls >= ALONE_FROM_CALLS:
            split.extend([r] for r in phase)
        else:
            split.append(phase)
    plan.phases = split
    return plan


def run_phase(phase: list[Run], args: argparse.Namespace, urls: dict[str, str], workdir: Path) -> None:
    procs = []
    for run in phase:
        out = workdir / f"{run.name}.json"
        run.log = workdir / f"{run.name}.log"
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "--child",
            "--variant", run.variant, "--scenario", run.scenario, "--calls", str(run.calls),
            "--minutes", str(run.minutes), "--stagger-secs", str(args.stagger_secs if run.calls > 1 else 0),
            "--run-id", f"{run.name}-{os.getpid()}", "--out", str(out), "--log-level", args.log_level,
            "--base-url", urls.get("base_url", "http://127.0.0.1:9"),
        ]
        if run.profile:
            run.profile_out = workdir / f"{run.name}.{'txt' if args.profiler == 'py-spy' else 'prof'}"
            cmd += ["--profile-out", str(run.profile_out), "--profiler", args.profiler]
        log = open(run.log, "wb")
        procs.append((run, out, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=REPO), log))
    names = ", ".join(r.name for r in phase)
    print(f"# running {names} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    for run, out, proc, log in procs:
        limit = run.minutes * 60 + args.stagger_secs + 180
        try:
            proc.wait(timeout=max(1.0, started + limit - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            run.error = f"timed out after {limit:.0f}s"
        log.close()
        if run.error is None and proc.returncode == 0 and out.exists():
            run.result = json.loads(out.read_text())
        elif run.error is None:
            run.error = f"exit code {proc.returncode}"
        if run.error:
            tail = run.log.read_text(errors="replace").splitlines()[-15:] if run.log else []
            print(f"# {run.name} FAILED ({run.error}):\n" + "\n".join("#   " + t for t in tail), file=sys.stderr)
    print(f"#   done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


# -- report ------------------------------------------------------------------


def _cpu_per_min(r: dict[str, Any]) -> float:
    return r["cpu_secs"] / (sum(r["call_secs"]) / 60)


def _mb(kb: float) -> float:
    return kb / 1024


def _fmt(x: Optional[float], digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _find(runs: list[Run], variant: str, scenario: str, calls: int, profile: bool = False) -> Optional[dict[str, Any]]:
    for r in runs:
        if (r.variant, r.scenario, r.calls, r.profile) == (variant, scenario, calls, profile) and r.result:
            return r.result
    return None


def _saturated(r: dict[str, Any]) -> bool:
    return (
        100 * r["cpu_secs"] / r["wall_secs"] > SATURATED_CPU_PCT
        or r["completed"] < r["calls"]
        or r["max_input_lateness_ms"] > SATURATED_LATENESS_MS
    )


def _per_op(t: dict[str, Any], wrapper_ns: float) -> Optional[float]:
    if not t or not t["count"]:
        return None
    return max(0.0, t["ns"] / t["count"] - wrapper_ns)


def report(plan: Plan, args: argparse.Namespace, stored: list[dict[str, Any]]) -> str:
    runs = [r for r in plan.all_runs() if not r.profile]
    variants = [v for v in VARIANTS if any(r.variant == v for r in runs)]
    others = [v for v in variants if v != "baseline"]
    lines: list[str] = []
    add = lines.append

    add(f"Pipecat {pipecat_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"server RTT {args.latency_ms:g} ms, "
        f"{'one run at a time' if args.serial else 'single-call runs side by side, multi-call runs alone'}")
    add("")
    header = "| scenario | metric | " + " | ".join(LABELS[v] for v in variants) + " | " + \
        " | ".join(f"{LABELS[v]} / baseline" for v in others) + " |"
    add(header)
    add("|" + "---|" * (2 + len(variants) + len(others)))

    def row(scn: str, metric: str, values: dict[str, Optional[float]], digits: int, ratio: bool = True, diff: bool = False):
        cells = [_fmt(values.get(v), digits) for v in variants]
        rel = []
        for v in others:
            a, b = values.get(v), values.get("baseline")
            if a is None or b is None or not ratio:
                rel.append("")
            elif diff:
                rel.append(f"{a - b:+.{digits}f}")
            else:
                rel.append(f"{a / b:.2f}x" if b else "n/a")
        add(f"| {scn} | {metric} | " + " | ".join(cells) + " | " + " | ".join(rel) + " |")

    scenarios = []
    seen = set()
    for r in runs:
        key = (r.scenario, r.calls, r.minutes)
        if key not in seen:
            seen.add(key)
            scenarios.append(key)
    saturated: list[str] = []
    for scenario, calls, minutes in scenarios:
        res = {v: _find(runs, v, scenario, calls) for v in variants}
        scn = f"{scenario} {calls}x{minutes:g} min"
        bad = [v for v, r in res.items() if r and _saturated(r)]
        if bad:
            scn += " (SATURATED)"
            saturated.append(f"{scenario} {calls}x{minutes:g} min: " + ", ".join(LABELS[v] for v in bad))
        row(scn, "CPU s per call-minute", {v: _cpu_per_min(r) if r else None for v, r in res.items()}, 3)
        row(scn, "CPU % of one core", {v: 100 * r["cpu_secs"] / r["wall_secs"] if r else None for v, r in res.items()}, 1)
        row(scn, "peak RSS (MB)", {v: _mb(r["maxrss_kb"]) if r else None for v, r in res.items()}, 1, diff=True)
        row(scn, "RSS growth during calls (MB)",
            {v: _mb(r["maxrss_kb"] - r["rss_before_kb"]) if r else None for v, r in res.items()}, 1, diff=True)
        r = res.get("roark")
        if r and r["finalization_ms"]:
            f = sorted(r["finalization_ms"])
            med, p95 = statistics.median(f), pct(f, 0.95)
            add(f"| {scn} | finalization ms (EndFrame out -> call-ended accepted), median / p95 / max | "
                + " | ".join(f"{med:.0f} / {p95:.0f} / {f[-1]:.0f}" if v == "roark" else "" for v in variants)
                + " | " + " | ".join("" for _ in others) + " |")
        td = {v: statistics.median(rr["teardown_ms"]) if rr and rr["teardown_ms"] else None for v, rr in res.items()}
        row(scn, "EndFrame out -> run_call returned, median ms", td, 0, diff=True)
        if r:
            add(f"| {scn} | RoarkObserver.on_push_frame, ns per push (pushes) | "
                + " | ".join(f"{_fmt(_per_op(r['observer_push'], r['wrapper_ns']), 0)} ({r['observer_push']['count']})"
                             if v == "roark" else "" for v in variants)
                + " | " + " | ".join("" for _ in others) + " |")
        cells = []
        for v in variants:
            rr = res.get(v)
            if rr and rr["recorder_frame"]["count"]:
                own = _per_op(rr["recorder_capture"], rr["wrapper_ns"])
                tot = _per_op(rr["recorder_frame"], rr["wrapper_ns"])
                cells.append(f"{_fmt(tot, 0)}" + (f" (capture {_fmt(own, 0)})" if own is not None else "")
                             + f" x {rr['recorder_frame']['count']}")
            else:
                cells.append("")
        if any(cells):
            add(f"| {scn} | audio processor ns per frame: process_frame (its capture part) x frames | "
                + " | ".join(cells) + " | " + " | ".join("" for _ in others) + " |")

    if saturated:
        add("")
        add("SATURATED (the event loop could not keep up: a core nearly full, scripts not completed or audio "
            "delivered late), so the variants did not do the same work and their numbers are not comparable: "
            + "; ".join(saturated) + ". Use fewer --calls.")

    # Memory per additional concurrent call.
    sizes = sorted({r.calls for r in runs if r.scenario == "concurrent"})
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        add("")
        add(f"Memory per additional concurrent call (peak RSS of the {hi}-call run minus the {lo}-call run, / {hi - lo}):")
        add("")
        add("| | " + " | ".join(LABELS[v] for v in variants) + " | " + " | ".join(f"{LABELS[v]} - baseline" for v in others) + " |")
        add("|" + "---|" * (1 + len(variants) + len(others)))
        per = {}
        for v in variants:
            a, b = _find(runs, v, "concurrent", hi), _find(runs, v, "concurrent", lo)
            per[v] = _mb(a["maxrss_kb"] - b["maxrss_kb"]) / (hi - lo) if a and b else None
        add("| MB per additional call | " + " | ".join(_fmt(per[v], 2) for v in variants) + " | "
            + " | ".join(_fmt(per[v] - per["baseline"], 2) if per[v] is not None and per["baseline"] is not None else "n/a"
                         for v in others) + " |")

    # Sanity: what reached the server, how the calls went.
    add("")
    for r in runs:
        res = r.result
        if res is None:
            add(f"- {r.name}: FAILED ({r.error}); log: {r.log}")
            continue
        note = (f"- {r.name}: {res['completed']}/{res['calls']} scripts completed, ended by {'/'.join(res['ended_by'])}, "
                f"{sum(res['call_secs']) / 60:.1f} call-min, CPU {res['cpu_secs']:.1f}s "
                f"(user {res['utime']:.1f} + sys {res['stime']:.1f}), max input lateness {res['max_input_lateness_ms']:.0f} ms")
        if res["variant"] == "roark":
            d = res["delivery"]
            mine = [c for c in stored if str(c.get("callId", "")).startswith(res["run_id"])]
            note += (f"; delivered: started {d.get('started_delivered', 0)}/{res['calls']}, ended {d.get('ended_delivered', 0)}/"
                     f"{res['calls']}, chunks {d.get('chunks_delivered', 0)}/{d.get('chunks_produced', 0)} "
                     f"(lost {d.get('chunks_lost', 0)}); server stored {sum(1 for c in mine if c.get('complete'))} complete calls, "
                     f"{sum(c.get('chunks', 0) for c in mine)} chunks, {sum(c.get('problemCount', 0) for c in mine)} contract problems")
        add(note)
    return "\n".join(lines)


# -- profile analysis ---------------------------------------------------------

#: Where a sampled stack's cost goes, first match wins (py-spy only).
#: (label, predicate over the stack's "name (file)" frames)
GROUPS: list[tuple[str, Any]] = [
    ("uploads: delivery.py, client.py, aiohttp", lambda fs: any(
        "pipecat_roark/delivery.py" in f or "pipecat_roark/client.py" in f or "aiohttp/" in f for f in fs)),
    ("recorder: Capture.audio, soxr resample", lambda fs: any(f.startswith("Capture.audio ") for f in fs)
        and any("resample" in f and "soxr" in f for f in fs)),
    ("recorder: Capture.audio, Track.append (levels)", lambda fs: any(f.startswith("Capture.audio ") for f in fs)
        and any(f.startswith("Track.") and "pipecat_roark/timeline.py" in f for f in fs)),
    ("recorder: Capture.audio, rest", lambda fs: any(f.startswith("Capture.audio ") for f in fs)),
    ("recorder: events, edges, chunks", lambda fs: any(
        "pipecat_roark/recorder.py" in f or "pipecat_roark/timeline.py" in f for f in fs)),
    ("observer: observer.py, call.py, text.py, models.py", lambda fs: any(
        any(f"pipecat_roark/{m}.py" in f for m in ("observer", "call", "text", "models")) for f in fs)),
    ("Pipecat's dispatch to observers (WorkerObserver queues and tasks)", lambda fs: any(
        "worker_observer.py" in f for f in fs)),
    ("everything else (pipeline, harness, VAD, event loop)", lambda fs: True),
]


def _load_profile(path: Path, profiler: str) -> tuple[dict[str, float], dict[str, float], float, dict[str, float]]:
    """Per function: self cost, inclusive cost; the total; cost per GROUPS label (py-spy only).

    Units: py-spy samples, or cProfile seconds of main-thread CPU.
    """
    self_c: dict[str, float] = defaultdict(float)
    incl: dict[str, float] = defaultdict(float)
    groups: dict[str, float] = defaultdict(float)
    total = 0.0
    if profiler == "py-spy":
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            try:
                n = float(count)
            except ValueError:
                continue
            frames = [_spy_frame(f) for f in stack.split(";") if f]
            if not frames:
                continue
            total += n
            self_c[frames[-1]] += n
            for f in set(frames):
                incl[f] += n
            for label, match in GROUPS:
                if match(frames):
                    groups[label] += n
                    break
        return self_c, incl, total, groups
    import pstats

    st = pstats.Stats(str(path))
    for (file, _line, func), (_cc, _nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        key = f"{func} ({_short_path(file)})"
        self_c[key] += tt
        incl[key] = max(incl[key], ct)
        total += tt
    return self_c, incl, total, groups


def _short_path(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3", str(REPO) + "/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            if marker == "/lib/python3":
                file = file.split("/", 1)[-1]
    return file


def _spy_frame(frame: str) -> str:
    # "name (path/to/file.py:123)" -> "name (path/to/file.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0] if ":" in where else where
    return f"{name} ({_short_path(path)})"


def _package(key: str) -> str:
    path = key.rsplit(" (", 1)[-1]
    if "pipecat_roark/testing/" in path or "benchmarks/" in path or "overhead.py" in path:
        return "harness"
    if "pipecat_roark" in path:
        return "pipecat_roark"
    if path.startswith("pipecat/") or "/pipecat/" in path:
        return "pipecat"
    for pkg in ("aiohttp", "asyncio", "numpy", "soxr", "onnxruntime", "loguru", "yarl", "multidict", "json", "concurrent"):
        if path.startswith(pkg) or f"/{pkg}/" in path or path.startswith(f"{pkg}."):
            return pkg
    return "other"


def profile_report(plan: Plan, args: argparse.Namespace) -> str:
    base = next((r for r in plan.all_runs() if r.profile and r.variant == "baseline"), None)
    roark = next((r for r in plan.all_runs() if r.profile and r.variant == "roark"), None)
    if not (base and roark and base.result and roark.result and base.profile_out and roark.profile_out
            and base.profile_out.exists() and roark.profile_out.exists()):
        return "(profile runs failed or produced no data)"
    b_self, _b_incl, b_total, b_groups = _load_profile(base.profile_out, args.profiler)
    r_self, r_incl, r_total, r_groups = _load_profile(roark.profile_out, args.profiler)
    # Per call-minute, so runs of slightly different length compare.
    scale_b = 60 / sum(base.result["call_secs"])
    scale_r = 60 / sum(roark.result["call_secs"])
    added = r_total * scale_r - b_total * scale_b
    unit = "samples" if args.profiler == "py-spy" else "profiled CPU s"
    cpu_b, cpu_r = _cpu_per_min(base.result), _cpu_per_min(roark.result)
    out = [f"Profile ({args.profiler}; {args.profile_calls} concurrent {args.profile_minutes:g}-min calls per variant, "
           f"each run alone). Measured CPU s per call-minute: baseline {cpu_b:.3f}, with Roark {cpu_r:.3f} "
           f"(+{100 * (cpu_r / cpu_b - 1):.0f}%); {unit} per call-minute: baseline {b_total * scale_b:.1f}, with Roark "
           f"{r_total * scale_r:.1f}, added {added:.1f}.", ""]
    if any(r.result and _saturated(r.result) for r in (base, roark)):
        out += ["SATURATED profile runs: the variants did different work, the split below is not reliable.", ""]
    if added <= 0:
        out.append("(no added cost visible in the profile)")
        return "\n".join(out)

    if r_groups:
        out.append("Where the added CPU goes (each sampled stack counted once, in the first matching row):")
        out.append("")
        out.append(f"| where | baseline {unit}/call-min | with Roark | added | % of added |")
        out.append("|---|---|---|---|---|")
        for label, _ in GROUPS:
            b, r = b_groups.get(label, 0.0) * scale_b, r_groups.get(label, 0.0) * scale_r
            out.append(f"| {label} | {b:.1f} | {r:.1f} | {r - b:+.1f} | {100 * (r - b) / added:.1f} |")
        out.append("")

    out.append("pipecat_roark functions (harness excluded), inclusive (with what they call) and self, as % of the added total:")
    out.append("")
    out.append("| function | inclusive % | self % |")
    out.append("|---|---|---|")
    mine = [(k, v) for k, v in r_incl.items() if _package(k) == "pipecat_roark"]
    for k, v in sorted(mine, key=lambda kv: -kv[1])[: args.profile_top]:
        out.append(f"| {k} | {100 * v * scale_r / added:.1f} | {100 * r_self.get(k, 0.0) * scale_r / added:.1f} |")
    out.append("")

    keys = set(b_self) | set(r_self)
    deltas = {k: r_self.get(k, 0.0) * scale_r - b_self.get(k, 0.0) * scale_b for k in keys}
    out.append("Largest added self costs, any function (% of the added total; includes noise):")
    out.append("")
    out.append("| function | % of added |")
    out.append("|---|---|")
    for k, d in sorted(deltas.items(), key=lambda kv: -kv[1])[: args.profile_top]:
        out.append(f"| {k} | {100 * d / added:.1f} |")
    return "\n".join(out)


def parent_main(args: argparse.Namespace) -> int:
    if args.profile and args.profiler == "py-spy" and not _py_spy():
        print("# py-spy not found; profiling with cProfile instead", file=sys.stderr)
        args.profiler = "cprofile"
    if args.profile_calls is None:
        args.profile_calls = 10 if args.profiler == "py-spy" else 1
    plan = make_plan(args)
    needs_server = any(r.variant == "roark" for r in plan.all_runs())
    keep = Path(args.keep) if args.keep else None
    tmp = tempfile.TemporaryDirectory(prefix="roark-overhead-")
    workdir = keep or Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    server = None
    urls: dict[str, str] = {}
    started = time.monotonic()
    try:
        if needs_server:
            server, urls = start_server(workdir, args.latency_ms)
            print(f"# dev server {urls['direct_url']} behind a {args.latency_ms:g} ms RTT proxy at {urls['base_url']}",
                  file=sys.stderr)
        for phase in plan.phases:
            run_phase(phase, args, urls, workdir)
        stored = server_calls(urls) if server is not None else []
    finally:
        if server is not None:
            stop_server(server)
    print(f"# total {time.monotonic() - started:.0f}s; logs in {workdir if keep else '(temp dir, use --keep DIR)'}",
          file=sys.stderr)
    print()
    print(report(plan, args, stored))
    if args.profile:
        print()
        print(profile_report(plan, args))
    if not keep:
        tmp.cleanup()
    ok = all(r.result is not None for r in plan.all_runs())
    return 0 if ok else 1


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=["single", "concurrent", "all"], default="all",
                   help="single: one long call; concurrent: --calls real-time calls in one process (default: both)")
    p.add_argument("--quick", action="store_true", help="2-minute single call, --calls x 1-minute concurrent calls (~6 min)")
    p.add_argument("--minutes", type=float, default=None,
                   help="caller audio per call (default: single 10, concurrent 2; --quick: 2 and 1)")
    p.add_argument("--calls", type=int, default=10,
                   help="concurrent calls in one process (default 10: on a 2-CPU machine 20 saturate the event loop "
                        "even without Roark, and then the variants no longer do the same work)")
    p.add_argument("--mem-calls", type=int, default=1,
                   help="also run the concurrent scenario with this many calls, for memory per additional call "
                        "(default 1; 0 = skip)")
    p.add_argument("--stagger-secs", type=float, default=3.0, help="spread of the concurrent calls' starts (default 3)")
    p.add_argument("--latency-ms", type=float, default=80.0, help="round-trip time added to every server exchange (default 80)")
    p.add_argument("--with-floor", action="store_true",
                   help="also run an empty observer + a pass-through processor: Pipecat's own cost of any integration")
    p.add_argument("--with-stock-abp", action="store_true",
                   help="also run Pipecat's AudioBufferProcessor(num_channels=2, buffer_size=128 KiB), no-op handler")
    p.add_argument("--serial", action="store_true",
                   help="run one process at a time (default: single-call runs of the variants side by side, "
                        "multi-call runs one at a time)")
    p.add_argument("--profile", action="store_true",
                   help="after the measured runs, profile baseline and with-Roark runs (--profile-calls x --profile-minutes) "
                        "and show where the added CPU goes")
    p.add_argument("--profiler", choices=["py-spy", "cprofile"], default="py-spy")
    p.add_argument("--profile-calls", type=int, default=None,
                   help="concurrent calls in each profiled run (default 10 with py-spy, 1 with cProfile, "
                        "which slows the process down several times)")
    p.add_argument("--profile-minutes", type=float, default=1.0, help="caller audio per profiled call (default 1)")
    p.add_argument("--profile-top", type=int, default=15)
    p.add_argument("--log-level", default="WARNING", help="loguru level in the children (default WARNING)")
    p.add_argument("--keep", default=None, metavar="DIR", help="keep logs, results and server data in DIR")
    # Internal modes.
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", choices=VARIANTS, default="baseline", help=argparse.SUPPRESS)
    p.add_argument("--run-id", default="run", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args)
    if args.serve:
        return serve_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
