"""Which Pipecat frames the observer looks at, whichever Pipecat is installed.

Pipecat adds frames from one release to the next (service metadata in 1.x,
backchannels and tools run by a backend worker in 1.13) and changed how an
observer is told of a frame's pushes (1.12). What exists is settled here
once, at import, so that the frame path in :mod:`pipecat_roark.observer`
only ever tests tuples of classes. Also here: what the observer learns from
the processor that pushed a frame (which service it is, a tool's timeout).

Kept apart from the observer because it follows Pipecat's releases, not
what the observer does with a frame.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    MetricsFrame,
    SpeechOutputAudioRawFrame,
    StartFrame,
    StopFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver

try:  # Pipecat >= 1.x: services announce themselves (speech-to-speech or not)
    from pipecat.frames.frames import LLMServiceMetadataFrame
except ImportError:  # 0.0.10x
    LLMServiceMetadataFrame = None  # type: ignore[assignment,misc]
try:  # Pipecat >= 1.13: backchannels, tools run by a backend worker
    from pipecat.frames.frames import (
        ExternalFunctionCallCancelFrame,
        ExternalFunctionCallInProgressFrame,
        ExternalFunctionCallResultFrame,
        UserBackchannelFrame,
    )

    _NEW_FRAMES: tuple = (UserBackchannelFrame, ExternalFunctionCallInProgressFrame,
                          ExternalFunctionCallResultFrame, ExternalFunctionCallCancelFrame)
except ImportError:  # older Pipecat: these frames do not exist
    ExternalFunctionCallCancelFrame = ExternalFunctionCallInProgressFrame = None  # type: ignore[assignment,misc]
    ExternalFunctionCallResultFrame = UserBackchannelFrame = None  # type: ignore[assignment,misc]
    _NEW_FRAMES = ()

from ._compat import start_field
from .metrics import kind_from_name

_OBSERVED = (
    StartFrame,
    TranscriptionFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallCancelFrame,
    MetricsFrame,
    ErrorFrame,  # travels upstream
    # Only used when the recorder is not in the pipeline:
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TTSTextFrame,
    AggregatedTextFrame,  # Pipecat >= 1.13: the segment a TTS speaks for a BotBackchannelFrame
    InterruptionFrame,
    EndFrame,
    CancelFrame,
    StopFrame,
) + ((LLMServiceMetadataFrame,) if LLMServiceMetadataFrame is not None else ()) + _NEW_FRAMES
#: Looked at once a speech-to-speech service is seen (its text runs ahead of its audio).
_S2S_OBSERVED = (TTSAudioRawFrame, SpeechOutputAudioRawFrame, LLMFullResponseStartFrame)
#: A speech-to-speech service's audio: TTS-like (OpenAI Realtime) or one continuous stream (OpenAI Live).
_S2S_AUDIO = (TTSAudioRawFrame, SpeechOutputAudioRawFrame)
#: Pipecat >= 1.12 can tell an observer of a frame's first push only.
_SUPPORTS_FIRST_PUSH = "observe_every_push" in inspect.signature(BaseObserver.__init__).parameters
#: How an LLM service's ErrorFrame names a tool whose handler raised.
_TOOL_ERROR_PREFIX = "Error executing function call ["
# Pipecat >= 1.9 settles a tool whose handler raised with a result carrying
# the error; before, the ErrorFrame is all there is.
_RESULT_CARRIES_ERROR = "error" in getattr(FunctionCallResultFrame, "__dataclass_fields__", {})
_KIND_BY_CLASS: dict[type, str] = {}


def _service_kind(source: Any) -> Optional[str]:
    """stt / llm / tts for a Pipecat service (what its TTFB and processing times belong to).

    By class, else by the processor's name (not cached: two processors of
    one class can have different names).
    """
    kind = _class_kind(source)
    return kind if kind is not None else kind_from_name(getattr(source, "name", None))


def _class_kind(source: Any) -> Optional[str]:
    """stt / llm / tts when ``source`` is an instance of Pipecat's service classes (cached per class)."""
    cls = type(source)
    kind = _KIND_BY_CLASS.get(cls, "?")
    if kind == "?":
        kind = None
        try:
            from pipecat.services.llm_service import LLMService
            from pipecat.services.stt_service import STTService
            from pipecat.services.tts_service import TTSService

            for base, k in ((STTService, "stt"), (LLMService, "llm"), (TTSService, "tts")):
                if isinstance(source, base):
                    kind = k
                    break
        except Exception:
            pass
        if len(_KIND_BY_CLASS) < 256:
            _KIND_BY_CLASS[cls] = kind
    return kind


def _start_flag(frame: Any, name: str) -> Optional[bool]:
    """A StartFrame's setting (where it lives moved between Pipecat versions), None when absent."""
    value = start_field(frame, name)
    return None if value is None else bool(value)


def _tool_timeout_secs(llm: Any, name: Any) -> Optional[float]:
    """The timeout Pipecat applies to a tool of this LLM service (best effort)."""
    try:
        item = getattr(llm, "_functions", {}).get(name) or getattr(llm, "_functions", {}).get(None)
        secs = getattr(item, "timeout_secs", None) or getattr(llm, "_function_call_timeout_secs", None)
        return float(secs) if secs else None
    except Exception:
        return None
