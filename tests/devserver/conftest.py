"""Fixtures for the dev server tests: a real DevServer on loopback and an HTTP client."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import pytest

# `pytest` run from anywhere (not only `python -m pytest` from the repo root)
# must import the package from this work tree.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from pipecat_roark.devserver import DevServer  # noqa: E402


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "devdata"


@pytest.fixture
async def server(data_dir: Path):
    srv = DevServer(data_dir=data_dir)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def http():
    # A short default timeout: a test that waits on a hung server must fail, not stall.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
