"""One call's state: what the session feeds events to and builds the payloads from.

Pure and synchronous: events go in with their times already measured (the
pipeline clock in ns, and where there is a recording, the sample position
on it); turns, tool records and the wire payloads come out. Nothing here
reads a clock or touches the network, so every rule is unit-tested by
placing events by hand.

:class:`Call` is one object to those who use it (the session, the observer,
the tests), but its rules are kept in a module per concern and mixed in:

- :mod:`pipecat_roark.call_turns`: the turn state machine (user and bot
  turns, words, backchannels, interruptions);
- :mod:`pipecat_roark.call_records`: tool calls, metrics and errors;
- :mod:`pipecat_roark.call_figures`: wire times and offsets, the turns kept
  for the wire, response and barge-in latencies;
- :mod:`pipecat_roark.call_payloads`: call-started, call-ended and the
  reports handed to user code;
- :mod:`pipecat_roark.call_state`: the records they all share.

Here is what belongs to the call as a whole: its fields, all created in
``__init__`` so they are seen together, and its lifecycle.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from .call_figures import CallFigures, iso
from .call_payloads import CallPayloads
from .call_records import MAX_ERRORS, MAX_METRICS, TIMEOUT_SLACK_NS, CallRecords
from .call_state import Edge, ErrorState, MetricState, ToolState, TurnState
from .call_turns import INTERRUPTION_PAIRING_NS, MAX_CLOSED, TRANSCRIPT_GRACE_NS, TurnRules
from .metrics import UsageTotals

# The names importers used before the module was split keep working from here.
__all__ = [
    "INTERRUPTION_PAIRING_NS",
    "MAX_CLOSED",
    "MAX_ERRORS",
    "MAX_METRICS",
    "TIMEOUT_SLACK_NS",
    "TRANSCRIPT_GRACE_NS",
    "Call",
    "Edge",
    "ErrorState",
    "MetricState",
    "ToolState",
    "TurnState",
    "iso",
]


class Call(TurnRules, CallRecords, CallFigures, CallPayloads):
    def __init__(self, call_id: str):
        self.call_id = call_id
        self.turns: list[TurnState] = []
        self.tools: dict[str, ToolState] = {}
        self.wall_origin: Optional[float] = None  # epoch secs at pipeline clock 0
        self.started_t: Optional[int] = None
        self.ended_t: Optional[int] = None
        self.end_reason: Optional[str] = None
        self.sample_rate: Optional[int] = None
        self.num_channels: int = 2
        self.recording_started_t: Optional[int] = None
        self._user: Optional[TurnState] = None  # latest user turn
        self._user_open = False
        self._bot: Optional[TurnState] = None  # assistant turn still accepting speech
        self._bot_speaking = False
        self._speaking: Optional[TurnState] = None  # the assistant turn the bot's current speech belongs to
        self.metrics: list[MetricState] = []
        self.metrics_dropped = 0
        self.usage = UsageTotals()
        self.errors: OrderedDict[tuple, ErrorState] = OrderedDict()
        self.errors_dropped = 0
        self._closed: list[TurnState] = []  # assistant turns closed, not yet reported
        self._last_cut: Optional[TurnState] = None  # the assistant turn the latest interruption cut

    # -- lifecycle ---------------------------------------------------------

    def start(self, t_ns: int, wall_origin: float) -> None:
        if self.started_t is None:
            self.started_t = t_ns
            self.wall_origin = wall_origin

    def set_recording(self, sample_rate: int, num_channels: int = 2) -> None:
        self.sample_rate = sample_rate
        self.num_channels = num_channels

    def recording_started(self, t_ns: int) -> None:
        if self.recording_started_t is None:
            self.recording_started_t = t_ns

    def end(self, t_ns: int, reason: str) -> bool:
        """Record the end once; later calls are ignored. True the first time."""
        if self.ended_t is not None:
            return False
        self.ended_t = t_ns
        self.end_reason = reason
        return True

    @property
    def ended(self) -> bool:
        return self.ended_t is not None
