"""The circuit breaker's states, on a fake clock."""

from pipecat_roark.client import RequestFailed
from pipecat_roark.retry import Breaker, counts_against_health


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_opens_after_a_run_of_failures_then_one_probe_decides():
    clock = Clock()
    b = Breaker(threshold=3, cooldown=2.0, max_cooldown=8.0, clock=clock)
    assert b.allow() and not b.failure() and not b.failure()
    b.success()  # a success resets the run
    assert not b.failure() and not b.failure()
    assert b.failure() is True and b.is_open
    assert not b.allow() and b.wait_time() == 2.0
    clock.t += 2.0
    assert b.allow()  # the probe
    assert not b.allow()  # only one at a time
    b.failure()  # the probe failed: open again, twice as long
    assert not b.allow() and b.wait_time() == 4.0
    clock.t += 4.0
    assert b.allow()
    b.success()
    assert not b.is_open and b.allow() and b.allow()


def test_cooldown_is_capped():
    clock = Clock()
    b = Breaker(threshold=1, cooldown=2.0, max_cooldown=5.0, clock=clock)
    b.failure()
    for _ in range(5):
        clock.t += 100
        assert b.allow()
        b.failure()
    assert b.wait_time() == 5.0


def test_a_lost_probe_does_not_block_forever():
    clock = Clock()
    b = Breaker(threshold=1, cooldown=1.0, clock=clock)
    b.failure()
    clock.t += 1
    assert b.allow()  # the probe is cancelled and never reports
    clock.t += 31
    assert b.allow()


def test_only_health_failures_count():
    assert counts_against_health(RequestFailed("x", None, True))
    assert counts_against_health(RequestFailed("x", 503, True))
    assert counts_against_health(RequestFailed("x", 408, True))
    assert not counts_against_health(RequestFailed("x", 429, True))
    assert not counts_against_health(RequestFailed("x", 401, False))
