"""Getting one call to Roark: the only part of the package that waits.

- ``call-started`` is sent in the background as soon as the call starts.
- Every recording chunk is uploaded while the call runs (upload URL, then a
  presigned PUT), at most ``max_uploads_in_flight`` at a time, retried with
  backoff, each attempt with a fresh URL. The URL of the next chunk is
  fetched ahead of time so that, when the call ends, the last chunk costs one
  round trip instead of two.
- ``finish()`` waits for the uploads, then sends ``call-ended``, all within
  one deadline (``finalize_timeout_secs``). What is not delivered by then is
  counted and logged once with the reason.

Nothing here raises: failures become counts and log lines.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from loguru import logger

from .client import RequestFailed, RoarkClient
from .models import UploadUrl

#: Chunk uploads during the call get this long (all attempts together).
CHUNK_BUDGET_SECS = 60.0
#: call-started retries for this long; the call goes on regardless.
STARTED_BUDGET_SECS = 30.0
#: A prefetched upload URL older than this is not used (they expire).
URL_MAX_AGE_SECS = 300.0
#: Audio waiting for an upload slot is bounded: past this, chunks are dropped
#: (counted and logged) rather than growing memory without limit.
MAX_PENDING_BYTES = 16 * 1024 * 1024


def backoff_delay(attempt: int, retry_after: Optional[float] = None, base: float = 0.25, cap: float = 8.0) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins."""
    if retry_after is not None:
        return min(retry_after, 60.0)
    return random.uniform(0, min(cap, base * (2**attempt)))


@dataclass
class DeliveryStats:
    chunks_produced: int = 0
    chunks_delivered: int = 0
    chunks_lost: int = 0
    bytes_delivered: int = 0
    loss_reasons: list[str] = field(default_factory=list)
    started_delivered: bool = False
    ended_delivered: bool = False


class CallDelivery:
    def __init__(self, client: RoarkClient, call_id: str, *, max_in_flight: int = 4, finalize_timeout: float = 10.0,
                 expect_audio: bool = True, log: Any = logger):
        self._client = client
        self._call_id = call_id
        self._log = log
        self._finalize_timeout = finalize_timeout
        self._slots = asyncio.Semaphore(max_in_flight)
        self._started_task: Optional[asyncio.Task] = None
        self._chunk_tasks: set[asyncio.Task] = set()
        self._url_tasks: dict[int, tuple[float, asyncio.Task]] = {}
        self._pending_bytes = 0
        self._finishing = False  # no chunk after those already queued
        self._closed = False
        self._expect_audio = expect_audio
        self.stats = DeliveryStats()

    # -- during the call ---------------------------------------------------

    def send_started(self, payload: dict[str, Any]) -> None:
        if self._started_task is None:
            self._client.open()
            self._started_task = asyncio.create_task(self._send_started(payload))

    async def _send_started(self, payload: dict[str, Any]) -> None:
        ok = await self._retrying("call-started", lambda budget: self._client.post_event(payload, budget), STARTED_BUDGET_SECS)
        self.stats.started_delivered = ok
        if ok:
            self._log.debug("call-started delivered")
            if self._expect_audio:
                # A call shorter than one chunk still pays one round trip
                # for its audio at the end, not two.
                self._prefetch_url(0)

    def mark_ending(self) -> None:
        """The call has ended: the chunks queued now are the last ones."""
        self._finishing = True

    def add_chunk(self, index: int, data: bytes) -> None:
        """Queue a chunk for upload. Never blocks, never raises."""
        self.stats.chunks_produced += 1
        if self._closed:
            self._lose(index, "produced after the call was finalized")
            return
        if self._pending_bytes + len(data) > MAX_PENDING_BYTES:
            self._lose(index, "upload backlog full (Roark too slow)")
            return
        self._client.open()
        self._pending_bytes += len(data)
        task = asyncio.create_task(self._upload(index, data))
        self._chunk_tasks.add(task)
        task.add_done_callback(self._chunk_tasks.discard)

    def _lose(self, index: int, reason: str) -> None:
        self.stats.chunks_lost += 1
        if reason not in self.stats.loss_reasons:
            self.stats.loss_reasons.append(reason)
            self._log.error(f"recording chunk {index} lost: {reason}; later audio offsets may be shifted")

    def _prefetch_url(self, index: int) -> None:
        if self._finishing or index in self._url_tasks:
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

    async def _upload(self, index: int, data: bytes) -> None:
        try:
            if self._started_task is not None:
                # Roark hears of the call before its audio.
                await asyncio.shield(self._started_task)
            async with self._slots:
                self._prefetch_url(index + 1)

                async def attempt(budget: float) -> None:
                    url = await self._url_for(index, budget)
                    await self._client.put_chunk(index, url.upload_url, data, budget)

                ok = await self._retrying(f"chunk {index}", attempt, CHUNK_BUDGET_SECS)
            if ok:
                self.stats.chunks_delivered += 1
                self.stats.bytes_delivered += len(data)
            else:
                self._lose(index, "upload failed after retries")
        except asyncio.CancelledError:
            self._lose(index, "finalization deadline reached before upload finished")
            raise
        finally:
            self._pending_bytes -= len(data)

    async def _retrying(self, what: str, op: Callable[[float], Awaitable[Any]], budget: float) -> bool:
        deadline = time.monotonic() + budget
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._log.warning(f"{what}: gave up, out of time")
                return False
            try:
                await asyncio.wait_for(op(remaining), timeout=remaining + 0.5)
                return True
            except (RequestFailed, asyncio.TimeoutError) as e:
                failure = e if isinstance(e, RequestFailed) else RequestFailed(what, None, True, detail="timed out")
                if not failure.retryable:
                    self._log.error(f"{what} rejected by Roark: {failure.describe()}{_advice(failure.status)}")
                    return False
                delay = backoff_delay(attempt, failure.retry_after)
                attempt += 1
                if time.monotonic() + delay >= deadline:
                    self._log.warning(f"{what} failed ({failure.describe()}); out of time for retries")
                    return False
                self._log.debug(f"{what} failed ({failure.describe()}); retry {attempt} in {delay:.2f}s")
                await asyncio.sleep(delay)
            except Exception as e:  # a bug here must not escape into the call
                self._log.exception(f"{what}: unexpected error: {type(e).__name__}")
                return False

    # -- the end -----------------------------------------------------------

    async def finish(self, build_ended: Callable[[bool], dict[str, Any]]) -> bool:
        """Wait for uploads, then send call-ended; all within the deadline.

        ``build_ended(recording_delivered)`` builds the payload once the
        recording's fate is known. Returns True if call-ended was delivered.
        """
        self._finishing = True
        deadline = time.monotonic() + self._finalize_timeout
        try:
            if self._started_task is not None:
                await _wait(self._started_task, deadline - time.monotonic())
            # Keep a slice of the deadline for the event itself.
            reserve = min(3.0, self._finalize_timeout / 3)
            pending = list(self._chunk_tasks)
            if pending:
                done, not_done = await asyncio.wait(pending, timeout=max(0.0, deadline - reserve - time.monotonic()))
                for task in not_done:
                    task.cancel()
                if not_done:
                    await asyncio.wait(not_done, timeout=0.5)
            self._closed = True
            for _, task in self._url_tasks.values():
                task.cancel()
            self._url_tasks.clear()
            payload = build_ended(self.stats.chunks_delivered > 0)
            ok = await self._retrying(
                "call-ended", lambda budget: self._client.post_event(payload, budget), max(0.1, deadline - time.monotonic())
            )
            self.stats.ended_delivered = ok
            return ok
        finally:
            self._closed = True
            await self._client.close()

    def abort(self) -> None:
        """Cancel everything still running (the loop is going away)."""
        self._closed = True
        for task in list(self._chunk_tasks):
            task.cancel()
        if self._started_task is not None:
            self._started_task.cancel()
        for _, task in self._url_tasks.values():
            task.cancel()


def _advice(status: Optional[int]) -> str:
    if status in (401, 403):
        return " — check ROARK_API_KEY (and ROARK_INTEGRATION_ID if set)"
    if status == 404:
        return " — check ROARK_BASE_URL"
    if status in (400, 422):
        return " — the payload was refused; please report this with the call id"
    return ""


async def _wait(task: asyncio.Task, timeout: float) -> None:
    if timeout <= 0:
        return
    await asyncio.wait([task], timeout=timeout)


def _consume_exception(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
