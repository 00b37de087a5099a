"""The Pipecat Cloud image's bot, called the way the platform calls it.

Pipecat Cloud's base image imports ``/app/bot.py`` (which the Dockerfile
copies from examples/bot.py) and awaits ``bot(runner_args)`` once per
session. For a Daily session the arguments are ``DailyRunnerArguments`` with
the room, its token, the request body and the session id. The environment is
the secret set: here exactly the keys of ``.env.cloud.example``, with
placeholder values. Nothing is started, so nothing touches the network.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "pipecat.workers.runner",
    reason="examples/bot.py targets Pipecat 1.x (PipelineWorker/WorkerRunner); this is Pipecat 0.0.10x",
    exc_type=ImportError,
)
for _module in ("pipecat.services.deepgram.stt", "pipecat.services.openai.llm", "pipecat.services.cartesia.tts",
                "pipecat.audio.vad.silero"):
    pytest.importorskip(_module, reason=f"examples/bot.py needs {_module}", exc_type=ImportError)

from pipecat.pipeline.worker import PipelineWorker  # noqa: E402
from pipecat.runner.types import DailyRunnerArguments  # noqa: E402
from pipecat.transports.base_input import BaseInputTransport  # noqa: E402
from pipecat.transports.base_output import BaseOutputTransport  # noqa: E402
from pipecat.transports.base_transport import BaseTransport, TransportParams  # noqa: E402

from pipecat_roark import RoarkObserver  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HAVE_DAILY = importlib.util.find_spec("daily") is not None


def cloud_secret_names() -> list[str]:
    """The variables the Cloud secrets template sets (uncommented KEY= lines)."""
    text = (ROOT / ".env.cloud.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M)


def dockerfile_bot_source() -> Path:
    """The file the Dockerfile puts at /app/bot.py."""
    (src,) = re.findall(r"^COPY\s+(\S+)\s+/app/bot\.py\s*$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    return ROOT / src


class StandInDailyTransport(BaseTransport):
    """Stands in for DailyTransport where daily-python is not installed."""

    def __init__(self, params):
        super().__init__()
        self._input = BaseInputTransport(params)
        self._output = BaseOutputTransport(params)
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")

    def input(self):
        return self._input

    def output(self):
        return self._output


def test_the_cloud_template_holds_what_the_container_needs_and_nothing_local():
    names = cloud_secret_names()
    assert {"ROARK_API_KEY", "DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"} <= set(names)
    # The platform makes the Daily room; the dev server's key is for a local server.
    assert "DAILY_API_KEY" not in names and "ROARK_DEV_API_KEY" not in names
    assert "ROARK_SPOOL_DIR" in (ROOT / ".env.cloud.example").read_text()
    # One deployment path: a cloud build of the Dockerfile, so no image to pull.
    deploy = (ROOT / "pcc-deploy.toml").read_text()
    assert not re.search(r"^\s*image\s*=", deploy, flags=re.M)
    assert re.search(r'^secret_set\s*=\s*"pipecat-roark-example-secrets"', deploy, flags=re.M)


async def test_bot_runner_args_from_a_cloud_daily_session(tmp_path, monkeypatch):
    # The environment is the secret set and nothing else of ours.
    for name in ("ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED", "CARTESIA_VOICE_ID", "ROARK_BASE_URL",
                 "DAILY_API_KEY", "ROARK_DEV_API_KEY", "DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in cloud_secret_names():
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")
    # Loopback, in case anything ever tried to send (nothing is started).
    monkeypatch.setenv("ROARK_BASE_URL", "http://127.0.0.1:9")

    # As the image has it: /app/bot.py, imported as the module "bot".
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(dockerfile_bot_source(), app / "bot.py")
    spec = importlib.util.spec_from_file_location("bot", app / "bot.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bot", module)
    spec.loader.exec_module(module)

    seen: dict = {}

    class RecordingWorker(PipelineWorker):
        def __init__(self, pipeline, **kwargs):
            seen["worker_kwargs"] = kwargs
            super().__init__(pipeline, **kwargs)

    class NotRunningRunner:
        def __init__(self, **kwargs):
            seen["runner_kwargs"] = kwargs

        async def add_workers(self, *workers):
            seen["workers"] = workers

        async def run(self):
            seen["ran"] = True

    monkeypatch.setattr(module, "PipelineWorker", RecordingWorker)
    monkeypatch.setattr(module, "WorkerRunner", NotRunningRunner)
    if not HAVE_DAILY:
        real_create_transport = module.create_transport

        async def create_transport(runner_args, transport_params):
            seen["create_transport_args"] = runner_args
            seen["transport_keys"] = set(transport_params)
            return StandInDailyTransport(TransportParams(audio_in_enabled=True, audio_out_enabled=True))

        assert real_create_transport.__module__ == "pipecat.runner.utils"
        monkeypatch.setattr(module, "create_transport", create_transport)

    runner_args = DailyRunnerArguments(
        room_url="https://placeholder.daily.co/pcc-room",
        token="placeholder-meeting-token",
        body={"from": "pipecat-cloud"},
        session_id="3f6c1c2e-5b7a-4f1e-9d39-0c8a1d2b7e11",
    )
    await module.bot(runner_args)

    (worker,) = seen["workers"]
    assert seen["ran"]
    assert seen["runner_kwargs"] == {"handle_sigint": False}  # the platform owns the signals
    (roark,) = [o for o in seen["worker_kwargs"]["observers"] if isinstance(o, RoarkObserver)]
    assert roark.enabled
    assert roark.pipecat_call_id == "3f6c1c2e-5b7a-4f1e-9d39-0c8a1d2b7e11"
    assert seen["worker_kwargs"]["conversation_id"] == roark.pipecat_call_id
    assert roark._settings.api_key == "placeholder-roark_api_key"
    if not HAVE_DAILY:
        assert seen["create_transport_args"] is runner_args and "daily" in seen["transport_keys"]
