"""How a call ended: ``callEndedStatus``, who ended it, who spoke last.

``callEndedReason`` stays the free text Pipecat gave (a frame's reason, the
``aflush(reason=...)`` argument); ``callEndedStatus`` is one of a documented
set, so calls can be counted and filtered by outcome:

==================  ========  ================================================
status              ended by  when
==================  ========  ================================================
``caller_hung_up``  caller    the transport lost the caller (client or
                              participant disconnected, the carrier's stop)
                              before anything else ended the call
``bot_ended``       bot       the bot's own code ended it: an ``EndWorkerFrame``
                              (``EndTaskFrame`` before 1.3) pushed from the
                              pipeline, an ``EndFrame`` or ``StopFrame`` queued
                              by the app
``cancelled``       system    a ``CancelFrame`` with no other cause known
                              (``worker.cancel()``, the runner's interrupt
                              signal)
``idle_timeout``    system    Pipecat's idle monitor: 1.x cancels with reason
                              ``"idle timeout"``; 0.0.10x cancels with no
                              reason, so the worker's ``on_idle_timeout``
                              event must be reported
``error``           system    a fatal ``ErrorFrame`` (1.x cancels with
                              ``"fatal error: ..."``; 0.0.10x with no reason),
                              or a processor that "can no longer do its job"
                              (1.8+: an ``ErrorFrame`` whose processor is no
                              longer usable, then the worker's policy ends
                              or cancels the pipeline)
``transferred``     bot       the reason or the user says so (a transfer to a
                              human or another number)
``voicemail``       bot       the reason or the user says so
``max_duration``    system    the reason or the user says so (a call length
                              limit)
``unknown``         system    nothing above is known (e.g. the pipeline was
                              torn down without an end frame being seen)
==================  ========  ================================================

Precedence, strongest first: a status the user set (``end_status`` /
``aflush(status=...)``); a reason naming a specific outcome (transfer,
voicemail, max duration, idle, error, hang-up); the first cause seen before
the end (a fatal error, the idle timeout, the caller's disconnect, the bot's
end request); the end frame's type and generic reasons (``cancelled``,
``ended``, ``stopped``); ``unknown``. Causes seen after the end started
(the carrier hanging up because the bot ended the call) do not count.

Pure: :func:`decide_outcome` takes plain values; :class:`OutcomeTracker`
collects them from frames and events (duck-typed by class name, so it works
on every Pipecat version and never imports one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

from .text import clean_text

CALLER_HUNG_UP = "caller_hung_up"
BOT_ENDED = "bot_ended"
CANCELLED = "cancelled"
IDLE_TIMEOUT = "idle_timeout"
ERROR = "error"
TRANSFERRED = "transferred"
VOICEMAIL = "voicemail"
MAX_DURATION = "max_duration"
UNKNOWN = "unknown"

#: Every value ``callEndedStatus`` can take.
END_STATUSES = (CALLER_HUNG_UP, BOT_ENDED, CANCELLED, IDLE_TIMEOUT, ERROR, TRANSFERRED, VOICEMAIL,
                MAX_DURATION, UNKNOWN)

Party = Literal["caller", "bot", "system"]

#: Who ended a call that ended with each status.
ENDED_BY: dict[str, Party] = {
    CALLER_HUNG_UP: "caller",
    BOT_ENDED: "bot",
    TRANSFERRED: "bot",
    VOICEMAIL: "bot",
    CANCELLED: "system",
    IDLE_TIMEOUT: "system",
    ERROR: "system",
    MAX_DURATION: "system",
    UNKNOWN: "system",
}

# Causes, as recorded by OutcomeTracker.
CAUSE_CALLER_DISCONNECTED = "caller_disconnected"
CAUSE_BOT_END = "bot_end_request"
CAUSE_BOT_CANCEL = "bot_cancel_request"
CAUSE_IDLE = "idle_timeout"
CAUSE_FATAL_ERROR = "fatal_error"
_STATUS_BY_CAUSE = {
    CAUSE_CALLER_DISCONNECTED: CALLER_HUNG_UP,
    CAUSE_BOT_END: BOT_ENDED,
    CAUSE_BOT_CANCEL: CANCELLED,
    CAUSE_IDLE: IDLE_TIMEOUT,
    CAUSE_FATAL_ERROR: ERROR,
}
_ENDED_BY_CAUSE: dict[str, Party] = {CAUSE_BOT_CANCEL: "bot"}

# Reasons that name an outcome, whatever else was seen. Order matters: the
# first match wins ("fatal error: transfer API down" is an error).
_SPECIFIC_REASONS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), s) for p, s in (
        (r"\bfatal\b|can no longer do its job|\berror(ed|s)?\b|\bexception\b|\bcrash", ERROR),
        (r"\bidle\b", IDLE_TIMEOUT),
        (r"max(imum)?[ _-]*(call[ _-]*)?(duration|length)|duration[ _-]*limit|time[ _-]*limit", MAX_DURATION),
        (r"voice[ _-]*mail|answering[ _-]*machine", VOICEMAIL),
        (r"transfer", TRANSFERRED),
        (r"hung[ _-]*up|hang[ _-]*up|hangup|disconnect|(caller|client|participant|user)[ _-]*left|"
         r"left[ _-]*the[ _-]*call", CALLER_HUNG_UP),
    )
)

# Reasons Pipecat and this package produce that say only how it stopped.
_GENERIC_REASONS = {
    "cancelled": CANCELLED,
    "canceled": CANCELLED,
    "interrupt signal": CANCELLED,  # 1.x runner on SIGINT
    "ended": BOT_ENDED,  # an EndFrame without a reason
    "stopped": BOT_ENDED,  # a StopFrame
    "pipeline-finished": UNKNOWN,  # teardown without an end frame seen
    "flushed": UNKNOWN,  # aflush() without a reason
}

_END_FRAME_STATUS = {"CancelFrame": CANCELLED, "EndFrame": BOT_ENDED, "StopFrame": BOT_ENDED}


@dataclass(frozen=True)
class Outcome:
    status: str
    ended_by: Party
    #: What decided it: "user", "reason", a cause name, "frame" or "default" (for logs and tests).
    decided_by: str


def validate_status(status: Any) -> str:
    """A user-given status, checked. Raises ValueError naming the allowed values."""
    if isinstance(status, str):
        s = status.strip().lower().replace("-", "_").replace(" ", "_")
        if s in END_STATUSES:
            return s
    raise ValueError(
        f"RoarkObserver: end status {status!r} is not one of {', '.join(END_STATUSES)}; "
        "use callEndedReason (reason=...) for free text"
    )


def status_from_reason(reason: Optional[str]) -> tuple[Optional[str], bool]:
    """(status, specific) for a reason text; (None, False) if it says nothing."""
    if not reason:
        return None, False
    text = str(reason).strip()
    for pattern, status in _SPECIFIC_REASONS:
        if pattern.search(text):
            return status, True
    generic = _GENERIC_REASONS.get(text.lower())
    return generic, False


def decide_outcome(
    *,
    end_frame: Optional[str] = None,
    reason: Optional[str] = None,
    first_cause: Optional[str] = None,
    status: Optional[str] = None,
    processor_unusable: bool = False,
) -> Outcome:
    """The call's status and who ended it.

    ``end_frame``: the class name of the frame that ended the pipeline
    (``"EndFrame"``, ``"CancelFrame"``, ``"StopFrame"``) or None (a flush,
    a teardown). ``reason``: the end reason (the frame's, or the flush's).
    ``first_cause``: the first ``CAUSE_*`` seen before the end. ``status``:
    set by the user (validated; raises ValueError when not one of
    :data:`END_STATUSES`). ``processor_unusable``: an ``ErrorFrame`` left its
    processor unusable (1.8+); with the worker's ``ProcessorUnusablePolicy.END``
    the pipeline then ends with a plain ``EndFrame``, which is an error, not
    the bot's choice.
    """
    if status is not None:
        s = validate_status(status)
        return Outcome(s, ENDED_BY[s], "user")
    by_reason, specific = status_from_reason(reason)
    # "disconnect" in the reason of an end the bot itself requested describes
    # the bot's action, not the caller's.
    bot_asked = first_cause in (CAUSE_BOT_END, CAUSE_BOT_CANCEL)
    if by_reason is not None and specific and not (by_reason == CALLER_HUNG_UP and bot_asked):
        return Outcome(by_reason, ENDED_BY[by_reason], "reason")
    if first_cause in _STATUS_BY_CAUSE:
        s = _STATUS_BY_CAUSE[first_cause]
        return Outcome(s, _ENDED_BY_CAUSE.get(first_cause, ENDED_BY[s]), first_cause)
    if processor_unusable and end_frame != "CancelFrame" and by_reason in (None, UNKNOWN, BOT_ENDED):
        return Outcome(ERROR, ENDED_BY[ERROR], "processor_unusable")
    if by_reason is not None and by_reason != UNKNOWN:
        return Outcome(by_reason, ENDED_BY[by_reason], "reason")
    if end_frame in _END_FRAME_STATUS:
        s = _END_FRAME_STATUS[end_frame]
        return Outcome(s, ENDED_BY[s], "frame")
    return Outcome(UNKNOWN, "system", "default")


def _class_names(frame: Any) -> set[str]:
    try:
        return {c.__name__ for c in type(frame).__mro__}
    except Exception:
        return set()


class OutcomeTracker:
    """Collects what decides the outcome, as it happens (O(1) memory, no I/O).

    Feed it every frame the observer sees that matters (:meth:`frame`), the
    transport's disconnect and the worker's idle-timeout events, the user's
    ``end_status`` and ``aflush(reason, status)``; call :meth:`ended` when the
    call ends, then :meth:`outcome`.

    Order matters and arrival order lies: frames reach an observer through
    its queue, later than a transport's event handler runs. Measured on 1.14:
    ``worker.cancel()`` closes the websocket, whose ``on_client_disconnected``
    runs before the observer sees the ``CancelFrame``. So every method takes
    ``t_ns``, the pipeline clock (``FramePushed.timestamp`` for frames, the
    same clock's ``get_time()`` in a handler): a cause counts only if it
    happened before the first end frame was pushed, and the earliest cause
    wins. Without times, arrival order decides.
    """

    #: Frame class names this tracker reads (for the observer's filter).
    FRAME_NAMES = frozenset({
        "EndWorkerFrame", "EndTaskFrame", "CancelWorkerFrame", "CancelTaskFrame", "StopWorkerFrame",
        "StopTaskFrame", "ErrorFrame", "EndFrame", "CancelFrame", "StopFrame",
    })

    def __init__(self) -> None:
        # cause -> (t_ns or None, arrival number); the earliest of each kind only.
        self._causes: dict[str, tuple[Optional[int], int]] = {}
        self._seq = 0
        self.end_frame: Optional[str] = None
        self.end_reason: Optional[str] = None
        self._end_t: Optional[int] = None
        self._end_seq: Optional[int] = None
        self.user_status: Optional[str] = None
        self._unusable: Optional[tuple[Optional[int], int]] = None
        self.is_ended = False

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _cause(self, cause: str, t_ns: Optional[int]) -> None:
        if self.is_ended:
            return
        seen = self._causes.get(cause)
        if seen is None or (t_ns is not None and seen[0] is not None and t_ns < seen[0]):
            self._causes[cause] = (t_ns, self._next())

    def _before_end(self, when: tuple[Optional[int], int]) -> bool:
        t, seq = when
        if self._end_seq is None:
            return True
        if t is not None and self._end_t is not None:
            return t < self._end_t
        return seq < self._end_seq

    @property
    def first_cause(self) -> Optional[str]:
        """The earliest cause seen before the end (by time when known, else by arrival)."""
        valid = [(c, w) for c, w in self._causes.items() if self._before_end(w)]
        if not valid:
            return None
        timed = [(w[0], w[1], c) for c, w in valid if w[0] is not None]
        if len(timed) == len(valid):
            return min(timed)[2]
        return min((w[1], c) for c, w in valid)[1]

    @property
    def processor_unusable(self) -> bool:
        return self._unusable is not None and self._before_end(self._unusable)

    def frame(self, frame: Any, t_ns: Optional[int] = None) -> None:
        """A frame was pushed (any direction) at ``t_ns``. Records causes and the end frame."""
        names = _class_names(frame)
        reason = getattr(frame, "reason", None)
        if names & {"EndWorkerFrame", "EndTaskFrame", "StopWorkerFrame", "StopTaskFrame"}:
            self._cause(CAUSE_BOT_END, t_ns)
        elif names & {"CancelWorkerFrame", "CancelTaskFrame"}:
            self._cause(CAUSE_BOT_CANCEL, t_ns)
        elif "ErrorFrame" in names:
            if getattr(frame, "fatal", False) or "FatalErrorFrame" in names:
                self._cause(CAUSE_FATAL_ERROR, t_ns)
            elif getattr(getattr(frame, "processor", None), "is_usable", True) is False and not self.is_ended:
                if self._unusable is None:
                    self._unusable = (t_ns, self._next())
        else:
            for name in ("CancelFrame", "EndFrame", "StopFrame"):
                if name in names:
                    earlier = t_ns is not None and self._end_t is not None and t_ns < self._end_t
                    if self.end_frame is None or earlier:
                        self.end_frame = name
                        self.end_reason = clean_text(reason, 500) or None if reason else None
                        self._end_t, self._end_seq = t_ns, self._next()
                    break

    def client_disconnected(self, t_ns: Optional[int] = None) -> None:
        """The transport lost the caller (``on_client_disconnected``, ``on_participant_left``)."""
        self._cause(CAUSE_CALLER_DISCONNECTED, t_ns)

    def idle_timeout(self, t_ns: Optional[int] = None) -> None:
        """The worker's ``on_idle_timeout`` fired (0.0.10x cancels with no reason)."""
        self._cause(CAUSE_IDLE, t_ns)

    def set_status(self, status: Any) -> None:
        """The user's ``end_status`` (validated here, so a typo fails in the user's code)."""
        self.user_status = validate_status(status)

    def flush(self, reason: Optional[str] = None, status: Optional[str] = None) -> None:
        """``aflush(reason, status)``: a status given here wins; the reason is the end reason."""
        if status is not None:
            self.set_status(status)
        if reason and self.end_reason is None:
            self.end_reason = str(reason)

    def ended(self) -> None:
        """The call ended: causes reported from now on (the carrier hanging up after the bot) do not count."""
        self.is_ended = True

    def outcome(self, reason: Optional[str] = None) -> Outcome:
        """The outcome; ``reason`` is the call's ``callEndedReason`` when the tracker has none."""
        return decide_outcome(
            end_frame=self.end_frame,
            reason=self.end_reason or reason,
            first_cause=self.first_cause,
            status=self.user_status,
            processor_unusable=self.processor_unusable,
        )


def last_speaker(turns: Sequence[tuple[str, float, float]]) -> Optional[Literal["caller", "bot"]]:
    """Who spoke last, from (role, start_ms, end_ms) turns: the turn that ended last.

    A tie (both ended together) goes to the turn that started later.
    """
    best: Optional[tuple[float, float, str]] = None
    for role, start, end in turns:
        if role not in ("user", "assistant"):
            continue
        key = (end, start, role)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return None
    return "caller" if best[2] == "user" else "bot"


__all__ = [
    "END_STATUSES", "ENDED_BY", "Outcome", "OutcomeTracker", "decide_outcome", "last_speaker",
    "status_from_reason", "validate_status",
    "CALLER_HUNG_UP", "BOT_ENDED", "CANCELLED", "IDLE_TIMEOUT", "ERROR", "TRANSFERRED", "VOICEMAIL",
    "MAX_DURATION", "UNKNOWN",
]
