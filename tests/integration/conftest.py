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
