"""Offline, real-time Pipecat calls with known ground truth.

Everything needed to run a realistic voice call with no accounts and no
network: shipped speech clips (:mod:`.audio`), a real-time transport
(:mod:`.transports`), scripted STT/LLM/TTS stand-ins (:mod:`.services`) and
scripted calls with a runner (:mod:`.scenario`). Used by the tests, the
``pipecat-roark demo`` command and the benchmarks.
"""

from pipecat_roark.testing.audio import (
    CallerTimeline,
    Clip,
    SpeechSpan,
    clip_names,
    load_clip,
    read_wav,
    write_wav,
)
from pipecat_roark.testing.scenario import (
    Call,
    CallerTurn,
    CallEventLog,
    CallResult,
    CallScript,
    FrameEvent,
    ORDER_TOOL,
    StereoRecorder,
    build_call,
    default_demo_script,
    run_call,
)
from pipecat_roark.testing.services import (
    ScriptedLLMService,
    ScriptedReply,
    ScriptedStreamingSTTService,
    ScriptedSTTService,
    ScriptedTranscript,
    ScriptedTTSService,
    ToolCall,
)
from pipecat_roark.testing.transports import (
    CallerInputTransport,
    DeviceOutputTransport,
    OfflineCallTransport,
    transport_params,
)

__all__ = [
    "Call",
    "CallEventLog",
    "CallResult",
    "CallScript",
    "CallerInputTransport",
    "CallerTimeline",
    "CallerTurn",
    "Clip",
    "DeviceOutputTransport",
    "FrameEvent",
    "ORDER_TOOL",
    "OfflineCallTransport",
    "ScriptedLLMService",
    "ScriptedReply",
    "ScriptedSTTService",
    "ScriptedStreamingSTTService",
    "ScriptedTTSService",
    "ScriptedTranscript",
    "SpeechSpan",
    "StereoRecorder",
    "ToolCall",
    "build_call",
    "clip_names",
    "default_demo_script",
    "load_clip",
    "read_wav",
    "run_call",
    "transport_params",
    "write_wav",
]
