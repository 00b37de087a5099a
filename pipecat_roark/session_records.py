"""Tools, metrics and errors as the observer reports them: into the call, and out to the app's handlers.

A mixin of :class:`~pipecat_roark.session.CallSession`. Each is placed on
the recording at once, from the recorder's estimate of the position at its
pipeline time: none has an edge to wait for, which is why it is kept apart
from the speech (session_turns.py). The rules for settling a tool, capping
metrics and keeping errors once are the call's (call_records.py).
The session's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .call import Call


class SessionRecords:
    """The observer's tool, metrics and error reports."""

    call: Call
    _fire: Callable[..., None]
    _has_handlers: Callable[[str], bool]
    position_at: Callable[[int], Optional[int]]

    def tool_call(self, t_ns: int, tool_call_id: Any, name: Any, arguments: Any) -> None:
        self.call.tool_call(t_ns, tool_call_id, name, arguments, pos=self.position_at(t_ns))

    def tool_result(self, t_ns: int, tool_call_id: Any, result: Any, name: Any, arguments: Any, *, final: bool,
                    error: Any, timeout_secs: Optional[float]) -> None:
        self._tool_done(self.call.tool_result(t_ns, tool_call_id, result, name, arguments, pos=self.position_at(t_ns),
                                              final=final, error=error, timeout_secs=timeout_secs))

    def tool_cancelled(self, t_ns: int, tool_call_id: Any, name: Any, timed_out: bool) -> None:
        self._tool_done(self.call.tool_cancelled(t_ns, tool_call_id, name, timed_out, pos=self.position_at(t_ns)))

    def tool_failed(self, t_ns: int, name: Any, error: Any, final: bool) -> None:
        tool = self.call.tool_failed(t_ns, name, error, self.position_at(t_ns), final=final)
        if final:
            self._tool_done(tool)

    def metrics(self, t_ns: int, records: list[dict]) -> None:
        self.call.add_metrics(t_ns, records, pos=self.position_at(t_ns))
        self._fire("on_metrics", [dict(r) for r in records])

    def error(self, t_ns: int, message: str, processor: Any, fatal: bool, category: Any) -> None:
        state = self.call.error(t_ns, message, processor, fatal, category, self.position_at(t_ns))
        if state is not None:
            self._fire("on_error", {
                "message": state.message, "processor": state.processor, "fatal": state.fatal,
                "category": state.category, "timestamp": self.call._iso(t_ns),
            })

    def _tool_done(self, tool: Any) -> None:
        if tool is None or not self._has_handlers("on_tool_completed"):
            return
        record = self.call.tool_report(tool)
        if record is not None:
            out = record.to_wire()
            out["name"] = tool.name
            self._fire("on_tool_completed", out)
