"""When to try a request again, and when to stop trying for a while.

- ``with_retries`` runs one operation under a time budget: connection errors,
  timeouts, 408, 429 and 5xx are retried with exponential backoff and full
  jitter, a server's ``Retry-After`` wins; anything else is final.
- ``Breaker`` is shared by every call of the process that talks to the same
  Roark. After a run of consecutive failures it opens: nobody sends anything
  until a cool-down has passed, then a single probe decides whether it closes
  again. While it is open, calls put what they hold on disk (the spool)
  instead of hammering a Roark that is down.

Nothing here raises on a failed request: the result is a bool and a log line.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Awaitable, Callable, Optional

from .client import RequestFailed

#: Consecutive failed requests (across all calls) that open the breaker.
BREAKER_THRESHOLD = 5
#: First cool-down; doubled each time a probe fails, up to the cap.
BREAKER_COOLDOWN_SECS = 2.0
BREAKER_MAX_COOLDOWN_SECS = 30.0


class Clock:
    """Time as retries and deadlines see it; tests pass one whose sleeps return at once."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, secs: float) -> None:
        await asyncio.sleep(secs)


SYSTEM_CLOCK = Clock()


def backoff_delay(attempt: int, retry_after: Optional[float] = None, base: float = 0.25, cap: float = 8.0) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins."""
    if retry_after is not None:
        return min(retry_after, 60.0)
    return random.uniform(0, min(cap, base * (2**attempt)))


class Breaker:
    """Closed -> open after ``threshold`` failures in a row -> one probe -> closed or open longer.

    Pure state machine (the clock is injectable); one per Roark base URL per
    process, see ``breaker_for``.
    """

    def __init__(self, threshold: int = BREAKER_THRESHOLD, cooldown: float = BREAKER_COOLDOWN_SECS,
                 max_cooldown: float = BREAKER_MAX_COOLDOWN_SECS, clock: Callable[[], float] = time.monotonic):
        self._threshold = threshold
        self._base_cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._clock = clock
        self._failures = 0
        self._cooldown = cooldown
        self._open_until: Optional[float] = None
        self._probe_started: Optional[float] = None
        self.times_opened = 0

    @property
    def is_open(self) -> bool:
        """True while requests are being held back (including while a probe runs)."""
        return self._open_until is not None

    def wait_time(self) -> float:
        """Seconds until a request may be tried (0: now)."""
        if self._open_until is None:
            return 0.0
        now = self._clock()
        if self._probe_started is not None:
            # A probe is out; if it never reports (cancelled), let another go.
            return max(0.05, self._probe_started + 30.0 - now)
        return max(0.0, self._open_until - now)

    def allow(self) -> bool:
        """May a request go now? When open and cooled down, the first asker becomes the probe."""
        if self._open_until is None:
            return True
        now = self._clock()
        if self._probe_started is not None and now - self._probe_started < 30.0:
            return False
        if now < self._open_until:
            return False
        self._probe_started = now
        return True

    def success(self) -> None:
        self._failures = 0
        self._cooldown = self._base_cooldown
        self._open_until = None
        self._probe_started = None

    def failure(self) -> bool:
        """Record a failed request (one that says Roark is unhealthy). Returns True if this opened the breaker."""
        now = self._clock()
        if self._open_until is not None:
            if self._probe_started is not None:
                # The probe failed: stay open, longer.
                self._probe_started = None
                self._cooldown = min(self._max_cooldown, self._cooldown * 2)
                self._open_until = now + self._cooldown
            return False
        self._failures += 1
        if self._failures >= self._threshold:
            self._open_until = now + self._cooldown
            self.times_opened += 1
            return True
        return False


_BREAKERS: dict[str, Breaker] = {}


def breaker_for(base_url: str) -> Breaker:
    """The process-wide breaker for one Roark."""
    breaker = _BREAKERS.get(base_url)
    if breaker is None:
        breaker = _BREAKERS[base_url] = Breaker()
    return breaker


def counts_against_health(failure: RequestFailed) -> bool:
    # 429 means Roark is alive and pacing us: honour Retry-After, do not trip.
    # A 4xx other than 408 is about the request, not Roark's health.
    return failure.status is None or failure.status == 408 or failure.status >= 500


async def with_retries(what: str, op: Callable[[float], Awaitable[Any]], budget: float, *, breaker: Breaker,
                       log: Any, on_final: Optional[Callable[[RequestFailed], None]] = None,
                       on_failure: Optional[Callable[[RequestFailed], None]] = None,
                       give_up: Optional[Callable[[], bool]] = None, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Run ``op(remaining_budget)`` until it succeeds, fails for good, or the budget is spent.

    ``on_final`` is told about a failure that retrying cannot fix (e.g. 401),
    so the caller can decide what to say; otherwise it is logged here.
    ``on_failure`` hears of every failure that says Roark is unhealthy, and
    ``give_up()`` is asked before each retry (the end of a call stops
    retrying once the spool can take over).
    """
    deadline = clock.monotonic() + budget
    attempt = 0
    while True:
        if give_up is not None and give_up():
            log.debug(f"{what}: handed to the spool")
            return False
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            log.debug(f"{what}: out of time")
            return False
        if not breaker.allow():
            wait = breaker.wait_time()
            if wait >= remaining:
                log.debug(f"{what}: Roark unreachable (circuit open); not retrying before the deadline")
                return False
            await clock.sleep(max(0.05, wait))
            continue
        try:
            await asyncio.wait_for(op(remaining), timeout=remaining + 0.5)
            breaker.success()
            return True
        except (RequestFailed, asyncio.TimeoutError) as e:
            failure = e if isinstance(e, RequestFailed) else RequestFailed(what, None, True, detail="timed out")
            if counts_against_health(failure):
                if breaker.failure():
                    log.warning("Roark is not answering; holding requests back for a while (circuit open)")
                if on_failure is not None:
                    on_failure(failure)
            else:
                breaker.success()  # it answered: whatever is wrong is not its health
            if not failure.retryable:
                if on_final is not None:
                    on_final(failure)
                else:
                    log.error(f"{what} rejected by Roark: {failure.describe()}{advice(failure.status)}")
                return False
            delay = backoff_delay(attempt, failure.retry_after)
            attempt += 1
            if clock.monotonic() + delay >= deadline:
                log.debug(f"{what} failed ({failure.describe()}); out of time for retries")
                return False
            log.debug(f"{what} failed ({failure.describe()}); retry {attempt} in {delay:.2f}s")
            await clock.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must not escape into the call
            log.exception(f"{what}: unexpected error: {type(e).__name__}")
            return False


def advice(status: Optional[int]) -> str:
    if status in (401, 403):
        return " — check ROARK_API_KEY (and ROARK_INTEGRATION_ID if set)"
    if status == 404:
        return " — check ROARK_BASE_URL"
    if status in (400, 422):
        return " — the payload was refused; please report this with the call id"
    return ""
