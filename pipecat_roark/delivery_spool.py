"""A call's disk spool, seen from its delivery: every operation through the spool's single thread, and the journal.

Spool operations (the call's files, its chunks, its journal lines) go to
one worker thread, queued in the order they are asked for, so that a file
is never dropped before it is written and the journal reads in the order
things happened. The first failure turns the spool off for the call, once,
with a warning. Journal lines are grouped: a chunk's "produced" line waits
up to :data:`JOURNAL_GROUP_SECS` for its "delivered" line, and any other
spool operation flushes the waiting lines first, keeping their place.

Kept apart from :mod:`pipecat_roark.delivery` (the HTTP side: what is sent,
retried, given up) because the ordering rules here hold whatever the
network does, and are read and tested as one piece. Mixed into
:class:`~pipecat_roark.delivery.CallDelivery`, whose ``__init__`` sets the
attributes declared below.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from .spool import CallSpool, Spool, SpoolIO, chunk_name

if TYPE_CHECKING:
    from .delivery import DeliveryStats

#: Without a spool, audio waiting past this bound is dropped (counted, logged).
MAX_PENDING_BYTES = 16 * 1024 * 1024
#: A chunk's "produced" journal line waits at most this long to share one
#: trip to the spool's thread with its "delivered" line. A crash in that
#: window leaves the chunk uncounted, like the audio not yet cut into a chunk
#: (up to ~4 s), which dies with the process too.
JOURNAL_GROUP_SECS = 0.25


@dataclass
class _Chunk:
    """A recording chunk not yet delivered: its bytes in memory, or on the spool's disk."""

    index: int
    size: int
    data: Optional[bytes]  # None once on disk or delivered
    on_disk: bool = False
    delivered: bool = False
    writing: Optional[asyncio.Future] = None


class DeliverySpool:
    """The spool and journal operations of :class:`~pipecat_roark.delivery.CallDelivery`."""

    _log: Any
    _spool: Optional[CallSpool]
    _spool_root: Optional[Spool]
    _memory_budget: int
    _journal_lines: list[dict[str, Any]]
    _journal_timer: Optional[asyncio.TimerHandle]
    stats: DeliveryStats

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
