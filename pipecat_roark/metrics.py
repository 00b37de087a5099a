"""Pipecat ``MetricsData`` -> Roark metric records (the LiveKit shape).

Pure: takes the ``data`` of one ``MetricsFrame`` (duck-typed: only the class
name and attributes are read, so every Pipecat version and future metric
types work) and returns :class:`~pipecat_roark.models.MetricMeasurement`\ s
(their wire dicts from :func:`to_records`), seconds for durations, anything
without a known name under ``extra``. The call places them in time and on
turns later (:class:`~pipecat_roark.models.MetricRecord`).

One record per measurement, each saying what was measured (``metric``) and
by which kind of service (``kind``: ``stt``, ``llm``, ``tts``, ``eou`` for
end-of-turn detection, or ``other``):

=================================  =========  ===========================
Pipecat data                       metric     fields
=================================  =========  ===========================
TTFBMetricsData                    ttfb       ttfb (and ttft for an LLM)
ProcessingMetricsData              processing duration
LLMUsageMetricsData                usage      promptTokens, completionTokens,
                                              totalTokens, cachedTokens,
                                              extra: the rest Pipecat reports
TTSUsageMetricsData                usage      characters
STTUsageMetricsData                usage      audioDuration
TTFAMetricsData                    ttfa       ttfa, extra: ttfb, leadingSilence
TTFATMetricsData                   ttfat      ttfat, extra: ttfb, thinkingTime
TextAggregationMetricsData         text_aggregation  extra: aggregationTime
TurnMetricsData / SmartTurn...     turn       extra: isComplete, probability, ...
anything else                      its name   extra: its numbers
=================================  =========  ===========================
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Optional

from .models import MetricMeasurement, UsageSummary
from .text import clean_text

KINDS = ("stt", "llm", "tts", "eou", "other")

# Data types whose kind does not depend on who pushed them.
_KIND_BY_TYPE = {
    "LLMUsageMetricsData": "llm",
    "TTFATMetricsData": "llm",
    "TTSUsageMetricsData": "tts",
    "TTFAMetricsData": "tts",
    "TextAggregationMetricsData": "tts",
    "STTUsageMetricsData": "stt",
    "TurnMetricsData": "eou",
    "SmartTurnMetricsData": "eou",
}

# Pipecat's LLMTokenUsage field -> MetricMeasurement field.
_LLM_USAGE_KNOWN = {
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
    "cache_read_input_tokens": "cached_tokens",
}


def _camel(name: str) -> str:
    head, *rest = clean_text(name, 200).split("_")  # keys of a service's own dicts: anything
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _snake(name: str) -> str:
    name = re.sub(r"MetricsData$", "", name) or name
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if math.isfinite(v) else None


def kind_from_name(processor: Any) -> str:
    """A service kind guessed from a processor's name (``OpenAILLMService#0`` -> ``llm``)."""
    name = str(processor or "")
    for kind in ("STT", "LLM", "TTS"):
        if kind in name:
            return kind.lower()
    return "other"


def is_initial_zero_frame(data: Iterable[Any]) -> bool:
    """The all-zero frame the pipeline pushes at start: a roll call, not a measurement."""
    items = list(data)
    if not items:
        return True
    for d in items:
        if type(d).__name__ not in ("TTFBMetricsData", "ProcessingMetricsData"):
            return False
        if _num(getattr(d, "value", None)):
            return False
    return True


def measurements(data: Iterable[Any], source_kind: Optional[str] = None) -> list[MetricMeasurement]:
    """The measurements in one ``MetricsFrame.data``.

    ``source_kind`` is the kind of the service that pushed the frame (what
    a TTFB or processing time belongs to); when None it is guessed from the
    processor's name. Zero TTFB/processing values are not measurements and
    are left out.
    """
    out = []
    for d in data:
        try:
            rec = _record(d, source_kind)
            m = MetricMeasurement(**rec) if rec is not None else None
        except Exception:  # an unexpected shape must not cost the other records
            m = None
        if m is not None:
            out.append(m)
    return out


def to_records(data: Iterable[Any], source_kind: Optional[str] = None) -> list[dict[str, Any]]:
    """:func:`measurements` as wire dicts (what ``Call.add_metrics`` keeps)."""
    return [m.to_wire() for m in measurements(data, source_kind)]


def _record(d: Any, source_kind: Optional[str]) -> Optional[dict[str, Any]]:
    """The fields (MetricMeasurement's, by name) of one measurement; None when it measured nothing."""
    tname = type(d).__name__
    processor = getattr(d, "processor", None)
    kind = _KIND_BY_TYPE.get(tname) or source_kind or kind_from_name(processor)
    rec: dict[str, Any] = {"kind": kind if kind in KINDS else "other"}
    extra: dict[str, Any] = {}
    value = getattr(d, "value", None)
    if tname == "TTFBMetricsData":
        v = _num(value)
        if not v:
            return None
        rec.update(metric="ttfb", ttfb=v)
        if rec["kind"] == "llm":
            rec["ttft"] = v  # LiveKit's name for an LLM's time to first token
    elif tname == "ProcessingMetricsData":
        v = _num(value)
        if not v:
            return None
        rec.update(metric="processing", duration=v)
    elif tname == "LLMUsageMetricsData":
        rec["metric"] = "usage"
        for key, v in _fields(value).items():
            n = _num(v)
            if n is None:
                continue
            if key in _LLM_USAGE_KNOWN:
                rec[_LLM_USAGE_KNOWN[key]] = int(n)
            else:
                extra[_camel(key)] = n
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            rec.setdefault(key, 0)
    elif tname == "TTSUsageMetricsData":
        n = _num(value)
        if n is None:
            return None
        rec.update(metric="usage", characters=int(n))
    elif tname == "STTUsageMetricsData":
        n = _num(getattr(value, "audio_seconds", value))
        if n is None:
            return None
        rec.update(metric="usage", audio_duration=round(n, 3))
    elif tname == "TTFAMetricsData":
        rec.update(metric="ttfa", ttfa=_num(getattr(d, "ttfa", None)))
        extra.update(_extra_numbers(d, ("ttfb", "leading_silence")))
    elif tname == "TTFATMetricsData":
        rec.update(metric="ttfat", ttfat=_num(getattr(d, "ttfat", None)))
        extra.update(_extra_numbers(d, ("ttfb", "thinking_time")))
    elif tname == "TextAggregationMetricsData":
        n = _num(value)
        if n is None:
            return None
        rec["metric"] = "text_aggregation"
        extra["aggregationTime"] = n
    else:
        rec["metric"] = "turn" if rec["kind"] == "eou" else _snake(tname)
        fields = _fields(d)
        for key, v in fields.items():
            if key in ("processor", "model"):
                continue
            if key == "value":
                extra.update({_camel(k): x for k, x in _numbers(_fields(v) or {"value": v}).items()})
            elif isinstance(v, bool):
                extra[_camel(key)] = v
            elif _num(v) is not None:
                extra[_camel(key)] = v
    if processor:
        rec["processor"] = clean_text(processor, 200)
    model = getattr(d, "model", None)
    if model:
        rec["model"] = clean_text(model, 200)
    if extra:
        rec["extra"] = extra
    return {k: v for k, v in rec.items() if v is not None}


def _fields(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return dict(dump())
        except Exception:
            pass
    if isinstance(obj, dict):
        return dict(obj)
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")} if hasattr(obj, "__dict__") else {}


def _numbers(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if isinstance(v, bool) or _num(v) is not None}


def _extra_numbers(d: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        v = _num(getattr(d, name, None))
        if v is not None:
            out[_camel(name)] = v
    return out


class UsageTotals:
    """Running totals of what the call consumed (O(1) per record, never capped)."""

    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "tts_characters",
                 "stt_audio_seconds")

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.total_tokens = 0
        self.cached_tokens = 0
        self.tts_characters = 0
        self.stt_audio_seconds = 0.0

    def add(self, rec: Any) -> None:
        """Count one measurement (a MetricMeasurement or its wire dict); anything else is ignored."""
        if isinstance(rec, dict):
            if rec.get(_METRIC) != "usage":  # most records are timings: no model for them
                return
            try:
                rec = MetricMeasurement.model_validate(rec)
            except Exception:
                return
        if not isinstance(rec, MetricMeasurement) or rec.metric != "usage":
            return
        self.prompt_tokens += int(rec.prompt_tokens or 0)
        self.completion_tokens += int(rec.completion_tokens or 0)
        self.total_tokens += int(rec.total_tokens or 0)
        self.cached_tokens += int(rec.cached_tokens or 0)
        self.tts_characters += int(rec.characters or 0)
        self.stt_audio_seconds += float(rec.audio_duration or 0.0)

    def summary(self) -> UsageSummary:
        """The ``usage`` part of the call summary."""
        return UsageSummary(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            cached_tokens=self.cached_tokens,
            tts_characters=self.tts_characters,
            stt_audio_seconds=round(self.stt_audio_seconds, 3),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.summary().to_wire()


_METRIC = MetricMeasurement.model_fields["metric"].alias or "metric"
