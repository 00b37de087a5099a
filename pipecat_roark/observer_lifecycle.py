"""A call's start and end as the observer sees them: Pipecat's pipeline-started and cleanup hooks.

A mixin of :class:`~pipecat_roark.observer.RoarkObserver`, kept apart from
the frame path in :mod:`pipecat_roark.observer`: each runs once per call,
and the end is the one place the observer waits (on delivery, bounded by
``finalize_timeout_secs``). The observer ends the call through the recorder
when it runs, so the recording's tail is handed on first; without it, the
session is started and ended from here.
The observer's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

from .callpolicy import CallPolicy
from .capture import Capture
from .config import Settings
from .session import EVENT_HANDLER_GRACE_SECS, CallLog, CallSession
from .tracing import CallTracing


class ObserverLifecycle:
    """Start, teardown and the observer's way of ending the call."""

    _settings: Settings
    _log: CallLog
    _enabled: bool
    _session: CallSession
    _capture: Capture
    _recorder: Any
    _clock: Any
    _policy: Optional[CallPolicy]
    _tracing: Optional[CallTracing]
    _fallback_reason: Optional[str]

    async def on_pipeline_started(self):
        if not self._enabled or self._session.started:
            return
        try:
            if not self._capture.started:
                # StartFrame has been through every processor: the recorder
                # is not among them. Capture what we can without it.
                now_ns = self._now_ns() or 0
                self._session.start(now_ns, time.time() - now_ns / 1e9)
                self._warn_once(
                    "no-processor",
                    "roark.audio_processor is not in the pipeline, so there is no recording and the words are "
                    "taken as generated; put it right after transport.output()",
                )
        except Exception:
            self._log.exception("error at pipeline start")

    async def cleanup(self):
        """Always awaited by Pipecat at teardown: the last chance to deliver."""
        try:
            # BaseObject waits for running event handlers without a limit: a
            # user's handler must not hold the shutdown hostage.
            await asyncio.wait_for(super().cleanup(), EVENT_HANDLER_GRACE_SECS)
        except (asyncio.TimeoutError, Exception):
            pass
        if not self._enabled:
            return
        try:
            await self._end_here(self._fallback_reason or "pipeline-finished")
        except Exception:
            self._log.exception("error while finalizing at teardown")
        if self._tracing is not None:
            self._tracing.call_finished()  # closes once Pipecat ends the conversation span
        ok = await self._session.wait_final(self._settings.finalize_timeout_secs)
        if self._policy is not None:
            self._policy.close()  # the call's log collector leaves the shared sink (idempotent)
        await self._wait_for_handlers()
        return ok

    async def _end_here(self, reason: str) -> None:
        """End the call from the observer's side: through the recorder when it runs (its tail first)."""
        if self._session.ended:
            return
        if self._capture.started:
            await self._recorder.finish(reason)
        if not self._session.ended:
            self._session.end(self._now_ns(), reason)

    def _now_ns(self) -> Optional[int]:
        now = self._capture.now_ns()
        if now is None and self._clock is not None:
            try:
                now = self._clock.get_time()
            except Exception:
                now = None
        return now
