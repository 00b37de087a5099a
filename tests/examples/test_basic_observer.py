"""examples/basic_observer.py runs as documented and its call reaches the server whole."""

import importlib.util
from pathlib import Path

from pipecat_roark.devserver.server import DevServer
from pipecat_roark.testing.audio import normalize_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "basic_observer.py"


def load_example():
    spec = importlib.util.spec_from_file_location("basic_observer_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_basic_observer_example_delivers_its_call(tmp_path, monkeypatch):
    for name in ("ROARK_API_KEY", "ROARK_BASE_URL", "ROARK_OBSERVABILITY_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    example = load_example()
    async with DevServer(data_dir=tmp_path, port=0) as server:
        roark = await example.run_bot(base_url=server.base_url)
        call = server.store.get_call(roark.pipecat_call_id)
    assert call.problems == []
    assert [(t["role"], normalize_text(t["content"])) for t in call.ended["transcript"]] == [
        ("assistant", "acme support how can i help"),
        ("user", "hi i'd like to check my order status"),
        ("assistant", "sure what's the order number"),
    ]
    assert call.started["agentName"] == "Support Bot v3" and call.chunks
