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

The parts, one concern each: here, what happens while the call runs (the
requests, their retries and bounds); :mod:`pipecat_roark.delivery_spool`,
the spool through its single thread and the journal;
:mod:`pipecat_roark.delivery_finish`, the end of the call (the deadline,
call-ended, handing the rest to the spool). :class:`CallDelivery` is one
object to those who use it, its parts mixed in; every name is importable
from here, as before the split.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from loguru import logger

from .client import RequestFailed, RoarkClient
from .delivery_finish import HAND_OFF_SECS, STALL_SECS, DeliveryFinish
from .delivery_spool import JOURNAL_GROUP_SECS, MAX_PENDING_BYTES, DeliverySpool, _Chunk
from .models import UploadUrl
from .retry import SYSTEM_CLOCK, Breaker, Clock, advice, breaker_for, with_retries
from .spool import CallSpool, Spool, chunk_name

# The names importers used before the module was split keep working from here.
__all__ = [
    "CHUNK_BUDGET_SECS",
    "HAND_OFF_SECS",
    "JOURNAL_GROUP_SECS",
    "MAX_PENDING_BYTES",
    "MEMORY_BUDGET_BYTES",
    "STALL_SECS",
    "STARTED_BUDGET_SECS",
    "URL_MAX_AGE_SECS",
    "CallDelivery",
    "DeliveryStats",
]

#: Chunk uploads during the call get this long (all attempts together).
CHUNK_BUDGET_SECS = 60.0
#: call-started retries for this long; the call goes on regardless.
STARTED_BUDGET_SECS = 30.0
#: A prefetched upload URL older than this is not used (they expire).
URL_MAX_AGE_SECS = 300.0
#: Audio a call holds in memory waiting for upload; past it, chunks go to disk.
MEMORY_BUDGET_BYTES = 2 * 1024 * 1024


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


class CallDelivery(DeliveryFinish, DeliverySpool):
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

    def _rejected(self, failure: RequestFailed) -> None:
        key = f"rejected {failure.status}"
        if key not in self.stats.loss_reasons:
            self.stats.loss_reasons.append(key)
            self._log.error(f"{failure.describe()}: refused by Roark{advice(failure.status)}")


def _consume_exception(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
