import pytest

from pipecat_roark.devserver.server import DevServer

API_KEY = "rk_test_SECRET_do_not_log_123"


@pytest.fixture
async def server(tmp_path):
    async with DevServer(data_dir=tmp_path / "roark", port=0, api_key=API_KEY) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("ROARK_API_KEY", "ROARK_BASE_URL", "ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED"):
        monkeypatch.delenv(name, raising=False)
