"""CircuitBreaker on a fake clock."""
from __future__ import annotations

import pytest

from senders.breaker import CircuitBreaker
from senders.testing import FakeClock


def state(breaker: CircuitBreaker) -> str:
    """The state, read fresh (mypy would narrow the property across asserts)."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


async def test_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, open_s=10, clock=clock)
    fail(breaker, 2)
    breaker.record_success()  # the streak is broken
    fail(breaker, 2)
    assert state(breaker) == "closed" and breaker.consecutive_failures == 2
    fail(breaker, 1)
    assert state(breaker) == "open" and not breaker.allow()
    assert breaker.retry_after_s() == 10


async def test_one_probe_then_close_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=10, clock=clock)
    fail(breaker, 1)
    await clock.advance(9.9)
    assert state(breaker) == "open" and not breaker.allow()
    await clock.advance(0.1)
    assert state(breaker) == "half_open" and breaker.retry_after_s() == 0
    assert breaker.allow()  # the probe
    assert not breaker.allow() and not breaker.allow()
    breaker.record_success()
    assert state(breaker) == "closed" and breaker.allow() and breaker.failing_since is None


async def test_failed_probe_doubles_the_open_period_up_to_the_cap() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=10, clock=clock, max_open_s=35)
    fail(breaker, 1)
    periods = []
    for _ in range(4):
        periods.append(breaker.retry_after_s())
        await clock.advance(breaker.retry_after_s() or 0)
        assert breaker.allow()
        breaker.record_failure()
    assert periods == [10, 20, 35, 35]
    await clock.advance(35)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.current_open_s == 10


async def test_failing_since_marks_the_start_of_the_streak() -> None:
    clock = FakeClock(time=5000.0)
    breaker = CircuitBreaker(failure_threshold=2, open_s=10, clock=clock)
    assert breaker.failing_since is None
    fail(breaker, 1)
    await clock.advance(30)
    fail(breaker, 1)
    await clock.advance(30)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.failing_since == 5000.0
    breaker.record_success()
    assert breaker.failing_since is None


async def test_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=1, clock=clock)
    fail(breaker, 1)
    await clock.advance(1)
    assert breaker.allow() and not breaker.allow()
    breaker.abandon_probe()
    assert breaker.allow()


async def test_late_results_of_calls_sent_before_opening() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=10, clock=clock)
    fail(breaker, 1)
    await clock.advance(5)
    breaker.record_failure()  # a straggler does not extend the open period
    assert breaker.retry_after_s() == 5
    breaker.record_success()  # a straggler's success proves the endpoint works
    assert state(breaker) == "closed"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="open_s"):
        CircuitBreaker(open_s=0)
