"""Accumulates json-batch deliveries per loop: a batch is ready at ``max_events`` items or
``max_wait_ms`` after its first item, whichever comes first; with ``max_body_bytes``, also
before an item would make its JSON body larger than that (the item starts the next batch).

The caller drives it: ``add()`` returns a batch the moment it is full; a timer loop sleeps until
``next_deadline()`` and sends what ``due(now)`` returns; ``drain()`` empties everything on
shutdown. Times are the clock's ``monotonic()`` seconds.
"""
from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import orjson

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["Batcher", "item_bytes"]

#: the key each json-batch item carries its own delivery id under
WEBHOOK_ID = "webhook_id"


def item_bytes(payload: Mapping[str, Any], webhook_id: str) -> int:
    """Bytes of one json-batch item as sent: ``payload`` with its ``webhook_id`` added."""
    # the payload's object with ',"webhook_id":<id>' before its closing brace
    return len(orjson.dumps(payload)) + len(WEBHOOK_ID) + len(orjson.dumps(webhook_id)) + 4

T = TypeVar("T")


class _Open(Generic[T]):
    __slots__ = ("items", "deadline", "generation", "body_bytes")

    def __init__(self, deadline: float, generation: int) -> None:
        self.items: list[T] = []
        self.deadline = deadline
        self.generation = generation
        self.body_bytes = 2  # the array's brackets


class Batcher(Generic[T]):
    """One open batch per loop id; items of any type ``T``.

    ``max_body_bytes`` (None: no limit) bounds the JSON array body of a batch, given each
    item's size to :meth:`add`: an item that would make the body larger closes the open batch
    (returned) and starts the next one. An item larger than the limit on its own is sent alone.
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK, max_body_bytes: int | None = None) -> None:
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._open: dict[str, _Open[T]] = {}
        # (deadline, generation, loop_id); entries of batches already sent are skipped lazily
        self._deadlines: list[tuple[float, int, str]] = []
        self._generation = 0

    def add(self, loop_id: str, item: T, max_events: int, max_wait_ms: float,
            size_bytes: int = 0) -> list[T] | None:
        """Add ``item`` (``size_bytes`` in the body: :func:`item_bytes`); return the loop's
        batch when this item fills it, or the batch before it when the item would make its
        body too large (else None)."""
        if max_events < 1:
            raise ValueError(f"max_events: must be >= 1, got {max_events}")
        batch = self._open.get(loop_id)
        ready: list[T] | None = None
        if (batch is not None and self._max_body_bytes is not None
                and batch.body_bytes + 1 + size_bytes > self._max_body_bytes):
            del self._open[loop_id]
            ready, batch = batch.items, None
        if batch is None:
            if max_events == 1 and ready is None:
                return [item]
            self._generation += 1
            batch = _Open[T](self._clock.monotonic() + max_wait_ms / 1000.0, self._generation)
            self._open[loop_id] = batch
            heapq.heappush(self._deadlines, (batch.deadline, batch.generation, loop_id))
        batch.body_bytes += size_bytes + (1 if batch.items else 0)
        batch.items.append(item)
        if ready is not None:
            return ready
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
