"""What a call keeps beside its turns: tool calls, metrics and errors, as Pipecat reports them.

Tools end completed, failed, cancelled, timed out, or (never answered by
the end of the call) with no result; errors are kept once per distinct
message. Metrics and errors are capped, and what was dropped is counted.

A tool is settled once, by whichever comes first of its result, its
cancellation or its handler's error (a timeout is told apart from an
answer even where Pipecat reports it as an empty result). The caps keep a
long or noisy call's memory bounded; counting what they drop keeps the
totals true.

Mixed into :class:`~pipecat_roark.call.Call`, whose ``__init__`` sets the
attributes declared below.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

from .call_state import Edge, ErrorState, MetricState, ToolState
from .metrics import UsageTotals
from .text import clean_text, tool_arguments, tool_result_content

#: Metric records kept per call (the totals keep counting past it).
MAX_METRICS = 2000
#: Distinct errors kept per call.
MAX_ERRORS = 50
#: A tool result with nothing in it this close to the tool's timeout is the timeout.
TIMEOUT_SLACK_NS = 50_000_000


class CallRecords:
    """Tool calls, metrics and errors of one call (pure; times measured by the caller)."""

    tools: dict[str, ToolState]
    metrics: list[MetricState]
    metrics_dropped: int
    usage: UsageTotals
    errors: OrderedDict[tuple, ErrorState]
    errors_dropped: int

    # -- tools -------------------------------------------------------------

    def tool_call(self, t_ns: int, tool_call_id: Any, name: Any, arguments: Any, pos: Optional[int] = None) -> None:
        key = clean_text(tool_call_id, 256)
        if not key or key in self.tools:
            return
        self.tools[key] = ToolState(key, clean_text(name, 256) or "unknown", tool_arguments(arguments), Edge(t_ns, pos))

    def tool_result(
        self, t_ns: int, tool_call_id: Any, result: Any, name: Any = None, arguments: Any = None,
        pos: Optional[int] = None, final: bool = True, error: Any = None, timeout_secs: Optional[float] = None,
    ) -> Optional[ToolState]:
        """A result; returns the tool when this result settled it."""
        key = clean_text(tool_call_id, 256)
        if not key:
            return None
        if key not in self.tools:  # the in-progress frame was never seen
            self.tool_call(t_ns, key, name, arguments, pos)
        tool = self.tools[key]
        if tool.result_final:
            return None
        tool.result = tool_result_content(result)
        tool.result_at = Edge(t_ns, pos)
        tool.result_final = final
        if not final:
            return None
        if error:
            tool.status, tool.error = "failed", clean_text(error, 2000)
        elif tool.status != "failed":
            # Pipecat < 1.x settles a timed-out call with an empty result.
            timed_out = (
                result is None and timeout_secs
                and t_ns - tool.call_at.t_ns >= timeout_secs * 1e9 - TIMEOUT_SLACK_NS
            )
            tool.status = "timed_out" if timed_out else "completed"
        return tool

    def tool_cancelled(
        self, t_ns: int, tool_call_id: Any, name: Any = None, timed_out: bool = False, pos: Optional[int] = None,
    ) -> Optional[ToolState]:
        """A ``FunctionCallCancelFrame``: cancelled (interruption, the LLM) or timed out."""
        key = clean_text(tool_call_id, 256)
        if not key:
            return None
        if key not in self.tools:
            self.tool_call(t_ns, key, name, None, pos)
        tool = self.tools[key]
        if tool.result_final:
            return None
        tool.result = ""
        tool.result_at = Edge(t_ns, pos)
        tool.result_final = True
        tool.status = "timed_out" if timed_out else "cancelled"
        return tool

    def tool_failed(
        self, t_ns: int, name: Any, error: Any, pos: Optional[int] = None, final: bool = False,
    ) -> Optional[ToolState]:
        """A tool's handler raised (known from Pipecat's ErrorFrame): mark the open call of that name.

        ``final``: no result will follow (Pipecat < 1.9 sends none for a
        handler that raised), so this settles the call.
        """
        name = clean_text(name, 256)
        for tool in reversed(list(self.tools.values())):
            if tool.name == name and not tool.result_final:
                if tool.status == "failed":
                    return None
                tool.status, tool.error, tool.failed_at = "failed", clean_text(error, 2000), Edge(t_ns, pos)
                if final:
                    tool.result, tool.result_at, tool.result_final = "", Edge(t_ns, pos), True
                return tool
        return None

    def tool_outcome(self, tool: ToolState, end_t: Optional[int] = None) -> tuple[str, Optional[Edge]]:
        """(status, when it ended) of a tool; one never answered ends with the call."""
        if tool.result_at is not None and tool.result_final:
            return tool.status or "completed", tool.result_at
        if tool.status == "failed":
            return "failed", tool.result_at or tool.failed_at
        if tool.result_at is not None:  # only intermediate results
            return "no_result", Edge(end_t) if end_t is not None else tool.result_at
        return "no_result", Edge(end_t) if end_t is not None else None

    # -- metrics and errors --------------------------------------------------

    def add_metrics(self, t_ns: int, records: list[dict], pos: Optional[int] = None) -> None:
        for rec in records:
            self.usage.add(rec)
            if len(self.metrics) >= MAX_METRICS:
                self.metrics_dropped += 1
                continue
            self.metrics.append(MetricState(t_ns, pos, rec))

    def error(
        self, t_ns: int, message: Any, processor: Any = None, fatal: bool = False, category: Any = None,
        pos: Optional[int] = None,
    ) -> Optional[ErrorState]:
        """An ErrorFrame. Returns the error the first time it is seen, None for a repeat."""
        msg = clean_text(message, 2000).strip() or "unknown error"
        proc = clean_text(processor, 200) or None
        key = (proc, msg)
        known = self.errors.get(key)
        if known is not None:
            known.count += 1
            known.fatal = known.fatal or bool(fatal)
            return None
        if len(self.errors) >= MAX_ERRORS:
            self.errors_dropped += 1
            return None
        cat = getattr(category, "value", category)
        state = ErrorState(msg, proc, bool(fatal), clean_text(cat, 100) or None if cat is not None else None,
                           Edge(t_ns, pos))
        self.errors[key] = state
        return state
