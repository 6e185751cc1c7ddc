"""The time seam: a monotonic clock for intervals, a wall clock for timestamps, and sleep.

Rate limits, breakers and batches measure intervals with ``monotonic()``; signatures, secret
expiry and ``failing_since`` use ``time()`` (Unix seconds). Unit tests pass
:class:`senders.testing.FakeClock`, which only moves when told to.
"""
from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock", "SYSTEM_CLOCK"]


class Clock(Protocol):
    """What the senders need from time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals)."""
        ...

    def time(self) -> float:
        """Unix seconds (for timestamps and expiry)."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Return after ``delay_s`` seconds of this clock."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and ``asyncio.sleep``."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)


#: the process-wide real clock (stateless, so one instance is enough).
SYSTEM_CLOCK = SystemClock()
