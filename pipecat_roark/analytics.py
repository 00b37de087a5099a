"""Turn-taking figures of a call (``turnTaking`` in call-ended).

Pure, over the final turns in milliseconds (on the recording when there is
one): role ``"user"``/``"assistant"``, start, end, and whether an assistant
turn was cut short. Builds on :mod:`pipecat_roark.summary` (talk time by the
union of a side's turns).

- Interruption cause of an assistant turn cut short: ``caller`` when the
  caller's speech overlapped the bot's before the bot stopped (a barge-in),
  else ``pipeline`` (the bot's reply was cut while the caller was silent: a
  new LLM response, a tool, the app's own interruption).
- Overlap: the time both sides spoke at once.
- Talk ratio: the bot's share of the time anyone spoke.
- Monologue: a run of one side's turns with no turn of the other side in
  between and no pause longer than the silence threshold; its length is
  from the first start to the last end.
- Long silences: gaps longer than the threshold where nobody spoke, with
  who was expected to speak (the side that did not speak last: after the
  caller, the bot went quiet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence

from .models import TurnTaking
from .summary import talk_and_silence, union_ms

#: Gaps longer than this are reported as long silences (and split monologues).
DEFAULT_SILENCE_MS = 3000

Role = Literal["user", "assistant"]
SIDES: tuple[Role, Role] = ("user", "assistant")


@dataclass(frozen=True)
class Span:
    role: str
    start_ms: float
    end_ms: float
    interrupted: bool = False
    #: Set when the call owner knows better (e.g. from the caller's onset on the recording).
    cause: Optional[str] = None


def interruption_cause(bot: Span, turns: Sequence[Span]) -> Optional[Literal["caller", "pipeline"]]:
    """Why an interrupted assistant turn was cut; None if it was not interrupted."""
    if bot.role != "assistant" or not bot.interrupted:
        return None
    if bot.cause in ("caller", "pipeline"):
        return bot.cause  # type: ignore[return-value]
    for t in turns:
        # The caller's speech overlapped the bot's before the bot stopped.
        if t.role == "user" and t.start_ms < bot.end_ms and t.end_ms > bot.start_ms:
            return "caller"
    return "pipeline"


def _gaps(spans: Sequence[Span]) -> list[tuple[float, float, str]]:
    """(gap start, gap end, who spoke last before it) between the union of all speech."""
    out = []
    ordered = sorted(spans, key=lambda s: (s.start_ms, s.end_ms))
    cur_end: Optional[float] = None
    last_role = ""
    for s in ordered:
        if cur_end is not None and s.start_ms > cur_end:
            out.append((cur_end, s.start_ms, last_role))
        if cur_end is None or s.end_ms >= cur_end:
            cur_end = s.end_ms
            last_role = s.role
    return out


def longest_monologues(spans: Sequence[Span], silence_ms: float = DEFAULT_SILENCE_MS) -> dict[str, int]:
    best = {side: 0 for side in SIDES}
    run_role: Optional[str] = None
    run_start = run_end = 0.0
    for s in sorted(spans, key=lambda s: (s.start_ms, s.end_ms)):
        if s.role == run_role and s.start_ms - run_end <= silence_ms:
            run_end = max(run_end, s.end_ms)
        else:
            if run_role in best:
                best[run_role] = max(best[run_role], int(round(run_end - run_start)))
            run_role, run_start, run_end = s.role, s.start_ms, s.end_ms
    if run_role in best:
        best[run_role] = max(best[run_role], int(round(run_end - run_start)))
    return best


def turn_taking(
    turns: Sequence[Span],
    *,
    call_start_ms: Optional[float] = None,
    call_end_ms: Optional[float] = None,
    silence_ms: float = DEFAULT_SILENCE_MS,
) -> TurnTaking:
    """The figures for the call. ``call_start_ms``/``call_end_ms`` (same clock as the turns)
    let a silence before the first or after the last word count too."""
    spans = [t for t in turns if t.role in SIDES and t.end_ms >= t.start_ms]
    counts = {side: sum(1 for t in spans if t.role == side) for side in SIDES}
    causes = {"caller": 0, "pipeline": 0}
    for t in spans:
        cause = interruption_cause(t, spans)
        if cause:
            causes[cause] += 1
    talk = talk_and_silence([(t.role, t.start_ms, t.end_ms) for t in spans], None)["talkTimeMs"]
    both = union_ms((t.start_ms, t.end_ms) for t in spans)
    overlap = max(0, int(round(talk["user"] + talk["assistant"] - both)))
    spoken = talk["user"] + talk["assistant"]
    ratio = round(talk["assistant"] / spoken, 3) if spoken > 0 else None

    silences = []
    gaps = _gaps(spans)
    if spans and call_start_ms is not None:
        first = min(t.start_ms for t in spans)
        if first > call_start_ms:
            gaps.insert(0, (call_start_ms, first, ""))
    if spans and call_end_ms is not None:
        last = max(spans, key=lambda t: (t.end_ms, t.start_ms))
        if call_end_ms > last.end_ms:
            gaps.append((last.end_ms, call_end_ms, last.role))
    for start, end, last_role in gaps:
        if end - start > silence_ms:
            # Nobody spoke yet: the bot is expected to greet.
            expected = "user" if last_role == "assistant" else "assistant"
            silences.append({"startMs": int(round(start)), "endMs": int(round(end)),
                             "durationMs": int(round(end - start)), "expected": expected})

    return TurnTaking(
        turns=counts,
        interruptions={**causes, "total": causes["caller"] + causes["pipeline"]},
        overlap_ms=overlap,
        talk_time_ms=talk,
        talk_ratio=ratio,
        longest_monologue_ms=longest_monologues(spans, silence_ms),
        long_silences=silences,
        long_silence_threshold_ms=int(silence_ms),
    )


__all__ = ["DEFAULT_SILENCE_MS", "Span", "interruption_cause", "longest_monologues", "turn_taking"]
