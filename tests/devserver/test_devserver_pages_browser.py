"""The pages in a real headless Chromium (skipped where no Chromium is installed)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from devserver_browser import Browser, find_chromium
from devserver_helpers import FRAMES, ended, full_call, pcm, post_event, send_chunk, started

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH")

READY = "document.body && document.body.dataset.ready === '1'"


async def _check_call_page(b: Browser) -> None:
    await b.wait_until(READY)
    # Both channels drawn from real audio.
    assert await b.eval("document.getElementById('wave-caller').dataset.drawn") == "1"
    assert await b.eval("document.getElementById('wave-bot').dataset.drawn") == "1"
    assert await b.eval("document.getElementById('wave-bot').dataset.empty") == "0"
    # The browser decoded the WAV: 0.5 s.
    assert await b.wait_until("document.getElementById('player').dataset.durationMs") == "500"
    offsets = await b.eval("[...document.querySelectorAll('.turn')].map(t => t.dataset.offsetMs)")
    assert offsets == ["50", "250"]
    assert await b.eval("document.querySelectorAll('.span.user').length") == 1
    assert await b.eval("document.querySelectorAll('.turn.interrupted .mark-interrupted').length") == 1
    # Clicking a turn seeks the player to its start. (Playback is stubbed out so
    # the 0.5 s clip cannot play past the checked position.)
    await b.eval("document.getElementById('player').play = () => Promise.resolve()")
    await b.eval("document.querySelectorAll('.turn')[1].click()")
    await b.wait_until("Math.abs(document.getElementById('player').currentTime - 0.25) < 0.02")
    # User text is text, never markup.
    assert await b.eval("document.querySelector('.turn .content').textContent") == "</script><b>hi</b>"
    assert await b.eval("document.querySelectorAll('#transcript b').length") == 0
    assert await b.eval("document.querySelectorAll('.tool[data-tool-call-id=\"t1\"] .result').length") == 1
    assert await b.eval("document.querySelector('#problem-list .no-problems') !== null")
    assert await b.eval("document.querySelectorAll('details.event').length") == 2
    await _check_metric_rows(b)


async def _check_metric_rows(b: Browser) -> None:
    """Latency row with its p95 line, interruption marks, TTFB, tool outcomes, health, errors, summary."""
    bars = await b.eval("[...document.querySelectorAll('#latency-bars .latency-bar')].map(e => e.dataset.latencyMs)")
    assert bars == ["50"]
    assert await b.eval("document.querySelector('#latency-bars .p95-line').dataset.p95Ms") == "50"
    # The bar covers the caller's wait: from 200 ms to the bot's first sound at 250 ms.
    left = await b.eval("parseFloat(document.querySelector('.latency-bar').style.left)")
    assert abs(left - 40.0) < 0.5  # 200 ms of a 500 ms axis
    assert await b.eval("document.querySelector('#spans-bot .interrupt-mark').dataset.bargeInMs") == "100"
    assert await b.eval("document.querySelectorAll('#spans-bot .barge-in').length") == 1
    ttfb = await b.eval("[...document.querySelectorAll('#ttfb tbody tr td')].map(td => td.textContent)")
    assert ttfb[:5] == ["#0 caller", "0:00.1", "30 ms", "20 ms", "–"] and ttfb[-1] == "#1 · cut off by the caller"
    heads = await b.eval("[...document.querySelectorAll('#ttfb thead th')].map(th => th.textContent)")
    assert heads == ["turn", "at", "STT TTFB", "LLM TTFB", "TTS TTFB", "bot's reply"]
    assert await b.eval("document.querySelector('.tool[data-tool-call-id=\"t1\"] .tool-status').textContent") == "failed"
    assert "db down" in await b.eval("document.querySelector('.tool[data-tool-call-id=\"t1\"] .tool-error').textContent")
    assert await b.eval("document.getElementById('health-status').dataset.status") == "degraded"
    assert await b.eval("document.querySelector('#health [data-key=\"channel-bot\"]').textContent") == "Bot channel: SILENT"
    assert await b.eval("document.querySelectorAll('#health .health-warning').length") == 1
    assert await b.eval("document.querySelectorAll('#errors tbody tr').length") == 1
    summary = await b.eval("document.querySelector('#call-summary [data-key=\"latency\"]').textContent")
    assert "p95 50 ms" in summary
    await _check_newcomer_page(b)
    await _check_outcome_cost_events(b)


async def _check_outcome_cost_events(b: Browser) -> None:
    """Issue 14: outcome, phone call, DTMF/app events on the timeline, cost, turn-taking."""
    assert await b.eval("document.getElementById('end-status').textContent") == "caller_hung_up"
    outcome = await b.eval("[...document.querySelectorAll('#outcome li')].map(li => li.textContent)")
    assert "Ended by: the caller" in outcome and "Last speaker: the bot" in outcome
    tel = await b.eval("[...document.querySelectorAll('#telephony li')].map(li => li.textContent)")
    assert "Provider: twilio" in tel and "Carrier sample rate: 8000 Hz" in tel and "From: +15550001111" in tel
    marks = await b.eval("[...document.querySelectorAll('#event-marks .event-mark')].map(m => [m.dataset.kind, m.dataset.offsetMs, parseFloat(m.style.left)])")
    assert [m[:2] for m in marks] == [["dtmf", "100"], ["user", "450"]] and abs(marks[0][2] - 20.0) < 0.5
    assert await b.eval("document.querySelectorAll('#timeline-events-table tbody tr').length") == 2
    assert await b.eval("document.getElementById('cost-total').textContent") == (
        "$0.000135 total (lower bound: some components unknown)")
    cost_rows = await b.eval("[...document.querySelectorAll('#cost-table tbody tr')].map(tr => [tr.children[0].textContent, tr.children[2].textContent, tr.className])")
    assert cost_rows == [["llm", "$0.000105", ""], ["tts", "$0.000030", ""], ["stt", "unknown", "cost-unknown"]]
    assert await b.eval("document.querySelector('#turn-taking [data-key=\"interruptions\"]').textContent") == (
        "Interruptions: 1 by the caller (barge-in) · 0 by the pipeline")


async def _check_newcomer_page(b: Browser) -> None:
    """What a newcomer needs without hovering: a legend, latency in the transcript, plain words and units."""
    legend = await b.eval("[...document.querySelectorAll('#legend li')].map(li => li.dataset.mark)")
    assert legend == ["caller-turn", "bot-turn", "tool", "barge-in", "overlap", "self-interruption", "event", "latency",
                      "p95", "low-confidence", "log"]
    # Each entry is visible and has a swatch drawn with a colour or pattern.
    assert await b.eval("""[...document.querySelectorAll('#legend li')].every(li => {
        const r = li.getBoundingClientRect(), sw = li.querySelector('.swatch'), cs = getComputedStyle(sw);
        return r.width > 0 && r.height > 0 && sw.getBoundingClientRect().width > 0 &&
          (cs.backgroundColor !== 'rgba(0, 0, 0, 0)' || cs.backgroundImage !== 'none' || cs.borderTopStyle === 'dashed');
    })""")
    # The bot's turn says how long the caller waited and how long it talked over them, inline.
    bot = "document.querySelector('.turn[data-turn-index=\"1\"]')"
    assert await b.eval(f"{bot}.querySelector('.turn-latency').textContent") == "replied after 50 ms"
    assert await b.eval(f"{bot}.querySelector('.turn-barge-in').textContent") == "talked over the caller for 100 ms"
    assert await b.eval(f"{bot}.querySelector('.mark-interrupted').textContent") == "interrupted by the caller"
    assert await b.eval(f"getComputedStyle({bot}.querySelector('.turn-latency')).display") != "none"
    # Measurements collapsed; booleans as words; one time format (UTC) and unit style.
    assert await b.eval("document.getElementById('metrics-details').open") is False
    facts = await b.eval("[...document.querySelectorAll('#facts li')].map(li => li.textContent)")
    assert "Test call: yes" in facts and "Agent spoke first: no" in facts
    assert "Started: 2025-05-01 10:00:00 UTC" in facts and "Duration: 500 ms" in facts
    assert await b.eval("document.querySelector('#errors tbody td[data-label=\"fatal\"]').textContent") == "no"
    clock = await b.eval("document.querySelector('.turn .t div:nth-child(2)').textContent")
    assert clock == "10:00:00.050 UTC"
    metric_values = await b.eval("[...document.querySelectorAll('#metrics tbody tr')].map(tr => tr.lastChild.textContent)")
    assert "ttfb 20 ms · ttft 20 ms · interrupted yes" in metric_values
    # The first axis label is not clipped by the card's left edge.
    first = await b.eval("""(() => { const s = document.querySelector('#axis span'), a = document.getElementById('axis');
        return [s.textContent, s.getBoundingClientRect().left - a.getBoundingClientRect().left]; })()""")
    assert first[0] == "0:00.0" and first[1] >= 0
    # Downloads named after the call.
    names = await b.eval("['link-wav', 'link-json'].map(id => document.getElementById(id).download)")
    call_id = await b.eval("document.body.dataset.callId")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in call_id)
    assert names == [f"{safe}.wav", f"{safe}.json"]


async def test_call_page_and_export_in_chromium(server, http, tmp_path):
    cid = "browser call/1"
    await full_call(server, http, cid)
    async with Browser(CHROMIUM, tmp_path / "profile") as b:
        await b.open(server.base_url + "/")
        await b.wait_until(READY)
        assert await b.eval("[...document.querySelectorAll('.call-row')].map(r => r.dataset.callId)") == [cid]
        assert await b.eval("document.querySelector('.call-row .latency-p95').textContent") == "50 ms"
        # The list speaks the call page's time format and units.
        assert await b.eval("document.querySelector('.call-row a').textContent") == "2025-05-01 10:00:00 UTC"
        assert await b.eval("document.querySelector('.call-row td[data-label=\"Duration\"]').textContent") == "500 ms"
        assert await b.eval("document.querySelector('.call-row .errors').textContent") == "1"
        # Issue 14: the status and the cost, the status filter and sorting by cost.
        assert await b.eval("document.querySelector('.call-row .end-status').textContent") == "caller_hung_up"
        assert await b.eval("document.querySelector('.call-row .cost').textContent") == "$0.000135+"
        assert await b.eval("[...document.getElementById('filter-status').options].map(o => o.value)") == [
            "", "caller_hung_up"]
        await b.eval("const s = document.getElementById('filter-status'); s.value = 'caller_hung_up';"
                     "s.dispatchEvent(new Event('change'))")
        assert await b.eval("document.querySelectorAll('.call-row').length") == 1
        await b.eval("document.querySelector('#calls th[data-sort=\"costUsd\"]').click()")
        assert await b.eval("document.querySelector('#calls th[data-sort=\"costUsd\"]').dataset.sorted") == "asc"

        await b.open(f"{server.base_url}/calls/{quote(cid, safe='')}")
        await _check_call_page(b)

        # The exported file works from disk with the server gone from the picture.
        async with http.get(f"{server.base_url}/api/calls/{quote(cid, safe='')}/export.html") as r:
            export = tmp_path / "export.html"
            export.write_bytes(await r.read())
        await b.open(export.as_uri())
        await _check_call_page(b)



async def test_self_interruption_and_the_phone_layout(server, http, tmp_path):
    """A bot cut off while the caller was silent is not a barge-in; no table is wider than its card on a phone."""
    cid = "phone-call"
    base = server.base_url
    await post_event(http, base, started(cid))
    await send_chunk(http, base, cid, 0, pcm(FRAMES, 7))
    end = ended(
        cid, seconds=0.25, agentSpokeFirst=True,
        transcript=[
            {"role": "assistant", "content": "Welcome to a very long greeting " * 4, "timestamp": "2025-05-01T10:00:00.010Z",
             "endTimestamp": "2025-05-01T10:00:00.100Z", "audioOffsetMs": 10, "endAudioOffsetMs": 100,
             "interrupted": True, "interruptionCause": "pipeline"},
            {"role": "user", "content": "hello", "timestamp": "2025-05-01T10:00:00.120Z",
             "endTimestamp": "2025-05-01T10:00:00.150Z", "audioOffsetMs": 120, "endAudioOffsetMs": 150},
            {"role": "assistant", "content": "Hi", "timestamp": "2025-05-01T10:00:00.180Z",
             "endTimestamp": "2025-05-01T10:00:00.240Z", "audioOffsetMs": 180, "endAudioOffsetMs": 240,
             "responseLatencyMs": 30},
        ],
        metrics=[{"kind": "llm", "metric": "ttfb", "ttfb": 0.0123456, "timestamp": "2025-05-01T10:00:00.160Z",
                  "audioOffsetMs": 160, "turnIndex": 1, "processor": "AVeryLongProcessorNameWithoutSpaces#0" * 3,
                  "model": "some-model-name-that-is-long"}],
        errors=[{"message": "x" * 300, "processor": "TTS#0", "fatal": True, "timestamp": "2025-05-01T10:00:00.200Z"}],
        callSummary={"interruptions": 1, "latency": {"count": 1, "medianMs": 30, "p95Ms": 30, "maxMs": 30}},
    )
    await post_event(http, base, end)
    await server.wait_for_call_ended(cid)
    async with Browser(CHROMIUM, tmp_path / "profile") as b:
        await b.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
        await b.open(f"{base}/calls/{cid}")
        await b.wait_until(READY)
        first = "document.querySelector('.turn[data-turn-index=\"0\"]')"
        assert await b.eval(f"{first}.querySelector('.mark-interrupted').textContent") == "cut off by the pipeline"
        assert await b.eval(f"{first}.querySelector('.turn-barge-in')") is None
        marks = await b.eval("[...document.querySelectorAll('#spans-bot .interrupt-mark')].map(m => [m.className, m.dataset.cause])")
        assert marks == [["interrupt-mark self", "pipeline"]]
        assert await b.eval("document.querySelectorAll('#spans-bot .barge-in').length") == 0
        assert await b.eval("document.querySelector('#call-summary [data-key=\"interruptions\"]').textContent") == (
            "Interruptions: 0 by the caller · 1 by the pipeline (caller silent)")
        assert await b.eval("document.querySelector('.turn[data-turn-index=\"2\"] .turn-latency').textContent") == (
            "replied after 30 ms")
        assert await b.eval("document.querySelector('#ttfb tbody tr').lastChild.textContent") == "#2 · not cut off"
        # Open what is collapsed, then measure every table against its card.
        await b.eval("document.getElementById('metrics-details').open = true")
        await b.eval("document.querySelectorAll('details.event').forEach(d => d.open = true)")
        widths = await b.eval("""[...document.querySelectorAll('table')].map(t => {
            const card = t.closest('section.card');
            return [t.parentElement.id, Math.ceil(t.getBoundingClientRect().width), card.clientWidth, t.scrollWidth];
        })""")
        assert {w[0] for w in widths} >= {"ttfb", "metrics", "errors", "chunks"}
        for name, width, card, scroll in widths:
            assert width <= card and scroll <= card, (name, width, card, scroll)
        assert await b.eval("document.documentElement.scrollWidth") <= 390
        assert await b.eval("[...document.querySelectorAll('#legend li')].every(li => li.getBoundingClientRect().right <= 390)")


async def test_low_confidence_turns_and_log_lines_beside_the_timeline(server, http, tmp_path):
    """Issue 15: a caller turn the STT was unsure of stands out; the call's log lines sit on the timeline and in a list."""
    cid = "capture-control-call"
    base = server.base_url
    await post_event(http, base, started(cid))
    await send_chunk(http, base, cid, 0, pcm(FRAMES, 3))
    await send_chunk(http, base, cid, 1, pcm(FRAMES, 4))

    def user(at, content, confidence):
        turn = {"role": "user", "content": content, "timestamp": f"2025-05-01T10:00:00.{at:03d}Z",
                "endTimestamp": f"2025-05-01T10:00:00.{at + 60:03d}Z", "audioOffsetMs": at, "endAudioOffsetMs": at + 60}
        if confidence is not None:
            turn["sttQuality"] = {"provider": "deepgram", "confidence": confidence, "confidenceFrom": "provider",
                                  "words": [{"start": 0.1, "end": 0.2, "confidence": confidence, "audioOffsetMs": at}]}
        return turn

    end = ended(
        cid, seconds=0.5, agentSpokeFirst=False, audioConsent="granted",
        transcript=[user(20, "check my order", 0.97), user(200, "four two seven", 0.42), user(380, "thanks", None)],
        logs=[{"timestamp": "2025-05-01T10:00:00.100Z", "level": "WARNING", "message": "slow <b>lookup</b>",
               "logger": "bot", "audioOffsetMs": 100},
              {"timestamp": "2025-05-01T10:00:00.300Z", "level": "ERROR", "message": "tts failed",
               "logger": "pipecat.services.tts", "audioOffsetMs": 300, "count": 2}],
    )
    await post_event(http, base, end)
    rec = await server.wait_for_call_ended(cid)
    assert rec.problems == []
    async with Browser(CHROMIUM, tmp_path / "profile") as b:
        await b.open(f"{base}/calls/{cid}")
        await b.wait_until(READY)
        low = "[...document.querySelectorAll('.turn.low-confidence')].map(t => t.dataset.turnIndex)"
        assert await b.eval(low) == ["1"]
        assert await b.eval("[...document.querySelectorAll('.span.low-confidence')].map(s => s.dataset.turnIndex)") == ["1"]
        assert await b.eval("document.querySelector('.turn.low-confidence .mark-low-confidence').textContent") == (
            "low STT confidence")
        confidences = await b.eval("[...document.querySelectorAll('.turn')].map(t => "
                                   "(t.querySelector('.turn-confidence') || {}).textContent || null)")
        assert confidences == ["STT confidence 97%", "STT confidence 42%", None]  # none given: nothing shown
        # The log lane is on the shared axis (0.5 s): marks at 20 % and 60 %, errors red.
        assert await b.eval("document.getElementById('lane-logs').hidden") is False
        marks = await b.eval("[...document.querySelectorAll('#log-marks .log-mark')]"
                             ".map(m => [m.className, Math.round(parseFloat(m.style.left))])")
        assert marks == [["log-mark warning", 20], ["log-mark error", 60]]
        lines = await b.eval("[...document.querySelectorAll('#logs .log-line')].map(l => l.textContent)")
        assert lines == ["0:00.1WARNINGslow <b>lookup</b>", "0:00.3ERRORtts failed (\u00d72)"]
        assert await b.eval("document.querySelectorAll('#logs b').length") == 0  # text, never markup
        await b.eval("document.getElementById('player').play = () => Promise.resolve()")
        await b.eval("document.querySelectorAll('#logs .log-line')[1].click()")
        await b.wait_until("Math.abs(document.getElementById('player').currentTime - 0.3) < 0.02")
        facts = await b.eval("document.getElementById('facts').textContent")
        assert "Audio consent: granted" in facts
