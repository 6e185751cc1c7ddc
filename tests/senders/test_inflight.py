"""InFlightLimit: exact, first come first served, resizable, cancellation-safe."""
from __future__ import annotations

import asyncio

import pytest

from senders.inflight import InFlightLimit
from senders.testing import settle


async def test_exact_and_fifo() -> None:
    limit = InFlightLimit(2)
    order: list[int] = []
    release = asyncio.Event()
    peak = 0

    async def work(i: int) -> None:
        nonlocal peak
        await limit.acquire()
        try:
            order.append(i)
            peak = max(peak, limit.in_use)
            await release.wait()
        finally:
            limit.release()

    tasks = [asyncio.create_task(work(i)) for i in range(6)]
    await settle()
    assert (limit.in_use, limit.waiting, order) == (2, 4, [0, 1])
    release.set()
    await asyncio.gather(*tasks)
    assert order == list(range(6)) and peak == 2 and limit.in_use == 0


async def test_try_acquire_does_not_overtake_waiters() -> None:
    limit = InFlightLimit(1)
    assert limit.try_acquire() and not limit.try_acquire()
    waiter = asyncio.create_task(limit.acquire())
    await settle()
    limit.release()  # handed straight to the waiter
    await waiter
    assert limit.in_use == 1 and not limit.try_acquire()
    limit.release()


async def test_grow_wakes_waiters_and_shrink_waits_for_holders() -> None:
    limit = InFlightLimit(1)
    await limit.acquire()
    waiters = [asyncio.create_task(limit.acquire()) for _ in range(3)]
    await settle()
    limit.set_capacity(3)
    await settle()
    assert limit.in_use == 3 and sum(w.done() for w in waiters) == 2
    limit.set_capacity(1)
    for _ in range(2):
        limit.release()
    await settle()
    assert limit.in_use == 1 and not waiters[2].done()  # still 1 holder = capacity
    limit.release()
    await waiters[2]
    assert limit.in_use == 1 and limit.capacity == 1


async def test_cancelled_waiter_leaves_the_queue() -> None:
    limit = InFlightLimit(1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limit.waiting == 0
    limit.release()
    assert limit.in_use == 0


async def test_cancelled_after_hand_over_gives_the_slot_back() -> None:
    limit = InFlightLimit(1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await settle()
    limit.release()  # hands the slot to the waiter, which has not run yet
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limit.in_use == 0 and limit.try_acquire()


def test_misuse() -> None:
    with pytest.raises(ValueError):
        InFlightLimit(0)
    with pytest.raises(RuntimeError):
        InFlightLimit(1).release()
