"""`pipecat-roark demo`: one realistic call, captured and checked, with no accounts and no network.

The demo starts the local Roark-compatible server (:mod:`pipecat_roark.devserver`)
in this process, runs the scripted support call of
:func:`pipecat_roark.testing.default_demo_script` in real time through a real
Pipecat pipeline (caller audio from the shipped clips, the bundled Silero VAD,
stand-in STT/LLM/TTS services that push the frames real ones do), with a
:class:`~pipecat_roark.RoarkObserver` wired the way users wire it:

    roark = RoarkObserver(agent_id=..., base_url=server.base_url)
    Pipeline([..., transport.output(), roark.audio_processor, assistant_aggregator])
    PipelineWorker(pipeline, observers=[roark])

and then checks that the call arrived complete (:func:`inspect_call`), prints a
short summary and says where to look: the exported HTML page and WAV, or, with
``--serve``, the live call page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from loguru import logger

DEMO_AGENT_ID = "demo-support-bot"
DEMO_AGENT_NAME = "Acme Support (pipecat-roark demo)"
DEFAULT_OUT_DIR = Path("roark-demo")
#: How far the recording's length may be from the call's (start to end).
#: One missing 256 KiB chunk is 2.7 s of 24 kHz stereo, well outside this.
RECORDING_TOLERANCE_SECS = 1.0

Printer = Callable[[str], None]


# --------------------------------------------------------------------------- #
# What arrived, and whether it is complete
# --------------------------------------------------------------------------- #


@dataclass
class CallFacts:
    """What the server holds for one call, summarised."""

    call_id: str
    started: bool = False
    ended: bool = False
    user_turns: int = 0
    bot_turns: int = 0
    interrupted_turns: int = 0
    tool_calls: list[str] = field(default_factory=list)  # names, in call order
    tool_results: int = 0
    chunks: int = 0
    missing_chunks: list[int] = field(default_factory=list)
    sample_rate: Optional[int] = None
    channels: Optional[int] = None
    recording_secs: Optional[float] = None
    call_secs: Optional[float] = None
    end_reason: Optional[str] = None
    problems: list[str] = field(default_factory=list)  # what the server found wrong

    @property
    def turns(self) -> int:
        return self.user_turns + self.bot_turns


def _norm(text: Any) -> str:
    from .testing.audio import normalize_text

    return normalize_text(text if isinstance(text, str) else "")


def inspect_call(rec: Any, pcm: bytes, script: Any) -> tuple[CallFacts, list[str]]:
    """Summarise a stored call and list what is missing from it.

    Args:
        rec: The server's :class:`~pipecat_roark.devserver.CallRecord` (or None).
        pcm: The stitched recording (``server.store.pcm(call_id)``).
        script: The :class:`~pipecat_roark.testing.CallScript` that was played.

    Returns:
        The facts, and one line per thing that keeps the call from being
        complete (empty: complete): call-started and call-ended, every
        scripted caller turn (in order), the greeting and the last answer,
        each scripted tool call with its result, a bot turn cut off by the
        caller for each scripted barge-in, a recording with no missing chunk
        as long as the call, and no problem found by the server.
    """
    from .devserver.checks import missing_indexes, parse_iso

    call_id = getattr(rec, "call_id", "?")
    facts = CallFacts(call_id=call_id)
    if rec is None:
        return facts, ["the server received nothing for this call"]
    failures: list[str] = []
    kinds = [e.get("event") for e in rec.events if isinstance(e, dict)]
    facts.started = "call-started" in kinds
    facts.ended = rec.ended is not None
    facts.problems = list(rec.problems)
    if not facts.started:
        failures.append("no call-started arrived")
    if not facts.ended:
        failures.append("no call-ended arrived")
    ended = rec.ended or {}
    facts.end_reason = ended.get("callEndedReason")

    transcript = [t for t in ended.get("transcript") or [] if isinstance(t, dict)]
    users = [t for t in transcript if t.get("role") == "user"]
    bots = [t for t in transcript if t.get("role") == "assistant"]
    facts.user_turns, facts.bot_turns = len(users), len(bots)
    facts.interrupted_turns = sum(1 for t in bots if t.get("interrupted"))

    # Every caller utterance, in order (a late final may come as a turn of its own).
    said = " ".join(_norm(t.get("content")) for t in users)
    pos = 0
    for turn in script.turns:
        want = _norm(turn.text)
        found = said.find(want, pos)
        if found < 0:
            failures.append(f"caller turn missing from the transcript: {turn.text!r}")
        else:
            pos = found + len(want)
    if script.greeting and (not bots or _norm(bots[0].get("content")) != _norm(script.greeting)):
        failures.append(f"the greeting is not the bot's first turn: {script.greeting!r}")
    last_reply = next((t.reply for t in reversed(script.turns) if t.reply), None)
    if last_reply and (not bots or _norm(bots[-1].get("content")) != _norm(last_reply)
                       or bots[-1].get("interrupted")):
        failures.append(f"the bot's last answer was not heard in full: {last_reply!r}")

    # Tool calls, each with its result.
    tools = [t for t in ended.get("toolCalls") or [] if isinstance(t, dict)]
    calls = [t for t in tools if t.get("kind") == "tool_call"]
    result_ids = {t.get("toolCallId") for t in tools if t.get("kind") == "tool_result"}
    facts.tool_calls = [str(t.get("name")) for t in calls]
    facts.tool_results = sum(1 for t in tools if t.get("kind") == "tool_result")
    for turn in script.turns:
        if turn.tool_call is None:
            continue
        name = turn.tool_call.name
        mine = [t for t in calls if t.get("name") == name]
        if not mine:
            failures.append(f"tool call {name} missing")
        elif not any(t.get("toolCallId") in result_ids for t in mine):
            failures.append(f"tool call {name} arrived without its result")

    # The barge-in: a bot turn still playing when the caller started talking, cut off.
    if any(t.barge_in for t in script.turns):
        def cut_by_caller(bot: dict) -> bool:
            a, b = bot.get("audioOffsetMs"), bot.get("endAudioOffsetMs")
            if not bot.get("interrupted") or not isinstance(a, int) or not isinstance(b, int):
                return False
            return any(isinstance(u.get("audioOffsetMs"), int) and a <= u["audioOffsetMs"] <= b for u in users)

        if not any(cut_by_caller(t) for t in bots):
            failures.append("no bot turn cut off by the caller (barge-in) in the transcript")

    # The recording: every chunk, as long as the call.
    facts.chunks = len(rec.chunks)
    facts.missing_chunks = missing_indexes(rec.chunks)
    facts.sample_rate = ended.get("recordingSampleRate")
    facts.channels = ended.get("recordingNumChannels")
    t0, t1 = parse_iso(ended.get("callStartedAt")), parse_iso(ended.get("callEndedAt"))
    if t0 is not None and t1 is not None:
        facts.call_secs = (t1 - t0).total_seconds()
    if not rec.chunks or not pcm:
        failures.append("no recording arrived")
    elif facts.missing_chunks:
        failures.append(f"recording chunk(s) missing: {', '.join(map(str, facts.missing_chunks))}")
    if pcm and isinstance(facts.sample_rate, int) and isinstance(facts.channels, int) and facts.sample_rate > 0:
        facts.recording_secs = len(pcm) / (2 * facts.channels * facts.sample_rate)
        if facts.call_secs is not None and abs(facts.recording_secs - facts.call_secs) > RECORDING_TOLERANCE_SECS:
            failures.append(
                f"the recording lasts {facts.recording_secs:.1f} s but the call {facts.call_secs:.1f} s"
            )
    elif pcm:
        failures.append("call-ended does not give the recording's sample rate and channels")

    if facts.problems:
        failures.append(f"the server found {len(facts.problems)} problem(s) with what it received")
    return facts, failures


def format_summary(facts: CallFacts, failures: Sequence[str]) -> list[str]:
    """The human summary: a verdict, then one line per fact."""
    lines = []
    if failures:
        lines.append(f"Call {facts.call_id} did NOT arrive complete:")
        lines += [f"  - {f}" for f in failures]
    else:
        lines.append(f"Call {facts.call_id} arrived complete.")
    cut = f" ({facts.interrupted_turns} interrupted)" if facts.interrupted_turns else ""
    lines.append(f"  turns       {facts.turns}: {facts.user_turns} caller, {facts.bot_turns} bot{cut}")
    if facts.tool_calls:
        n = len(facts.tool_calls)
        answered = ("with its result" if n == 1 else "with their results") if facts.tool_results >= n \
            else f"{facts.tool_results} result(s)"
        lines.append(f"  tool calls  {n}: {', '.join(facts.tool_calls)} ({answered})")
    else:
        lines.append("  tool calls  none")
    if facts.recording_secs is not None:
        rec = f"{facts.recording_secs:.1f} s"
        if facts.channels == 2:
            rec += f", stereo {facts.sample_rate} Hz (caller left, bot right)"
        else:
            rec += f", {facts.channels} ch {facts.sample_rate} Hz"
        rec += f", {facts.chunks} chunk(s)"
        if facts.call_secs is not None:
            rec += f"; the call lasted {facts.call_secs:.1f} s"
        lines.append(f"  recording   {rec}")
    else:
        lines.append("  recording   none")
    if facts.problems:
        lines.append(f"  problems    {len(facts.problems)}:")
        lines += [f"    - {p}" for p in facts.problems[:10]]
        if len(facts.problems) > 10:
            lines.append(f"    ... and {len(facts.problems) - 10} more (see the call page)")
    else:
        lines.append("  problems    none")
    lines.append(f"  end reason  {facts.end_reason or '(no call-ended)'}")
    return lines


# --------------------------------------------------------------------------- #
# Running it
# --------------------------------------------------------------------------- #


@dataclass
class DemoOutcome:
    """What :func:`run_demo_call` did (the CLI prints it; tests read it)."""

    exit_code: int
    call_id: Optional[str] = None
    facts: Optional[CallFacts] = None
    failures: list[str] = field(default_factory=list)
    html_path: Optional[Path] = None
    wav_path: Optional[Path] = None
    page_url: Optional[str] = None


async def _download(url: str, dest: Path) -> None:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(url) as r:
            r.raise_for_status()
            data = await r.read()
    dest.write_bytes(data)


def _file_name(call_id: str) -> str:
    from .devserver.store import safe_call_id

    # A uuid stays as it is; anything odd becomes a safe, unique name.
    plain = call_id.replace("-", "").isalnum() and len(call_id) <= 64
    return f"call-{call_id if plain else safe_call_id(call_id)}"


async def run_demo_call(
    *,
    serve: bool = False,
    port: int = 0,
    data_dir: Optional[Path] = None,
    out_dir: Path = DEFAULT_OUT_DIR,
    script: Any = None,
    stop: Optional[asyncio.Event] = None,
    out: Printer = print,
) -> DemoOutcome:
    """Start the dev server, run the demo call in real time, check it and report.

    Args:
        serve: After the call, keep serving (and print the call page's URL)
            until ``stop`` is set (the CLI sets it on Ctrl-C / SIGTERM).
        port: Port of the server on 127.0.0.1 (0: a free one).
        data_dir: Where the server stores calls (None: a temporary directory,
            deleted at the end).
        out_dir: Without ``serve``: where ``call-<id>.html`` and
            ``call-<id>.wav`` are written.
        script: The call (default: :func:`~pipecat_roark.testing.default_demo_script`).
        stop: Ends ``serve`` mode (None: Ctrl-C / SIGTERM end it).
        out: Where the human output goes, one line per call.
    """
    # Imported here so `pipecat-roark --help` does not load the server or the harness.
    from .config import observability_enabled
    from .devserver import DevServer
    from .observer import RoarkObserver
    from .testing.scenario import build_call, default_demo_script, run_call

    if not observability_enabled(os.environ):
        out("error: ROARK_OBSERVABILITY_ENABLED is off, so RoarkObserver records nothing; "
            "unset it to run the demo")
        return DemoOutcome(exit_code=1)
    script = script or default_demo_script()
    call_len = script.timeline().duration_secs

    tmp: Optional[tempfile.TemporaryDirectory] = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="pipecat-roark-demo-")
        data_dir = Path(tmp.name)
    server = DevServer(data_dir=data_dir, host="127.0.0.1", port=port)
    try:
        try:
            await server.start()
        except OSError as e:
            out(f"error: cannot listen on 127.0.0.1:{port}: {e}")
            return DemoOutcome(exit_code=1)
        try:
            return await _run(server, script, call_len, serve=serve, out_dir=out_dir, stop=stop, out=out,
                              observer_cls=RoarkObserver, build_call=build_call, run_call=run_call,
                              kept_in=None if tmp is not None else server.store.data_dir)
        finally:
            await server.stop()
    finally:
        if tmp is not None:
            tmp.cleanup()


async def _run(server, script, call_len, *, serve, out_dir, stop, out, observer_cls, build_call, run_call,
               kept_in) -> DemoOutcome:
    out("pipecat-roark demo: a scripted support call through a real Pipecat pipeline")
    out("  (caller audio from shipped clips, Silero VAD, stand-in STT/LLM/TTS: no accounts, no network),")
    out(f"  captured by RoarkObserver and shipped to a local Roark-compatible server at {server.base_url}")
    if serve:
        out(f"  (open {server.base_url}/ to watch the call arrive)")

    # Wired the way the README tells users to: the recorder right after
    # transport.output() (build_call puts it there), the observer on the
    # worker, Pipecat's metrics on.
    roark = observer_cls(
        agent_id=DEMO_AGENT_ID,
        agent_name=DEMO_AGENT_NAME,
        agent_prompt=script.system_prompt,
        base_url=server.base_url,
    )
    call = build_call(script, audio_processor=roark.audio_processor, observers=[roark], enable_metrics=True)
    call_id = roark.pipecat_call_id
    out(f"Calling... (real time, about {call_len + 5:.0f} s)")
    result = await run_call(call)

    # run_call returns once Pipecat's runner has: call-ended is delivered by then.
    # Allow a moment anyway, in case delivery needed a retry at the very end.
    try:
        await server.wait_for_call_ended(call_id, timeout=5.0)
    except TimeoutError:
        pass
    rec = server.store.get_call(call_id)
    pcm = server.store.pcm(call_id) if rec is not None else b""
    facts, failures = inspect_call(rec, pcm, script)
    if not result.script_completed:
        failures.insert(0, f"the scripted conversation did not finish (the call was ended by {result.ended_by})")
    outcome = DemoOutcome(exit_code=1 if failures else 0, call_id=call_id, facts=facts, failures=failures)

    out("")
    for line in format_summary(facts, failures):
        out(line)
    out("")

    page = f"{server.base_url}/calls/{_quote(call_id)}"
    if serve:
        outcome.page_url = page
        out("See it (transcript, both waveforms, tool call, raw events):")
        out(f"  call page   {page}")
        out(f"  all calls   {server.base_url}/")
        if kept_in is not None:
            out(f"  (calls are kept in {kept_in})")
        out("Serving until Ctrl-C.")
        await _wait_for_stop(stop)
        return outcome

    if rec is not None:
        out_dir = Path(out_dir).expanduser().resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        name = _file_name(call_id)
        api = f"{server.base_url}/api/calls/{_quote(call_id)}"
        outcome.html_path = out_dir / f"{name}.html"
        await _download(f"{api}/export.html", outcome.html_path)
        out("See it:")
        out(f"  call page   {outcome.html_path}")
        out("              (one self-contained file: open it in a browser)")
        if rec.chunks:
            outcome.wav_path = out_dir / f"{name}.wav"
            await _download(f"{api}/recording.wav", outcome.wav_path)
            out(f"  recording   {outcome.wav_path}")
        out("  (or run `pipecat-roark demo --serve` and browse the call live)")
    return outcome


async def _wait_for_stop(stop: Optional[asyncio.Event]) -> None:
    """Until ``stop`` is set; without one, until Ctrl-C / SIGTERM (handled only from here on)."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt
                pass
    await stop.wait()


def _quote(call_id: str) -> str:
    from urllib.parse import quote

    return quote(call_id, safe="")


# --------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------- #


def configure_demo_logging(verbose: bool) -> None:
    """Readable console: the observer's INFO lines and everyone's warnings.

    The observer's lines (call started, ended, delivered) are what users see
    in their own logs. Pipecat's DEBUG/INFO chatter, the dev server's
    per-request lines and the harness's are hidden unless ``verbose``.
    """
    from .cli import CONSOLE_FORMAT, stderr_sink

    logger.remove()
    colorize = sys.stderr.isatty()
    if verbose:
        logger.add(stderr_sink, level="DEBUG", colorize=colorize)
        return

    def keep(record) -> bool:
        name = record["name"] or ""
        level = record["level"].no
        ours = name == "pipecat_roark" or name.startswith("pipecat_roark.")
        quiet = name.startswith(("pipecat_roark.devserver", "pipecat_roark.testing"))
        return level >= (20 if ours and not quiet else 30)  # INFO / WARNING

    # The same format as `pipecat-roark dev` (cli.CONSOLE_FORMAT).
    logger.add(stderr_sink, level="INFO", filter=keep, format=CONSOLE_FORMAT, colorize=colorize)


def add_demo_command(subparsers: "argparse._SubParsersAction") -> None:
    p = subparsers.add_parser(
        "demo",
        help="run a ~25 s scripted call in real time and look at what Roark receives (no accounts needed)",
        description=(
            "Run a short realistic call through a real Pipecat pipeline (shipped caller clips, "
            "the bundled Silero VAD, stand-in STT/LLM/TTS with one tool call and one barge-in), "
            "captured by RoarkObserver and shipped to a local Roark-compatible server started in "
            "this process. Prints a summary and where to look; exits 0 only if the call arrived complete."
        ),
    )
    p.add_argument("--serve", action="store_true",
                   help="after the call, keep serving and print the call page URL (until Ctrl-C)")
    p.add_argument("--port", type=int, default=0, metavar="N", help="port of the local server on 127.0.0.1 (default: a free one)")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="where the server stores the call (default: a temporary directory, deleted at exit)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, metavar="DIR",
                   help=f"where call-<id>.html and call-<id>.wav are written without --serve (default: ./{DEFAULT_OUT_DIR})")
    p.add_argument("--verbose", dest="demo_verbose", action="store_true",
                   help="show every log line (Pipecat's DEBUG output included)")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    configure_demo_logging(bool(getattr(args, "verbose", False) or getattr(args, "demo_verbose", False)))
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535, not {args.port}", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(run_demo_call(
            serve=args.serve, port=args.port, data_dir=args.data_dir, out_dir=args.out,
            out=lambda line: print(line, flush=True),
        ))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return outcome.exit_code


__all__ = [
    "CallFacts",
    "DEMO_AGENT_ID",
    "DemoOutcome",
    "add_demo_command",
    "configure_demo_logging",
    "format_summary",
    "inspect_call",
    "run_demo",
    "run_demo_call",
]
