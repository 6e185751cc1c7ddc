"""A resizable, exact, first-come-first-served limit on requests in flight.

``asyncio.Semaphore`` cannot change its size, and the per-process share of a loop's
``max_in_flight`` changes on every rebalance. Here a releasing holder hands its slot straight to
the oldest waiter, so the count never exceeds ``capacity`` and nobody can overtake a waiter.
Shrinking the capacity never interrupts a holder: new ones wait until enough have left.
"""
from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["InFlightLimit"]


class InFlightLimit:
    """At most ``capacity`` (>= 1) holders at a time; ``acquire`` waits in FIFO order."""

    __slots__ = ("_capacity", "_used", "_waiters")

    def __init__(self, capacity: int) -> None:
        _check(capacity)
        self._capacity = capacity
        self._used = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_use(self) -> int:
        """Slots held now (may exceed capacity briefly after a shrink)."""
        return self._used

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is waiting; never waits."""
        if self._used < self._capacity and not self._waiters:
            self._used += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting behind earlier callers."""
        if self._used < self._capacity and not self._waiters:
            self._used += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            elif waiter in self._waiters:  # _hand_over may already have dropped it
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back (to the oldest waiter, if the capacity allows)."""
        if self._used <= 0:
            raise RuntimeError("InFlightLimit.release() without a matching acquire()")
        self._used -= 1
        self._hand_over()

    def set_capacity(self, capacity: int) -> None:
        """Resize; growing wakes waiters at once, shrinking waits for holders to leave."""
        _check(capacity)
        self._capacity = capacity
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self._used < self._capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._used += 1
                waiter.set_result(None)


def _check(capacity: int) -> None:
    if capacity < 1:
        raise ValueError(f"capacity: must be >= 1, got {capacity}")
