"""examples/basic_observer.py runs as documented and its call reaches the server whole."""

import ast
import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import aiohttp

from pipecat_roark.devserver.server import DevServer
from pipecat_roark.testing.audio import normalize_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "basic_observer.py"


def load_example():
    spec = importlib.util.spec_from_file_location("basic_observer_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_imports_nothing_private():
    tree = ast.parse(EXAMPLE.read_text())
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    private = [m for m in modules if any(part.startswith("_") for part in m.split("."))]
    assert private == []


async def test_pointed_at_a_dev_server_it_prints_the_call_page(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ROARK_API_KEY", raising=False)
    monkeypatch.delenv("ROARK_OBSERVABILITY_ENABLED", raising=False)
    example = load_example()
    async with DevServer(data_dir=tmp_path, port=0) as server:
        monkeypatch.setenv("ROARK_BASE_URL", server.base_url)
        await example.main()
        out = capsys.readouterr().out
        (url,) = re.findall(r"^call page: (\S+)$", out, flags=re.M)
        assert url.startswith(server.base_url + "/calls/")
        call_id = unquote(url.rsplit("/", 1)[1])
        call = server.store.get_call(call_id)
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
    assert call.problems == []
    transcript = call.ended["transcript"]
    assert [(t["role"], normalize_text(t["content"])) for t in transcript] == [
        ("assistant", "acme support how can i help"),
        ("user", "hi i'd like to check my order status"),
        ("assistant", "sure what's the order number"),
    ]
    # The caller waits for the greeting to end: nothing is cut off.
    assert not any(t.get("interrupted") for t in transcript)
    assert transcript[1]["audioOffsetMs"] > transcript[0]["endAudioOffsetMs"]
    assert call.started["agentName"] == "Support Bot v3" and call.chunks
