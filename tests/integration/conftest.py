import signal
import subprocess
import sys

import pytest
from loguru import logger

from pipecat_roark.devserver.server import DevServer

API_KEY = "rk_test_SECRET_do_not_log_123"


@pytest.fixture
async def server(tmp_path):
    async with DevServer(data_dir=tmp_path / "roark", port=0, api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def logs():
    """Every log line of the test, as text (what a user's log collector sees)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{level} | {name} | {message}")
    yield lines
    logger.remove(sink)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("ROARK_API_KEY", "ROARK_BASE_URL", "ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server_process(tmp_path):
    """`pipecat-roark dev` in its own process, as users run it: the 20
    pipelines get this process to themselves."""
    data_dir = tmp_path / "roark"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipecat_roark.cli", "dev", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        base_url = None
        for line in proc.stdout:  # the server prints its URL first
            if "dev server:" in line:
                base_url = line.rsplit(" ", 1)[-1].strip()
                break
        assert base_url, "the dev server did not start"
        yield base_url, data_dir
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
