"""Deterministic stand-ins for STT, LLM and TTS that emit what real services emit.

They subclass Pipecat's own service bases, so every frame around the scripted
content (VAD-driven segmentation, TTFB/processing/usage metrics, audio
contexts, ``TTSStartedFrame``/``TTSStoppedFrame``, word-timed ``TTSTextFrame``\\ s,
the function-calling frames) comes from Pipecat itself:

- :class:`ScriptedSTTService` (a ``SegmentedSTTService``) transcribes each VAD
  segment with the scripted transcript of the caller utterance it covers;
  an utterance can arrive as several ``TranscriptionFrame``\\ s, the later ones
  late (after the user stopped, even after the bot started answering).
- :class:`ScriptedLLMService` (an ``LLMService``) answers each user turn from a
  script, streaming ``LLMTextFrame``\\ s between ``LLMFullResponseStartFrame``
  and ``LLMFullResponseEndFrame``, and runs tool calls through
  ``run_function_calls`` so the real ``FunctionCallInProgressFrame`` /
  ``FunctionCallResultFrame`` flow and the context aggregators re-run it.
- :class:`ScriptedTTSService` (a ``TTSService``, HTTP style) voices text with
  the shipped bot clips (or babble cut from them for unknown text) and times
  every word, so ``TTSTextFrame``\\ s are per word with presentation times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Callable, Mapping, Optional, Sequence, Union

import numpy as np
from loguru import logger

from pipecat.frames.frames import (
    Frame,
    FunctionCallFromLLM,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings, STTSettings, TTSSettings, is_given
from pipecat.services.stt_service import SegmentedSTTService, STTService
from pipecat.services.tts_service import TTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

try:  # pipecat >= 1.0
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
except ImportError:  # 0.0.10x
    from pipecat.adapters.schemas.function_schema import FunctionSchema  # type: ignore[no-redef]
    from pipecat.adapters.schemas.tools_schema import ToolsSchema  # type: ignore[no-redef]

from pipecat_roark._compat import PIPECAT_1X
from pipecat_roark.testing._clipdata import BOT_CLIPS
from pipecat_roark.testing.audio import Clip, load_clip, normalize_text, resample

def _complete_settings(cls, **given):
    """A store-mode settings object with every field set (None where unsupported).

    Pipecat validates at start that services initialize every settings field.
    """
    settings = cls(**given)
    for f in dataclasses.fields(settings):
        if f.name != "extra" and not is_given(getattr(settings, f.name)):
            setattr(settings, f.name, None)
    return settings


_ABBREVIATIONS = ("dr", "mr", "mrs", "ms", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "approx")


def ensure_offline_sentence_tokenizer() -> Optional[str]:
    """Make Pipecat 0.0.10x's sentence splitting work without network access.

    Pipecat 0.0.10x splits text into sentences (TTS aggregation, RTVI) with
    NLTK's Punkt tokenizer and downloads its ``punkt_tab`` data on import;
    offline that fails and every sentence-aggregating TTS errors out. When the
    data is missing, this writes a minimal English parameter set (a short
    abbreviation list, no learned statistics: Punkt's plain rules) to a cache
    directory and appends it to ``nltk.data.path``, after any real data.
    Pipecat 1.x does not use NLTK; this is a no-op there.

    Returns:
        The directory added to the NLTK path, or None if nothing was needed.
    """
    if PIPECAT_1X:
        return None
    try:
        import nltk
    except ImportError:  # pragma: no cover
        return None
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return None
    except LookupError:
        pass
    import os
    import tempfile
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for root in (Path(base) / "pipecat-roark" / "nltk_data", Path(tempfile.gettempdir()) / "pipecat-roark-nltk"):
        try:
            lang = root / "tokenizers" / "punkt_tab" / "english"
            lang.mkdir(parents=True, exist_ok=True)
            (lang / "abbrev_types.txt").write_text("\n".join(_ABBREVIATIONS) + "\n")
            for name in ("collocations.tab", "sent_starters.txt", "ortho_context.tab"):
                (lang / name).touch()
        except OSError:
            continue
        if str(root) not in nltk.data.path:
            nltk.data.path.append(str(root))
        logger.info(f"NLTK punkt_tab data missing; using minimal offline parameters in {root}")
        return str(root)
    return None


# --------------------------------------------------------------------------- #
# STT
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ScriptedTranscript:
    """What the STT returns for one caller utterance.

    Attributes:
        segments: The transcript; more than one segment arrives as that many
            ``TranscriptionFrame``\\ s.
        late_secs: How long after the first segment the last one arrives
            (middle segments are spread evenly in between).
        start_sample: Where the utterance's speech starts in the caller
            stream; with ``end_sample``, lets the STT tell which utterance a
            VAD segment belongs to. Without spans the n-th VAD segment gets
            the n-th transcript.
        end_sample: Where the utterance's speech ends in the caller stream.
        sample_rate: Rate of the two sample positions.
    """

    segments: tuple[str, ...]
    late_secs: float = 0.0
    start_sample: Optional[int] = None
    end_sample: Optional[int] = None
    sample_rate: int = 16000

    @property
    def text(self) -> str:
        return " ".join(s.strip() for s in self.segments)

    @classmethod
    def of(cls, value: Union["ScriptedTranscript", str, Sequence[str]]) -> "ScriptedTranscript":
        if isinstance(value, ScriptedTranscript):
            return value
        if isinstance(value, str):
            return cls((value,))
        return cls(tuple(value))


@dataclass(frozen=True)
class EmittedTranscript:
    """A transcript the STT pushed: which utterance, which segment, when (monotonic)."""

    utterance: int
    segment: int
    text: str
    at_monotonic: float


class ScriptedSTTService(SegmentedSTTService):
    """Segmented STT that returns scripted transcripts.

    Each VAD segment (``VADUserStarted``... ``VADUserStoppedSpeakingFrame``,
    wherever the VAD runs) is matched to the caller utterance it covers by
    stream position (the STT counts the audio samples it passes). A VAD
    segment that ends before its utterance does (a pause inside a sentence)
    yields nothing; the utterance's transcript comes with the segment that
    ends it. Transcripts are pushed from a task after ``latency_secs``, so
    audio keeps flowing meanwhile, as with a real service.

    Args:
        transcripts: One entry per caller utterance, in order.
        user_id: ``TranscriptionFrame.user_id`` when the audio carries none.
        language: ``TranscriptionFrame.language``.
        latency_secs: Time from the VAD stop to the first segment.
        end_margin_secs: A VAD segment ending within this much of its
            utterance's end counts as ending it.
    """

    def __init__(
        self,
        transcripts: Sequence[Union[ScriptedTranscript, str, Sequence[str]]],
        *,
        user_id: str = "caller",
        language: Optional[Language] = Language.EN_US,
        latency_secs: float = 0.15,
        end_margin_secs: float = 0.3,
        **kwargs,
    ):
        kwargs.setdefault("ttfs_p99_latency", latency_secs + 0.1)
        kwargs.setdefault(
            "settings", _complete_settings(STTSettings, model="scripted-stt", language=language)
        )
        super().__init__(**kwargs)
        self._transcripts = [ScriptedTranscript.of(t) for t in transcripts]
        self._default_user_id = user_id
        self._language = language
        self._latency = latency_secs
        self._end_margin = end_margin_secs
        self._emitted_utterances: set[int] = set()
        self._next_sequential = 0
        self._samples_seen = 0
        self._seen_rate = 0
        self._stop_secs = 0.0
        self._pending: set[asyncio.Task] = set()
        self.emitted: list[EmittedTranscript] = []

    def can_generate_metrics(self) -> bool:
        return True

    @property
    def all_transcribed(self) -> bool:
        """Whether every scripted utterance has been fully pushed."""
        total = sum(len(t.segments) for t in self._transcripts)
        return len(self.emitted) >= total

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection):
        self._samples_seen += frame.num_frames
        self._seen_rate = frame.sample_rate
        await super().process_audio_frame(frame, direction)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._stop_secs = frame.stop_secs
        await super().process_frame(frame, direction)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        for index in self._due_utterances():
            self._emitted_utterances.add(index)
            self._schedule(index)
        return
        yield  # pragma: no cover - makes this an async generator

    def _due_utterances(self) -> list[int]:
        """Utterances whose speech this VAD segment finishes."""
        if not self._transcripts:
            return []
        positional = all(t.start_sample is not None for t in self._transcripts)
        if not positional or not self._seen_rate:
            if self._next_sequential < len(self._transcripts):
                self._next_sequential += 1
                return [self._next_sequential - 1]
            return []
        due = []
        for i, t in enumerate(self._transcripts):
            if i in self._emitted_utterances:
                continue
            rate = t.sample_rate
            seen = self._samples_seen * rate / self._seen_rate
            segment_end = seen - self._stop_secs * rate
            start = t.start_sample or 0
            end = t.end_sample if t.end_sample is not None else start
            if start > segment_end:
                break  # not spoken yet (and neither are the ones after it)
            if end <= segment_end + self._end_margin * rate:
                due.append(i)
        return due

    def _schedule(self, index: int):
        t = self._transcripts[index]
        n = len(t.segments)
        for k, text in enumerate(t.segments):
            delay = self._latency + (t.late_secs * k / (n - 1) if n > 1 else 0.0)
            task = self.create_task(self._push_later(index, k, text, delay))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _push_later(self, index: int, k: int, text: str, delay: float):
        await asyncio.sleep(delay)
        frame = TranscriptionFrame(
            text=text,
            user_id=self._user_id or self._default_user_id,
            timestamp=time_now_iso8601(),
            language=self._language,
            result={"scripted": True, "utterance": index, "segment": k},
        )
        self.emitted.append(EmittedTranscript(index, k, text, time.monotonic()))
        await self.push_frame(frame)

    async def _cancel_pending(self):
        for task in list(self._pending):
            await self.cancel_task(task)
        self._pending.clear()

    async def stop(self, frame):
        await self._cancel_pending()
        await super().stop(frame)

    async def cancel(self, frame):
        await self._cancel_pending()
        await super().cancel(frame)


class ScriptedStreamingSTTService(STTService):
    """Streaming STT with its own endpointing: turns come from the STT alone.

    Needs no VAD anywhere in the pipeline, like a cloud STT that detects the
    end of speech itself. It counts the caller audio it receives and, once
    an utterance's speech has ended (by the scripted sample positions), it
    pushes that utterance's transcript ``latency_secs`` later, marked
    finalized, with a TTFB metric from the end of speech to the transcript.
    Later segments of a multi-segment transcript follow over ``late_secs``.

    Args:
        transcripts: One entry per caller utterance, in order; each needs
            ``start_sample``/``end_sample`` (see :meth:`CallScript.transcripts`).
        user_id, language, latency_secs: As :class:`ScriptedSTTService`.
    """

    def __init__(
        self,
        transcripts: Sequence[Union[ScriptedTranscript, str, Sequence[str]]],
        *,
        user_id: str = "caller",
        language: Optional[Language] = Language.EN_US,
        latency_secs: float = 0.15,
        **kwargs,
    ):
        kwargs.setdefault("ttfs_p99_latency", latency_secs + 0.1)
        kwargs.setdefault(
            "settings", _complete_settings(STTSettings, model="scripted-streaming-stt", language=language)
        )
        super().__init__(**kwargs)
        self._transcripts = [ScriptedTranscript.of(t) for t in transcripts]
        if any(t.end_sample is None for t in self._transcripts):
            raise ValueError("ScriptedStreamingSTTService needs the sample positions of every utterance")
        self._default_user_id = user_id
        self._language = language
        self._latency = latency_secs
        self._next_utterance = 0
        self._samples_seen = 0
        self._pending: set[asyncio.Task] = set()
        self.emitted: list[EmittedTranscript] = []

    def can_generate_metrics(self) -> bool:
        return True

    @property
    def all_transcribed(self) -> bool:
        total = sum(len(t.segments) for t in self._transcripts)
        return len(self.emitted) >= total

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection):
        await super().process_audio_frame(frame, direction)
        self._samples_seen += frame.num_frames
        while self._next_utterance < len(self._transcripts):
            t = self._transcripts[self._next_utterance]
            seen = self._samples_seen * t.sample_rate / frame.sample_rate
            if seen < (t.end_sample or 0):
                break
            self._schedule(self._next_utterance)
            self._next_utterance += 1

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        return
        yield  # pragma: no cover - makes this an async generator

    def _schedule(self, index: int):
        t = self._transcripts[index]
        n = len(t.segments)
        task = self.create_task(self._push_all(index, t, n))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _push_all(self, index: int, t: ScriptedTranscript, n: int):
        await self.start_ttfb_metrics()
        waited = 0.0
        for k, text in enumerate(t.segments):
            delay = self._latency + (t.late_secs * k / (n - 1) if n > 1 else 0.0)
            await asyncio.sleep(max(0.0, delay - waited))
            waited = delay
            frame = TranscriptionFrame(
                text=text,
                user_id=self._user_id or self._default_user_id,
                timestamp=time_now_iso8601(),
                language=self._language,
                result={"scripted": True, "utterance": index, "segment": k},
            )
            if k == n - 1:
                frame.finalized = True
            if k == 0:
                await self.stop_ttfb_metrics()
            self.emitted.append(EmittedTranscript(index, k, text, time.monotonic()))
            await self.push_frame(frame)

    async def _cancel_pending(self):
        for task in list(self._pending):
            await self.cancel_task(task)
        self._pending.clear()

    async def stop(self, frame):
        await self._cancel_pending()
        await super().stop(frame)

    async def cancel(self, frame):
        await self._cancel_pending()
        await super().cancel(frame)


# --------------------------------------------------------------------------- #
# LLM
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ToolCall:
    """A tool the scripted LLM calls, and what the scripted tool returns.

    Attributes:
        name: Function name.
        arguments: Arguments the LLM passes.
        result: What the registered handler returns (JSON-serializable).
        followup: The LLM's answer once the result is in the context;
            ``{key}`` placeholders are filled from a dict result.
        description: Tool description advertised in the context.
        latency_secs: How long the handler takes.
        error: The handler raises ``RuntimeError(error)`` after ``latency_secs``
            instead of returning ``result``.
        timeout_secs: Registered per-tool timeout (Pipecat cancels a call
            that runs past it).
        cancel_on_interruption: Registered option (None: Pipecat's default,
            which cancels the call when the caller starts a new turn).

    An empty ``followup`` means the LLM says nothing after the tool (and the
    script does not wait for it: useful for tools that fail or never answer).
    """

    name: str
    arguments: Mapping[str, Any]
    result: Any
    followup: str
    description: str = ""
    latency_secs: float = 0.3
    error: Optional[str] = None
    timeout_secs: Optional[float] = None
    cancel_on_interruption: Optional[bool] = None

    def schema(self) -> FunctionSchema:
        props = {k: {"type": "string", "description": k} for k in self.arguments}
        return FunctionSchema(
            name=self.name,
            description=self.description or f"Scripted tool {self.name}",
            properties=props,
            required=list(self.arguments),
        )


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted LLM answer.

    Attributes:
        user: The user words this answers ("" for the greeting, the answer
            to an inference with no user message).
        text: The spoken answer (for a tool turn: said before calling it).
        tool_call: A tool to call; its ``followup`` is the answer after it.
        late_text: The answer when a late transcript fragment of ``user``
            becomes a user turn of its own.
    """

    user: str = ""
    text: Optional[str] = None
    tool_call: Optional[ToolCall] = None
    late_text: Optional[str] = None


_STOPWORDS = frozenset(
    "a an and are be can could do for i i'd i'm is it it's me my of on or please so "
    "that that's the this to too us we what what's you your".split()
)


def _content_words(text: str) -> set[str]:
    """Words of ``text`` that carry meaning (all of them if only stopwords)."""
    words = set(normalize_text(text).split())
    return (words - _STOPWORDS) or words


class _FormatDict(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, Mapping)
        )
    return ""


@dataclass
class LLMDecision:
    """What the scripted LLM did for one inference (kept in ``ScriptedLLMService.decisions``)."""

    reply_index: Optional[int]
    kind: str  # "greeting" | "reply" | "tool" | "followup" | "late" | "fallback"
    text: str = ""
    tool_call_id: Optional[str] = None
    user_text: str = ""


class ScriptedLLMService(LLMService):
    """LLM that answers from a script, through Pipecat's real LLM plumbing.

    Every inference (``LLMContextFrame``) picks its answer from the context:
    after a tool result, the tool's ``followup``; with no user message, the
    greeting; otherwise the first unanswered reply whose ``user`` words best
    overlap the last user message. A user message that only repeats words of
    an answered reply is a late transcript fragment that Pipecat made a turn
    of its own: it gets that reply's ``late_text`` (or ``fallback_text``).

    Args:
        replies: The script.
        ttfb_secs: Delay before the first token (TTFB).
        token_delay_secs: Delay between streamed tokens.
        fallback_text: Answer when nothing in the script matches.
        register_tools: Register a handler for every scripted tool (the
            application's job in a real bot), returning its scripted result
            after its ``latency_secs``.
        model: Model name reported in metrics.
    """

    def __init__(
        self,
        replies: Sequence[ScriptedReply],
        *,
        ttfb_secs: float = 0.25,
        token_delay_secs: float = 0.02,
        fallback_text: str = "Okay.",
        register_tools: bool = True,
        model: str = "scripted-llm",
        **kwargs,
    ):
        if "settings" not in kwargs:
            kwargs["settings"] = _complete_settings(LLMSettings, model=model)
        super().__init__(**kwargs)
        self._replies = list(replies)
        self._ttfb = ttfb_secs
        self._token_delay = token_delay_secs
        self._fallback = fallback_text
        self._answered: set[int] = set()
        self._tool_calls: dict[str, int] = {}
        self._followups_done: set[int] = set()
        self._call_counter = 0
        self._busy = False
        self.last_response_end_monotonic = 0.0
        self.decisions: list[LLMDecision] = []
        #: Token usage reported with each answer, in order.
        self.usage_reported: list[LLMTokenUsage] = []
        self.script_done = asyncio.Event()
        if register_tools:
            for call in self.tool_calls():
                options: dict[str, Any] = {}
                if call.timeout_secs is not None:
                    options["timeout_secs"] = call.timeout_secs
                if call.cancel_on_interruption is not None:
                    options["cancel_on_interruption"] = call.cancel_on_interruption
                self.register_function(call.name, self._make_handler(call), **options)
        self._check_done()

    def can_generate_metrics(self) -> bool:
        return True

    @property
    def busy(self) -> bool:
        """Whether an inference is being generated right now."""
        return self._busy

    def tool_calls(self) -> list[ToolCall]:
        """Every tool the script calls (one entry per name)."""
        seen: dict[str, ToolCall] = {}
        for r in self._replies:
            if r.tool_call and r.tool_call.name not in seen:
                seen[r.tool_call.name] = r.tool_call
        return list(seen.values())

    def tools_schema(self) -> Optional[ToolsSchema]:
        """The ``ToolsSchema`` to put in the ``LLMContext`` (None without tools)."""
        calls = self.tool_calls()
        if not calls:
            return None
        return ToolsSchema(standard_tools=[c.schema() for c in calls])

    def _make_handler(self, call: ToolCall) -> Callable:
        async def handler(params):
            await asyncio.sleep(call.latency_secs)
            if call.error is not None:
                raise RuntimeError(call.error)
            await params.result_callback(call.result)

        handler.__name__ = f"scripted_{call.name}"
        return handler

    def _check_done(self):
        needed = set(range(len(self._replies)))
        tools = {i for i, r in enumerate(self._replies) if r.tool_call and r.tool_call.followup}
        if needed <= self._answered and tools <= self._followups_done:
            self.script_done.set()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self._respond(frame.context)
        else:
            await self.push_frame(frame, direction)

    def _decide(self, context) -> LLMDecision:
        messages = [m for m in context.messages if isinstance(m, Mapping)]
        last = messages[-1] if messages else None
        if last is not None and last.get("role") == "tool":
            call_id = last.get("tool_call_id")
            idx = self._tool_calls.get(call_id) if call_id else None
            if idx is not None and idx not in self._followups_done:
                call = self._replies[idx].tool_call
                assert call is not None
                result = _message_text(last)
                try:
                    parsed = json.loads(result)
                except (TypeError, ValueError):
                    parsed = result
                values = _FormatDict(parsed if isinstance(parsed, Mapping) else {"result": parsed})
                text = call.followup.format_map(values)
                self._followups_done.add(idx)
                return LLMDecision(idx, "followup", text)
        user_msgs = [m for m in messages if m.get("role") == "user"]
        if not user_msgs:
            for i, r in enumerate(self._replies):
                if not r.user and i not in self._answered:
                    self._answered.add(i)
                    return LLMDecision(i, "greeting", r.text or "")
            return LLMDecision(None, "fallback", self._fallback)
        user_text = _message_text(user_msgs[-1])
        words = _content_words(user_text)

        def score(i: int) -> float:
            target = _content_words(self._replies[i].user)
            return len(words & target) / len(target) if target else 0.0

        open_ = [i for i, r in enumerate(self._replies) if r.user and i not in self._answered]
        best = max(open_, key=lambda i: (score(i), -i), default=None)
        if best is not None and score(best) >= 0.2:
            self._answered.add(best)
            r = self._replies[best]
            if r.tool_call:
                return LLMDecision(best, "tool", r.text or "", user_text=user_text)
            return LLMDecision(best, "reply", r.text or "", user_text=user_text)
        done = [i for i, r in enumerate(self._replies) if r.user and i in self._answered]
        late = max(done, key=lambda i: (score(i), i), default=None)
        if late is not None and score(late) >= 0.3:
            text = self._replies[late].late_text or self._fallback
            return LLMDecision(late, "late", text, user_text=user_text)
        return LLMDecision(None, "fallback", self._fallback, user_text=user_text)

    @staticmethod
    def _tokens(text: str) -> list[str]:
        out, word = [], ""
        for ch in text:
            if ch.isspace() and word.strip():
                out.append(word)
                word = ""
            word += ch
        if word:
            out.append(word)
        return out

    async def _respond(self, context):
        self._busy = True
        try:
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_processing_metrics()
            await self.start_ttfb_metrics()
            decision = self._decide(context)
            self.decisions.append(decision)
            await asyncio.sleep(self._ttfb)
            await self.stop_ttfb_metrics()
            tokens = self._tokens(decision.text)
            for i, token in enumerate(tokens):
                if i:
                    await asyncio.sleep(self._token_delay)
                await self._push_llm_text(token)
            prompt = sum(
                len(_message_text(m).split()) for m in context.messages if isinstance(m, Mapping)
            )
            usage = LLMTokenUsage(
                prompt_tokens=prompt,
                completion_tokens=len(tokens),
                total_tokens=prompt + len(tokens),
            )
            self.usage_reported.append(usage)
            await self.start_llm_usage_metrics(usage)
            if decision.kind == "tool":
                call = self._replies[decision.reply_index].tool_call  # type: ignore[index]
                assert call is not None
                self._call_counter += 1
                call_id = f"call_scripted_{self._call_counter}"
                decision.tool_call_id = call_id
                self._tool_calls[call_id] = decision.reply_index  # type: ignore[assignment]
                await self.run_function_calls(
                    [
                        FunctionCallFromLLM(
                            function_name=call.name,
                            tool_call_id=call_id,
                            arguments=dict(call.arguments),
                            context=context,
                        )
                    ]
                )
        finally:
            self._busy = False
            self.last_response_end_monotonic = time.monotonic()
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())
            self._check_done()


# --------------------------------------------------------------------------- #
# TTS
# --------------------------------------------------------------------------- #


def _bot_voice() -> dict[str, Clip]:
    return {normalize_text(text): load_clip(f"bot_{name}") for name, text in BOT_CLIPS.items()}


@dataclass
class SpokenText:
    """Audio the TTS produced for one request (kept in ``ScriptedTTSService.spoken``)."""

    context_id: str
    text: str
    from_clip: Optional[str]
    duration_secs: float
    words: list[tuple[str, float]] = field(default_factory=list)


class ScriptedTTSService(TTSService):
    """TTS that voices text with the shipped bot clips, word by word.

    A sentence that is one of the bot clips' texts (punctuation and case
    aside) is voiced with that clip; other text gets speech-like babble cut
    from the clips, about ``secs_per_char`` long. Each request's words are
    spread over its speech in proportion to their length and reported with
    ``add_word_timestamps``, so Pipecat pushes one timed ``TTSTextFrame`` per
    word, as word-timestamp services (Cartesia, ElevenLabs, ...) do.

    With ``word_timestamps=False`` it behaves like a plain HTTP service
    instead: no word times, and Pipecat pushes one ``TTSTextFrame`` per
    sentence after its audio.

    Args:
        ttfb_secs: Delay before the first audio chunk (TTFB).
        sentence_pause_secs: Silence appended after each request's speech.
        secs_per_char: Babble length per character of unknown text.
        word_timestamps: Report word times (per-word ``TTSTextFrame``\\ s).
        voice: Override the text->clip table (keys as :func:`normalize_text`).
    """

    def __init__(
        self,
        *,
        ttfb_secs: float = 0.12,
        sentence_pause_secs: float = 0.15,
        secs_per_char: float = 0.06,
        word_timestamps: bool = True,
        voice: Optional[Mapping[str, Clip]] = None,
        **kwargs,
    ):
        kwargs.setdefault("push_start_frame", True)
        kwargs.setdefault("push_stop_frames", True)
        kwargs.setdefault("push_text_frames", not word_timestamps)
        self._word_timestamps = word_timestamps
        kwargs.setdefault(
            "settings",
            _complete_settings(TTSSettings, model="scripted-tts", voice="acme", language=None),
        )
        ensure_offline_sentence_tokenizer()
        super().__init__(**kwargs)
        self._ttfb = ttfb_secs
        self._pause = sentence_pause_secs
        self._secs_per_char = secs_per_char
        self._voice = dict(voice) if voice is not None else _bot_voice()
        clips = list(self._voice.values())
        self._bank_rate = clips[0].sample_rate if clips else 16000
        self._bank = (
            np.concatenate([c.samples[c.speech_start : c.speech_end] for c in clips])
            if clips
            else np.zeros(self._bank_rate, dtype=np.int16)
        )
        self._context_offsets: dict[str, float] = {}
        self.spoken: list[SpokenText] = []

    def can_generate_metrics(self) -> bool:
        return True

    def _speech_for(self, text: str) -> tuple[np.ndarray, int, Optional[str]]:
        """Speech samples (16 kHz clip rate) for text, and the clip name if one matched."""
        clip = self._voice.get(normalize_text(text))
        if clip is not None:
            return np.asarray(clip.samples[clip.speech_start : clip.speech_end]), clip.sample_rate, clip.name
        n = max(1, len(normalize_text(text)))
        length = int(max(0.3, n * self._secs_per_char) * self._bank_rate)
        start = zlib.crc32(text.encode()) % len(self._bank)
        idx = (start + np.arange(length)) % len(self._bank)
        return self._bank[idx], self._bank_rate, None

    @staticmethod
    def _word_times(text: str, speech_secs: float) -> list[tuple[str, float]]:
        words = text.split()
        if not words:
            return []
        weights = [max(1, len(w.strip(".,!?;:"))) + 1 for w in words]
        total = float(sum(weights))
        out, acc = [], 0.0
        for w, wt in zip(words, weights):
            out.append((w, speech_secs * acc / total))
            acc += wt
        return out

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        speech, rate, clip_name = self._speech_for(text)
        speech_secs = len(speech) / rate
        pcm = resample(speech, rate, self.sample_rate)
        pause = np.zeros(int(self._pause * self.sample_rate), dtype=np.int16)
        audio = np.concatenate([pcm, pause]).astype("<i2").tobytes()
        offset = self._context_offsets.get(context_id, 0.0)
        if len(self._context_offsets) > 64:
            self._context_offsets.clear()
        self._context_offsets[context_id] = offset + len(audio) / 2 / self.sample_rate
        words = [(w, offset + t) for w, t in self._word_times(text, speech_secs)]
        self.spoken.append(SpokenText(context_id, text, clip_name, speech_secs, words))

        await asyncio.sleep(self._ttfb)
        await self.start_tts_usage_metrics(text)
        if words and self._word_timestamps:
            await self.add_word_timestamps(words, context_id)
        chunk = max(2, self.chunk_size - self.chunk_size % 2)
        for i in range(0, len(audio), chunk):
            yield TTSAudioRawFrame(audio[i : i + chunk], self.sample_rate, 1, context_id=context_id)


__all__ = [
    "EmittedTranscript",
    "LLMDecision",
    "ScriptedLLMService",
    "ScriptedReply",
    "ScriptedSTTService",
    "ScriptedStreamingSTTService",
    "ScriptedTTSService",
    "ScriptedTranscript",
    "SpokenText",
    "ToolCall",
]
