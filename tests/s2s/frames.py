"""Digest of what the observer and the recorder see in a speech-to-speech call (measured).

Turns a :class:`~pipecat_roark.testing.scenario.CallEventLog` into the facts
the capture is designed from: for each frame type, who pushes it, in which
direction, whether it reaches the recorder (the processor after
``transport.output()``), and when, in caller-stream seconds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pipecat.processors.frame_processor import FrameDirection

#: Frame types the digest reports (by class name).
INTERESTING = (
    "LLMServiceMetadataFrame", "TranscriptionFrame", "InterimTranscriptionFrame",
    "ProposedUserStartedSpeakingFrame", "ProposedUserStoppedSpeakingFrame",
    "UserStartedSpeakingFrame", "UserStoppedSpeakingFrame", "InterruptionFrame",
    "VADUserStartedSpeakingFrame", "VADUserStoppedSpeakingFrame",
    "BotStartedSpeakingFrame", "BotStoppedSpeakingFrame",
    "TTSStartedFrame", "TTSStoppedFrame", "LLMFullResponseStartFrame", "LLMFullResponseEndFrame",
    "LLMTextFrame", "TTSTextFrame", "FunctionCallsStartedFrame", "FunctionCallInProgressFrame",
    "FunctionCallResultFrame", "LLMContextFrame", "MetricsFrame", "ErrorFrame",
)


@dataclass(frozen=True)
class Push:
    kind: str
    source: str
    destination: str
    direction: str
    secs: float
    text: str


def pushes(result, kinds=INTERESTING) -> list[Push]:
    out = []
    for e in result.events.events:
        if e.kind not in kinds:
            continue
        out.append(Push(e.kind, e.source.split("#")[0], e.destination.split("#")[0],
                        "down" if e.direction == FrameDirection.DOWNSTREAM else "up",
                        result.stream_secs(e.clock_ns), str(getattr(e.frame, "text", "") or "")))
    return out


def first_producers(ps: list[Push]) -> dict[str, set[tuple[str, str]]]:
    """For each kind: the (source, direction) pairs of pushes not forwarding an earlier hop."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for p in ps:
        if p.source.startswith(("Pipeline", "RTVI")):
            continue
        out[p.kind].add((p.source, p.direction))
    return out


def reaching(ps: list[Push], destination_prefix: str) -> list[Push]:
    return [p for p in ps if p.destination.startswith(destination_prefix)]


def table(ps: list[Push], destination_prefix: str) -> str:
    """One line per kind: producers, count reaching the recorder."""
    prod = first_producers(ps)
    rec = defaultdict(int)
    for p in reaching(ps, destination_prefix):
        rec[p.kind] += 1
    lines = []
    for kind in INTERESTING:
        if kind not in prod:
            continue
        who = ", ".join(f"{s}:{d}" for s, d in sorted(prod[kind]))
        lines.append(f"{kind:34} {who:90} recorder:{rec.get(kind, 0)}")
    return "\n".join(lines)


def timing(outcome) -> list[str]:
    """When the turn-marking frames came relative to the sound they mark (ms, + = after).

    Recording time equals caller-stream time here (both start at the first
    caller frame), so frame times and sound edges are compared directly.
    """
    from tests.integration.helpers import sound_spans

    ps = pushes(outcome.call)
    svc = {p.source for p in ps if p.kind == "LLMServiceMetadataFrame" and p.source.endswith("LLMService")}
    left = sound_spans(outcome.pcm[:, 0], outcome.rate)
    right = sound_spans(outcome.pcm[:, 1], outcome.rate)

    def first(kind, source=None, direction=None):
        return [p.secs * 1000 for p in ps if p.kind == kind and (source is None or p.source in source)
                and (direction is None or p.direction == direction)]

    def lags(times, edges):
        out = []
        for t in times:
            out.append(min((t - e for e in edges), key=abs) if edges else float("nan"))
        return " ".join(f"{x:+.0f}" for x in out)

    starts, ends = [s for s, _ in left], [e for _, e in left]
    bstarts, bends = [s for s, _ in right], [e for _, e in right]
    lines = [
        f"caller sound {[(round(s), round(e)) for s, e in left]}; bot sound {[(round(s), round(e)) for s, e in right]}",
        f"ProposedUserStarted vs caller onset: {lags(first('ProposedUserStartedSpeakingFrame', svc, 'down'), starts)}",
        f"UserStarted vs caller onset: {lags(first('UserStartedSpeakingFrame', {'LLMUserAggregator'}, 'down'), starts)}",
        f"ProposedUserStopped vs caller end: {lags(first('ProposedUserStoppedSpeakingFrame', svc, 'down'), ends)}",
        f"UserStopped vs caller end: {lags(first('UserStoppedSpeakingFrame', {'LLMUserAggregator'}, 'down'), ends)}",
        "TranscriptionFrame (up) vs caller end: "
        + " ".join(f"{t - e:+.0f}" for t, e in zip(first('TranscriptionFrame', svc), ends)),
        f"InterruptionFrame vs caller onset: {lags(first('InterruptionFrame', {'LLMUserAggregator', *svc}, 'down'), starts)}",
        f"BotStarted vs bot sound start: {lags(first('BotStartedSpeakingFrame', {'DeviceOutputTransport'}, 'down'), bstarts)}",
        f"BotStopped vs bot sound end: {lags(first('BotStoppedSpeakingFrame', {'DeviceOutputTransport'}, 'down'), bends)}",
        f"TTSStarted (svc) vs bot sound start: {lags(first('TTSStartedFrame', svc), bstarts)}",
        f"TTSStopped (svc) vs bot sound end: {lags(first('TTSStoppedFrame', svc), bends)}",
    ]
    return lines
