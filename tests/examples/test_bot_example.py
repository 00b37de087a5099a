"""examples/bot.py builds the pipeline the README promises, offline.

The example's services are constructed with placeholder keys around a
stand-in transport; nothing is started, so nothing touches the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip(
    "pipecat.workers.runner",
    reason="examples/bot.py targets Pipecat 1.x (PipelineWorker/WorkerRunner); this is Pipecat 0.0.10x",
    exc_type=ImportError,
)
for _module, _extra in (
    ("pipecat.services.deepgram.stt", "deepgram"),
    ("pipecat.services.openai.llm", "openai"),
    ("pipecat.services.cartesia.tts", "cartesia"),
    ("pipecat.audio.vad.silero", "silero"),
):
    pytest.importorskip(
        _module,
        reason=f"examples/bot.py needs pipecat-ai[{_extra}] ({_module} did not import)",
        exc_type=ImportError,
    )

from pipecat.pipeline.worker import PipelineWorker  # noqa: E402
from pipecat.runner.types import DailyRunnerArguments, SmallWebRTCRunnerArguments  # noqa: E402
from pipecat.frames.frames import LLMMessagesAppendFrame  # noqa: E402
from pipecat.transports.base_input import BaseInputTransport  # noqa: E402
from pipecat.transports.base_output import BaseOutputTransport  # noqa: E402
from pipecat.transports.base_transport import BaseTransport, TransportParams  # noqa: E402

from pipecat_roark import RoarkObserver  # noqa: E402

BOT_PATH = Path(__file__).resolve().parents[2] / "examples" / "bot.py"


class StandInTransport(BaseTransport):
    """input()/output() processors and the two client events, nothing else."""

    def __init__(self):
        super().__init__()
        params = TransportParams(audio_in_enabled=True, audio_out_enabled=True)
        self._input = BaseInputTransport(params)
        self._output = BaseOutputTransport(params)
        self.handlers: dict[str, list] = {}
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")

    def input(self):
        return self._input

    def output(self):
        return self._output

    def add_event_handler(self, event_name, handler):
        self.handlers.setdefault(event_name, []).append(handler)
        super().add_event_handler(event_name, handler)


class RecordingWorker(PipelineWorker):
    """A PipelineWorker that remembers what the example passed it."""

    def __init__(self, pipeline, **kwargs):
        self.given = kwargs
        super().__init__(pipeline, **kwargs)


@pytest.fixture
def bot(monkeypatch):
    for name in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "ROARK_API_KEY"):
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")
    # Loopback only, in case anything ever tried to send.
    monkeypatch.setenv("ROARK_BASE_URL", "http://127.0.0.1:9")
    for name in ("ROARK_INTEGRATION_ID", "ROARK_OBSERVABILITY_ENABLED", "CARTESIA_VOICE_ID"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("pipecat_roark_example_bot", BOT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PipelineWorker", RecordingWorker)
    return module


def _flatten(processor):
    out = []
    for p in getattr(processor, "processors", None) or []:
        out.append(p)
        out.extend(_flatten(p))
    return out


def _webrtc_args(pc_id="pc-test-123"):
    return SmallWebRTCRunnerArguments(webrtc_connection=SimpleNamespace(pc_id=pc_id))


async def test_recorder_sits_right_after_the_transport_output(bot):
    transport = StandInTransport()
    worker, roark = bot.build_pipeline(transport, _webrtc_args())

    assert isinstance(roark, RoarkObserver) and roark.enabled
    processors = _flatten(worker.pipeline)
    out = processors.index(transport.output())
    assert processors[out + 1] is roark.audio_processor
    assert processors.count(roark.audio_processor) == 1
    assert processors.index(transport.input()) < out


async def test_worker_has_the_observer_metrics_and_the_call_id(bot):
    worker, roark = bot.build_pipeline(StandInTransport(), _webrtc_args("pc-abc"))

    assert roark in worker.given["observers"]
    assert roark.pipecat_call_id == "pc-abc"
    assert worker.given["conversation_id"] == roark.pipecat_call_id
    assert worker.params.enable_metrics and worker.params.enable_usage_metrics


async def test_pipecat_cloud_session_id_is_the_call_id(bot):
    args = DailyRunnerArguments(room_url="https://example.daily.co/room", token="t", session_id="sess-42")
    worker, roark = bot.build_pipeline(StandInTransport(), args)

    assert roark.pipecat_call_id == "sess-42" == worker.given["conversation_id"]


async def test_greets_on_connect_and_flushes_before_cancelling_on_disconnect(bot, monkeypatch):
    transport = StandInTransport()
    worker, roark = bot.build_pipeline(transport, _webrtc_args())
    calls = []

    async def queue_frames(frames):
        calls.append(("queue_frames", list(frames)))

    async def aflush(reason="flushed"):
        calls.append(("aflush", reason))
        return True

    async def cancel(*, reason=None):
        calls.append(("cancel", reason))

    monkeypatch.setattr(worker, "queue_frames", queue_frames)
    monkeypatch.setattr(roark, "aflush", aflush)
    monkeypatch.setattr(worker, "cancel", cancel)

    (connected,) = transport.handlers["on_client_connected"]
    await connected(transport, object())
    [(name, frames)] = calls
    assert name == "queue_frames"
    assert len(frames) == 1 and isinstance(frames[0], LLMMessagesAppendFrame) and frames[0].run_llm

    calls.clear()
    (disconnected,) = transport.handlers["on_client_disconnected"]
    await disconnected(transport, object())
    assert [c[0] for c in calls] == ["aflush", "cancel"]
    assert calls[0][1] == "client-disconnected"


async def test_bot_entry_point_runs_the_worker(bot, monkeypatch):
    transport = StandInTransport()
    seen = {}

    async def create_transport(runner_args, transport_params):
        seen["transport_keys"] = set(transport_params)
        return transport

    class FakeRunner:
        def __init__(self, **kwargs):
            seen["runner_kwargs"] = kwargs

        async def add_workers(self, *workers):
            seen["workers"] = workers

        async def run(self):
            seen["ran"] = True

    monkeypatch.setattr(bot, "create_transport", create_transport)
    monkeypatch.setattr(bot, "WorkerRunner", FakeRunner)
    args = _webrtc_args()
    await bot.bot(args)

    assert {"webrtc", "daily", "twilio"} <= seen["transport_keys"]
    assert seen["runner_kwargs"] == {"handle_sigint": args.handle_sigint}
    (worker,) = seen["workers"]
    assert isinstance(worker, PipelineWorker) and seen["ran"]
    assert transport.output() in _flatten(worker.pipeline)


def test_transport_params_build_for_webrtc():
    # The other factories need pipecat-ai[daily] / [websocket]; check them when present.
    spec = importlib.util.spec_from_file_location("pipecat_roark_example_bot_params", BOT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    params = module.TRANSPORT_PARAMS["webrtc"]()
    assert params.audio_in_enabled and params.audio_out_enabled
    for key, needs in (("daily", "daily"), ("twilio", "fastapi")):
        if importlib.util.find_spec(needs) is not None:
            p = module.TRANSPORT_PARAMS[key]()
            assert p.audio_in_enabled and p.audio_out_enabled


async def test_empty_values_from_a_copied_env_file_mean_unset(bot, monkeypatch):
    from pipecat.services.cartesia.tts import CartesiaTTSService

    monkeypatch.setenv("CARTESIA_VOICE_ID", "")
    worker, _ = bot.build_pipeline(StandInTransport(), _webrtc_args())
    (tts,) = [p for p in _flatten(worker.pipeline) if isinstance(p, CartesiaTTSService)]
    assert tts._settings.voice == bot.DEFAULT_CARTESIA_VOICE

    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY is not set"):
        bot.build_pipeline(StandInTransport(), _webrtc_args())
