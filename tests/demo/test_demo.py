"""`pipecat-roark demo`: the real command, run once in real time (~30 s), and its call checked.

The module fixture runs `pipecat-roark demo --data-dir D --out O` in-process
(cli.main, as the console script does) and keeps what it printed, its exit
code and the server's data directory. The tests then read that directory
with the server's own Store (what arrived, as the server kept it), check the
files the demo wrote, and open the call page in headless Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import re
import sys
import time
import wave
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from loguru import logger

from demo_browser import Chromium, find_chromium
from pipecat_roark import cli
from pipecat_roark.demo import DEMO_AGENT_ID, inspect_call, run_demo_call
from pipecat_roark.devserver import DevServer, Store
from pipecat_roark.devserver.checks import parse_iso
from pipecat_roark.models import CallEnded, CallStarted
from pipecat_roark.testing.audio import normalize_text
from pipecat_roark.testing.scenario import CallerTurn, CallScript, default_demo_script

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = find_chromium()


@dataclasses.dataclass
class DemoRun:
    exit_code: int
    stdout: str
    wall_secs: float
    data_dir: Path
    out_dir: Path
    call_id: str
    rec: object  # CallRecord
    pcm: bytes


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoRun:
    root = tmp_path_factory.mktemp("demo")
    data_dir, out_dir = root / "data", root / "out"
    buf = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(buf):
            code = cli.main(["demo", "--data-dir", str(data_dir), "--out", str(out_dir)])
    finally:
        # The command configures loguru for a terminal; give later tests a plain sink back.
        logger.remove()
        logger.add(lambda m: sys.stderr.write(m), level="DEBUG")
    wall = time.monotonic() - started
    store = Store(data_dir)
    try:
        calls = store.list_calls()
        assert len(calls) == 1, f"expected one call, the server has {len(calls)}\n{buf.getvalue()}"
        cid = calls[0].call_id
        rec, pcm = store.get_call(cid), store.pcm(cid)
    finally:
        store.close()
    return DemoRun(code, buf.getvalue(), wall, data_dir, out_dir, cid, rec, pcm)


def _words(turns, role):
    return [normalize_text(t["content"]) for t in turns if t["role"] == role]


# --------------------------------------------------------------------------- #
# The command and what it prints
# --------------------------------------------------------------------------- #


def test_demo_exits_0_prints_a_summary_and_writes_the_page_and_wav(demo):
    out = demo.stdout
    assert demo.exit_code == 0, out
    assert 20 < demo.wall_secs < 45, f"the demo took {demo.wall_secs:.1f} s"
    assert f"Call {demo.call_id} arrived complete." in out
    # 5 or 6 bot turns: whether the late final cuts off an answer depends on the Pipecat version.
    assert re.search(r"turns\s+(9|10): 4 caller, [56] bot \([12] interrupted\)", out), out
    assert re.search(r"tool calls\s+1: lookup_order \(with its result\)", out), out
    assert re.search(r"recording\s+\d+\.\d s, stereo 24000 Hz", out), out
    assert re.search(r"problems\s+none", out) and re.search(r"end reason\s+ended", out), out

    html = demo.out_dir.resolve() / f"call-{demo.call_id}.html"
    wav_path = demo.out_dir.resolve() / f"call-{demo.call_id}.wav"
    assert f"call page   {html}" in out and f"recording   {wav_path}" in out
    # The exported page carries the call's data and its audio: it works offline.
    page = html.read_text(encoding="utf-8")
    assert 'id="call-data"' in page and "data:audio/wav;base64," in page and demo.call_id in page
    # The WAV is the recording the server assembled, header and all.
    with wave.open(str(wav_path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 24000)
        assert w.getnframes() * 4 == len(demo.pcm)
        assert w.readframes(w.getnframes()) == demo.pcm


# --------------------------------------------------------------------------- #
# What the server received
# --------------------------------------------------------------------------- #


def test_demo_call_arrived_complete(demo):
    rec = demo.rec
    script = default_demo_script()
    assert [e["event"] for e in rec.events] == ["call-started", "call-ended"]
    assert rec.problems == []
    CallStarted.model_validate(rec.started)
    CallEnded.model_validate(rec.ended)
    assert rec.started["agentId"] == DEMO_AGENT_ID and rec.started["agentPrompt"] == script.system_prompt
    assert rec.started["agentName"]
    ended = rec.ended
    assert ended["callEndedReason"] == "ended" and ended["agentSpokeFirst"] is True

    # Every scripted turn: the caller's four utterances (the late final joined
    # its turn), the greeting, the answers, the tool's answer, the goodbye.
    turns = ended["transcript"]
    assert _words(turns, "user") == [normalize_text(t.text) for t in script.turns]
    bot = [t for t in turns if t["role"] == "assistant"]
    assert normalize_text(bot[0]["content"]) == normalize_text(script.greeting)
    assert normalize_text(bot[1]["content"]) == "sure what's the order number"
    assert normalize_text(bot[2]["content"]) == "order four two seven shipped it arrives friday"
    assert normalize_text(bot[-1]["content"]) == "you're welcome goodbye"
    assert not any(t.get("interrupted") for t in (bot[0], bot[1], bot[2], bot[-1]))

    # The tool call and its result.
    tools = ended["toolCalls"]
    assert [t["kind"] for t in tools] == ["tool_call", "tool_result"]
    assert tools[0]["name"] == "lookup_order" and json.loads(tools[0]["arguments"]) == {"order_id": "427"}
    assert tools[0]["toolCallId"] == tools[1]["toolCallId"]
    assert json.loads(tools[1]["content"]) == {"order": "four two seven", "status": "shipped", "eta": "Friday"}

    # The barge-in: "Thanks, that's all." starts while the bot explains the
    # address change, and that explanation stops short of its end.
    thanks = next(t for t in turns if normalize_text(t["content"]) == "thanks that's all")
    cut = [t for t in bot if t.get("interrupted")
           and t["audioOffsetMs"] <= thanks["audioOffsetMs"] <= t["endAudioOffsetMs"]]
    assert len(cut) == 1, bot
    assert "of course" in normalize_text(cut[0]["content"]) and "zip code" not in cut[0]["content"]
    # The bot stops within a second of the caller starting to talk.
    assert cut[0]["endAudioOffsetMs"] - thanks["audioOffsetMs"] < 1000

    # The recording: every chunk, stereo, as long as the call, every turn inside it.
    assert sorted(rec.chunks) == list(range(len(rec.chunks))) and len(rec.chunks) > 5
    rate, channels = ended["recordingSampleRate"], ended["recordingNumChannels"]
    assert (rate, channels) == (24000, 2)
    rec_secs = len(demo.pcm) / (2 * channels * rate)
    call_secs = (parse_iso(ended["callEndedAt"]) - parse_iso(ended["callStartedAt"])).total_seconds()
    assert abs(rec_secs - call_secs) < 0.5, (rec_secs, call_secs)
    assert all(0 <= t["audioOffsetMs"] < t["endAudioOffsetMs"] <= rec_secs * 1000 for t in turns)


def test_inspect_call_reports_what_is_missing(demo):
    """The demo's exit code means something: each gap in the call is named."""
    script = default_demo_script()
    rec, pcm = demo.rec, demo.pcm
    facts, failures = inspect_call(rec, pcm, script)
    assert failures == []
    assert (facts.user_turns, facts.tool_calls, facts.tool_results) == (4, ["lookup_order"], 1)
    assert facts.bot_turns == len(demo.rec.ended["transcript"]) - 4 and facts.interrupted_turns >= 1

    def broken(**ended_changes):
        ended = {**rec.ended, **ended_changes}
        return dataclasses.replace(rec, ended=ended)

    turns, tools = rec.ended["transcript"], rec.ended["toolCalls"]
    cases = {
        "without its result": (broken(toolCalls=tools[:1]), pcm),
        "tool call lookup_order missing": (broken(toolCalls=[]), pcm),
        "barge-in": (broken(transcript=[{**t, "interrupted": False} for t in turns]), pcm),
        "caller turn missing from the transcript: \"Thanks, that's all.\"":
            (broken(transcript=[t for t in turns if not t["content"].startswith("Thanks")]), pcm),
        "recording chunk(s) missing: 3": (dataclasses.replace(rec, chunks={i: n for i, n in rec.chunks.items() if i != 3}), pcm),
        "the recording lasts": (rec, pcm[: len(pcm) - 24000 * 4 * 3]),
        "no call-ended arrived": (dataclasses.replace(rec, ended=None, events=rec.events[:1]), pcm),
        "the server found 1 problem(s)": (dataclasses.replace(rec, problems=["call-ended: something"]), pcm),
        "no recording arrived": (dataclasses.replace(rec, chunks={}), b""),
    }
    for expected, (bad_rec, bad_pcm) in cases.items():
        _, failures = inspect_call(bad_rec, bad_pcm, script)
        assert any(expected in f for f in failures), (expected, failures)
    assert inspect_call(None, b"", script)[1] == ["the server received nothing for this call"]


# --------------------------------------------------------------------------- #
# --serve: the call page, live, until stopped (a shorter call: ~12 s)
# --------------------------------------------------------------------------- #


async def test_serve_mode_serves_the_call_page_until_stopped(tmp_path):
    script = CallScript(
        greeting="Acme support, how can I help?",
        turns=[
            CallerTurn("order_status", 2600, reply="Sure, what's the order number?"),
            CallerTurn("thanks", 7600, reply="You're welcome, goodbye!"),
        ],
        duration_ms=11000,
    )
    lines: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_demo_call(
        serve=True, data_dir=tmp_path / "data", out_dir=tmp_path / "out", script=script, stop=stop,
        out=lines.append,
    ))
    try:
        deadline = time.monotonic() + 40
        while "Serving until Ctrl-C." not in lines:
            assert not task.done(), (lines, task.result() if not task.exception() else task.exception())
            assert time.monotonic() < deadline, lines
            await asyncio.sleep(0.1)
        text = "\n".join(lines)
        assert "arrived complete." in text and re.search(r"tool calls\s+none", text), text
        url = re.search(r"call page\s+(http://127\.0\.0\.1:\d+/calls/\S+)", text).group(1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(url) as r:
                assert r.status == 200 and "call.js" in await r.text()
            async with http.get(url.replace("/calls/", "/api/calls/")) as r:
                data = await r.json()
            assert data["complete"] and data["problems"] == [] and data["turns"] == 5
        assert not task.done()  # still serving
    finally:
        stop.set()
    outcome = await asyncio.wait_for(task, 10)
    assert outcome.exit_code == 0 and outcome.page_url == url and outcome.html_path is None
    assert not (tmp_path / "out").exists()  # nothing exported in --serve mode
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(url)  # stopped


# --------------------------------------------------------------------------- #
# The call page in a real browser
# --------------------------------------------------------------------------- #

READY = "document.body && document.body.dataset.ready === '1'"


async def _check_call_page(b: Chromium, demo: DemoRun) -> None:
    ended = demo.rec.ended
    turns = ended["transcript"]
    await b.wait_until(READY)
    # Both channels drawn, from real audio on each side.
    for wave_id in ("wave-caller", "wave-bot"):
        assert await b.eval(f"document.getElementById('{wave_id}').dataset.drawn") == "1"
        assert await b.eval(f"document.getElementById('{wave_id}').dataset.empty") == "0"
    # The browser decoded the WAV, and it is as long as the recording.
    rec_ms = len(demo.pcm) / (4 * ended["recordingSampleRate"]) * 1000
    dur = await b.wait_until("document.getElementById('player').dataset.durationMs")
    assert abs(int(dur) - rec_ms) < 50

    # The turns are listed, in order, with their offsets...
    listed = await b.eval(
        "[...document.querySelectorAll('#transcript .turn')]"
        ".map(t => [t.dataset.role, Number(t.dataset.offsetMs), t.querySelector('.content').textContent])"
    )
    assert listed == [[t["role"], t["audioOffsetMs"], t["content"]] for t in turns]
    assert await b.eval("document.querySelectorAll('.turn.interrupted .mark-interrupted').length") == \
        sum(1 for t in turns if t.get("interrupted"))
    # ...and placed on the timeline: each span starts where its offset is on the shared axis.
    total_ms = max([rec_ms] + [t["endAudioOffsetMs"] for t in turns])
    spans = await b.eval(
        """[...document.querySelectorAll('.spans .span')].map(s => {
             const lane = s.parentElement.getBoundingClientRect(), r = s.getBoundingClientRect();
             return [Number(s.dataset.turnIndex), s.parentElement.id, Number(s.dataset.offsetMs),
                     (r.left - lane.left) / lane.width, r.width / lane.width];
           })"""
    )
    assert sorted(s[0] for s in spans) == list(range(len(turns)))
    for index, lane, offset, x, width in spans:
        turn = turns[index]
        assert lane == ("spans-caller" if turn["role"] == "user" else "spans-bot")
        assert offset == turn["audioOffsetMs"]
        assert abs(x - offset / total_ms) < 0.005, (turn["content"], x, offset / total_ms)
        assert abs(width - (turn["endAudioOffsetMs"] - offset) / total_ms) < 0.005
    assert await b.eval("document.querySelectorAll('.tool-mark').length") == 1
    assert await b.eval("document.querySelectorAll('#tools .tool .result').length") == 1
    assert await b.eval("document.querySelector('#problem-list .no-problems') !== null")

    # Clicking a turn moves the player to it. (play() is stubbed so the
    # position stays where the click put it.)
    await b.eval("document.getElementById('player').play = () => Promise.resolve()")
    index = next(i for i, t in enumerate(turns) if t["content"].startswith("Thanks"))
    target = turns[index]["audioOffsetMs"]
    await b.eval(f"document.querySelector('#transcript .turn[data-turn-index=\"{index}\"]').click()")
    assert await b.eval("document.getElementById('player').dataset.seekMs") == str(target)
    await b.wait_until(f"Math.abs(document.getElementById('player').currentTime * 1000 - {target}) < 20")
    # Highlighted: the clicked turn (and the bot turn it barged into, still playing there).
    active = await b.eval("[...document.querySelectorAll('#transcript .turn.active')].map(t => t.dataset.turnIndex)")
    assert str(index) in active


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (.ci/run installs Debian's chromium)")
async def test_demo_call_page_in_chromium(demo, tmp_path):
    async with Chromium(CHROMIUM, tmp_path / "profile", width=1280, height=900) as b:
        # A server on the demo's data directory: the call as it was stored.
        async with DevServer(data_dir=demo.data_dir, port=0) as server:
            await b.open(f"{server.base_url}/calls/{quote(demo.call_id, safe='')}")
            await _check_call_page(b, demo)
            # The picture: the recording lanes, the spans and the transcript.
            await b.eval("document.getElementById('recording').scrollIntoView({block: 'start'}); scrollBy(0, -16)")
            await b.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            png = await b.screenshot(ARTIFACTS / "call-page.png")
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

        # The page the demo exported works from disk, with no server running.
        html = demo.out_dir.resolve() / f"call-{demo.call_id}.html"
        await b.open(html.as_uri())
        await _check_call_page(b, demo)
