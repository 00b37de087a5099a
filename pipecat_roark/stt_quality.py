"""What an STT said about its own transcription: confidence and word timings.

Pure functions over ``TranscriptionFrame.result``, which each Pipecat STT
service fills with its provider's own object:

- Deepgram (1.14 and 0.0.108): the SDK's ``ListenV1Results``;
  ``channel.alternatives[0]`` has ``confidence`` and ``words`` (``word``,
  ``punctuated_word``, ``start``/``end`` in seconds from the stream start,
  ``confidence``). The same shape as a dict is accepted (the JSON message).
- AssemblyAI streaming: Pipecat's ``TurnMessage``; ``words`` with
  ``text``, ``start``/``end`` in **milliseconds**, ``confidence``; no overall
  confidence (``end_of_turn_confidence`` is about turn ending, not words).
  AssemblyAI's file transcription (a dict from its REST API) has ``confidence``
  and the same words.
- Speechmatics: 0.0.108 passes the segment's ``results`` (a list of RT API
  result dicts: ``type``, ``start_time``/``end_time`` in seconds,
  ``alternatives[0]`` with ``content``, ``confidence``); 1.14 passes nothing.
- Google (``StreamingRecognitionResult``): ``alternatives[0].confidence`` and
  words with ``start_offset``/``end_offset`` (durations).

Anything else, or a field that is absent, gives ``None``, never zero. A
provider that sends ``0`` for "not computed" is common, so a confidence of 0
or less counts as absent too.

When there is no overall confidence, the mean of the word confidences stands
in for it (``confidenceFrom: "words"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from .text import clean_text

#: Words kept per turn (a monologue must not make call-ended huge).
MAX_WORDS = 500


@dataclass(frozen=True)
class Word:
    word: str
    start: Optional[float]  # seconds from the STT stream's start
    end: Optional[float]
    confidence: Optional[float]


@dataclass(frozen=True)
class Quality:
    provider: str
    confidence: Optional[float]
    words: tuple[Word, ...] = ()
    #: "provider" when the STT gave an overall confidence, "words" when it is their mean.
    confidence_from: Optional[str] = None


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _first(seq: Any) -> Any:
    try:
        return seq[0] if seq else None
    except Exception:
        return None


def _confidence(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0.0 or value > 1.0:
        return None
    return value


def _seconds(value: Any, scale: float = 1.0) -> Optional[float]:
    if value is None or isinstance(value, bool):
        return None
    if hasattr(value, "total_seconds"):  # timedelta (Google's proto-plus durations)
        try:
            return float(value.total_seconds())
        except Exception:
            return None
    if hasattr(value, "seconds") and hasattr(value, "nanos"):  # protobuf Duration
        return float(value.seconds) + float(value.nanos) / 1e9
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return float(value) * scale
    return None


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _finish(provider: str, overall: Optional[float], words: list[Word]) -> Optional[Quality]:
    words = words[:MAX_WORDS]
    if overall is not None:
        return Quality(provider, overall, tuple(words), "provider")
    mean = _mean(w.confidence for w in words)
    if mean is None and not any(w.start is not None for w in words):
        return None  # nothing worth reporting
    return Quality(provider, mean, tuple(words), "words" if mean is not None else None)


def _deepgram(result: Any) -> Optional[Quality]:
    alt = _first(_get(_get(result, "channel"), "alternatives"))
    if alt is None:
        return None
    words = [
        Word(
            word=clean_text(_get(w, "punctuated_word") or _get(w, "word"), 200),
            start=_seconds(_get(w, "start")),
            end=_seconds(_get(w, "end")),
            confidence=_confidence(_get(w, "confidence")),
        )
        for w in (_get(alt, "words") or [])
    ]
    return _finish("deepgram", _confidence(_get(alt, "confidence")), words)


def _assemblyai(result: Any) -> Optional[Quality]:
    words = [
        Word(
            word=clean_text(_get(w, "text"), 200),
            start=_seconds(_get(w, "start"), 0.001),
            end=_seconds(_get(w, "end"), 0.001),
            confidence=_confidence(_get(w, "confidence")),
        )
        for w in (_get(result, "words") or [])
    ]
    # The streaming TurnMessage has no overall confidence; the file API's dict has one.
    overall = _confidence(_get(result, "confidence")) if isinstance(result, dict) else None
    return _finish("assemblyai", overall, words)


def _speechmatics(results: Sequence[Any]) -> Optional[Quality]:
    words = []
    for r in results:
        if _get(r, "type") not in (None, "word"):
            continue  # punctuation entries carry no timing of their own worth keeping
        alt = _first(_get(r, "alternatives"))
        if alt is None:
            continue
        words.append(Word(
            word=clean_text(_get(alt, "content"), 200),
            start=_seconds(_get(r, "start_time")),
            end=_seconds(_get(r, "end_time")),
            confidence=_confidence(_get(alt, "confidence")),
        ))
    return _finish("speechmatics", None, words) if words else None


def _google(result: Any) -> Optional[Quality]:
    alt = _first(_get(result, "alternatives"))
    if alt is None:
        return None
    words = [
        Word(
            word=clean_text(_get(w, "word"), 200),
            start=_seconds(_get(w, "start_offset")),
            end=_seconds(_get(w, "end_offset")),
            confidence=_confidence(_get(w, "confidence")),
        )
        for w in (_get(alt, "words") or [])
    ]
    return _finish("google", _confidence(_get(alt, "confidence")), words)


def extract(result: Any) -> Optional[Quality]:
    """Confidence and words from a ``TranscriptionFrame.result``; None when it holds neither. Never raises."""
    try:
        if result is None or isinstance(result, (str, bytes)):
            return None
        if _get(result, "channel") is not None:
            return _deepgram(result)
        if isinstance(result, (list, tuple)):
            return _speechmatics(result)
        if _get(result, "end_of_turn_confidence") is not None or _get(result, "turn_order") is not None:
            return _assemblyai(result)
        if isinstance(result, dict) and isinstance(result.get("words"), list):
            return _assemblyai(result)  # AssemblyAI's file API
        if _get(result, "alternatives") is not None:
            return _google(result)
    except Exception:
        return None
    return None


def merge(parts: Sequence[Optional[Quality]]) -> Optional[Quality]:
    """One user turn from several final transcriptions: words in order, confidence weighted by words.

    A part without words counts once. None when no part had anything.
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    words: list[Word] = [w for p in parts for w in p.words]
    weighted = [(p.confidence, max(1, len(p.words))) for p in parts if p.confidence is not None]
    confidence = sum(c * n for c, n in weighted) / sum(n for _, n in weighted) if weighted else None
    froms = {p.confidence_from for p in parts if p.confidence is not None}
    source = "provider" if froms == {"provider"} else ("words" if froms else None)
    return Quality(parts[0].provider, confidence, tuple(words[:MAX_WORDS]), source)


def anchor_offset_ms(quality: Quality, turn_onset_ms: Optional[int]) -> Optional[float]:
    """Where the STT stream's time 0 lies on the recording, judged from one turn.

    The provider's word times count from its stream's start, which is not
    recording sample 0 (the STT connects later, and a reconnect restarts the
    count). The turn's speech onset, measured on the recording, is where its
    first word starts; that fixes the shift for the turn's words. None when
    there is no onset or no timed word.
    """
    first = next((w.start for w in quality.words if w.start is not None), None)
    if turn_onset_ms is None or first is None:
        return None
    return turn_onset_ms - first * 1000.0


def to_wire(quality: Optional[Quality], stream_origin_ms: Optional[float] = None) -> Optional[dict[str, Any]]:
    """The ``sttQuality`` extension of a user turn (see models.SttQuality).

    ``stream_origin_ms``: where the stream's time 0 lies on the recording
    (:func:`anchor_offset_ms`); with it each word gets ``audioOffsetMs`` and
    ``endAudioOffsetMs`` (omitted when they would fall before sample 0).
    """
    if quality is None:
        return None
    out: dict[str, Any] = {"provider": quality.provider}
    if quality.confidence is not None:
        out["confidence"] = round(quality.confidence, 4)
        out["confidenceFrom"] = quality.confidence_from
    words = []
    for w in quality.words:
        item: dict[str, Any] = {"word": w.word}
        if w.start is not None:
            item["start"] = round(w.start, 3)
        if w.end is not None:
            item["end"] = round(w.end, 3)
        if w.confidence is not None:
            item["confidence"] = round(w.confidence, 4)
        if stream_origin_ms is not None:
            for key, t in (("audioOffsetMs", w.start), ("endAudioOffsetMs", w.end)):
                if t is not None and stream_origin_ms + t * 1000.0 >= 0:
                    item[key] = int(round(stream_origin_ms + t * 1000.0))
        words.append(item)
    if words:
        out["words"] = words
    return out


def is_low_confidence(quality: Optional[Quality], threshold: float = 0.6) -> Optional[bool]:
    """For the call page's highlight: None when the STT gave no confidence (not "low")."""
    if quality is None or quality.confidence is None:
        return None
    return quality.confidence < threshold
