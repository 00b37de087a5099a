"""The end of a call's delivery: waiting for its uploads within one deadline, then call-ended, or the spool.

``finish()`` waits for the call's requests, sends ``call-ended`` once the
recording's fate is known, and writes whatever Roark did not take to the
spool, all within ``finalize_timeout``. With a spool the host's shutdown is
never held up by a Roark that is down: the first sign of trouble (a
refused connection, a timeout, the breaker open), a stall of
:data:`STALL_SECS`, or the host giving up (``hand_off()``) hands the rest
to the spool at once.

Kept apart from :mod:`pipecat_roark.delivery` (what happens while the call
runs) because this is the one path that holds up the host, and its
deadlines and hand-off rules are read as one piece. Mixed into
:class:`~pipecat_roark.delivery.CallDelivery`, whose ``__init__`` sets the
attributes declared below.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Optional

from .client import RequestFailed, RoarkClient
from .delivery_spool import _Chunk
from .retry import Breaker, Clock, with_retries
from .spool import CallSpool, SpoolIO

if TYPE_CHECKING:
    from .delivery import DeliveryStats

#: At the end of a call, this long without any request finishing means Roark
#: hangs: what is left goes to the spool.
STALL_SECS = 2.0
#: What writing the rest of a call to the spool may take when the host is
#: no longer waiting.
HAND_OFF_SECS = 0.5


class DeliveryFinish:
    """The end-of-call path of :class:`~pipecat_roark.delivery.CallDelivery`."""

    _client: RoarkClient
    _clock: Clock
    _log: Any
    _finalize_timeout: float
    _breaker: Breaker
    _spool: Optional[CallSpool]
    _started_task: Optional[asyncio.Task]
    _started_at: float
    _chunk_tasks: set[asyncio.Task]
    _chunks: dict[int, _Chunk]
    _url_tasks: dict[int, tuple[float, asyncio.Task]]
    _finishing: bool
    _closed: bool
    _troubled: bool
    _handed_off: bool
    _wake: Optional[asyncio.Event]
    stats: DeliveryStats

    # -- when the spool takes over ------------------------------------------
    # A request failing during the call is remembered here: at the end, it
    # means the spool takes the rest at once instead of retrying.

    def _trouble(self, failure: Optional[RequestFailed] = None) -> None:
        """Roark cannot be reached (refused, reset, timed out): the spool is the better place.

        A 5xx is an answer: Roark is there, and a retry within the deadline
        usually gets through, so it does not count here.
        """
        if failure is not None and failure.status is not None:
            return
        self._troubled = True
        if self._wake is not None:
            self._wake.set()

    def _spool_takes_over(self) -> bool:
        """At the end of a call, with a spool: stop retrying once Roark has shown trouble."""
        return self._spool is not None and self._finishing and (self._troubled or self._handed_off)

    def hand_off(self) -> None:
        """The host stops waiting: whatever is not delivered goes to the spool now (see finish)."""
        self._handed_off = True
        self._trouble()

    # -- the end -----------------------------------------------------------

    async def finish(self, build_ended: Callable[[bool], dict[str, Any]], hurry: bool = False) -> bool:
        """Wait for uploads, then send call-ended; all within the deadline.

        ``build_ended(recording_delivered)`` builds the payload once the
        recording's fate is known. Returns True if call-ended was delivered;
        False also when it was left in the spool (``stats.ended_spooled``).
        With a spool, trouble with Roark or a stall hands the rest to it at
        once (the host's shutdown does not wait for a Roark that is down);
        ``hurry`` (the host cancelled the call) shortens the stall allowed
        to ``HAND_OFF_SECS``.
        """
        self._finishing = True
        clock = self._clock
        deadline = clock.monotonic() + self._finalize_timeout
        # Keep a slice of the deadline for writing leftovers to disk, and one for the event itself.
        spool_reserve = min(HAND_OFF_SECS, self._finalize_timeout / 5) if self._spool is not None else 0.0
        event_reserve = min(3.0, self._finalize_timeout / 3)
        self._wake = asyncio.Event()
        started = self._started_task
        if started is not None and not started.done() and clock.monotonic() - self._started_at >= STALL_SECS:
            self._trouble()  # call-started has had no answer for the whole call: Roark hangs
        if self._troubled or self._breaker.is_open:
            self._wake.set()
        try:
            pending = set(self._chunk_tasks)
            if self._started_task is not None and not self._started_task.done():
                pending.add(self._started_task)
            stall = HAND_OFF_SECS if hurry else STALL_SECS
            await self._drain(pending, lambda: deadline - spool_reserve - event_reserve - clock.monotonic(), stall)
            if self._started_task is not None:
                # Past this point call-started is either delivered or the spool's to send.
                self._started_task.cancel()
            not_done = [t for t in self._chunk_tasks if not t.done()]
            for task in not_done:
                task.cancel()
            if not_done:
                await asyncio.wait(not_done, timeout=0.1 if self._spool_takes_over() else HAND_OFF_SECS)
            self._closed = True
            for _, task in self._url_tasks.values():
                task.cancel()
            self._url_tasks.clear()
            undelivered = [c for c in self._chunks.values() if not c.delivered]
            defer = self._spool is not None and (
                undelivered or not self.stats.started_delivered or self._spool_takes_over())
            if defer:
                payload = build_ended(self.stats.chunks_delivered + len(undelivered) > 0)
                ok = False
            else:
                for chunk in undelivered:
                    self._release(chunk)
                    self._lose(chunk.index, "finalization deadline reached before upload finished")
                payload = build_ended(self.stats.chunks_delivered > 0)
                budget = max(0.1, deadline - spool_reserve - clock.monotonic())
                if hurry and self._spool is not None:
                    budget = min(budget, 2 * HAND_OFF_SECS)  # the host is waiting: the spool has it otherwise
                ok = await with_retries(
                    "call-ended", lambda budget: self._client.post_event(payload, budget),
                    budget, breaker=self._breaker, log=self._log,
                    on_final=self._rejected, on_failure=self._trouble, give_up=self._spool_takes_over, clock=clock,
                )
            self.stats.ended_delivered = ok
            if self._spool is not None:
                budget = HAND_OFF_SECS if self._spool_takes_over() else max(spool_reserve, deadline - clock.monotonic())
                await self._settle_spool(ok, undelivered, payload, budget)
            return ok
        finally:
            self._closed = True
            await self._client.close()

    async def _drain(self, pending: set, remaining: Callable[[], float], stall_secs: float = STALL_SECS) -> None:
        """Wait for the call's requests until done, out of time, or (with a spool) trouble or a stall."""
        wake = self._wake
        assert wake is not None
        waiter = asyncio.ensure_future(wake.wait())
        try:
            while pending:
                if self._spool_takes_over() or (self._spool is not None and self._breaker.is_open):
                    return
                left = remaining()
                if left <= 0:
                    return
                stall = stall_secs if self._spool is not None else left
                # Without a spool there is nothing to hand over to: wait for the requests alone.
                wake_up = {waiter} if self._spool is not None else set()
                done, pending = await asyncio.wait(pending | wake_up, timeout=min(left, stall),
                                                   return_when=asyncio.FIRST_COMPLETED)
                pending.discard(waiter)
                if waiter in done:
                    continue  # trouble: the checks above decide
                if not done:
                    if self._spool is not None:
                        self._log.debug(f"no progress for {stall:.1f}s at the end of the call: spooling the rest")
                        self._trouble()
                    return
        finally:
            waiter.cancel()

    async def _settle_spool(self, delivered: bool, undelivered: list[_Chunk], payload: dict[str, Any], budget: float) -> None:
        spool = self._spool
        assert spool is not None
        self._flush_journal()  # before the journal is closed
        try:
            if delivered:
                await asyncio.wait_for(SpoolIO.run(spool.close, delivered=True), budget)
                return
            writes = [w for w in (self._to_disk(c) for c in undelivered) if w is not None]
            writes.append(asyncio.wrap_future(SpoolIO.submit(spool.put_ended, payload)))
            writes.append(asyncio.wrap_future(SpoolIO.submit(spool.close, delivered=False)))
            await asyncio.wait_for(asyncio.gather(*writes), budget)
            self.stats.ended_spooled = True
            on_disk = sum(1 for c in undelivered if c.on_disk)
            self._log.warning(
                f"Roark did not take the whole call in time; call-ended and {on_disk} recording chunk(s) are kept in "
                f"the spool ({spool.path}) and will be delivered by the next call on this machine or by "
                "`pipecat-roark replay`"
            )
        except (asyncio.TimeoutError, OSError) as e:
            lost = [c.index for c in undelivered if not c.on_disk]
            self._log.error(
                f"could not write the undelivered part of the call to the spool ({type(e).__name__}); "
                f"{len(lost)} chunk(s) and call-ended are lost"
            )

    def abort(self) -> None:
        """Cancel everything still running (the loop is going away)."""
        self._closed = True
        try:
            self._flush_journal()
        except Exception:
            pass
        for task in list(self._chunk_tasks):
            task.cancel()
        if self._started_task is not None:
            self._started_task.cancel()
        for _, task in self._url_tasks.values():
            task.cancel()
