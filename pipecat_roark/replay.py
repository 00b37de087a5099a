"""Delivering what the spool holds: later, in order, once.

For each call directory whose lock is free (its process finished or died),
in this order: ``call-started`` if Roark never took it, then every spooled
chunk by index (each with a fresh upload URL), then ``call-ended``, deleting
each file as soon as Roark has accepted it. A replay that stops half-way
(Roark down again, the process killed) resumes where it stopped; holding the
call's lock means two replayers never send the same thing.

A call whose process died before finalizing has no ``ended.json``: its
``call-ended`` is rebuilt from the journal, says so in ``callEndedReason``
and in a ``recovery`` record, and lists what was lost because it was only in
memory. A chunk that was lost between two that survived is replaced by
silence of the same length, so the rest of the recording stays aligned with
the transcript offsets.

Requests are paced (``rate`` per second) so a backlog does not hit Roark as
a burst; the process-wide breaker stops a pass when Roark is down.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from loguru import logger

from .call import iso
from .client import RoarkClient
from .models import CallEnded, Recovery
from .retry import Breaker, breaker_for, with_retries
from .spool import Journal, Spool, SpooledCall, SpoolIO, load_json, chunk_name

#: Budget for one request (all its retries) during replay.
ITEM_BUDGET_SECS = 20.0
#: Requests per second a replay sends at most.
DEFAULT_RATE = 10.0
#: A background replay runs at most this often per process.
BACKGROUND_INTERVAL_SECS = 30.0
#: ... and waits this long after the call that triggered it started.
BACKGROUND_DELAY_SECS = 2.0

ORPHAN_REASON = "bot process exited before finalizing the call (recovered from the spool)"


@dataclass
class CallReplay:
    call_id: str
    outcome: str  # "delivered", "busy", "other-roark", "failed"
    events: list[str] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    silenced: list[int] = field(default_factory=list)
    lost_tail: list[int] = field(default_factory=list)
    bytes_lost: int = 0
    detail: str = ""


@dataclass
class ReplayReport:
    calls: list[CallReplay] = field(default_factory=list)

    @property
    def delivered(self) -> list[CallReplay]:
        return [c for c in self.calls if c.outcome == "delivered"]

    @property
    def remaining(self) -> list[CallReplay]:
        return [c for c in self.calls if c.outcome == "failed"]


class _Pacer:
    """At most ``rate`` requests per second, spread evenly."""

    def __init__(self, rate: float):
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


class Replayer:
    def __init__(self, spool: Spool, client: RoarkClient, *, rate: float = DEFAULT_RATE, log: Any = logger,
                 breaker: Optional[Breaker] = None, item_budget: float = ITEM_BUDGET_SECS):
        self._spool = spool
        self._client = client
        self._pacer = _Pacer(rate)
        self._log = log
        self._breaker = breaker or breaker_for(client.base_url)
        self._budget = item_budget

    async def run(self, only: Optional[str] = None) -> ReplayReport:
        """One pass over the spool. Never raises for a delivery problem."""
        report = ReplayReport()
        calls: list[SpooledCall] = await SpoolIO.run(self._spool.calls)
        if not calls:
            return report
        self._client.open()
        try:
            for call in calls:
                if only is not None and call.call_id != only:
                    continue
                if self._breaker.is_open and not self._breaker.allow():
                    report.calls.append(CallReplay(call.call_id, "failed", detail="Roark unreachable (circuit open)"))
                    continue
                report.calls.append(await self._replay_call(call))
        finally:
            await self._client.close()
        return report

    async def _replay_call(self, found: SpooledCall) -> CallReplay:
        log = self._log.bind(call_id=found.call_id) if hasattr(self._log, "bind") else self._log
        base = found.meta.get("baseUrl")
        if base and base.rstrip("/") != self._client.base_url:
            return CallReplay(found.call_id, "other-roark", detail=f"spooled for {base}")
        lock = await SpoolIO.run(self._spool.try_lock, found)
        if lock is None:
            return CallReplay(found.call_id, "busy", detail="its call is still running or another replay has it")
        try:
            # Look again under the lock: the owner may have changed it since the listing.
            call = await SpoolIO.run(self._spool.inspect, found.path)
            if call is None or not call.meta:
                await SpoolIO.run(_remove, found.path)
                return CallReplay(found.call_id, "delivered", detail="nothing left to send")
            return await self._deliver(call, log)
        finally:
            await SpoolIO.run(lock.release)

    async def _send(self, what: str, op) -> bool:
        async def paced(budget: float) -> None:
            await self._pacer.wait()
            await op(budget)

        return await with_retries(what, paced, self._budget, breaker=self._breaker, log=self._log)

    async def _deliver(self, call: SpooledCall, log: Any) -> CallReplay:
        result = CallReplay(call.call_id, "failed")
        journal: Journal = await SpoolIO.run(Journal.read, call.path / "journal.jsonl")
        call_id = call.call_id

        if call.has_started:
            payload = await SpoolIO.run(load_json, call.path / "started.json")
            if not await self._send("call-started", lambda b: self._client.post_event(payload, b)):
                result.detail = "call-started not accepted"
                return result
            await SpoolIO.run(_drop, call.path, "started.json")
            result.events.append("call-started")

        on_disk = set(call.chunks)
        highest_kept = max(on_disk | journal.delivered, default=-1)
        silence = [i for i in sorted(journal.produced) if i < highest_kept and i not in on_disk and i not in journal.delivered]
        result.lost_tail = sorted(i for i in journal.produced if i > highest_kept)
        result.bytes_lost = sum(journal.produced[i] for i in silence + result.lost_tail)
        for index in sorted(on_disk | set(silence)):
            if index in on_disk:
                data = await SpoolIO.run((call.path / chunk_name(index)).read_bytes)
            else:
                data = bytes(journal.produced[index])

            async def put(budget: float, index=index, data=data) -> None:
                url = await self._client.upload_url(call_id, index, budget)
                await self._client.put_chunk(index, url.upload_url, data, budget)

            if not await self._send(f"chunk {index}", put):
                result.detail = f"chunk {index} not accepted"
                return result
            if index in on_disk:
                await SpoolIO.run(_drop, call.path, chunk_name(index))
                result.chunks.append(index)
            else:
                result.silenced.append(index)

        if call.has_ended:
            ended = await SpoolIO.run(load_json, call.path / "ended.json")
        else:
            ended = rebuild_ended(call.meta, journal, result, call.mtime)
        if not await self._send("call-ended", lambda b: self._client.post_event(ended, b)):
            result.detail = "call-ended not accepted"
            return result
        result.events.append("call-ended")
        await SpoolIO.run(_remove, call.path)
        result.outcome = "delivered"
        lost = ""
        if result.silenced or result.lost_tail:
            lost = (f"; lost (only in memory when its process ended): {len(result.silenced) + len(result.lost_tail)} "
                    f"chunk(s), {result.bytes_lost} bytes"
                    + (f", chunks {result.silenced} replaced by silence" if result.silenced else ""))
        how = "rebuilt call-ended (its process died)" if not call.has_ended else "call-ended"
        log.info(f"Roark call {call_id}: delivered from the spool ({len(result.chunks)} chunk(s), {how}){lost}")
        return result


def rebuild_ended(meta: dict[str, Any], journal: Journal, result: CallReplay, mtime: float) -> dict[str, Any]:
    """call-ended for a call whose process died: what the spool can still say (its wire dict)."""
    last = journal.last_write or mtime or time.time()
    delivered = journal.delivered | set(result.chunks) | set(result.silenced)
    rate: Optional[int] = None
    channels: Optional[int] = None
    if delivered:
        rate, channels = meta.get("sampleRate"), meta.get("numChannels") or 2
        for rec_rate, rec_channels in journal.formats:
            rate, channels = rec_rate or rate, rec_channels or channels
    ended = CallEnded(
        pipecat_call_id=meta.get("callId") or result.call_id,
        event_timestamp=iso(time.time()),
        call_started_at=meta.get("callStartedAt"),
        call_ended_at=iso(last),
        call_ended_reason=ORPHAN_REASON,
        roark_integration_id=meta.get("integrationId") or None,
        recording_sample_rate=int(rate) if rate else None,
        recording_num_channels=int(channels) if rate and channels else None,
        recovery=Recovery(
            recovered_from_spool=True,
            chunks_produced=len(journal.produced),
            chunks_delivered=len(delivered) - len(result.silenced),
            chunks_replaced_by_silence=result.silenced,
            chunks_lost=result.lost_tail,
            bytes_lost=result.bytes_lost,
            lost_because="held only in memory when the bot process ended",
        ),
    )
    return ended.to_wire()


def _drop(path: Path, name: str) -> None:
    try:
        (path / name).unlink()
    except FileNotFoundError:
        pass


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# -- in the background, from a running bot -------------------------------------

# Keyed by the loop itself (weakly): an id() could be reused by a later loop.
_background: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[float, asyncio.Task]]" = weakref.WeakKeyDictionary()


def start_background(spool: Spool, client_factory, *, log: Any = logger) -> None:
    """Replay what earlier calls left behind, without getting in this call's way.

    At most one pass per event loop every ``BACKGROUND_INTERVAL_SECS``,
    started a little after the call, paced, and cancelled with the loop.
    """
    loop = asyncio.get_running_loop()
    last, task = _background.get(loop, (float("-inf"), None))
    now = time.monotonic()
    if (task is not None and not task.done()) or now - last < BACKGROUND_INTERVAL_SECS:
        return

    async def run() -> None:
        try:
            await asyncio.sleep(BACKGROUND_DELAY_SECS)
            if not await SpoolIO.run(_has_unlocked_work, spool):
                return
            report = await Replayer(spool, client_factory(), log=log).run()
            for call in report.remaining:
                log.debug(f"spooled call {call.call_id} still waiting: {call.detail}")
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("background replay of the spool failed; `pipecat-roark replay` can finish it")

    _background[loop] = (now, loop.create_task(run()))


def _has_unlocked_work(spool: Spool) -> bool:
    return any(spool.is_free(call) for call in spool.calls())


def describe(call: SpooledCall, journal: Journal, locked: bool) -> dict[str, Any]:
    """One line of ``pipecat-roark replay --list``."""
    if locked:
        state = "running (or being replayed)"
    elif call.has_ended:
        state = "finalized, waiting for delivery"
    else:
        state = "orphaned (its process died mid-call)"
    return {
        "callId": call.call_id,
        "state": state,
        "roark": call.meta.get("baseUrl", "?"),
        "callStarted": "waiting" if call.has_started else "delivered",
        "chunksWaiting": len(call.chunks),
        "bytes": call.size,
        "ageSecs": int(max(0.0, time.time() - call.mtime)),
        "pid": call.meta.get("pid"),
        "host": call.meta.get("host"),
        "chunksProduced": len(journal.produced),
        "chunksDeliveredLive": len(journal.delivered),
    }


def list_spool(spool: Spool) -> list[dict[str, Any]]:
    return [describe(call, Journal.read(call.path / "journal.jsonl"), not spool.is_free(call)) for call in spool.calls()]


__all__ = ["Replayer", "ReplayReport", "CallReplay", "rebuild_ended", "start_background", "list_spool"]
