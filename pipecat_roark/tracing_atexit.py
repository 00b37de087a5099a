"""At interpreter exit, a bounded last flush for traced calls that have not closed.

A call normally closes in its own background thread once its conversation
span ends. A process that exits first (a script's last call, a worker shut
down mid-call) would lose those spans, since the closer threads are daemons;
so the first traced call registers one ``atexit`` hook for the process, and
it gives every call still registered with the router (:mod:`pipecat_roark.tracing_routing`)
:data:`EXIT_FLUSH_SECS` in all to flush. Separate because it is process-wide,
like the router, while :mod:`pipecat_roark.tracing` is about one call.
"""

from __future__ import annotations

import atexit
import time

from .tracing_routing import _ROUTER

#: At interpreter exit, how long all unfinished calls may take together.
EXIT_FLUSH_SECS = 5.0


def _register_atexit() -> None:
    with _ROUTER.lock:
        if _ROUTER.atexit_registered:
            return
        _ROUTER.atexit_registered = True
    atexit.register(_flush_all_at_exit)


def _flush_all_at_exit() -> None:
    """The process is exiting: give unfinished calls a bounded last chance."""
    with _ROUTER.lock:
        calls = list(dict.fromkeys(list(_ROUTER.by_call_id.values()) + list(_ROUTER.by_trace_id.values())))
    if not calls:
        return
    for call in calls:
        call._root_ended.set()  # nothing will end it any more
        call._quiet.set()
        call._start_closer()
    deadline = time.monotonic() + EXIT_FLUSH_SECS
    for call in calls:
        call.join(max(0.0, deadline - time.monotonic()))
