"""Getting one call to Roark: the only part of the package that waits.

- ``call-started`` is sent in the background as soon as the call starts.
- Every recording chunk is uploaded while the call runs (upload URL, then a
  presigned PUT), at most ``max_in_flight`` at a time, retried with backoff,
  each attempt with a fresh URL. The URL of the next chunk is fetched ahead
  of time so that, when the call ends, the last chunk costs one round trip.
- Audio waiting for an upload slot is held in memory up to a bound; past it,
  or while Roark is unreachable (the breaker is open), chunks wait on disk.
- ``finish()`` waits for the uploads, then sends ``call-ended``, all within
  one deadline. Whatever is not delivered by then (events and chunks) is left
  in the spool, to be delivered later by ``replay``; ``call-ended`` is then
  held back too, so Roark never sees the end of a call before its audio.
- The host's shutdown is never held up by a Roark that is down: at the end
  of a call, with a spool, the first sign that Roark cannot be reached (a
  refused connection, a timeout, the breaker open) or a stall of ``STALL_SECS`` without
  progress sends what is left to the spool at once; ``hand_off()`` does the
  same when the host stops waiting (its own timeout, or a cancellation).

With no spool (disabled, or its directory unusable) undeliverable data is
dropped, counted and logged once with the reason. Nothing here raises.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from loguru import logger

from .client import RequestFailed, RoarkClient
from .models import UploadUrl
from .retry import SYSTEM_CLOCK, Breaker, Clock, advice, breaker_for, with_retries
from .spool import CallSpool, Spool, SpoolIO, chunk_name

#: Chunk uploads during the call get this long (all attempts together).
CHUNK_BUDGET_SECS = 60.0
#: call-started retries for this long; the call goes on regardless.
STARTED_BUDGET_SECS = 30.0
#: A prefetched upload URL older than this is not used (they expire).
URL_MAX_AGE_SECS = 300.0
#: Audio a call holds in memory waiting for upload; past it, chunks go to disk.
MEMORY_BUDGET_BYTES = 2 * 1024 * 1024
#: Without a spool, audio waiting past this bound is dropped (counted, logged).
MAX_PENDING_BYTES = 16 * 1024 * 1024
#: At the end of a call, this long without any request finishing means Roark
#: hangs: what is left goes to the spool.
STALL_SECS = 2.0
#: What writing the rest of a call to the spool may take when the host is
#: no longer waiting.
HAND_OFF_SECS = 0.5
#: A chunk's "produced" journal line waits at most this long to share one
#: trip to the spool's thread with its "delivered" line. A crash in that
#: window leaves the chunk uncounted, like the audio not yet cut into a chunk
#: (up to ~4 s), which dies with the process too.
JOURNAL_GROUP_SECS = 0.25


@dataclass
class DeliveryStats:
    chunks_produced: int = 0
    bytes_produced: int = 0
    chunks_delivered: int = 0
    chunks_lost: int = 0
    chunks_spooled: int = 0
    bytes_delivered: int = 0
    loss_reasons: list[str] = field(default_factory=list)
    started_delivered: bool = False
    ended_delivered: bool = False
    #: call-ended (and what it waits for) was left in the spool for replay.
    ended_spooled: bool = False


@dataclass
class _Chunk:
    index: int
    size: int
    data: Optional[bytes]  # None once on disk or delivered
    on_disk: bool = False
    delivered: bool = False
    writing: Optional[asyncio.Future] = None


class CallDelivery:
    def __init__(self, client: RoarkClient, call_id: str, *, max_in_flight: int = 4, finalize_timeout: float = 10.0,
                 expect_audio: bool = True, log: Any = logger, spool: Optional[Spool] = None,
                 breaker: Optional[Breaker] = None, memory_budget: int = MEMORY_BUDGET_BYTES,
                 clock: Clock = SYSTEM_CLOCK):
        self._client = client
        self._clock = clock
        self._call_id = call_id
        self._log = log
        self._finalize_timeout = finalize_timeout
        self._slots = asyncio.Semaphore(max_in_flight)
        self._breaker = breaker or breaker_for(client.base_url)
        self._spool_root = spool
        self._spool: Optional[CallSpool] = CallSpool(spool.root, call_id) if spool is not None else None
        self._memory_budget = memory_budget if spool is not None else MAX_PENDING_BYTES
        self._started_task: Optional[asyncio.Task] = None
        self._chunk_tasks: set[asyncio.Task] = set()
        self._chunks: dict[int, _Chunk] = {}
        self._url_tasks: dict[int, tuple[float, asyncio.Task]] = {}
        self._pending_bytes = 0
        self._finishing = False  # no chunk after those already queued
        self._closed = False
        self._expect_audio = expect_audio
        self.stats = DeliveryStats()
        # Roark failed a request of this call (unreachable, timing out, 5xx):
        # at the end, the spool takes over at once instead of retrying.
        self._troubled = False
        self._handed_off = False
        self._wake: Optional[asyncio.Event] = None
        self._started_at = 0.0
        self._audio_discarded = False
        self._journal_lines: list[dict[str, Any]] = []
        self._journal_timer: Optional[asyncio.TimerHandle] = None

    @property
    def spool_dir(self) -> Optional[str]:
        return str(self._spool.path) if self._spool is not None else None

    # -- the spool, through its worker thread -------------------------------

    def _spool_op(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Optional[asyncio.Future]:
        """Queue a spool operation; a failure turns the spool off for this call, once, with a warning."""
        if self._spool is None:
            return None
        if self._journal_lines:
            self._flush_journal()  # waiting lines keep their place among the spool's operations
        return self._submit(what, fn, *args, **kwargs)

    def _submit(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future:
        future = asyncio.wrap_future(SpoolIO.submit(fn, *args, **kwargs))
        future.add_done_callback(lambda f, what=what: self._spool_done(what, f))
        return future

    def _spool_done(self, what: str, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is None or self._spool is None:
            return
        e = future.exception()
        self._log.warning(
            f"the disk spool is unusable ({what}: {type(e).__name__}: {e}); "
            "what Roark does not accept in time will be lost; set ROARK_SPOOL_DIR to a writable directory"
        )
        self._spool = None
        self._memory_budget = MAX_PENDING_BYTES

    def _journal(self, **record: Any) -> None:
        """A journal line. A chunk's "produced" line waits up to JOURNAL_GROUP_SECS for its "delivered" line,
        which goes at once, taking what waits along: one trip to the spool's thread per chunk, not two."""
        if self._spool is None:
            return
        self._journal_lines.append(record)
        if record.get("k") != "chunk":
            self._flush_journal()  # a crash must never count a delivered chunk as lost
        elif self._journal_timer is None:
            try:
                self._journal_timer = asyncio.get_running_loop().call_later(JOURNAL_GROUP_SECS, self._flush_journal)
            except RuntimeError:  # no loop (teardown): at once
                self._flush_journal()

    def _flush_journal(self) -> None:
        if self._journal_timer is not None:
            self._journal_timer.cancel()
            self._journal_timer = None
        lines, self._journal_lines = self._journal_lines, []
        if lines and self._spool is not None:
            try:
                self._submit("journal", self._spool.journal_lines, lines)
            except RuntimeError:  # the loop is gone: write from here, it is the end anyway
                self._spool.journal_lines(lines)

    # -- during the call ---------------------------------------------------

    def send_started(self, payload: dict[str, Any], meta: Optional[dict[str, Any]] = None) -> None:
        if self._started_task is not None:
            return
        self._client.open()
        if self._spool is not None:
            meta = {**(meta or {}), "callId": self._call_id, "baseUrl": self._client.base_url, "pid": os.getpid(),
                    "host": socket.gethostname(), "callStartedAt": payload.get("eventTimestamp")}
            # Written ahead: a crash from here on still leaves the call for replay.
            self._spool_op("open", self._spool.open, meta, payload)
        self._started_at = self._clock.monotonic()
        self._started_task = asyncio.create_task(self._send_started(payload))

    async def _send_started(self, payload: dict[str, Any]) -> None:
        ok = await with_retries(
            "call-started", lambda budget: self._client.post_event(payload, budget), STARTED_BUDGET_SECS,
            breaker=self._breaker, log=self._log, on_final=self._rejected,
            on_failure=self._trouble, clock=self._clock,
        )
        self.stats.started_delivered = ok
        if ok:
            self._troubled = False  # Roark answers now, whatever failed before
            self._log.debug("call-started delivered")
            if self._spool is not None:
                self._journal(k="started")
                self._spool_op("drop", self._spool.drop, "started.json")
            if self._expect_audio:
                # A call shorter than one chunk still pays one round trip
                # for its audio at the end, not two.
                self._prefetch_url(0)

    def mark_ending(self) -> None:
        """The call has ended: the chunks queued now are the last ones."""
        self._finishing = True

    def add_chunk(self, index: int, data: bytes, sample_rate: Optional[int] = None, num_channels: Optional[int] = None) -> None:
        """Queue a chunk for upload. Never blocks, never raises."""
        if self._audio_discarded:
            return  # consent withdrawn (discard_audio): not a loss
        self.stats.chunks_produced += 1
        self.stats.bytes_produced += len(data)
        self._journal(k="chunk", i=index, n=len(data), sr=sample_rate, ch=num_channels)
        if self._closed:
            self._lose(index, "produced after the call was finalized")
            return
        chunk = _Chunk(index, len(data), data)
        over_budget = self._pending_bytes + len(data) > self._memory_budget
        if over_budget and self._spool is None:
            self._lose(index, "upload backlog full (Roark too slow) and no disk spool")
            return
        self._chunks[index] = chunk
        self._pending_bytes += len(data)
        if over_budget or self._breaker.is_open:
            self._to_disk(chunk)
        self._client.open()
        task = asyncio.create_task(self._upload(chunk))
        self._chunk_tasks.add(task)
        task.add_done_callback(self._chunk_tasks.discard)

    def discard_audio(self) -> int:
        """Consent withdrawn (issue 15): forget every chunk not delivered yet. Returns how many.

        Uploads in progress are cancelled, bytes in memory freed, spooled
        files deleted (queued on the spool's single thread, so after any write
        still pending), and later chunks are refused. Delivered chunks have
        left the process already.
        """
        self._audio_discarded = True
        gone = [c for c in self._chunks.values() if not c.delivered]
        for chunk in gone:
            del self._chunks[chunk.index]
            self._release(chunk)
            if self._spool is not None:
                self._spool_op("drop", self._spool.drop, chunk_name(chunk.index))
        for task in list(self._chunk_tasks):
            task.cancel()
        for _, task in self._url_tasks.values():
            task.cancel()
        self._url_tasks.clear()
        if gone:
            self._journal(k="discarded", i=[c.index for c in gone])
        self.stats.chunks_produced -= len(gone)
        self.stats.bytes_produced -= sum(c.size for c in gone)
        return len(gone)

    def _lose(self, index: int, reason: str) -> None:
        self.stats.chunks_lost += 1
        if reason not in self.stats.loss_reasons:
            self.stats.loss_reasons.append(reason)
            self._log.error(f"recording chunk {index} lost: {reason}; later audio offsets may be shifted")

    def _release(self, chunk: _Chunk) -> None:
        if chunk.data is not None:
            chunk.data = None
            self._pending_bytes -= chunk.size

    def _to_disk(self, chunk: _Chunk) -> Optional[asyncio.Future]:
        """Move a chunk's bytes from memory to the spool (idempotent)."""
        if chunk.on_disk or chunk.delivered:
            return None
        if chunk.writing is not None:
            return chunk.writing
        if self._spool is None or chunk.data is None:
            return None
        future = self._spool_op("chunk", _put_chunk, self._spool_root, self._spool, chunk.index, chunk.data)
        chunk.writing = future

        def written(f: asyncio.Future) -> None:
            chunk.writing = None
            if f.cancelled() or f.exception() is not None:
                return
            evicted = f.result()
            for call_id, reason in evicted:
                self._log.error(f"spooled call {call_id} evicted from the disk spool ({reason}); it is lost")
            if chunk.delivered:  # the upload finished while the write ran
                if self._spool is not None:
                    self._spool_op("drop", self._spool.drop, chunk_name(chunk.index))
                return
            chunk.on_disk = True
            self.stats.chunks_spooled += 1
            self._release(chunk)

        future.add_done_callback(written)
        return future

    async def _chunk_bytes(self, chunk: _Chunk) -> Optional[bytes]:
        if chunk.writing is not None:
            await asyncio.wait([chunk.writing])
        if chunk.data is not None:
            return chunk.data
        if chunk.on_disk and self._spool is not None:
            return await SpoolIO.run(self._spool.read_chunk, chunk.index)
        return None

    def _prefetch_url(self, index: int) -> None:
        if self._finishing or index in self._url_tasks or self._breaker.is_open:
            return
        task = asyncio.create_task(self._client.upload_url(self._call_id, index))
        task.add_done_callback(_consume_exception)
        self._url_tasks[index] = (time.monotonic(), task)

    async def _url_for(self, index: int, budget: float) -> UploadUrl:
        fetched_at, task = self._url_tasks.pop(index, (0.0, None))
        if task is not None and time.monotonic() - fetched_at < URL_MAX_AGE_SECS:
            try:
                return await asyncio.wait_for(asyncio.shield(task), budget)
            except (RequestFailed, asyncio.TimeoutError):
                pass
        return await self._client.upload_url(self._call_id, index, budget)

    async def _upload(self, chunk: _Chunk) -> None:
        index = chunk.index
        if self._started_task is not None:
            # Roark hears of the call before its audio.
            await asyncio.shield(self._started_task)
        if not self.stats.started_delivered:
            self._keep_or_lose(chunk, "call-started was not delivered")
            return
        async with self._slots:
            self._prefetch_url(index + 1)
            try:
                data = await self._chunk_bytes(chunk)
            except OSError as e:
                self._lose(index, f"spooled chunk unreadable ({type(e).__name__})")
                return
            if data is None:
                self._lose(index, "spooled chunk missing")
                return

            async def attempt(budget: float) -> None:
                url = await self._url_for(index, budget)
                await self._client.put_chunk(index, url.upload_url, data, budget)

            ok = await with_retries(f"chunk {index}", attempt, CHUNK_BUDGET_SECS, breaker=self._breaker,
                                    log=self._log, on_final=self._rejected, on_failure=self._trouble,
                                    give_up=self._spool_takes_over, clock=self._clock)
        if ok:
            self._troubled = False  # Roark answers now, whatever failed before
            chunk.delivered = True
            # Only undelivered chunks are looked at again: the record goes, so
            # nothing kept per call grows with its length.
            self._chunks.pop(index, None)
            self.stats.chunks_delivered += 1
            self.stats.bytes_delivered += chunk.size
            self._release(chunk)
            self._journal(k="delivered", i=index)
            if chunk.on_disk and self._spool is not None:
                self._spool_op("drop", self._spool.drop, chunk_name(index))
        else:
            self._keep_or_lose(chunk, "upload failed after retries")

    def _keep_or_lose(self, chunk: _Chunk, reason: str) -> None:
        if self._spool is not None:
            self._to_disk(chunk)  # replay will deliver it
        else:
            self._release(chunk)
            self._lose(chunk.index, reason)

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

    def _rejected(self, failure: RequestFailed) -> None:
        key = f"rejected {failure.status}"
        if key not in self.stats.loss_reasons:
            self.stats.loss_reasons.append(key)
            self._log.error(f"{failure.describe()}: refused by Roark{advice(failure.status)}")

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


def _put_chunk(root: Optional[Spool], spool: CallSpool, index: int, data: bytes) -> list[tuple[str, str]]:
    """(spool thread) Write one chunk, making room under the cap first; returns evicted calls."""
    evicted: list[tuple[str, str]] = []
    if root is not None:
        if not root.reserve(len(data)):
            gone = root.make_room(len(data), keep=spool.path.name)
            evicted = [(c.call_id, reason) for c, reason in gone]
            if not root.reserve(len(data), rescan=True):
                raise OSError(f"spool full ({root.max_bytes // (1024 * 1024)} MiB cap) with calls still in use")
    spool.put_chunk(index, data)
    return evicted


async def _wait(task: asyncio.Task, timeout: float) -> None:
    if timeout <= 0:
        return
    await asyncio.wait([task], timeout=timeout)


def _consume_exception(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
