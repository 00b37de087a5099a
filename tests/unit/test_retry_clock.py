"""Retry and deadline rules with an injected clock: a minute of backoff in milliseconds."""

import asyncio
import time

from pipecat_roark.client import RequestFailed
from pipecat_roark.retry import Breaker, with_retries


class FakeClock:
    """Sleeps return at once and move the time on."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, secs: float) -> None:
        self.sleeps.append(secs)
        self.t += secs
        await asyncio.sleep(0)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level):
        return lambda msg: self.lines.append(f"{level}: {msg}")


def failing(status, times=10**9, retry_after=None, calls=None, clock=None):
    async def op(budget):
        calls.append(clock.t if clock else None)
        if len(calls) <= times:
            raise RequestFailed("op", status, status is None or status >= 500 or status == 429, retry_after)
    return op


def test_a_minute_of_retries_takes_milliseconds_and_stops_at_the_budget():
    clock, calls = FakeClock(), []
    breaker = Breaker(threshold=10**6, clock=clock.monotonic)
    t0 = time.perf_counter()
    ok = asyncio.run(with_retries("op", failing(503, calls=calls, clock=clock), 60.0, breaker=breaker, log=Log(),
                                  clock=clock))
    assert not ok
    assert time.perf_counter() - t0 < 1.0
    assert len(calls) > 5
    assert all(t < 1000.0 + 60.0 for t in calls), "no attempt after the budget"
    assert all(0 <= s <= 8.0 for s in clock.sleeps), "backoff capped"


def test_retry_after_is_honoured_then_success():
    clock, calls = FakeClock(), []
    breaker = Breaker(clock=clock.monotonic)
    ok = asyncio.run(with_retries("op", failing(429, times=1, retry_after=7.0, calls=calls, clock=clock), 30.0,
                                  breaker=breaker, log=Log(), clock=clock))
    assert ok and clock.sleeps == [7.0] and calls == [1000.0, 1007.0]


def test_a_retry_after_beyond_the_budget_gives_up_without_waiting():
    clock, calls = FakeClock(), []
    ok = asyncio.run(with_retries("op", failing(429, retry_after=45.0, calls=calls, clock=clock), 10.0,
                                  breaker=Breaker(clock=clock.monotonic), log=Log(), clock=clock))
    assert not ok and calls == [1000.0] and clock.sleeps == []


def test_final_errors_are_not_retried_and_only_health_failures_are_reported():
    clock, calls, reported, final = FakeClock(), [], [], []
    ok = asyncio.run(with_retries("op", failing(401, calls=calls, clock=clock), 30.0,
                                  breaker=Breaker(clock=clock.monotonic), log=Log(), clock=clock,
                                  on_failure=reported.append, on_final=final.append))
    assert not ok and len(calls) == 1 and reported == [] and final[0].status == 401


def test_give_up_stops_retrying_at_once():
    clock, calls, reported = FakeClock(), [], []
    stop = {"now": False}

    def on_failure(f):
        reported.append(f)
        stop["now"] = True  # e.g. the end of the call: the spool takes over

    ok = asyncio.run(with_retries("op", failing(None, calls=calls, clock=clock), 30.0,
                                  breaker=Breaker(clock=clock.monotonic), log=Log(), clock=clock,
                                  on_failure=on_failure, give_up=lambda: stop["now"]))
    assert not ok and len(calls) == 1 and len(reported) == 1


def test_an_open_breaker_waits_its_cool_down_on_the_clock():
    clock, calls = FakeClock(), []
    breaker = Breaker(threshold=2, cooldown=2.0, clock=clock.monotonic)
    ok = asyncio.run(with_retries("op", failing(None, times=2, calls=calls, clock=clock), 30.0,
                                  breaker=breaker, log=Log(), clock=clock))
    assert ok and len(calls) == 3
    # The third attempt is the breaker's probe, after its cool-down.
    assert calls[2] - calls[1] >= 2.0 - 1e-9
