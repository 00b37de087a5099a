"""The pages in a real headless Chromium (skipped where no Chromium is installed)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from devserver_browser import Browser, find_chromium
from devserver_helpers import full_call

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
    assert ttfb[:5] == ["#0 caller", "0:00.1", "30 ms", "20 ms", "–"] and ttfb[-1] == "interrupted"
    assert await b.eval("document.querySelector('.tool[data-tool-call-id=\"t1\"] .tool-status').textContent") == "failed"
    assert "db down" in await b.eval("document.querySelector('.tool[data-tool-call-id=\"t1\"] .tool-error').textContent")
    assert await b.eval("document.getElementById('health-status').dataset.status") == "degraded"
    assert await b.eval("document.querySelector('#health [data-key=\"channel-bot\"]').textContent") == "Bot channel: SILENT"
    assert await b.eval("document.querySelectorAll('#health .health-warning').length") == 1
    assert await b.eval("document.querySelectorAll('#errors tbody tr').length") == 1
    summary = await b.eval("document.querySelector('#call-summary [data-key=\"latency\"]').textContent")
    assert "p95 50 ms" in summary


async def test_call_page_and_export_in_chromium(server, http, tmp_path):
    cid = "browser call/1"
    await full_call(server, http, cid)
    async with Browser(CHROMIUM, tmp_path / "profile") as b:
        await b.open(server.base_url + "/")
        await b.wait_until(READY)
        assert await b.eval("[...document.querySelectorAll('.call-row')].map(r => r.dataset.callId)") == [cid]
        assert await b.eval("document.querySelector('.call-row .latency-p95').textContent") == "50 ms"
        assert await b.eval("document.querySelector('.call-row .errors').textContent") == "1"

        await b.open(f"{server.base_url}/calls/{quote(cid, safe='')}")
        await _check_call_page(b)

        # The exported file works from disk with the server gone from the picture.
        async with http.get(f"{server.base_url}/api/calls/{quote(cid, safe='')}/export.html") as r:
            export = tmp_path / "export.html"
            export.write_bytes(await r.read())
        await b.open(export.as_uri())
        await _check_call_page(b)

