"""``capture_logs=True``: the call's own log lines, and only this call's.

Which call a log line belongs to
--------------------------------
This package's lines carry the call id (``logger.bind(pipecat_call_id=...)``,
see ``CallLog``): they go to that call, wherever they were emitted.

Pipecat's lines carry no call id. They are attributed by a context variable
that :meth:`CallLogCollector.bind` sets in the task that creates the
observer. asyncio copies the current context into every task created from
then on, and Pipecat creates a worker's tasks (every processor's input and
process tasks, the services' receive tasks, tool calls) from the task that
runs the runner, long after the observer exists, so they all inherit it.
Measured on Pipecat 1.14 and 0.0.108 (tests/unit/test_calllogs_pipeline.py):
a variable set before ``runner.run`` is seen by the processors' tasks; one set
later, in ``on_pipeline_started`` or in a processor's ``process_frame``, is
not (those run in tasks that already exist).

That holds when each call's observer is created in the call's own task, as
Pipecat's runners (and any server handling a connection per task) do. When a
second collector is bound in a task where another call's collector is still
live, the tasks created next cannot be told apart: both collectors stop
taking context-attributed lines (they keep their own id-tagged lines) and a
warning says why. Never a leak, at worst fewer lines.

One loguru sink serves every call of the process; it is added with the
first live collector and removed with the last, at the lowest level any
live collector asks for (so DEBUG lines are not built for nothing).

A line is kept with its wall time and the monotonic time it was emitted
(the pipeline clock is monotonic), so the call owner can place it on the
recording. Each collector is bounded in lines and bytes; what is dropped is
counted. Messages are cleaned of URL query strings and bearer tokens here
(presigned URLs, keys in websocket URLs) and redacted by ``redact=`` on the
way out (:meth:`Redactor.payload` covers ``logs``).
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from loguru import logger

from .text import clean_text

#: Lines kept per call, and bytes of message text.
DEFAULT_MAX_LINES = 200
DEFAULT_MAX_BYTES = 64 * 1024
#: One line's message is cut here.
MAX_MESSAGE_CHARS = 2000

_CURRENT: contextvars.ContextVar[Optional["CallLogCollector"]] = contextvars.ContextVar(
    "pipecat_roark_call_logs", default=None
)

_URL_QUERY = re.compile(r"((?:https?|wss?)://[^\s?#\"'<>]+)\?[^\s\"'<>]*", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_KEYLIKE = re.compile(r"((?:api[_-]?key|token|secret|password)\s*[=:]\s*)['\"]?[^\s'\",;&]{4,}", re.IGNORECASE)


def scrub(message: str) -> str:
    """Remove what must never leave in a log line: URL query strings, bearer tokens, key=value secrets."""
    message = _URL_QUERY.sub(r"\1?[query removed]", message)
    message = _BEARER.sub(r"\1[removed]", message)
    return _KEYLIKE.sub(r"\1[removed]", message)


@dataclass(frozen=True)
class LogLine:
    wall: float  # time.time() of the line (from the record)
    mono_ns: int  # time.monotonic_ns() when it was emitted (the pipeline clock's base)
    level: str
    message: str  # scrubbed, bounded; not yet redacted
    logger: Optional[str]  # the emitting module
    count: int = 1  # identical consecutive lines folded


class CallLogCollector:
    """The log lines of one call. Create one per call; :meth:`bind` it; :meth:`close` it at the end."""

    def __init__(
        self,
        call_id: str,
        *,
        level: str = "WARNING",
        max_lines: int = DEFAULT_MAX_LINES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        self.call_id = call_id
        self.level = level.upper()
        self.level_no = logger.level(self.level).no  # raises ValueError for an unknown level
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._lines: list[LogLine] = []
        self._bytes = 0
        self._lock = threading.Lock()
        self.dropped = 0
        #: False once another live call was bound in the same task (see the module doc).
        self.context_reliable = True
        self.closed = False
        self._attached = False

    # -- lifecycle ---------------------------------------------------------------

    def bind(self) -> None:
        """Attribute lines emitted from this task (and tasks created from it from now on) to this call.

        Call from the task that will run the call's pipeline, before the
        runner starts (RoarkObserver.__init__ does).
        """
        previous = _CURRENT.get()
        if previous is not None and previous is not self and not previous.closed:
            previous.context_reliable = False
            self.context_reliable = False
            logger.bind(pipecat_call_id=self.call_id).warning(
                f"Roark call {self.call_id}: capture_logs: this call's observer was created in the same asyncio task "
                f"as call {previous.call_id}'s, which is still running, so Pipecat's log lines cannot be told apart; "
                "both calls keep only their own Roark lines. Create each call's observer in the task that runs it"
            )
        _CURRENT.set(self)
        _SINK.attach(self)

    def close(self) -> None:
        """No more lines (the call ended); the process-wide sink goes once no call uses it."""
        self.closed = True
        _SINK.detach(self)

    # -- lines ---------------------------------------------------------------------

    def add(self, line: LogLine) -> None:
        with self._lock:
            if self.closed:
                return
            last = self._lines[-1] if self._lines else None
            if last is not None and last.message == line.message and last.level == line.level and last.logger == line.logger:
                self._lines[-1] = LogLine(last.wall, last.mono_ns, last.level, last.message, last.logger, last.count + 1)
                return
            size = len(line.message.encode("utf-8", "replace"))
            if len(self._lines) >= self.max_lines or self._bytes + size > self.max_bytes:
                self.dropped += 1
                return
            self._lines.append(line)
            self._bytes += size

    @property
    def lines(self) -> list[LogLine]:
        with self._lock:
            return list(self._lines)

    def records(self, mono_origin_ns: Optional[int] = None) -> list[dict[str, Any]]:
        """The ``logs`` extension (wire dicts, not yet redacted).

        ``mono_origin_ns``: the ``time.monotonic_ns()`` value of recording
        sample 0; with it, each line gets ``audioOffsetMs`` (lines before
        sample 0 get none rather than a negative offset).
        """
        out = []
        for line in self.lines:
            rec: dict[str, Any] = {
                "timestamp": datetime.fromtimestamp(line.wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": line.level,
                "message": line.message,
            }
            if line.logger:
                rec["logger"] = line.logger
            if mono_origin_ns is not None and line.mono_ns >= mono_origin_ns:
                rec["audioOffsetMs"] = (line.mono_ns - mono_origin_ns) // 1_000_000
            if line.count > 1:
                rec["count"] = line.count
            out.append(rec)
        return out


def monotonic_of(t_ns: int, clock: Any) -> Optional[int]:
    """``time.monotonic_ns()`` at pipeline-clock instant ``t_ns`` (e.g. recording sample 0).

    Pipecat's SystemClock (0.0.10x and 1.x) counts monotonic nanoseconds
    from its start, so the difference is fixed: measured once, now. None
    when the clock is not running yet.
    """
    try:
        now = clock.get_time()
        mono = time.monotonic_ns()
    except Exception:
        return None
    if not now:
        return None
    return mono - now + t_ns


class _Sink:
    """The one loguru sink of the process, shared by every live collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, CallLogCollector] = {}  # call id -> collector
        self._handler_id: Optional[int] = None
        self._handler_level: Optional[int] = None

    @property
    def installed(self) -> bool:
        return self._handler_id is not None

    def attach(self, collector: CallLogCollector) -> None:
        with self._lock:
            if collector._attached or collector.closed:
                return
            collector._attached = True
            self._live[collector.call_id] = collector
            self._reinstall()

    def detach(self, collector: CallLogCollector) -> None:
        with self._lock:
            if not collector._attached:
                return
            collector._attached = False
            if self._live.get(collector.call_id) is collector:
                del self._live[collector.call_id]
            self._reinstall()

    def _reinstall(self) -> None:
        want = min((c.level_no for c in self._live.values()), default=None)
        if want == self._handler_level:
            return
        if self._handler_id is not None:
            try:
                logger.remove(self._handler_id)
            except ValueError:  # someone called logger.remove() for all handlers
                pass
            self._handler_id = self._handler_level = None
        if want is not None:
            self._handler_id = logger.add(self._write, level=want, format="{message}", catch=True)
            self._handler_level = want

    def _write(self, message: Any) -> None:
        # Called synchronously in the emitting thread and task: the context
        # variable read here is the emitter's.
        record = message.record
        tagged = record["extra"].get("pipecat_call_id")
        if tagged is not None:
            target = self._live.get(str(tagged))
        else:
            target = _CURRENT.get()
            if target is not None and not target.context_reliable:
                target = None
        if target is None or record["level"].no < target.level_no:
            return
        text = record["message"]
        exc = record["exception"]
        if exc is not None and exc.type is not None:
            text = f"{text} ({exc.type.__name__}: {exc.value})"
        target.add(LogLine(
            wall=record["time"].timestamp(),
            mono_ns=time.monotonic_ns(),
            level=record["level"].name,
            message=clean_text(scrub(text), MAX_MESSAGE_CHARS),
            logger=record["name"],
        ))


_SINK = _Sink()


def sink_installed() -> bool:
    """Is the process-wide sink in loguru now (for tests and diagnostics)?"""
    return _SINK.installed
