"""Batcher: size and age limits per loop, deadlines, drain."""
from __future__ import annotations

import pytest

from senders.batching import Batcher
from senders.testing import FakeClock


async def test_full_batch_is_returned_at_once() -> None:
    batcher: Batcher[int] = Batcher(FakeClock())
    assert batcher.add("l1", 1, max_events=3, max_wait_ms=1000) is None
    assert batcher.add("l1", 2, 3, 1000) is None
    assert batcher.add("l2", 9, 3, 1000) is None
    assert batcher.add("l1", 3, 3, 1000) == [1, 2, 3]
    assert batcher.pending("l1") == 0 and batcher.pending("l2") == 1


async def test_deadline_counts_from_the_first_item() -> None:
    clock = FakeClock(monotonic=100.0)
    batcher: Batcher[str] = Batcher(clock)
    batcher.add("l1", "a", 10, 500)
    await clock.advance(0.4)
    batcher.add("l1", "b", 10, 500)
    batcher.add("l2", "x", 10, 200)
    assert batcher.next_deadline() == 100.5
    assert batcher.due(100.49) == []
    assert batcher.due() == []
    await clock.advance(0.1)
    assert batcher.due() == [("l1", ["a", "b"])]
    assert batcher.next_deadline() == pytest.approx(100.6)
    assert batcher.due(200.0) == [("l2", ["x"])]
    assert batcher.next_deadline() is None


async def test_a_new_batch_gets_its_own_deadline() -> None:
    clock = FakeClock(monotonic=0.0)
    batcher: Batcher[int] = Batcher(clock)
    batcher.add("l1", 1, 2, 1000)
    assert batcher.add("l1", 2, 2, 1000) == [1, 2]
    await clock.advance(0.9)
    batcher.add("l1", 3, 2, 1000)
    assert batcher.due(1.0) == []  # the old batch's deadline no longer applies
    assert batcher.next_deadline() == pytest.approx(1.9)
    assert batcher.due(1.9) == [("l1", [3])]


async def test_single_event_batches_and_drain() -> None:
    clock = FakeClock(monotonic=0.0)
    batcher: Batcher[int] = Batcher(clock)
    assert batcher.add("l1", 1, 1, 1000) == [1]
    batcher.add("l2", 2, 5, 1000)
    await clock.advance(0.1)
    batcher.add("l3", 3, 5, 50)
    assert batcher.drain() == [("l3", [3]), ("l2", [2])]
    assert batcher.next_deadline() is None and batcher.due(10**9) == []
    with pytest.raises(ValueError):
        batcher.add("l1", 1, 0, 10)
