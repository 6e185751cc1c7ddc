"""Acknowledge a partition's events in offset order, each once its outputs are durable.

An event is finished when Kafka has every record it caused; records of different events go to
different partitions of ``fl.deliveries`` and finish out of order. Faust commits the first run
of consecutive acked offsets and only checks that the run starts *one past* the committed
offset (faust-streaming 0.15.3, ``Consumer._new_offset``; no check at all before the first
commit), so an out-of-order ack can commit past an event whose deliveries are still in the
producer's queue; a crash then loses it. Here an event is acked only after every earlier event
of its partition, so Faust's run always starts at the committed offset.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Hashable

__all__ = ["InOrderAcks"]

Ack = Callable[[], None]


def _nothing() -> None:
    pass


class _Pending:
    __slots__ = ("remaining", "ack")

    def __init__(self, remaining: int, ack: Ack) -> None:
        self.remaining = remaining
        self.ack = ack


class InOrderAcks:
    """``track(partition, ack, n)`` -> the callback each of the event's ``n`` outputs calls
    when durable; ``ack`` runs once they all did and every earlier event of ``partition`` was
    acked. Events are tracked in the order they are read."""

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[_Pending]] = {}

    def track(self, partition: Hashable, ack: Ack, outputs: int) -> Ack:
        queue = self._queues.get(partition)
        if queue is None:
            queue = self._queues[partition] = deque()
        if outputs <= 0 and not queue:  # nothing before it, nothing to wait for
            ack()
            return _nothing
        entry = _Pending(outputs, ack)
        queue.append(entry)

        def done() -> None:
            entry.remaining -= 1
            if entry.remaining == 0:
                self._release(queue)

        if outputs <= 0:
            self._release(queue)
        return done

    @staticmethod
    def _release(queue: deque[_Pending]) -> None:
        while queue and queue[0].remaining <= 0:
            queue.popleft().ack()

    def waiting(self, partition: Hashable) -> int:
        """Events of ``partition`` read and not acked yet."""
        queue = self._queues.get(partition)
        return len(queue) if queue else 0
