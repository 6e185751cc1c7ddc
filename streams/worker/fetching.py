"""How often the worker's consumer fetches: at most one fetch round per ``interval_ms``.

One worker consumes every partition of the eight raw topics plus the snapshot and ESP topics:
80 partitions with the default 8. aiokafka (under Faust) sends one fetch request per broker
covering every assigned partition, built in Python, and the broker answers for each of them;
aiokafka has no incremental fetch sessions (KIP-227), so a fetch costs by the partitions it
names, not by the records it returns. Faust asks for *any* data (``fetch_min_bytes`` 1) and
fetches again as soon as the last answer is consumed: at a steady 300 events/s each fetch came
back with one or two records, a few hundred times a second, and the worker and the broker spent
most of their CPU on the empty partitions of those fetches (2,600 and 1,400 µs per event,
against ~270 and ~180 in a burst).

:class:`PacedFetcher` starts the next fetch round no sooner than ``interval_ms`` after the
previous one was sent. A fetch still returns as soon as data is there (a long poll while idle,
up to Faust's 1.5 s), so an event arriving while the worker waits is read at once, and one
arriving just after a fetch waits at most ``interval_ms`` for the next. In a burst a round
takes longer than the interval to process and nothing changes. The broker-side alternative
(``fetch_min_bytes`` with a short ``fetch_max_wait_ms``) was measured too: as cheap at a
trickle, but it keeps fetching every ``fetch_max_wait_ms`` when nothing arrives (0.03 cores
more in an idle worker, and as much in the broker).
"""
from __future__ import annotations

import time
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["PacedConsumerThread", "PacedFetcher"]


class PacedFetcher(Fetcher):  # type: ignore[misc]
    """aiokafka's fetcher, with fetch rounds at least ``interval_s`` apart.

    Installed on a running fetcher by :meth:`pace` (aiokafka builds its ``Fetcher`` inside
    ``AIOKafkaConsumer.start()``; its fetch routine looks the round's method up on every turn).
    """

    interval_s: float
    next_round_at: float

    @classmethod
    def pace(cls, fetcher: Fetcher, interval_s: float) -> "PacedFetcher":
        fetcher.__class__ = cls
        paced: PacedFetcher = fetcher
        paced.interval_s = interval_s
        paced.next_round_at = 0.0
        return paced

    def _get_actions_per_node(self, assignment: Any) -> Any:
        """aiokafka's fetch routine calls this each turn for (fetch requests, offset resets,
        timeout, metadata invalid, resume futures); too soon after the last round, it is told
        to wait for the rest of the interval instead (offset resets and metadata refreshes wait
        as long, at most ``interval_s``)."""
        now = time.monotonic()
        if now < self.next_round_at:
            return [], {}, self.next_round_at - now, False, []
        actions = super()._get_actions_per_node(assignment)
        if actions[0]:  # fetch requests go out this turn
            self.next_round_at = now + self.interval_s
        return actions


class PacedConsumerThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread whose fetcher is a :class:`PacedFetcher` with the
    interval ``consumer.fetch_interval_ms`` (None or 0: aiokafka's own behaviour)."""

    async def on_start(self) -> None:
        await super().on_start()
        interval_ms = getattr(self.consumer, "fetch_interval_ms", None)
        consumer = self._consumer
        if interval_ms and consumer is not None and consumer._fetcher is not None:
            PacedFetcher.pace(consumer._fetcher, interval_ms / 1000)
