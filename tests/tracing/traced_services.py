"""The harness's scripted services with Pipecat's tracing decorators applied.

Pipecat puts ``@traced_stt`` / ``@traced_llm`` / ``@traced_tts`` on each
concrete service (``DeepgramSTTService._handle_transcription``,
``BaseOpenAILLMService._process_context``, ``CartesiaTTSService.run_tts``...),
never on the base classes the harness's stand-ins subclass, so those make
no service spans of their own. These subclasses decorate the equivalent
methods the same way, so a pipeline built by ``build_call`` makes the
``stt`` / ``llm`` / ``tts`` spans a real bot makes, through Pipecat's code.
"""

from __future__ import annotations

from pipecat.frames.frames import TranscriptionFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.utils.tracing.service_decorators import traced_llm, traced_stt, traced_tts

from pipecat_roark.testing.services import ScriptedLLMService, ScriptedSTTService, ScriptedTTSService


class TracedSTT(ScriptedSTTService):
    @traced_stt
    async def _handle_transcription(self, transcript, is_final, language=None):
        """Where real STT services are decorated (0.0.10x: the span is this call; 1.x: push_frame drives it)."""

    async def push_frame(self, frame, direction=FrameDirection.DOWNSTREAM):
        if isinstance(frame, TranscriptionFrame):
            await self._handle_transcription(frame.text, True, frame.language)
        await super().push_frame(frame, direction)


class TracedLLM(ScriptedLLMService):
    @traced_llm
    async def _respond(self, context):
        await super()._respond(context)


class TracedTTS(ScriptedTTSService):
    @traced_tts
    async def run_tts(self, text, context_id):
        async for frame in super().run_tts(text, context_id):
            yield frame


def trace_services(call) -> None:
    """Make a built call's services the traced ones (before it runs)."""
    call.stt.__class__ = TracedSTT
    call.llm.__class__ = TracedLLM
    call.tts.__class__ = TracedTTS
