"""The dev server says one INFO line per call, and `dev` and `demo` log in one format."""

from __future__ import annotations

import io
import re
import sys

from loguru import logger

from devserver_helpers import full_call


async def test_one_info_line_per_call_not_one_per_chunk(server, http):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO",
                      filter=lambda r: (r["name"] or "").startswith("pipecat_roark.devserver"))
    try:
        await full_call(server, http, "log-call")  # two chunks, two events
    finally:
        logger.remove(sink)
    about_the_call = [line for line in lines if "log-call" in line]
    assert about_the_call == ["devserver: call log-call ended: 2 chunk(s), 0 problem(s)"]


def _console_line(configure, monkeypatch) -> str:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    configure(False)
    try:
        logger.bind().patch(lambda r: r.update(name="pipecat_roark.observer")).info("Roark call c1: call started")
    finally:
        logger.remove()
        logger.add(lambda m: sys.__stderr__.write(m), level="DEBUG")
    return err.getvalue()


def test_dev_and_demo_log_in_one_format(monkeypatch):
    from pipecat_roark.cli import _configure_logging
    from pipecat_roark.demo import configure_demo_logging

    dev = _console_line(_configure_logging, monkeypatch)
    demo = _console_line(configure_demo_logging, monkeypatch)
    pattern = r"^\d\d:\d\d:\d\d\.\d{3} INFO    Roark call c1: call started\n$"
    assert re.match(pattern, dev), dev
    assert re.match(pattern, demo), demo
