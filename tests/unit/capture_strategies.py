"""Hypothesis strategies for the capture layer: real Pipecat frames full of odd data.

Used by ``test_capture_properties.py``. Frames are built through
:func:`build`, which only passes the fields the installed Pipecat's class
accepts and returns None for a frame that version cannot build (the caller
skips it), so the same strategies run on Pipecat 0.0.10x and 1.x.

The odd data is what a bot can hand Pipecat in practice: ``None`` where a
string belongs, numbers and enums instead of strings, lone surrogates,
control characters, megabyte strings, tool arguments and results that are
not JSON (sets, bytes, NaN, objects whose ``repr``/``str`` raise,
self-referencing and very deep structures), metric records with missing or
absurd values.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Optional

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pipecat.frames import frames as F
from pipecat.metrics import metrics as M
from pipecat.utils.utils import obj_id

# -- settings ----------------------------------------------------------------

#: ``ROARK_PROPERTY_EXAMPLES=2000`` runs a deeper (still derandomized) search locally.
_EXAMPLES_OVERRIDE = int(os.environ.get("ROARK_PROPERTY_EXAMPLES", "0") or 0)
#: ``ROARK_PROPERTY_RANDOM=1`` explores with fresh randomness instead of the fixed CI sequence.
_RANDOM = os.environ.get("ROARK_PROPERTY_RANDOM", "") not in ("", "0")


def property_settings(max_examples: int) -> settings:
    """Reproducible in CI: derandomized, no example database, no deadline."""
    return settings(
        max_examples=_EXAMPLES_OVERRIDE or max_examples,
        deadline=None,
        derandomize=not _RANDOM,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


# -- odd values ----------------------------------------------------------------


class BadRepr:
    """An object whose repr and str both raise."""

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


class BadDump:
    """Pydantic-looking: model_dump raises, and so do repr and str."""

    def model_dump(self) -> Any:
        raise ValueError("cannot dump")

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


class NaNDict:
    """to_dict() returns something that is not JSON either."""

    def to_dict(self) -> Any:
        return {"x": float("nan"), "s": {1, 2}, "inf": float("-inf"), "b": b"\x00\xff"}

    def __repr__(self) -> str:
        return "<NaNDict>"


class OddStr(str):
    """A str subclass (some SDKs hand these out)."""


def _self_ref_dict() -> dict:
    d: dict = {"name": "loop"}
    d["self"] = d
    return d


def _self_ref_list() -> list:
    x: list = [1]
    x.append(x)
    return x


def _deep(depth: int, kind: str) -> Any:
    v: Any = "bottom"
    for _ in range(depth):
        v = [v] if kind == "list" else {"k": v}
    return v


#: Strings that have broken encoders before: lone and paired surrogates,
#: control and invisible characters, JSON look-alikes.
SPECIAL_STRINGS = [
    "", " ", "\n", "\ud800", "a\udfffb", "\ud83d", "\udc00\ud800", "\ud83d\ude00", "🎉 émoji ✓", "\x00\x01\x1b[31m",
    "\u2028\u2029", "\ufeff", "\u200b", "  padded  ", '{"json": 1}', "[1, 2]", "NaN", "Infinity", "null", "true",
    '{"a": NaN}', '{"a": Infinity}', '"quoted"', "{not json", "\\", "\ufffd",
]
_HUGE_UNITS = ["x", "é", "\ud800", "🎉", "ab ", "\x00"]

_chars = st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\u200b", "🎉", " "]))
plain_text = st.lists(_chars, max_size=30).map("".join)
huge_text = st.sampled_from(_HUGE_UNITS).map(lambda u: u * (1_000_000 // len(u) + 1))
strings = st.one_of(
    plain_text,
    st.sampled_from(SPECIAL_STRINGS),
    st.sampled_from(SPECIAL_STRINGS).map(OddStr),
    huge_text,
)

odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    st.builds(BadRepr),
)

#: Where a str belongs (a transcription's text, a reason, a name).
odd_text = st.one_of(strings, strings, odd_scalars)

#: JSON-like values, including NaN/inf and surrogates (valid Python, not valid JSON).
json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), plain_text, st.sampled_from(SPECIAL_STRINGS)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(plain_text, st.integers(), st.sampled_from(["\ud800", "a"])), inner, max_size=4),
    ),
    max_leaves=12,
)

#: Tool arguments and results: everything a tool handler has been seen to hand back.
tool_values = st.one_of(
    json_like,
    st.dictionaries(plain_text, json_like, max_size=5),
    st.sampled_from(SPECIAL_STRINGS),
    plain_text,
    huge_text,
    st.frozensets(st.integers(), max_size=4),
    st.sets(plain_text, max_size=3),
    st.binary(max_size=16),
    st.tuples(st.integers(), plain_text),
    st.builds(BadRepr),
    st.builds(BadDump),
    st.builds(NaNDict),
    st.builds(lambda: {"obj": BadRepr(), "nan": float("nan"), "set": {1, 2}, "bytes": b"\x00"}),
    st.builds(lambda: {"deep": {"er": [float("inf"), {"s": frozenset({3})}]}}),
    st.builds(_self_ref_dict),
    st.builds(_self_ref_list),
    st.builds(_deep, st.sampled_from([40, 3000]), st.sampled_from(["list", "dict"])),
    st.builds(lambda d: MappingProxyType(d), st.dictionaries(plain_text, json_like, max_size=3)),
    st.builds(lambda s: s * 100_000, st.sampled_from(['{"a":1}', "[", "\ud800"])),
)

#: Tool call ids: a small pool so that ids repeat, plus odd ones.
tool_ids = st.one_of(
    st.sampled_from(["call_1", "call_2", "call_3", "call_1 "]),
    st.sampled_from(["call_1", "call_2", "call_3"]),
    st.none(),
    st.just(""),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from(["\ud800", "id\udfff", "🎉"]),
    huge_text,
    st.builds(BadRepr),
)
tool_names = st.one_of(
    st.sampled_from(["get_weather", "lookup_order", "transfer"]),
    st.none(),
    st.sampled_from(["", "\ud800", "name with ] bracket"]),
    st.integers(),
    st.builds(BadRepr),
)

#: A Language enum where the version has it, else its value.
try:
    from pipecat.transcriptions.language import Language

    _LANGS: list[Any] = [Language.EN, Language.EN_US, "en-US", "fr"]
except Exception:  # pragma: no cover
    _LANGS = ["en-US", "fr"]
languages = st.one_of(st.sampled_from(_LANGS), odd_text)
user_ids = st.one_of(st.sampled_from(["user-1", "user-2"]), odd_text)
reasons = st.one_of(st.sampled_from(["customer hung up", "done"]), odd_text, st.dictionaries(plain_text, json_like, max_size=2))

# -- building frames on any version --------------------------------------------


def build(cls_name: str, **kw: Any) -> Any:
    """The frame (or dataclass) of that name, or None if this Pipecat cannot build it.

    Only keyword arguments the installed class accepts are passed, so one call
    covers renamed and added fields (``aggregated_by`` vs ``text_type``,
    ``error``, ``run_llm``, ``is_final``).
    """
    cls = getattr(F, cls_name, None)
    if cls is None:
        return None
    fields = getattr(cls, "__dataclass_fields__", {})
    accepted = {name for name, f in fields.items() if f.init}
    try:
        return cls(**{k: v for k, v in kw.items() if k in accepted})
    except Exception:
        return None


def _with(frame: Any, **attrs: Any) -> Any:
    """Set init=False attributes (``includes_inter_frame_spaces``) after building."""
    if frame is not None:
        for k, v in attrs.items():
            try:
                setattr(frame, k, v)
            except Exception:
                pass
    return frame


# -- audio -----------------------------------------------------------------------

RATES = [8000, 16000, 24000, 48000, 44100, 22050, 11025]


def _pcm(n: int, amp: int, odd: bool) -> bytes:
    return np.full(n, amp, dtype="<i2").tobytes() + (b"\x01" if odd else b"")


audio_bytes = st.one_of(
    st.binary(max_size=2001),  # random noise, odd lengths, empty
    st.builds(_pcm, st.integers(0, 1600), st.sampled_from([0, 3, 4000, -32768, 32767]), st.booleans()),
    st.just(b""),
    st.just(b"\x01"),
)
audio_rates = st.one_of(st.sampled_from(RATES), st.just(0))


@st.composite
def audio_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from(["InputAudioRawFrame", "OutputAudioRawFrame", "TTSAudioRawFrame"]))
    return build(cls, audio=draw(audio_bytes), sample_rate=draw(audio_rates), num_channels=draw(st.sampled_from([1, 1, 2])),
                 context_id=draw(st.one_of(st.none(), plain_text)))


# -- text frames -------------------------------------------------------------------


@st.composite
def transcription_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from(["TranscriptionFrame", "TranscriptionFrame", "InterimTranscriptionFrame"]))
    return build(cls, text=draw(odd_text), user_id=draw(user_ids), timestamp=draw(st.one_of(st.just(""), odd_text)),
                 language=draw(languages), result=draw(st.one_of(st.none(), tool_values)),
                 finalized=draw(st.booleans()))


@st.composite
def text_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from(["TTSTextFrame", "TTSTextFrame", "TextFrame", "LLMTextFrame", "AggregatedTextFrame"]))
    kind = draw(st.sampled_from(["word", "sentence", "\ud800"]))
    frame = build(cls, text=draw(odd_text), text_type=kind, aggregated_by=kind,
                  context_id=draw(st.one_of(st.none(), plain_text)))
    return _with(frame, includes_inter_frame_spaces=draw(st.booleans()))


# -- speaking, interruptions, end ------------------------------------------------------

_vad_secs = st.one_of(st.none(), st.sampled_from([0.0, 0.2, 0.8, 5.0, 120.0]), st.floats(0, 3))


@st.composite
def speaking_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from([
        "UserStartedSpeakingFrame", "UserStoppedSpeakingFrame", "BotStartedSpeakingFrame", "BotStoppedSpeakingFrame",
        "VADUserStartedSpeakingFrame", "VADUserStoppedSpeakingFrame", "BotSpeakingFrame",
    ]))
    return build(cls, start_secs=draw(_vad_secs), stop_secs=draw(_vad_secs))


@st.composite
def interruption_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from(["InterruptionFrame", "InterruptionFrame", "StartInterruptionFrame",
                                "BotInterruptionFrame", "InterruptionTaskFrame", "InterruptionWorkerFrame"]))
    return build(cls)


@st.composite
def end_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from(["EndFrame", "CancelFrame", "StopFrame"]))
    return build(cls, reason=draw(reasons))


@st.composite
def start_frames(draw: Any) -> Any:
    return build("StartFrame", audio_in_sample_rate=draw(st.sampled_from([8000, 16000, 24000])),
                 audio_out_sample_rate=draw(st.sampled_from([8000, 16000, 24000, 48000])),
                 enable_metrics=draw(st.booleans()), enable_usage_metrics=draw(st.booleans()))


# -- tools ---------------------------------------------------------------------------


@st.composite
def tool_frames(draw: Any) -> Any:
    kind = draw(st.sampled_from(["progress", "result", "result", "cancel"]))
    common = dict(function_name=draw(tool_names), tool_call_id=draw(tool_ids), arguments=draw(tool_values))
    if kind == "progress":
        return build("FunctionCallInProgressFrame", cancel_on_interruption=draw(st.booleans()), **common)
    if kind == "cancel":
        return build("FunctionCallCancelFrame", run_llm=draw(st.booleans()), **common)
    props = None
    if draw(st.booleans()):
        props = build("FunctionCallResultProperties", run_llm=draw(st.booleans()), is_final=draw(st.booleans()))
    return build("FunctionCallResultFrame", result=draw(st.one_of(st.none(), tool_values)), run_llm=draw(st.booleans()),
                 properties=props, error=draw(st.one_of(st.none(), st.none(), odd_text)), **common)


# -- metrics and errors --------------------------------------------------------------

odd_numbers = st.one_of(
    st.sampled_from([0, 0.0, 0.25, 1.5, -1.0, 10**30, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.none(),
    st.sampled_from(["1.5", True, b"1"]),
)
processor_names = st.one_of(
    st.sampled_from(["OpenAILLMService#0", "DeepgramSTTService#0", "CartesiaTTSService#0", "LocalSmartTurn#0"]),
    odd_text,
)


class WeirdMetricsData:
    """A metrics record type from some future Pipecat (duck-typed by the package)."""

    def __init__(self, processor: Any, value: Any, extra: Any):
        self.processor = processor
        self.model = None
        self.value = value
        self.extra = extra


def _construct(name: str, **kw: Any) -> Any:
    cls = getattr(M, name, None)
    if cls is None:
        return None
    try:
        return cls.model_construct(**kw)  # no validation: odd values get through, as from a buggy service
    except Exception:
        return None


@st.composite
def metric_items(draw: Any) -> Any:
    kind = draw(st.sampled_from([
        "TTFBMetricsData", "ProcessingMetricsData", "LLMUsageMetricsData", "TTSUsageMetricsData",
        "STTUsageMetricsData", "TTFAMetricsData", "TTFATMetricsData", "TextAggregationMetricsData",
        "TurnMetricsData", "SmartTurnMetricsData", "weird", "junk",
    ]))
    proc, model = draw(processor_names), draw(st.one_of(st.none(), odd_text))
    if kind == "junk":
        return draw(st.one_of(st.none(), st.integers(), plain_text, st.builds(BadRepr)))
    if kind == "weird":
        return WeirdMetricsData(proc, draw(st.one_of(odd_numbers, st.dictionaries(odd_text, odd_numbers, max_size=3))),
                                draw(odd_numbers))
    if kind == "LLMUsageMetricsData":
        usage = draw(st.one_of(
            st.builds(lambda p, c, t, r: _construct("LLMTokenUsage", prompt_tokens=p, completion_tokens=c,
                                                    total_tokens=t, cache_read_input_tokens=r),
                      odd_numbers, odd_numbers, odd_numbers, odd_numbers),
            st.dictionaries(st.one_of(plain_text, st.sampled_from(["prompt_tokens", "total_tokens"])), odd_numbers,
                            max_size=3),
            st.none(),
        ))
        return _construct(kind, processor=proc, model=model, value=usage)
    if kind == "STTUsageMetricsData":
        value = draw(st.one_of(odd_numbers, st.builds(lambda s: _construct("STTUsage", audio_seconds=s), odd_numbers)))
        return _construct(kind, processor=proc, model=model, value=value)
    if kind in ("TTFAMetricsData", "TTFATMetricsData"):
        return _construct(kind, processor=proc, model=model, ttfa=draw(odd_numbers), ttfat=draw(odd_numbers),
                          ttfb=draw(odd_numbers), leading_silence=draw(odd_numbers), thinking_time=draw(odd_numbers))
    if kind in ("TurnMetricsData", "SmartTurnMetricsData"):
        return _construct(kind, processor=proc, model=model, is_complete=draw(st.one_of(st.booleans(), odd_numbers)),
                          probability=draw(odd_numbers), e2e_processing_time_ms=draw(odd_numbers),
                          inference_time_ms=draw(odd_numbers))
    return _construct(kind, processor=proc, model=model, value=draw(odd_numbers))


@st.composite
def metrics_frames(draw: Any) -> Any:
    data = draw(st.one_of(st.lists(metric_items(), max_size=5), st.none(), st.just([])))
    return build("MetricsFrame", data=data)


@st.composite
def error_frames(draw: Any) -> Any:
    cls = draw(st.sampled_from(["ErrorFrame", "ErrorFrame", "FatalErrorFrame"]))
    message = draw(st.one_of(
        odd_text,
        st.builds(lambda n, d: f"Error executing function call [{n}]: {d}",
                  st.sampled_from(["get_weather", "lookup_order", "\ud800", ""]), odd_text.map(str_or_repr)),
        st.sampled_from(["Error executing function call [", "Error executing function call [x"]),
    ))
    category = draw(st.one_of(st.none(), odd_text))
    return build(cls, error=message, fatal=draw(st.booleans()), processor=draw(st.one_of(st.none(), processor_names)),
                 category=category)


def str_or_repr(v: Any) -> str:
    try:
        return str(v)
    except Exception:
        return "<bad>"


# -- frame sequences -------------------------------------------------------------------

any_frame = st.one_of(
    transcription_frames(), text_frames(), speaking_frames(), interruption_frames(), audio_frames(),
    tool_frames(), metrics_frames(), error_frames(), end_frames(), start_frames(),
)
#: Frames weighted towards a conversation: speech, words, audio, tools.
conversation_frame = st.one_of(
    speaking_frames(), speaking_frames(), audio_frames(), audio_frames(), audio_frames(), text_frames(),
    transcription_frames(), tool_frames(), interruption_frames(), metrics_frames(), error_frames(), any_frame,
)


def _noise(n: int, seed: int, amp: int) -> bytes:
    return (np.random.default_rng(seed).standard_normal(n) * amp).clip(-32768, 32767).astype("<i2").tobytes()


@dataclass
class AudioRun:
    """A stretch of real-time audio: 20 ms frames of the caller and/or the bot.

    ``user_amp`` / ``bot_amp``: None means no frames on that track, 0 silence.
    """

    frames: int
    user_amp: Optional[int]
    bot_amp: Optional[int]
    user_rate: int
    bot_rate: int
    seed: int


_amps = st.sampled_from([None, 0, 0, 3000, 12000])
audio_runs = st.builds(
    AudioRun,
    frames=st.integers(1, 60),
    user_amp=_amps,
    bot_amp=_amps,
    user_rate=st.sampled_from([8000, 16000, 16000, 24000]),
    bot_rate=st.sampled_from([8000, 16000, 24000, 24000]),
    seed=st.integers(0, 3),
)


def _expand(run: AudioRun) -> list[tuple[Any, int]]:
    """(frame, dt_ns) for each 20 ms frame of the run."""
    out: list[tuple[Any, int]] = []
    user = bot = b""
    if run.user_amp is not None:
        n = run.user_rate // 50
        user = _noise(n, run.seed, run.user_amp) if run.user_amp else bytes(2 * n)
    if run.bot_amp is not None:
        n = run.bot_rate // 50
        bot = _noise(n, run.seed + 7, run.bot_amp) if run.bot_amp else bytes(2 * n)
    bot_cls = "TTSAudioRawFrame" if run.seed % 2 else "OutputAudioRawFrame"
    for _ in range(run.frames):
        dt = 20_000_000
        if user:
            out.append((F.InputAudioRawFrame(audio=user, sample_rate=run.user_rate, num_channels=1), dt))
            dt = 0
        if bot:
            out.append((build(bot_cls, audio=bot, sample_rate=run.bot_rate, num_channels=1), dt))
    return out


@st.composite
def exchanges(draw: Any) -> list[Any]:
    """One exchange of a call, as Pipecat orders it: the caller speaks (VAD, the
    turn ruling, audio, finals, maybe a late one), the bot answers (speaking
    frames, heard words, audio, maybe a tool, metrics), perhaps cut off by the
    caller. Items are frames or AudioRuns; their data is as odd as anywhere."""
    user_rate = draw(st.sampled_from([8000, 16000]))
    bot_rate = draw(st.sampled_from([16000, 24000]))
    seed = draw(st.integers(0, 3))
    words = st.one_of(st.sampled_from(["Hello", "I need my order", "Sure.", "one moment", " thanks "]), odd_text)
    user: list[Any] = [
        AudioRun(draw(st.integers(1, 20)), 0, None, user_rate, bot_rate, seed),
        build("VADUserStartedSpeakingFrame", start_secs=draw(_vad_secs)),
        build("UserStartedSpeakingFrame"),
        AudioRun(draw(st.integers(5, 60)), draw(st.sampled_from([3000, 12000, 0])), None, user_rate, bot_rate, seed),
        build("InterruptionFrame"),
    ]
    for _ in range(draw(st.integers(0, 3))):
        user.append(build("TranscriptionFrame", text=draw(words), user_id=draw(user_ids), timestamp="",
                          language=draw(languages)))
    user += [
        build("VADUserStoppedSpeakingFrame", stop_secs=draw(_vad_secs)),
        AudioRun(draw(st.integers(1, 20)), 0, None, user_rate, bot_rate, seed),
        build("UserStoppedSpeakingFrame"),
        build("TranscriptionFrame", text=draw(words), user_id="user-1", timestamp="", language="en-US"),
    ]
    bot: list[Any] = [draw(metrics_frames()), build("BotStartedSpeakingFrame")]
    for _ in range(draw(st.integers(0, 4))):
        bot.append(_with(build("TTSTextFrame", text=draw(words), text_type="word", aggregated_by="word"),
                         includes_inter_frame_spaces=draw(st.booleans())))
        bot.append(AudioRun(draw(st.integers(1, 25)), 0, draw(st.sampled_from([12000, 0])), user_rate, bot_rate, seed))
    if draw(st.booleans()):
        bot += [draw(tool_frames()), draw(tool_frames())]
    if draw(st.booleans()):  # barge-in: the caller talks over the bot
        bot += [AudioRun(draw(st.integers(1, 30)), 12000, 12000, user_rate, bot_rate, seed),
                build("UserStartedSpeakingFrame"), build("InterruptionFrame")]
    bot += [AudioRun(draw(st.integers(0, 10)), 0, 0, user_rate, bot_rate, seed), build("BotStoppedSpeakingFrame")]
    items = (bot + user) if draw(st.booleans()) else (user + bot)  # a bot that speaks first
    # Perturb the order Pipecat would use: drop, repeat and swap items.
    kept = [x for x in items if x is not None and draw(st.sampled_from([True] * 6 + [False]))]
    for _ in range(draw(st.integers(0, 3))):
        if len(kept) > 1:
            i = draw(st.integers(0, len(kept) - 2))
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return kept


@dataclass
class Push:
    """One frame pushed at some point of the call."""

    frame: Any
    upstream: bool
    dt_ns: int  # pipeline clock advance before this push
    lag_ns: int  # how much earlier than "now" the frame was pushed (the observer's queue lag)
    again: Optional[int] = None  # re-push the frame of an earlier step (Pipecat reports every hop)
    source: int = 0  # index into the test's processors


_BROADCAST = ("SpeakingFrame", "InterruptionFrame", "FunctionCall")


@st.composite
def pushes(draw: Any, max_size: int = 40) -> list[Push]:
    """A call: random frames and runs of audio, or a few perturbed exchanges with
    random frames slipped in; frames may be pushed again and broadcast upstream."""
    if draw(st.booleans()):
        items = draw(st.lists(st.one_of(conversation_frame, conversation_frame, audio_runs), max_size=max_size))
    else:
        items = [x for ex in draw(st.lists(exchanges(), min_size=1, max_size=4)) for x in ex]
        for _ in range(draw(st.integers(0, 6))):
            items.insert(draw(st.integers(0, len(items))), draw(st.one_of(any_frame, audio_runs)))
    out: list[Push] = []
    for item in items:
        dt = draw(st.one_of(st.just(0), st.integers(0, 40_000_000), st.integers(0, 3_000_000_000)))
        if isinstance(item, AudioRun):
            for i, (f, step) in enumerate(_expand(item)):
                out.append(Push(f, False, step + (dt if i == 0 else 0), 0, source=5))
            continue
        if item is None:
            continue
        lag = draw(st.one_of(st.just(0), st.integers(0, 500_000_000)))
        source = draw(st.integers(0, 7))
        out.append(Push(item, draw(st.sampled_from([False, False, False, True])), dt, lag, source=source))
        if any(k in type(item).__name__ for k in _BROADCAST) and draw(st.booleans()):
            # Its upstream sibling: another instance of the same event.
            try:
                sibling = copy.copy(item)
                sibling.id = obj_id()
                out.append(Push(sibling, True, 0, lag, source=source))
            except Exception:
                pass
        if out and draw(st.sampled_from([False] * 5 + [True])):  # the same frame, one hop later
            back = draw(st.integers(0, len(out) - 1))
            out.append(Push(out[back].frame, out[back].upstream, 0, 0, again=back, source=(source + 1) % 8))
    return out
