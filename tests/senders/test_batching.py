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


def test_a_batch_is_closed_before_its_body_would_be_too_large() -> None:
    batcher: Batcher[str] = Batcher(FakeClock(), max_body_bytes=100)
    # body = 2 brackets + sizes + commas between items
    assert batcher.add("l1", "a", 10, 1000, size_bytes=40) is None   # 42
    assert batcher.add("l2", "x", 10, 1000, size_bytes=90) is None   # another loop: its own
    assert batcher.add("l1", "b", 10, 1000, size_bytes=57) is None   # 42 + 1 + 57 = 100: fits
    assert batcher.add("l1", "c", 10, 1000, size_bytes=1) == ["a", "b"]  # would be 102
    assert batcher.pending("l1") == 1
    assert sorted(batcher.drain()) == [("l1", ["c"]), ("l2", ["x"])]


def test_an_item_over_the_body_limit_on_its_own_goes_alone() -> None:
    batcher: Batcher[str] = Batcher(FakeClock(), max_body_bytes=100)
    assert batcher.add("l1", "a", 10, 1000, size_bytes=10) is None
    assert batcher.add("l1", "huge", 10, 1000, size_bytes=500) == ["a"]
    assert batcher.add("l1", "b", 10, 1000, size_bytes=10) == ["huge"]
    assert batcher.pending("l1") == 1


def test_sizes_are_ignored_without_a_body_limit() -> None:
    batcher: Batcher[int] = Batcher(FakeClock())
    for i in range(4):
        assert batcher.add("l1", i, 5, 1000, size_bytes=10**9) is None
    assert batcher.add("l1", 4, 5, 1000, size_bytes=10**9) == [0, 1, 2, 3, 4]


def test_item_bytes_is_the_size_of_the_item_as_sent() -> None:
    from senders.batching import item_bytes
    from senders.encoding import encode

    payloads = [{"id": "m", "fields": {"a": "é" * 10, "q": '"'}}, {"id": "n", "tags": []}]
    ids = ["d-1", "d-ü"]
    body, _ = encode("json-batch", [{**p, "webhook_id": i} for p, i in zip(payloads, ids)])
    assert len(body) == 2 + sum(item_bytes(p, i) for p, i in zip(payloads, ids)) + 1
