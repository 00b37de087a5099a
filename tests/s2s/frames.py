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
