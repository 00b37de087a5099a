"""Call-level figures: latency summary, talk time, recording health.

Pure functions over plain numbers (milliseconds unless said otherwise), so
every rule is unit-tested without a call. :mod:`pipecat_roark.call_payloads`
feeds them the turns and tools the call assembled; the observer adds what
only it knows (delivery counts, what the recorder measured). They return the wire models
(:class:`~pipecat_roark.models.CallSummary` and its parts,
:class:`~pipecat_roark.models.RecordingHealth`): the names on the wire are
stated there only.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence, get_args

from .models import (
    ChannelSound, LatencySummary, PerSide, RecordingChannels, RecordingHealth, RecordingStatus, ToolCounts, ToolStatus,
)

#: The recording may differ from the call's length by this much before it
#: is reported (it starts at the first audio frame, a little after the call).
DURATION_TOLERANCE_MS = 2000

RECORDING_STATUSES: tuple[str, ...] = get_args(RecordingStatus)
TOOL_STATUSES: tuple[str, ...] = get_args(ToolStatus)


def percentile(values: Sequence[float], p: float) -> Optional[float]:
    """Nearest-rank percentile (an actual observed value; None if empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def latency_summary(values_ms: Iterable[Optional[int]]) -> LatencySummary:
    """count, median, p95 and max of the response latencies measured."""
    vals = [v for v in values_ms if v is not None]
    if not vals:
        return LatencySummary(count=0)
    return LatencySummary(
        count=len(vals),
        median_ms=int(round(median(vals))),  # type: ignore[arg-type]
        p95_ms=int(percentile(vals, 95)),  # type: ignore[arg-type]
        max_ms=int(max(vals)),
    )


def union_ms(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by (start, end) intervals, overlaps counted once."""
    total = 0.0
    cur_start: Optional[float] = None
    cur_end = 0.0
    for start, end in sorted((a, b) for a, b in intervals if b > a):
        if cur_start is None or start > cur_end:
            if cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_start is not None:
        total += cur_end - cur_start
    return total


def talk_time(turns: Sequence[tuple[str, float, float]]) -> PerSide:
    """Talk time per side (ms, overlaps within a side counted once), from (role, start_ms, end_ms) turns."""
    user = union_ms((a, b) for r, a, b in turns if r == "user")
    bot = union_ms((a, b) for r, a, b in turns if r == "assistant")
    return PerSide(user=int(round(user)), assistant=int(round(bot)))


def silence_ms(turns: Sequence[tuple[str, float, float]], call_ms: Optional[float]) -> Optional[int]:
    """The time nobody spoke (ms); None when the call's length is unknown."""
    if call_ms is None:
        return None
    spoken = union_ms((a, b) for _, a, b in turns)
    return int(round(max(0.0, call_ms - spoken)))


def talk_and_silence(turns: Sequence[tuple[str, float, float]], call_ms: Optional[float]) -> dict[str, Any]:
    """Both, as the wire fields of the call summary (``talkTimeMs``, ``silenceMs`` when known)."""
    from .models import CallSummary

    part = CallSummary.model_construct(talk_time_ms=talk_time(turns), silence_ms=silence_ms(turns, call_ms))
    return part.model_dump(by_alias=True, exclude_none=True, mode="json", include={"talk_time_ms", "silence_ms"})


def assess_recording(
    *,
    capture_audio: bool,
    recorder_present: bool,
    capture: Optional[dict[str, Any]],
    chunks_produced: int,
    chunks_delivered: int,
    chunks_lost: int,
    call_ms: Optional[float],
    bot_spoke: bool,
    user_spoke: bool,
) -> tuple[str, RecordingHealth]:
    """(recordingStatus, recordingHealth) for the call.

    Status, worst first: ``off`` (not recorded by configuration or the
    processor is missing), ``empty`` (nothing recorded), ``lost`` (nothing
    delivered), ``partial`` (chunks lost: later offsets shift), ``degraded``
    (all delivered, but a channel is silent although that side spoke, or the
    length does not match the call), ``ok``.
    """
    health = RecordingHealth(
        chunks_produced=chunks_produced, chunks_delivered=chunks_delivered, chunks_lost=chunks_lost,
    )
    warnings: list[str] = []
    if not capture_audio or not recorder_present:
        health.warnings = ["recording is off (capture_audio=False)" if not capture_audio else
                           "roark.audio_processor is not in the pipeline"]
        return "off", health
    cap = capture or {}
    rate = cap.get("rate")
    samples = int(cap.get("samples") or 0)
    recorded_ms = samples * 1000.0 / rate if rate else 0.0
    health.recorded_ms = int(round(recorded_ms))
    if call_ms is not None:
        health.call_ms = int(round(call_ms))
    sound = cap.get("sound_ms") or [0, 0]
    health.channels = RecordingChannels(
        caller=ChannelSound(sound_ms=int(sound[0]), sound=sound[0] > 0),
        bot=ChannelSound(sound_ms=int(sound[1]), sound=sound[1] > 0),
    )
    if not samples:
        health.warnings = ["no audio was recorded"]
        return "empty", health
    if chunks_produced and not chunks_delivered:
        status = "lost"
        warnings.append(f"none of {chunks_produced} recording chunks was delivered")
    elif chunks_lost:
        status = "partial"
        warnings.append(f"{chunks_lost} of {chunks_produced} recording chunks lost: later audio offsets are shifted")
    else:
        status = "ok"
    if bot_spoke and not sound[1]:
        warnings.append("the bot channel is silent although the bot spoke: put roark.audio_processor "
                        "right after transport.output()")
    if user_spoke and not sound[0]:
        warnings.append("the caller channel is silent although the caller spoke")
    if call_ms is not None and abs(recorded_ms - call_ms) > DURATION_TOLERANCE_MS:
        which = "shorter" if recorded_ms < call_ms else "longer"
        warnings.append(f"recording is {recorded_ms / 1000:.1f} s, {which} than the call ({call_ms / 1000:.1f} s)")
    if status == "ok" and warnings:
        status = "degraded"
    if warnings:
        health.warnings = warnings
    return status, health


def recording_health(**kw: Any) -> tuple[str, dict[str, Any]]:
    """:func:`assess_recording` with the health as its wire dict (what the session reads today)."""
    status, health = assess_recording(**kw)
    return status, health.to_wire()


def tool_counts(statuses: Iterable[str]) -> ToolCounts:
    counts = ToolCounts()
    for s in statuses:
        counts.total += 1
        if s in TOOL_STATUSES:
            setattr(counts, s, getattr(counts, s) + 1)
    return counts
