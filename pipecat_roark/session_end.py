"""A call's single end and its delivery: the first to ask ends it, call-ended goes out once, waits are bounded.

A mixin of :class:`~pipecat_roark.session.CallSession`. Whoever asks first
(an end frame at the recorder, a Cancel/Stop seen by the observer,
``aflush``, teardown) ends the call; the edges still pending are resolved
then, and call-ended is built once the recording's fate is known (every
upload done or given up) and handed to delivery, or to the spool.
Kept apart from the during-call methods because it runs once per call and
is the only part of the session that awaits (on delivery, with a deadline).
The session's ``__init__`` sets the attributes declared below.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from .call import Call
from .delivery import HAND_OFF_SECS, CallDelivery
from .edges import EdgeResolver
from .summary import assess_recording

if TYPE_CHECKING:
    from .session import CallExtension, CallLog


class SessionEnd:
    """Ending the call once, building call-ended and waiting (bounded) for its delivery."""

    call: Call
    settings: Any
    delivery: CallDelivery
    log: CallLog
    bot_spoke: bool
    final_task: Optional[asyncio.Task]
    finalized: bool
    extensions: list[CallExtension]
    _started: bool
    _edges: Optional[EdgeResolver]
    _tracing: Any
    _recorder_present: bool
    _health: Callable[[], dict]
    _on_redaction_failure: Optional[Callable[[str], None]]
    _fire: Callable[..., None]
    _warn_once: Callable[[str, str], None]

    def end(self, t_ns: Optional[int], reason: str, hurry: bool = False) -> bool:
        """End the call now (the first caller wins). True if this call ended it.

        ``hurry``: the host is tearing the call down (a CancelFrame): what
        Roark does not take promptly goes to the spool instead of being waited for.
        """
        if self.call.ended:
            return False
        if not self._started:
            # Ended before it started (e.g. cancelled during setup): still a call.
            self.start(t_ns or 0, time.time() - (t_ns or 0) / 1e9)
        if t_ns is None or (self.call.started_t is not None and t_ns < self.call.started_t):
            t_ns = self.call.started_t or 0
        self.call.end(t_ns, reason)
        if self._edges is not None:
            self._apply(self._edges.poll(final=True))
        # Before the tail's uploads start: no URL fetched for a chunk that never comes.
        self.delivery.mark_ending()
        self.call.close_all()
        self._report_turns()
        self.log.info(f"call ended ({reason}); delivering")
        self.final_task = asyncio.get_running_loop().create_task(self._finalize(hurry))
        return True

    async def _finalize(self, hurry: bool = False) -> bool:
        tracing = self._tracing
        if tracing is not None:
            tracing.call_ending()  # spans ended so far go out ahead of call-ended
        try:
            ok = await self.delivery.finish(
                lambda delivered: self.build_ended(
                    delivered, extra=tracing.ended_fields() if tracing is not None else None,
                ),
                hurry=hurry,
            )
        except Exception:
            self.log.exception("finalization failed")
            ok = False
        finally:
            self.finalized = True
        st = self.delivery.stats
        audio = f"{st.chunks_delivered}/{st.chunks_produced} recording chunks"
        if ok:
            self.log.info(f"call delivered to Roark ({audio})")
        elif st.ended_spooled:
            self.log.info(f"call kept in the disk spool for later delivery ({audio} delivered so far)")
        else:
            self.log.error(f"call-ended could not be delivered ({audio}); see the warnings above")
        return ok

    def build_ended(self, delivered: bool, extra: Optional[dict] = None) -> dict[str, Any]:
        """call-ended, once the recording's fate is known (every upload done or given up)."""
        call, st = self.call, self.delivery.stats
        recording = None
        try:
            origin = call.recording_started_t if call.recording_started_t is not None else call.started_t
            call_ms = (call.ended_t - origin) / 1e6 if call.ended_t is not None and origin is not None else None
            recording = assess_recording(
                capture_audio=self.settings.capture_audio,
                recorder_present=self._recorder_present,
                capture=self._health(),
                chunks_produced=st.chunks_produced,
                chunks_delivered=st.chunks_delivered,
                chunks_lost=st.chunks_lost,
                call_ms=call_ms,
                bot_spoke=self.bot_spoke or any(t.role == "assistant" and t.spoken for t in call.turns),
                user_spoke=any(t.role == "user" for t in call.turns),
            )
            channels = recording[1].channels
            if channels is not None and channels.bot is not None and not channels.bot.sound and self.bot_spoke:
                self._warn_once(
                    "bot-silent",
                    "the bot channel of the recording is silent although the bot spoke: roark.audio_processor "
                    "must be placed right after transport.output() (placed earlier it never sees the bot's audio)",
                )
        except Exception:
            self.log.exception("could not assess the recording")
        fields = dict(extra or {})
        for ext in self.extensions:
            fields.update(self._safely(ext, "ended_fields", {}, self))
        payload = call.build_ended(self.settings, now_wall=time.time(), recording_delivered=delivered,
                                   extra=fields, recording=recording, on_redaction_failure=self._on_redaction_failure)
        for ext in self.extensions:
            payload = self._safely(ext, "finish_payload", payload, payload)
        self._fire("on_call_ended", dict(payload.get("callSummary") or {}), payload)
        return payload
    async def wait_final(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) for the call to be delivered or spooled.

        Finalization is bounded by the same deadline and hands over to the
        spool at the first sign of trouble; this bound is the backstop. The
        host's cancellation is honoured at once: what is not delivered yet
        gets a short, bounded hand-off to the spool, then the cancellation
        goes on.
        """
        task = self.final_task
        if task is None:
            return False
        try:
            done, _ = await asyncio.wait([task], timeout=timeout)
        except asyncio.CancelledError:
            await self._hand_off(task)
            raise
        if not done:
            await self._hand_off(task)
            return False
        return not task.cancelled() and task.exception() is None and bool(task.result())

    async def _hand_off(self, task: asyncio.Task) -> None:
        self.delivery.hand_off()
        try:
            await asyncio.wait([task], timeout=HAND_OFF_SECS)
        finally:
            if not task.done():
                self.delivery.abort()
