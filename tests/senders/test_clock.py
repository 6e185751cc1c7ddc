"""The real clock does what the Clock protocol says."""
from __future__ import annotations

import time

from senders.clock import SYSTEM_CLOCK, Clock, SystemClock
from senders.testing import FakeClock


async def test_system_clock() -> None:
    clock: Clock = SYSTEM_CLOCK
    assert abs(clock.time() - time.time()) < 1
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() - before >= 0.009
    assert isinstance(SYSTEM_CLOCK, SystemClock)


def test_fake_clock_satisfies_the_protocol() -> None:
    clock: Clock = FakeClock(monotonic=5.0, time=100.0)
    assert (clock.monotonic(), clock.time()) == (5.0, 100.0)
