#!/usr/bin/env python
"""What RoarkObserver + roark.audio_processor cost a bot, against Pipecat's own floor.

Five variants of the same light pipeline (``load.py``'s: caller transport ->
scripted bot -> output transport [-> processor]), each run in a fresh process:

    none        no observer, no extra processor
    empty       an observer that does nothing (Pipecat's dispatch to one observer)
    abp         Pipecat's stock AudioBufferProcessor, stereo, after the output,
                recording started when the caller connects (as a user's handler does)
    empty+abp   both
    roark       RoarkObserver + roark.audio_processor, sending to the local dev server

Two workloads:

    long   one 10-minute call, recorded at 24 kHz, run ``--speed`` (10) x faster than real time
    many   20 real-time 1-minute calls at 16 kHz in one process

Every repetition runs the five variants side by side (so they share the
machine's noise), workloads one after the other, ``--reps`` times (default 3).
The figure per variant is the median over repetitions of its extra process
CPU against ``none`` of the same repetition. The verdict: Roark's extra CPU
must not exceed the empty observer's plus the stock processor's.

Memory: extra RSS per additional concurrent call (many with 20 calls vs with 1),
and RSS at 20 % and 95 % of the long call; ``--trace-memory`` adds a tracemalloc
diff of pipecat_roark's allocations between those two points.

    python benchmarks/overhead.py                  # full: 3 reps, about 9 minutes
    python benchmarks/overhead.py --quick          # smoke test, under 2 minutes
    python benchmarks/overhead.py --profile        # + cProfile of a roark long call
    python benchmarks/overhead.py --workload long --reps 5

Internal modes: ``--child`` (one measured run, JSON out) and ``--serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from _common import child_env, pipecat_version, rss_kb, start_server, stop_server  # noqa: E402

VARIANTS = ("none", "empty", "abp", "empty+abp", "roark")
#: With --compare-tree DIR: Roark as it is in another checkout, in the same runs.
REF = "roark-ref"
#: With --with-no-spool: Roark with spool_dir=False (what the disk spool's bookkeeping costs).
NO_SPOOL = "roark-no-spool"
LABELS = {
    REF: "RoarkObserver + recorder from --compare-tree",
    NO_SPOOL: "RoarkObserver + recorder, spool_dir=False",
    "none": "nothing added",
    "empty": "empty observer",
    "abp": "stock AudioBufferProcessor",
    "empty+abp": "empty observer + stock ABP",
    "roark": "RoarkObserver + its recorder",
}
CALLER_RATE = 16000
#: Stock ABP's buffer: comparable to Roark's 256 KiB chunks (ABP counts both tracks' bytes).
ABP_BUFFER = 128 * 1024


# =========================================================================== #
# Child: one measured run
# =========================================================================== #


def _fast_transports(speed: float):
    """The harness transports, with both clocks running ``speed`` x faster."""
    from pipecat_roark.testing.transports import CallerInputTransport, DeviceOutputTransport

    class FastInput(CallerInputTransport):
        async def _feed(self):
            n = self._frame_samples
            self.stream_t0_clock_ns = self.get_clock().get_time()
            self.stream_t0_monotonic = t0 = time.monotonic()
            self.stream_t0_wall = time.time()
            self._stream_started.set()
            step = self._frame_secs / speed
            k = 0
            while True:
                delay = t0 + (k + 1) * step - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.max_lateness_secs = max(self.max_lateness_secs, -delay)
                audio = self._timeline.render(k * n, n).astype("<i2").tobytes()
                await self.push_audio_frame(self._make_frame(audio))
                self.samples_sent += n
                k += 1

    class FastOutput(DeviceOutputTransport):
        async def write_audio_frame(self, frame):
            duration = len(frame.audio) // 2 / frame.sample_rate / speed
            now = time.monotonic()
            if now > self._play_until + self._gap_tolerance:
                self._play_until = now
            self._play_until += duration
            delay = self._play_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            return True

    return FastInput, FastOutput


def _empty_observer():
    from pipecat.observers.base_observer import BaseObserver

    from pipecat_roark.observer import _SUPPORTS_FIRST_PUSH

    class EmptyObserver(BaseObserver):
        async def on_push_frame(self, data):
            return None

    # Registered the way RoarkObserver registers (observe_every_push=False where Pipecat has it).
    return EmptyObserver(observe_every_push=False) if _SUPPORTS_FIRST_PUSH else EmptyObserver()


def _stock_abp():
    from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

    abp = AudioBufferProcessor(num_channels=2, buffer_size=ABP_BUFFER)

    @abp.event_handler("on_audio_data")
    async def _on_audio(processor, audio, sample_rate, num_channels):
        return None

    return abp


async def _one_call(args: argparse.Namespace, plan: Any, key: str, marks: dict) -> dict[str, Any]:
    from pipecat.pipeline.pipeline import Pipeline

    import load
    from pipecat_roark._compat import PipelineParams, PipelineWorker
    from pipecat_roark.testing.transports import transport_params

    variant, rate = args.variant, plan.bot_rate
    FastInput, FastOutput = _fast_transports(args.speed)
    params = transport_params(sample_rate=CALLER_RATE, audio_out_sample_rate=rate)
    inp = FastInput(plan.timeline, params, user_id="caller")
    out = FastOutput(params)
    bot = load._bot_class()(plan, "caller")
    observers: list[Any] = []
    processors: list[Any] = [inp, bot, out]
    abp = roark = None
    if "empty" in variant:
        observers.append(_empty_observer())
    if "abp" in variant:
        abp = _stock_abp()
        processors.append(abp)
    if variant in ("roark", NO_SPOOL):
        from pipecat_roark import RoarkObserver

        # The spool in the run's directory: its per-chunk journal is part of the cost.
        roark = RoarkObserver(agent_id="overhead-bench", base_url=args.base_url, pipecat_call_id=key,
                              spool_dir=False if variant == NO_SPOOL else args.spool_dir)
        observers.append(roark)
        processors.append(roark.audio_processor)
    worker = PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(audio_in_sample_rate=CALLER_RATE, audio_out_sample_rate=rate,
                              enable_metrics=True, enable_usage_metrics=True),
        observers=observers, **load.LEAN_WORKER,
    )
    seconds = args.minutes * 60

    async def driver() -> None:
        await inp.stream_started.wait()
        if abp is not None:  # what a user's on_client_connected handler does
            await abp.start_recording()
        t0 = inp.stream_t0_monotonic
        for frac in sorted(marks):  # RSS (and tracemalloc) at fractions of the call
            while inp.samples_sent < frac * seconds * CALLER_RATE:
                await asyncio.sleep(0.05)
            marks[frac] = _mark(args)
        await asyncio.sleep(max(0.0, t0 + seconds / args.speed - time.monotonic()))
        await out.end_call()

    task = asyncio.create_task(driver())
    try:
        await asyncio.wait_for(load._run_worker(worker), timeout=seconds / args.speed + 120)
    finally:
        task.cancel()
    st = getattr(roark, "delivery_stats", None)
    return {
        "caller_secs": inp.samples_sent / CALLER_RATE,
        # Caller audio that got through the pipeline before the end: less than
        # was streamed means the loop fell behind and Pipecat dropped the rest.
        "caller_through_secs": bot.caller_samples / CALLER_RATE,
        "max_late_ms": inp.max_lateness_secs * 1000,
        "chunks": [st.chunks_produced, st.chunks_delivered, st.chunks_lost] if st else None,
        "events": [int(st.started_delivered), int(st.ended_delivered)] if st else None,
    }


def _mark(args: argparse.Namespace) -> dict[str, Any]:
    gc.collect()
    m: dict[str, Any] = {"rss_kb": rss_kb()}
    if args.trace_memory:
        import tracemalloc

        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        m["all"] = snap
        m["snapshot"] = snap.filter_traces([
            tracemalloc.Filter(True, str(REPO / "pipecat_roark") + "/*"),
            tracemalloc.Filter(False, str(REPO / "pipecat_roark" / "testing") + "/*"),  # the harness, not us
        ])
    return m


def child_main(args: argparse.Namespace) -> int:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    import load

    plan = load.make_plan(args.minutes * 60, bot_rate=args.rate)
    # Every variant imports everything any variant uses, outside the measured window
    # (pipecat_roark loads RoarkObserver lazily: its import is not a per-call cost).
    from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor  # noqa: F401

    from pipecat_roark import RoarkObserver  # noqa: F401

    # Likewise a once-per-process load: the optional price list (genai-prices) that a
    # first call would otherwise start in a thread. Its CPU is reported, not counted.
    from pipecat_roark import cost

    warm0 = time.process_time()
    cost.warm_up()
    warm_up_cpu = time.process_time() - warm0

    marks: dict[float, Any] = {f: None for f in args.marks} if args.calls == 1 else {}
    if args.trace_memory:
        import tracemalloc

        tracemalloc.start(5)
    profiler: Any = None
    if args.profile_out and not args.py_spy:
        import cProfile

        profiler = cProfile.Profile(time.process_time)

    async def measure() -> dict[str, Any]:
        async def staggered(i: int):
            await asyncio.sleep(args.stagger_secs * i / max(1, args.calls))
            return await _one_call(args, plan, f"{args.run_id}-{i}", marks if i == 0 else {})

        gc.collect()
        rss0 = rss_kb()
        spy = None
        if profiler is not None:
            profiler.enable()
        elif args.profile_out:  # py-spy samples this process from outside: next to no overhead
            spy = subprocess.Popen([args.py_spy, "record", "--pid", str(os.getpid()), "--rate", "250", "--format", "raw",
                                    "--nonblocking", "--output", args.profile_out],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)  # attached before the calls start
        cpu0, wall0 = time.process_time(), time.monotonic()
        results = await asyncio.gather(*(staggered(i) for i in range(args.calls)))
        cpu1, wall1 = time.process_time(), time.monotonic()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile_out)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        return {"cpu_secs": cpu1 - cpu0, "wall_secs": wall1 - wall0, "rss_before_kb": rss0,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "calls": results}

    result = asyncio.run(measure())
    result["warm_up_cpu"] = warm_up_cpu
    result["marks"] = {str(f): (m or {}).get("rss_kb") for f, m in marks.items()}
    if args.trace_memory and len(marks) >= 2:
        first, last = (marks[f]["snapshot"] for f in sorted(marks)[:: len(marks) - 1])
        diff = last.compare_to(first, "lineno")
        all0, all1 = (marks[f]["all"] for f in sorted(marks)[:: len(marks) - 1])
        result["trace"] = {
            "total_first": sum(s.size for s in first.statistics("filename")),
            "total_last": sum(s.size for s in last.statistics("filename")),
            "top": [[str(d.traceback), d.size_diff, d.count_diff] for d in diff[:12]],
            # Everything Python allocated (Pipecat, aiohttp, ...), for growth we cause elsewhere.
            "all_first": sum(s.size for s in all0.statistics("filename")),
            "all_last": sum(s.size for s in all1.statistics("filename")),
            "all_top": [[str(d.traceback), d.size_diff, d.count_diff] for d in all1.compare_to(all0, "lineno")[:6]],
        }
    Path(args.out).write_text(json.dumps(result))
    return 0


# =========================================================================== #
# Parent
# =========================================================================== #


WORKLOADS = {
    # name: (calls, minutes, speed, recording rate, stagger)
    "long": (1, 10.0, 10.0, 24000, 0.0),
    "many": (20, 1.0, 1.0, 16000, 5.0),
}
QUICK = {"long": (1, 2.0, 10.0, 24000, 0.0), "many": (6, 0.3, 1.0, 16000, 2.0)}


def _run_children(specs: list[dict[str, Any]], args: argparse.Namespace, urls: dict[str, str],
                  workdir: Path) -> list[Optional[dict[str, Any]]]:
    """Run children side by side; their results in order (None for a failed one)."""
    procs = []
    for s in specs:
        name = f"{s['workload']}-{s['calls']}-{s['variant'].replace('+', '_')}-{s['tag']}"
        out, log = workdir / f"{name}.json", workdir / f"{name}.log"
        script, variant, env = Path(__file__).resolve(), s["variant"], child_env()
        if variant == REF:  # the same benchmark and package from the other checkout
            tree = Path(args.compare_tree).resolve()
            script, variant = tree / "benchmarks" / "overhead.py", "roark"
            env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, str(script), "--child", "--variant", variant, "--spool-dir", str(workdir / "spool"),
               "--calls", str(s["calls"]), "--minutes", str(s["minutes"]), "--speed", str(s["speed"]),
               "--rate", str(s["rate"]), "--stagger-secs", str(s["stagger"]), "--run-id", f"{name}-{os.getpid()}",
               "--out", str(out), "--base-url", urls["base_url"], "--log-level", args.log_level,
               "--marks", *[str(m) for m in s.get("marks", [])]]
        if s.get("trace_memory"):
            cmd.append("--trace-memory")
        if s.get("profile_out"):
            cmd += ["--profile-out", str(s["profile_out"])] + (["--py-spy", args.py_spy] if args.py_spy else [])
        fh = open(log, "wb")
        procs.append((out, log, fh, subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)))
    results = []
    for out, log, fh, p in procs:
        try:
            p.wait(timeout=max(s["minutes"] * 60 / s["speed"] for s in specs) + 300)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        fh.close()
        if p.returncode == 0 and out.exists():
            results.append(json.loads(out.read_text()))
        else:
            tail = "\n".join("#   " + t for t in log.read_text(errors="replace").splitlines()[-12:])
            print(f"# {log.name} FAILED (exit {p.returncode}):\n{tail}", file=sys.stderr)
            results.append(None)
    return results


def _med(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def report_workload(name: str, w: tuple, reps: list[dict[str, Optional[dict]]],
                    variants: tuple = VARIANTS) -> tuple[str, Optional[bool]]:
    calls, minutes, speed, rate, _ = w
    lines = [f"### {name}: {calls} call(s) x {minutes:g} min, recorded at {rate // 1000} kHz, "
             f"{f'{speed:g}x faster than real time' if speed != 1 else 'real time'}, {len(reps)} repetitions",
             "", "| variant | CPU-s per run (median) | CPU x none | extra CPU-s (median of paired) | "
             "extra CPU-s per call-minute | extra per rep |", "|---|---|---|---|---|---|"]
    extra: dict[str, Optional[float]] = {}
    for v in variants:
        cpus = [r[v]["cpu_secs"] for r in reps if r.get(v)]
        ratios = [r[v]["cpu_secs"] / r["none"]["cpu_secs"] for r in reps if r.get(v) and r.get("none")]
        diffs = [r[v]["cpu_secs"] - r["none"]["cpu_secs"] for r in reps if r.get(v) and r.get("none")]
        extra[v] = _med(diffs)
        per_min = extra[v] / (calls * minutes) if extra[v] is not None else None
        lines.append(f"| {LABELS[v]} | {_f(_med(cpus), 2)} | {_f(_med(ratios), 3)} | {_f(extra[v], 2)} | "
                     f"{_f(per_min, 3)} | {', '.join(f'{d:+.2f}' for d in diffs)} |")
    # Noise: how much the none runs themselves moved between repetitions.
    nones = [r["none"]["cpu_secs"] for r in reps if r.get("none")]
    if len(nones) > 1:
        spread = (max(nones) - min(nones)) / statistics.median(nones) * 100
        lines.append(f"\nnoise: `none` CPU ranged {min(nones):.2f}-{max(nones):.2f} s over the repetitions "
                     f"({spread:.0f} % of its median)")
    late = max((c["max_late_ms"] for r in reps for v in r.values() if v for c in v["calls"]), default=0)
    through = min((c["caller_through_secs"] / c["caller_secs"] for r in reps for v in r.values() if v
                   for c in v["calls"] if c["caller_secs"]), default=1.0)
    lines.append(f"worst caller-frame lateness in any run: {late:.0f} ms; least caller audio through the pipeline "
                 f"in any call: {through * 100:.1f} %")
    if through < 0.99:
        lines.append("**SATURATED**: a run fell behind real time and Pipecat dropped queued caller audio, so the "
                     "variants did different work: these numbers are not comparable (run fewer variants at once, "
                     "e.g. --only, or on a quieter machine)")
    ro = [r["roark"] for r in reps if r.get("roark")]
    if ro:
        ch = [c["chunks"] for x in ro for c in x["calls"] if c["chunks"]]
        ev = [c["events"] for x in ro for c in x["calls"] if c["events"]]
        lines.append(f"roark delivery: {sum(c[1] for c in ch)}/{sum(c[0] for c in ch)} chunks delivered, "
                     f"{sum(c[2] for c in ch)} lost; call-started {sum(e[0] for e in ev)}/{len(ev)}, "
                     f"call-ended {sum(e[1] for e in ev)}/{len(ev)}")
    verdict = None
    if None not in (extra.get("roark"), extra.get("empty"), extra.get("abp")):
        floor = extra["empty"] + extra["abp"]
        verdict = extra["roark"] <= floor
        lines.append(f"\n**verdict ({name})**: Roark extra {extra['roark']:.2f} CPU-s "
                     f"{'<=' if verdict else '>'} empty observer {extra['empty']:.2f} + stock ABP {extra['abp']:.2f} "
                     f"= {floor:.2f} CPU-s: {'PASS' if verdict else 'FAIL'}"
                     + (f" (measured together: {extra['empty+abp']:.2f})" if extra.get("empty+abp") is not None else ""))
    paired = [r["roark"]["cpu_secs"] - r["none"]["cpu_secs"]
              <= r["empty"]["cpu_secs"] + r["abp"]["cpu_secs"] - 2 * r["none"]["cpu_secs"]
              for r in reps if all(r.get(v) for v in ("none", "empty", "abp", "roark"))]
    if paired:
        # The medians can land either side of a close floor: how each repetition came out on its own.
        lines.append(f"repetitions where Roark's extra was within that repetition's floor: {sum(paired)} of {len(paired)}")
    together = extra.get("empty+abp")
    if together is not None and None not in (extra.get("empty"), extra.get("abp"), extra.get("roark")):
        # The floor's own parts interact: the observer is also told of every frame the processor handles.
        lines.append(f"the floor pair measured together costs {together - extra['empty'] - extra['abp']:+.2f} CPU-s "
                     f"more than the sum of its parts; Roark vs the pair measured together: "
                     f"{extra['roark'] - together:+.2f} CPU-s")
    warm = [x["warm_up_cpu"] for x in ro if x.get("warm_up_cpu") is not None]
    if warm:
        lines.append(f"once per process, before the measured window (not per call): the optional price list's load, "
                     f"{_med(warm):.2f} CPU-s")
    if extra.get(REF) is not None and extra.get("roark") is not None:
        lines.append(f"this checkout's Roark extra {extra['roark']:.2f} CPU-s vs --compare-tree's {extra[REF]:.2f} "
                     f"({(extra['roark'] - extra[REF]) / extra[REF] * 100:+.0f} %)")
    if extra.get(NO_SPOOL) is not None and extra.get("roark") is not None:
        lines.append(f"the disk spool's bookkeeping: {extra['roark'] - extra[NO_SPOOL]:+.2f} CPU-s "
                     f"(Roark {extra['roark']:.2f} with it, {extra[NO_SPOOL]:.2f} with spool_dir=False)")
    return "\n".join(lines), verdict


def _f(x: Optional[float], d: int) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def report_memory(many: dict[str, list[dict]], one: dict[str, Optional[dict]], n: int,
                  long_runs: dict[str, list[dict]]) -> str:
    lines = ["### memory", "", f"| variant | peak RSS, {n} calls (MB) | peak RSS, 1 call (MB) | MB per additional call | "
             "vs none | long call RSS at 20 / 50 / 95 % (MB) |", "|---|---|---|---|---|---|"]
    per_call: dict[str, float] = {}
    for v in VARIANTS:
        peaks = [r["maxrss_kb"] for r in many.get(v, []) if r]
        single = one.get(v)
        if not peaks or not single:
            continue
        per_call[v] = (statistics.median(peaks) - single["maxrss_kb"]) / 1024 / (n - 1)
        marks = [r["marks"] for r in long_runs.get(v, []) if r and r.get("marks")]
        ms = ""
        if marks:
            keys = sorted(marks[0], key=float)
            at = [_med([m[k] for m in marks if m.get(k)]) for k in keys]
            if all(at):
                ms = " / ".join(f"{a / 1024:.1f}" for a in at) + f" ({(at[-1] - at[0]) / 1024:+.1f})"
        lines.append(f"| {LABELS[v]} | {statistics.median(peaks) / 1024:.1f} | {single['maxrss_kb'] / 1024:.1f} | "
                     f"{per_call[v]:.2f} | {per_call[v] - per_call.get('none', per_call[v]):+.2f} | {ms} |")
    if "roark" in per_call and "none" in per_call:
        d = per_call["roark"] - per_call["none"]
        lines.append(f"\nRoark's extra RSS per additional concurrent call: {d:.2f} MB (target <= 1 MB: "
                     f"{'PASS' if d <= 1.0 else 'FAIL'})")
    return "\n".join(lines)


def report_trace(t: dict[str, Any], minutes: float, marks: list[float]) -> str:
    a, b = marks[0] * minutes, marks[-1] * minutes
    lines = [f"### tracemalloc: pipecat_roark's live allocations at {a:g} vs {b:g} min of the long call (roark)", "",
             f"total {t['total_first'] / 1024:.1f} KiB -> {t['total_last'] / 1024:.1f} KiB "
             f"({(t['total_last'] - t['total_first']) / 1024:+.1f} KiB)", "",
             "| where (allocating line) | growth (KiB) | blocks |", "|---|---|---|"]
    for where, size, count in t["top"][:8]:
        lines.append(f"| `{where.replace(str(REPO) + '/', '')}` | {size / 1024:+.1f} | {count:+d} |")
    if "all_top" in t:
        lines += ["", f"everything Python allocated in the process: {t['all_first'] / 1024:.0f} KiB -> "
                      f"{t['all_last'] / 1024:.0f} KiB ({(t['all_last'] - t['all_first']) / 1024:+.1f} KiB); largest changes:", ""]
        lines += [f"- `{w.split('site-packages/')[-1].replace(str(REPO) + '/', '')}` {sz / 1024:+.1f} KiB ({c:+d} blocks)"
                  for w, sz, c in t["all_top"]]
    return "\n".join(lines)


def report_profile(path: Path, base_path: Optional[Path], top: int) -> str:
    """cProfile fallback: pipecat_roark's functions (times inflated several-fold by the profiler)."""
    st = pstats.Stats(str(path))
    total = st.total_tt  # type: ignore[attr-defined]
    base_total = pstats.Stats(str(base_path)).total_tt if base_path else None  # type: ignore[attr-defined]
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, callers) in st.stats.items():  # type: ignore[attr-defined]
        if "pipecat_roark" in file and "testing" not in file:
            rows.append((ct, tt, nc, f"{Path(file).name}:{line} {fn}"))
    rows.sort(reverse=True)
    lines = [f"### cProfile (process CPU clock, several-fold slowed down): roark {total:.2f} s"
             + (f", none {base_total:.2f} s" if base_total else ""), "",
             "| function | calls | own s | incl. s | incl. us/call |", "|---|---|---|---|---|"]
    for ct, tt, nc, name in rows[:top]:
        lines.append(f"| `{name}` | {nc} | {tt:.2f} | {ct:.2f} | {ct / max(1, nc) * 1e6:.0f} |")
    return "\n".join(lines)


SPY_RATE = 250  # samples per second (see child_main)


def _spy_stacks(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy raw output: [(frames root..leaf as (function, file:line)), samples]."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = []
        for f in stack.split(";"):
            fn, _, where = f.partition(" (")
            frames.append((fn.strip(), where.rstrip(")")))
        out.append((frames, int(n)))
    return out


def _ours(where: str) -> bool:
    return where.startswith("pipecat_roark/") and not where.startswith("pipecat_roark/testing/")


def _area(inner: str) -> str:
    """What a sample was for, from its innermost pipecat_roark frame (see report_spy)."""
    module, _, rest = inner.partition(" ")
    if module == "recorder.py" and rest.startswith("RoarkAudioRecorder.process_frame -> pipecat"):
        return "Pipecat's processor hop (any inline processor pays it)"
    if module == "timeline.py" and rest.startswith("Timeline."):
        return "turn edges (Timeline searches)"
    if module in ("recorder.py", "tracks.py", "timeline.py"):
        return "capture per frame (recorder, Tracks, Track)"
    if module in ("spool.py", "delivery_spool.py"):
        return "disk spool (journal, files; its thread)"
    if module in ("delivery.py", "delivery_finish.py", "client.py", "retry.py"):
        return "uploads and events (HTTP)"
    return "observer and call state"


def report_spy(roark: Path, none: Path, res: dict[str, Any], top: int) -> str:
    """Where Roark's extra CPU goes, from py-spy samples of a roark and a none run."""
    r, n = _spy_stacks(roark), _spy_stacks(none)
    total_r, total_n = sum(c for _, c in r) / SPY_RATE, sum(c for _, c in n) / SPY_RATE
    frames = sum(c["caller_secs"] for c in res["calls"]) / 0.020
    chunks = sum(c["chunks"][0] for c in res["calls"] if c["chunks"])
    entry: dict[str, int] = {}
    inner: dict[str, int] = {}
    outside = 0
    for stack, c in r:
        mine = [f for f in stack if _ours(f[1])]
        if not mine:
            outside += c
            continue
        e = f"{mine[0][1].split(':')[0].split('/')[-1]} {mine[0][0]}"
        entry[e] = entry.get(e, 0) + c
        # The innermost of our frames, and what it was calling (numpy, soxr, aiohttp, Pipecat...).
        k = max(i for i, f in enumerate(stack) if _ours(f[1]))
        callee = stack[k + 1][1].split("/")[0].split(":")[0] if k + 1 < len(stack) else ""
        name = f"{stack[k][1].split('/')[-1].split(':')[0]} {stack[k][0]}" + (f" -> {callee}" if callee else "")
        inner[name] = inner.get(name, 0) + c
    ours = sum(entry.values()) / SPY_RATE
    areas: dict[str, int] = {}
    for name, c in inner.items():
        areas[_area(name)] = areas.get(_area(name), 0) + c
    lines = [f"### py-spy ({SPY_RATE} Hz, CPU samples): none {total_n:.2f} s, roark {total_r:.2f} s, "
             f"difference {total_r - total_n:.2f} s", "",
             f"In pipecat_roark's code (and what it calls): {ours:.2f} s; the rest of the difference, "
             f"{total_r - total_n - ours:.2f} s, is Pipecat and asyncio doing more (the observer's queue and task, "
             f"the recorder's hop, the event loop waking for uploads) plus noise. "
             f"{frames:.0f} caller frames, {chunks} chunks.", "",
             "| entry point (outermost pipecat_roark frame) | CPU-s | share of ours | us per caller frame |",
             "|---|---|---|---|"]
    for name, c in sorted(entry.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| `{name}` | {c / SPY_RATE:.2f} | {c / SPY_RATE / max(ours, 1e-9) * 100:.0f} % | "
                     f"{c / SPY_RATE / max(frames, 1) * 1e6:.1f} |")
    lines += ["", "| area (by innermost pipecat_roark frame) | CPU-s | share of ours | per unit |", "|---|---|---|---|"]
    for name, c in sorted(areas.items(), key=lambda kv: -kv[1]):
        secs = c / SPY_RATE
        unit = (f"{secs / max(frames, 1) * 1e6:.1f} us per caller frame" if "frame" in name or "hop" in name
                else f"{secs / max(chunks, 1) * 1e3:.2f} ms per chunk" if "spool" in name or "upload" in name else "")
        lines.append(f"| {name} | {secs:.2f} | {secs / max(ours, 1e-9) * 100:.0f} % | {unit} |")
    lines += ["", "| innermost pipecat_roark frame -> what it was in | CPU-s | share of ours |", "|---|---|---|"]
    for name, c in sorted(inner.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| `{name}` | {c / SPY_RATE:.2f} | {c / SPY_RATE / max(ours, 1e-9) * 100:.0f} % |")
    return "\n".join(lines)


def parent_main(args: argparse.Namespace) -> int:
    workloads = QUICK if args.quick else WORKLOADS
    if args.profile and not args.py_spy:
        here = Path(sys.executable).parent / "py-spy"
        args.py_spy = str(here) if here.exists() else shutil.which("py-spy")
    names = [args.workload] if args.workload != "all" else ["long", "many"]
    reps = args.reps or (1 if args.quick else 3)
    variants = VARIANTS + ((REF,) if args.compare_tree else ()) + ((NO_SPOOL,) if args.with_no_spool else ())
    if args.only:
        variants = tuple(v for v in variants if v in args.only.split(",") or v == "none")
    marks = [0.2, 0.5, 0.95]
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="roark-overhead-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    t_start = time.monotonic()
    server, urls = start_server(workdir, args.latency_ms)
    out: list[str] = []
    verdicts: list[Optional[bool]] = []
    try:
        runs: dict[str, list[dict[str, Optional[dict]]]] = {n: [] for n in names}
        for r in range(reps):
            for n in names:
                calls, minutes, speed, rate, stagger = workloads[n]
                k = r % len(variants)
                order = list(variants[k:] + variants[:k])  # start order rotates
                print(f"# rep {r + 1}/{reps}: {n} ({', '.join(order)}) side by side ...", file=sys.stderr, flush=True)
                res = _run_children([{"workload": n, "variant": v, "calls": calls, "minutes": minutes, "speed": speed,
                                      "rate": rate, "stagger": stagger, "tag": f"r{r}",
                                      "marks": marks if n == "long" else []} for v in order], args, urls, workdir)
                runs[n].append(dict(zip(order, res)))
        one: dict[str, Optional[dict]] = {}
        if "many" in names:
            calls, minutes, speed, rate, stagger = workloads["many"]
            print("# memory: the many workload with 1 call ...", file=sys.stderr, flush=True)
            mem_variants = [v for v in VARIANTS if v in variants]
            res = _run_children([{"workload": "many", "variant": v, "calls": 1, "minutes": minutes, "speed": speed,
                                  "rate": rate, "stagger": 0, "tag": "mem"} for v in mem_variants], args, urls, workdir)
            one = dict(zip(mem_variants, res))
        trace = None
        if args.trace_memory and "long" in names:
            calls, minutes, speed, rate, _ = workloads["long"]
            print("# tracemalloc run (roark, long) ...", file=sys.stderr, flush=True)
            trace = _run_children([{"workload": "long", "variant": "roark", "calls": 1, "minutes": minutes,
                                    "speed": speed, "rate": rate, "stagger": 0, "tag": "trace", "marks": marks,
                                    "trace_memory": True}], args, urls, workdir)[0]
        prof = None
        if args.profile:
            w = args.profile_workload
            calls, minutes, speed, rate, stagger = workloads[w]
            ext = "txt" if args.py_spy else "prof"
            print(f"# profiled runs (none, roark; {w}, {'py-spy' if args.py_spy else 'cProfile'}) ...",
                  file=sys.stderr, flush=True)
            prof = [workdir / f"profile-none.{ext}", workdir / f"profile-roark.{ext}"]
            prof_res = _run_children([{"workload": w, "variant": v, "calls": calls, "minutes": minutes, "speed": speed,
                                       "rate": rate, "stagger": stagger, "tag": "prof", "profile_out": p}
                                      for v, p in zip(("none", "roark"), prof)], args, urls, workdir)
    finally:
        stop_server(server)
    load1 = os.getloadavg()[0]
    out.append(f"## overhead.py{' --quick' if args.quick else ''}: Pipecat {pipecat_version()}, Python "
               f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load0:.2f} before / {load1:.2f} after, "
               f"{time.monotonic() - t_start:.0f} s")
    for n in names:
        text, ok = report_workload(n, workloads[n], runs[n], variants)
        out += ["", text]
        verdicts.append(ok)
    if "many" in names:
        long_runs = {v: [r.get(v) for r in runs.get("long", [])] for v in VARIANTS}
        out += ["", report_memory({v: [r.get(v) for r in runs["many"]] for v in VARIANTS}, one,
                                  workloads["many"][0], long_runs)]
    if trace and trace.get("trace"):
        out += ["", report_trace(trace["trace"], workloads["long"][1], marks)]
    if prof and prof[1].exists():
        if args.py_spy and prof[0].exists() and prof_res[1]:
            out += ["", report_spy(prof[1], prof[0], prof_res[1], args.profile_top)]
        elif not args.py_spy:
            out += ["", report_profile(prof[1], prof[0] if prof[0].exists() else None, args.profile_top)]
    failed = None in verdicts
    passed = all(v for v in verdicts if v is not None) and not failed
    out += ["", f"overall: {'PASS' if passed else 'FAIL'} (Roark's extra CPU <= empty observer's + stock ABP's, "
                f"every workload)"]
    print("\n".join(out))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not failed else 1


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short workloads, 1 repetition: a smoke test (< 2 min)")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --quick 1)")
    p.add_argument("--workload", choices=["long", "many", "all"], default="all")
    p.add_argument("--trace-memory", action="store_true", help="also a tracemalloc run of the long workload (roark)")
    p.add_argument("--profile", action="store_true",
                   help="also profile a none and a roark run of --profile-workload: where the extra CPU goes")
    p.add_argument("--profile-workload", choices=["long", "many"], default="many")
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--latency-ms", type=float, default=80.0, help="round trip added to every server exchange")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--keep", default=None, metavar="DIR", help="keep logs, results and server data in DIR")
    p.add_argument("--only", default=None, metavar="V1,V2",
                   help="run only these variants (and none), e.g. roark,roark-ref: fewer processes side by side")
    p.add_argument("--with-no-spool", action="store_true",
                   help="also run Roark with its disk spool off (spool_dir=False): the spool's own cost")
    p.add_argument("--compare-tree", default=None, metavar="DIR",
                   help="also run Roark from another checkout (e.g. before a change) in every side-by-side group")
    # Child mode.
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", choices=VARIANTS + (REF, NO_SPOOL), default="none", help=argparse.SUPPRESS)
    p.add_argument("--calls", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--minutes", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--rate", type=int, default=24000, help=argparse.SUPPRESS)
    p.add_argument("--stagger-secs", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--marks", type=float, nargs="*", default=[], help=argparse.SUPPRESS)
    p.add_argument("--run-id", default="run", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--py-spy", default=None, metavar="PATH",
                   help="py-spy executable for --profile (default: found next to python or on PATH; "
                        "without it cProfile is used, which slows the process down several times)")
    p.add_argument("--spool-dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
