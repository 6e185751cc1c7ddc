"""Deliver each fetch's records to the agents in timestamp order across topics.

Faust's default scheduler round-robins between topics, so a profile update and the open that
followed it, fetched together from two topics, can reach the enrich agent in either order.
Merging by record timestamp keeps the order in which they were produced (each partition's own
order is kept as it is). Records fetched in different fetches keep fetch order; a record
produced earlier is fetched no later, except when a partition's fetch is cut at its size limit
during a large backlog. At equal timestamps (one millisecond), records of ``first_topics``
(profile edits) go first, so an edit and an open sent together apply in the natural order.
"""
from __future__ import annotations

import heapq
from typing import Any, Iterator, List, Mapping, Tuple

from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP

__all__ = ["TimestampOrder"]


class TimestampOrder(DefaultSchedulingStrategy):
    """A Faust ``ConsumerScheduler`` merging the per-partition record lists by timestamp.

    Faust instantiates it without arguments: use :meth:`preferring` to make a subclass that
    puts some topics first at equal timestamps.
    """

    first_topics: frozenset[str] = frozenset()

    @classmethod
    def preferring(cls, *topics: str) -> type["TimestampOrder"]:
        return type("TimestampOrder", (cls,), {"first_topics": frozenset(topics)})

    def iterate(self, records: Mapping[TP, List[Any]]) -> Iterator[Tuple[TP, Any]]:
        if len(records) == 1:
            ((tp, messages),) = records.items()
            return ((tp, m) for m in messages)
        first = self.first_topics
        streams = [_keyed(0 if tp.topic in first else 1, i, tp, messages)
                   for i, (tp, messages) in enumerate(records.items())]
        return ((tp, m) for *_key, tp, m in heapq.merge(*streams))


def _keyed(rank: int, i: int, tp: TP,
           messages: List[Any]) -> Iterator[Tuple[int, int, int, int, TP, Any]]:
    # (timestamp, rank, partition index, position): ties never compare the records themselves
    return ((m.timestamp, rank, i, n, tp, m) for n, m in enumerate(messages))
