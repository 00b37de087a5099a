"""Turn edges resolved on the recording, from hints that may be early, exact or late.

A Pipecat frame that marks the start or end of someone's speech is a hint,
not a time. VAD frames lag by ``start_secs``/``stop_secs``; a turn strategy
ruling on an STT's or a server's VAD can fire as the first sound passes, and
the interruption that goes with it may reach the recorder *before* that
sound does; an STT-ruled turn starts after the words. So an edge is never
read off the recording when its hint arrives. It is queued with the position
the recording had reached (the *head*) and the best estimate of the edge,
and resolved once enough audio after it has been recorded, searching both
ways, but never into sound that an earlier edge of the same side already
owns. Each side's hints are resolved in the order they came.

Pure and synchronous: a :class:`~pipecat_roark.timeline.Timeline` in,
sample positions out. No Pipecat, no clocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .timeline import BLOCK_MS, BOT, GAP_BLOCKS, MERGE_BLOCKS, USER, Timeline

#: How a hint relates to the sound it marks.
NEAR = "near"  # corrected for a known delay (VAD frames): close either way
FORWARD = "forward"  # unknown: may come before, with or after the sound; sound just after it wins
BACK = "back"  # comes after the sound it marks (a ruling made on transcribed words)


@dataclass(frozen=True)
class Window:
    """How far around a hint an edge is looked for, in seconds."""

    ahead: float
    back: float


#: Search windows per (side, edge). ``ahead`` is also how much audio past the
#: estimate must be recorded before the hint is resolved.
WINDOWS = {
    (USER, "start"): Window(ahead=0.4, back=8.0),
    (USER, "end"): Window(ahead=0.3, back=4.0),
    # The transport reports the bot speaking as it starts writing; its first
    # sound can follow some silence the TTS put first.
    (BOT, "start"): Window(ahead=2.0, back=0.3),
    # "Stopped" waits for silence; on an interruption, the last frames it
    # wrote can reach the recorder just after it.
    (BOT, "end"): Window(ahead=0.5, back=1.0),
}
#: A NEAR hint in silence snaps to speech at most this far away.
NEAR_SECS = 0.3
#: Utterances placed from the recording alone: pauses shorter than this do
#: not split one (server VADs wait ~0.5 s of silence to end a turn).
UTTERANCE_GAP_SECS = 0.45
#: ... and sound shorter than this is not an utterance (a click, a breath).
MIN_UTTERANCE_SECS = 0.15

#: A barge-in read off the recording: the caller's sound over the bot lasts
#: at least this long ...
BARGE_IN_MIN_SECS = 0.2
#: ... and the bot stops within this long after it began, while the caller
#: still speaks or at most BARGE_IN_STILL_SECS after (else the bot talked on
#: over a backchannel or noise).
BARGE_IN_MAX_CUT_SECS = 1.5
BARGE_IN_STILL_SECS = 0.3


def caller_over_bot(tl: Timeline, bot_start: int, bot_end: int) -> Optional[int]:
    """Where the caller began speaking over the bot's speech [bot_start, bot_end), if the bot
    stopped within BARGE_IN_MAX_CUT_SECS of it; else None."""
    b, rate = tl.block, tl.sample_rate
    lo, hi = bot_start // b, -(-bot_end // b)
    for s, e in tl.speech_runs(USER, lo, hi + _blocks(BARGE_IN_MIN_SECS), MERGE_BLOCKS):
        if s <= lo:
            continue  # the caller was already speaking when the bot began: not a barge-in on it
        if s * b >= bot_end - int(0.05 * rate):
            break
        long_enough = (e - s) * b >= BARGE_IN_MIN_SECS * rate
        still_speaking = e * b >= bot_end - BARGE_IN_STILL_SECS * rate
        if long_enough and still_speaking and bot_end - s * b <= BARGE_IN_MAX_CUT_SECS * rate:
            return s * b
    return None


@dataclass
class Hint:
    """One edge to resolve. ``est`` and ``head`` are sample positions of the side's track."""

    side: int
    edge: str  # "start" | "end"
    t_ns: int  # pipeline time the hint passed the recorder
    head: int  # the track's position at that moment
    est: int  # best estimate of the edge (head minus any known delay)
    prefer: str = FORWARD
    target: Any = None  # what the edge belongs to (opaque here)
    #: Asked at resolution time, when later facts (a transcript that came
    #: first) may change the preference; returns a preference or None.
    prefer_fn: Optional[Callable[[], Optional[str]]] = None

    def due(self, rate: int) -> int:
        """The recording length at which this hint is resolved: every block its search window may read
        is then recorded, so the result is the same whenever the resolver gets to it."""
        b = _block(rate)
        return (-(-self.est // b) + _blocks(WINDOWS[(self.side, self.edge)].ahead) + 1) * b

    def time_of(self, pos: int, rate: int) -> int:
        """Pipeline time of a position, from where the recording was when the hint passed."""
        return self.t_ns + int((pos - self.head) * 1e9 / rate)


def _blocks(secs: float) -> int:
    return int(round(secs * 1000 / BLOCK_MS))


def _block(rate: int) -> int:
    return max(1, rate * BLOCK_MS // 1000)  # as Timeline.block


def find_start(tl: Timeline, side: int, est: int, floor: int, prefer: str, window: Window,
               horizon: Optional[int] = None) -> int:
    """Where the speech this start hint marks began, never before ``floor``.

    ``horizon``: the block the search reads up to at most (the hint's due
    point), so that audio recorded after it never changes the answer.
    """
    b = tl.block
    h = max(est, floor) // b
    lo = max(floor // b, h - _blocks(window.back))
    hi = h + _blocks(window.ahead)
    end = hi + 1 if horizon is None else min(hi + 1, horizon)
    runs = [(max(s, -(-floor // b)), e) for s, e in tl.speech_runs(side, lo, end, MERGE_BLOCKS) if e > -(-floor // b)]
    for s, e in runs:
        if s <= h < e:
            return max(floor, s * b)
    fwd = next((s for s, _ in runs if h < s <= hi), None)
    back = next((s for s, e in reversed(runs) if e <= h), None)
    back_end = next((e for s, e in reversed(runs) if e <= h), None)
    if prefer == NEAR:
        near = _blocks(NEAR_SECS)
        d_fwd = fwd - h if fwd is not None else None
        d_back = h - back_end if back_end is not None else None
        if d_fwd is not None and d_fwd <= near and (d_back is None or d_fwd <= d_back):
            return fwd * b
        if d_back is not None and d_back <= near:
            return max(floor, back * b)
        return max(floor, est)
    order = (back, fwd) if prefer == BACK else (fwd, back)
    for found in order:
        if found is not None:
            return max(floor, found * b)
    return max(floor, est)


def find_end(tl: Timeline, side: int, est: int, floor: int, window: Window, horizon: Optional[int] = None) -> int:
    """Where the speech this end hint marks stopped, never before ``floor`` (``horizon``: see find_start)."""
    b = tl.block
    h = -(-max(est, floor) // b)
    lo = max(floor // b, h - _blocks(window.back))
    hi = h + _blocks(window.ahead)
    merge = MERGE_BLOCKS if side == USER else GAP_BLOCKS * 4
    runs = tl.speech_runs(side, lo, hi + 1 if horizon is None else min(hi + 1, horizon), merge)
    for s, e in runs:
        if s <= h < e:
            # Sound goes on past the hint: its end, if it ends within the window.
            return e * b if e <= hi else max(floor, est)
    back = next((e for _, e in reversed(runs) if e <= h), None)
    if back is not None:
        return max(floor, back * b)
    return max(floor, est)


class EdgeResolver:
    """Hints in, resolved positions out, in each side's order, once enough audio is recorded."""

    def __init__(self, timeline: Timeline):
        self.tl = timeline
        self.rate = timeline.sample_rate
        self._pending: tuple[deque[Hint], deque[Hint]] = (deque(), deque())
        #: Per side: sound up to here belongs to edges already resolved.
        self.owned = [0, 0]
        self._due = [None, None]  # type: list[Optional[int]]

    def add(self, hint: Hint) -> None:
        queue = self._pending[hint.side]
        queue.append(hint)
        if len(queue) == 1:
            self._due[hint.side] = hint.due(self.rate)

    def pending(self, side: Optional[int] = None) -> int:
        if side is None:
            return len(self._pending[0]) + len(self._pending[1])
        return len(self._pending[side])

    def due(self) -> bool:
        """Is any hint ready? (cheap: called for every audio frame)"""
        d0, d1 = self._due
        tl = self.tl
        return (d0 is not None and tl.pos(USER) >= d0) or (d1 is not None and tl.pos(BOT) >= d1)

    def poll(self, final: bool = False) -> list[tuple[Hint, int]]:
        """Resolve every hint whose audio is recorded (``final``: all of them, with what there is)."""
        out: list[tuple[Hint, int]] = []
        for side in (USER, BOT):
            queue = self._pending[side]
            pos = self.tl.pos(side)
            while queue:
                due = queue[0].due(self.rate)
                if pos < due and not final:
                    break
                hint = queue.popleft()
                # Read up to the due point; at the end, short of it, whatever was recorded.
                horizon = due // self.tl.block if pos >= due else None
                out.append((hint, self.resolve(hint, horizon)))
            self._due[side] = queue[0].due(self.rate) if queue else None
        return out

    def place_utterance(self, side: int, until: int, merge_secs: float = UTTERANCE_GAP_SECS) -> Optional[tuple[int, int]]:
        """The first stretch of speech of ``side`` not owned yet, before ``until``: (start, end), now owned.

        For turns that come with words but no speaking frames at all (some
        speech-to-speech services): the words are of the next utterance the
        recording holds. Pending hints of the side are resolved first.
        """
        if self._pending[side]:
            return None  # frames do speak for this side: leave the edges to them
        b = self.tl.block
        floor = self.owned[side]
        runs = self.tl.speech_runs(side, -(-floor // b), until // b, _blocks(merge_secs))
        runs = [(max(s * b, floor), e * b) for s, e in runs if e * b > floor and (e - s) >= _blocks(MIN_UTTERANCE_SECS)]
        if not runs:
            return None
        start, end = runs[0]
        self.owned[side] = end
        return start, end

    def owns(self, side: int, pos: int) -> None:
        """Sound of ``side`` up to ``pos`` belongs to a turn placed by other means."""
        self.owned[side] = max(self.owned[side], pos)

    def resolve(self, hint: Hint, horizon: Optional[int] = None) -> int:
        window = WINDOWS[(hint.side, hint.edge)]
        floor = self.owned[hint.side]
        if hint.edge == "start":
            prefer = (hint.prefer_fn() if hint.prefer_fn is not None else None) or hint.prefer
            pos = find_start(self.tl, hint.side, hint.est, floor, prefer, window, horizon)
        else:
            pos = find_end(self.tl, hint.side, hint.est, floor, window, horizon)
        self.owned[hint.side] = max(floor, pos)
        return pos
