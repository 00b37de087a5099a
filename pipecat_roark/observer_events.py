"""The app's event handlers (``@roark.event_handler("on_turn_completed")`` ...): fired, never waited on.

A mixin of :class:`~pipecat_roark.observer.RoarkObserver`. The session
decides when an event happens and calls ``_fire``; here each goes to the
app's handlers as a task of its own (Pipecat's ``BaseObject`` runs them),
so a slow or failing handler never holds up a frame, and the end of the
call gives the last ones a bounded grace. Kept apart from the frame path
because it runs in the app's time, not the pipeline's.
The observer's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .session import EVENT_HANDLER_GRACE_SECS, CallLog

#: Events user code can subscribe to with ``@roark.event_handler(name)``.
EVENTS = ("on_turn_completed", "on_metrics", "on_tool_completed", "on_error", "on_call_ended")


class ObserverEvents:
    """Hands events to the app's handlers (registered for :data:`EVENTS` by the observer's ``__init__``)."""

    _log: CallLog
    _fire_tasks: set[asyncio.Task]
    _event_handlers: dict

    def _has_handlers(self, name: str) -> bool:
        handler = self._event_handlers.get(name)
        return bool(handler is not None and handler.handlers)

    def _fire(self, name: str, *args: Any) -> None:
        """Hand an event to the user's handlers without ever waiting on them."""
        if not self._has_handlers(name):
            return
        try:
            task = asyncio.get_running_loop().create_task(self._call_event_handler(name, *args))
            self._fire_tasks.add(task)
            task.add_done_callback(self._fire_tasks.discard)
        except Exception:
            self._log.exception(f"could not run {name} handlers")

    async def _wait_for_handlers(self) -> None:
        """Give the handlers of the last events (on_call_ended) a bounded chance to run."""
        try:
            await asyncio.sleep(0)  # let queued _call_event_handler tasks start theirs
            pending = list(self._fire_tasks) + [
                entry[1] for entry in list(getattr(self, "_event_tasks", ()))
                if isinstance(entry, tuple) and len(entry) == 2
            ]
            pending = [t for t in pending if not t.done() and t is not asyncio.current_task()]
            if pending:
                await asyncio.wait(pending, timeout=EVENT_HANDLER_GRACE_SECS)
        except Exception:
            pass
