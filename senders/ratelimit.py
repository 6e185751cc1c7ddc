"""A token bucket that holds a rate exactly, also with many concurrent waiters.

Waiters *reserve* a token when they arrive (the balance may go negative) and sleep until their
token has accrued, so they leave in arrival order at exactly ``rate_per_s`` no matter how late
the event loop wakes them: the n-th reservation is never served before ``(n - burst) / rate``
seconds. Over any window of T seconds at most ``burst + rate_per_s * T`` acquisitions succeed.

A cancelled waiter gives its token back. ``set_rate`` takes effect for the next reservation;
waiters already asleep keep their reserved times (a rate cut is felt after the queue ahead of
it drains, and the balance it leaves behind is paid back at the new rate).
"""
from __future__ import annotations

import asyncio

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` (>= 1) saved up; starts full."""

    __slots__ = ("_rate", "_burst", "_clock", "_tokens", "_updated", "_waiting")

    def __init__(self, rate_per_s: float, burst: float = 1.0, clock: Clock = SYSTEM_CLOCK) -> None:
        _check(rate_per_s, burst)
        self._rate = float(rate_per_s)
        self._burst = float(burst)
        self._clock = clock
        self._tokens = self._burst
        self._updated = clock.monotonic()
        self._waiting = 0

    @property
    def rate_per_s(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    @property
    def waiting(self) -> int:
        """Callers asleep in :meth:`acquire`."""
        return self._waiting

    def tokens(self) -> float:
        """The balance now; negative while waiters hold reservations."""
        self._refill(self._clock.monotonic())
        return self._tokens

    def try_acquire(self) -> bool:
        """Take a token if one is available now (waiters come first); never waits."""
        self._refill(self._clock.monotonic())
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        """Take a token, sleeping until it has accrued."""
        self._refill(self._clock.monotonic())
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return
        wait_s = -self._tokens / self._rate
        self._waiting += 1
        try:
            await self._clock.sleep(wait_s)
        except asyncio.CancelledError:
            self._tokens += 1.0
            raise
        finally:
            self._waiting -= 1

    def set_rate(self, rate_per_s: float, burst: float | None = None) -> None:
        """Change the rate (and optionally the burst) from now on; tokens accrued so far at the
        old rate are kept, up to the new burst."""
        _check(rate_per_s, self._burst if burst is None else burst)
        self._refill(self._clock.monotonic())
        self._rate = float(rate_per_s)
        if burst is not None:
            self._burst = float(burst)
            self._tokens = min(self._tokens, self._burst)

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0.0:
            tokens = self._tokens + elapsed * self._rate
            self._tokens = tokens if tokens < self._burst else self._burst
            self._updated = now


def _check(rate_per_s: float, burst: float) -> None:
    if not rate_per_s > 0:
        raise ValueError(f"rate_per_s: must be > 0, got {rate_per_s!r}")
    if not burst >= 1:
        raise ValueError(f"burst: must be >= 1, got {burst!r}")
