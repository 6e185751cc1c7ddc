"""TokenBucket: exact on a fake clock, within a few percent on the real one."""
from __future__ import annotations

import asyncio
import time

import pytest

from senders.ratelimit import TokenBucket
from senders.testing import FakeClock, settle


async def test_burst_then_exact_rate_in_arrival_order() -> None:
    clock = FakeClock(monotonic=0.0)
    bucket = TokenBucket(rate_per_s=10, burst=3, clock=clock)
    served: list[tuple[int, float]] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        served.append((i, clock.monotonic()))

    tasks = [asyncio.create_task(take(i)) for i in range(8)]
    await settle()
    assert served == [(0, 0.0), (1, 0.0), (2, 0.0)]
    assert bucket.waiting == 5
    await clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert [i for i, _ in served] == list(range(8))
    assert [round(t, 6) for _, t in served[3:]] == [0.1, 0.2, 0.3, 0.4, 0.5]


async def test_try_acquire_never_waits_and_yields_to_waiters() -> None:
    clock = FakeClock(monotonic=0.0)
    bucket = TokenBucket(rate_per_s=2, burst=1, clock=clock)
    assert bucket.try_acquire() and not bucket.try_acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await settle()
    await clock.advance(0.5)
    await waiter
    assert not bucket.try_acquire()  # the waiter took the token that accrued
    await clock.advance(0.5)
    assert bucket.try_acquire()


async def test_tokens_do_not_accumulate_beyond_burst() -> None:
    clock = FakeClock(monotonic=0.0)
    bucket = TokenBucket(rate_per_s=100, burst=5, clock=clock)
    await clock.advance(60)
    assert bucket.tokens() == 5
    assert sum(bucket.try_acquire() for _ in range(10)) == 5


async def test_set_rate_applies_from_now() -> None:
    clock = FakeClock(monotonic=0.0)
    bucket = TokenBucket(rate_per_s=10, burst=1, clock=clock)
    await bucket.acquire()
    await clock.advance(0.05)  # half a token accrued at the old rate
    bucket.set_rate(1)
    assert bucket.rate_per_s == 1 and bucket.tokens() == pytest.approx(0.5)
    task = asyncio.create_task(bucket.acquire())
    await clock.advance(0.49)
    assert not task.done()
    await clock.advance(0.02)
    await task
    bucket.set_rate(5, burst=2)
    assert bucket.burst == 2


async def test_cancelled_waiter_returns_its_token() -> None:
    clock = FakeClock(monotonic=0.0)
    bucket = TokenBucket(rate_per_s=1, burst=1, clock=clock)
    await bucket.acquire()
    task = asyncio.create_task(bucket.acquire())
    await settle()
    assert bucket.tokens() == -1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bucket.tokens() == 0 and bucket.waiting == 0


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (1, 0.5)])
def test_bad_arguments(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


async def test_real_clock_rate_with_many_waiters() -> None:
    """200/s for ~1.5 s with 50 concurrent takers: the count matches rate * time + burst."""
    bucket = TokenBucket(rate_per_s=200, burst=1)
    stop = time.monotonic() + 1.5
    taken = 0

    async def taker() -> None:
        nonlocal taken
        while True:
            await bucket.acquire()
            if time.monotonic() >= stop:
                return
            taken += 1

    started = time.monotonic()
    await asyncio.gather(*(taker() for _ in range(50)))
    elapsed = min(time.monotonic(), stop) - started
    assert taken <= 200 * elapsed + 1 + 1  # never faster (one token of float slack)
    assert taken >= 0.9 * 200 * elapsed  # and not much slower, even on a busy machine
