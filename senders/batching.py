"""Accumulates json-batch deliveries per loop: a batch is ready at ``max_events`` items or
``max_wait_ms`` after its first item, whichever comes first.

The caller drives it: ``add()`` returns a batch the moment it is full; a timer loop sleeps until
``next_deadline()`` and sends what ``due(now)`` returns; ``drain()`` empties everything on
shutdown. Times are the clock's ``monotonic()`` seconds.
"""
from __future__ import annotations

import heapq
from typing import Generic, TypeVar

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["Batcher"]

T = TypeVar("T")


class _Open(Generic[T]):
    __slots__ = ("items", "deadline", "generation")

    def __init__(self, deadline: float, generation: int) -> None:
        self.items: list[T] = []
        self.deadline = deadline
        self.generation = generation


class Batcher(Generic[T]):
    """One open batch per loop id; items of any type ``T``."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._open: dict[str, _Open[T]] = {}
        # (deadline, generation, loop_id); entries of batches already sent are skipped lazily
        self._deadlines: list[tuple[float, int, str]] = []
        self._generation = 0

    def add(self, loop_id: str, item: T, max_events: int, max_wait_ms: float) -> list[T] | None:
        """Add ``item``; return the loop's batch when this item fills it (else None)."""
        if max_events < 1:
            raise ValueError(f"max_events: must be >= 1, got {max_events}")
        batch = self._open.get(loop_id)
        if batch is None:
            if max_events == 1:
                return [item]
            self._generation += 1
            batch = _Open[T](self._clock.monotonic() + max_wait_ms / 1000.0, self._generation)
            self._open[loop_id] = batch
            heapq.heappush(self._deadlines, (batch.deadline, batch.generation, loop_id))
        batch.items.append(item)
        if len(batch.items) >= max_events:
            del self._open[loop_id]
            return batch.items
        return None

    def due(self, now: float | None = None) -> list[tuple[str, list[T]]]:
        """Batches whose deadline is at or before ``now`` (default: the clock's now), removed."""
        if now is None:
            now = self._clock.monotonic()
        ready: list[tuple[str, list[T]]] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, generation, loop_id = heapq.heappop(self._deadlines)
            batch = self._open.get(loop_id)
            if batch is not None and batch.generation == generation:
                del self._open[loop_id]
                ready.append((loop_id, batch.items))
        return ready

    def next_deadline(self) -> float | None:
        """The earliest deadline of an open batch, or None when nothing is waiting."""
        while self._deadlines:
            deadline, generation, loop_id = self._deadlines[0]
            batch = self._open.get(loop_id)
            if batch is not None and batch.generation == generation:
                return deadline
            heapq.heappop(self._deadlines)
        return None

    def pending(self, loop_id: str) -> int:
        """Items waiting in the loop's open batch."""
        batch = self._open.get(loop_id)
        return 0 if batch is None else len(batch.items)

    def drain(self) -> list[tuple[str, list[T]]]:
        """Every open batch, oldest first, removed (for shutdown and rebalance)."""
        batches = sorted(self._open.items(), key=lambda kv: kv[1].deadline)
        self._open.clear()
        self._deadlines.clear()
        return [(loop_id, batch.items) for loop_id, batch in batches]
