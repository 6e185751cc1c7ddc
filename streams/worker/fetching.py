"""How the worker's consumer fetches: paced rounds, and big fetches handed over in parts.

One worker consumes every partition of the eight raw topics plus the snapshot and ESP topics:
80 partitions with the default 8. aiokafka (under Faust) sends one fetch request per broker
covering every assigned partition, built in Python, and the broker answers for each of them;
aiokafka has no incremental fetch sessions (KIP-227), so a fetch costs by the partitions it
names, not by the records it returns. Faust asks for *any* data (``fetch_min_bytes`` 1) and
fetches again as soon as the last answer is consumed: at a steady 300 events/s each fetch came
back with one or two records, a few hundred times a second, and the worker and the broker spent
most of their CPU on the empty partitions of those fetches (2,600 and 1,400 µs per event,
against ~270 and ~180 in a burst).

:class:`PacedFetcher` starts the next fetch round no sooner than an interval after the
previous one was sent. A fetch still returns as soon as data is there (a long poll while idle,
up to Faust's 1.5 s), so an event arriving while the worker waits is read at once, and one
arriving just after a fetch waits at most the interval for the next. The interval follows the
rate: a round costs the worker ~3 ms however few records it brings, an event ~150 µs, so
rounds are spaced to bring about ``round_events`` (24) records each, which keeps the per-round
share of an event's cost below its own; at most ``interval_s`` (``worker.fetch_interval_ms``,
100 ms) when events trickle, down to ``min_interval_s`` (5 ms) at high rates, where a round
takes longer than that to process anyway: 100 ms up to 240 events/s, 80 ms at 300/s, 24 ms at
1,000/s.
The broker-side alternative (``fetch_min_bytes`` with a short ``fetch_max_wait_ms``) was
measured too: as cheap at a steady rate, but it keeps fetching every ``fetch_max_wait_ms`` when
nothing arrives (0.03 cores more in an idle worker, and as much in the broker).

Big fetches are handed over in parts. At the start of a spike one fetch brings up to 1 MiB of
every partition; Faust's ``getmany`` took all of it at once, and aiokafka decoded every record
of it on the consumer thread (tens of thousands) before the first one reached an agent: the
~1 s at the start of a spike in which nothing was enriched (docs/benchmarks.md). When more than
``drain_bytes`` of fetched data wait, :meth:`PacedFetcher.fetched_records` hands over only some
*partition numbers*: every topic's partition ``p`` together, so the records of one profile
(its edits, opens, snapshots share ``p``) still come in one part and Faust's timestamp merge
(:mod:`streams.worker.ordering`) orders them as before; other partition numbers follow on
the next calls, before anything is fetched again for them.
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any, Callable, Iterable

from aiokafka.consumer.fetcher import FetchResult, Fetcher
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["PacedConsumerThread", "PacedFetcher"]


class PacedFetcher(Fetcher):  # type: ignore[misc]
    """aiokafka's fetcher, with fetch rounds spaced by the rate (see the module docstring).

    Installed on a running fetcher by :meth:`pace` (aiokafka builds its ``Fetcher`` inside
    ``AIOKafkaConsumer.start()``; its fetch routine looks the round's method up on every turn).
    """

    #: the longest interval between rounds (a trickle), and the shortest (high rates)
    interval_s: float
    min_interval_s = 0.005
    #: records a round should bring at the current rate
    round_events = 24
    next_round_at: float
    _round_at: float
    _handed: int
    _rate: float
    #: hand over at most about this much fetched data (compressed bytes) per call; 0: all
    drain_bytes: int
    _next_group: int

    #: the long poll's limit while a partition waits to be opened (and Faust's otherwise)
    gated_wait_ms = 100
    _idle_wait_ms: int
    gating: Callable[[], bool]

    @classmethod
    def pace(cls, fetcher: Fetcher, interval_s: float, drain_bytes: int = 256 * 1024,
             gating: Callable[[], bool] = lambda: False) -> "PacedFetcher":
        fetcher.__class__ = cls
        paced: PacedFetcher = fetcher
        paced.interval_s = interval_s
        paced.gating = gating
        paced._idle_wait_ms = getattr(fetcher, "_fetch_max_wait_ms", 500)  # (aiokafka default)
        paced.next_round_at = paced._round_at = 0.0
        paced._handed = 0
        paced._rate = 0.0
        paced.drain_bytes = drain_bytes
        paced._next_group = 0
        return paced

    def _get_actions_per_node(self, assignment: Any) -> Any:
        """aiokafka's fetch routine calls this each turn for (fetch requests, offset resets,
        timeout, metadata invalid, resume futures); too soon after the last round, it is told
        to wait for the rest of the interval instead (offset resets and metadata refreshes wait
        as long, at most ``interval_s``)."""
        now = time.monotonic()
        if now < self.next_round_at:
            return [], {}, self.next_round_at - now, False, []
        # aiokafka sends one fetch per broker at a time: a partition opened while an idle
        # long poll is out waits for it (Faust's 1.5 s). While partitions wait to be opened
        # (a start, a rebalance, a standby taking over) the poll is kept short.
        self._fetch_max_wait_ms = (min(self.gated_wait_ms, self._idle_wait_ms) if self.gating()
                                   else self._idle_wait_ms)
        actions = super()._get_actions_per_node(assignment)
        if actions[0]:  # fetch requests go out this turn
            self.next_round_at = now + self.interval(now)
        return actions

    def interval(self, now: float) -> float:
        """The wait before the round after this one, from the records handed over since the
        last round (the arrival rate while the worker keeps up), smoothed over rounds."""
        elapsed = now - self._round_at
        if elapsed > 0:
            rate = self._handed / elapsed
            self._rate = rate if elapsed >= 1.0 else (self._rate + rate) / 2
        self._round_at, self._handed = now, 0
        if self._rate <= 0:
            return self.interval_s
        return min(self.interval_s, max(self.min_interval_s, self.round_events / self._rate))

    async def fetched_records(self, partitions: Any, timeout: float = 0,
                              max_records: int | None = None) -> Any:
        """aiokafka's, but only the partition numbers :meth:`part` chooses when much is
        waiting (see the module docstring); all that is ready otherwise. Waits up to
        ``timeout`` seconds for a fetch to bring something, as aiokafka's does."""
        while True:
            started = time.monotonic()
            part = self.part(partitions)
            drained = await super().fetched_records(part or partitions, 0, max_records)
            if not drained and part:  # that part was not returnable (paused, moved)
                drained = await super().fetched_records(partitions, 0, max_records)
            if drained or not timeout:
                self._handed += sum(map(len, drained.values()))
                return drained
            waiter = self._create_fetch_waiter()
            done, _ = await asyncio.wait([waiter], timeout=timeout)
            if not done or self._closed:
                waiter.cancel()
                return {}
            waiter.result()  # raises what the fetch routine failed with (authorization)
            timeout = max(0.0, timeout - (time.monotonic() - started))

    def part(self, partitions: Iterable[Any] | None) -> set[Any] | None:
        """The topic partitions of whole partition numbers holding about ``drain_bytes`` of the
        fetched data waiting in ``partitions`` (at least one number), taking the numbers in
        turn; None when less than that waits, or when an error waits (aiokafka raises it)."""
        if not self.drain_bytes:
            return None
        wanted = set(partitions) if partitions else None
        sizes: dict[int, int] = defaultdict(int)
        for tp, ready in self._records.items():
            if wanted is not None and tp not in wanted:
                continue
            if type(ready) is not FetchResult:
                return None
            if ready.has_more():
                sizes[tp.partition] += ready._partition_records._records.size_in_bytes()
        if sum(sizes.values()) <= self.drain_bytes:
            return None
        numbers = sorted(sizes, key=lambda p: (p < self._next_group, p))
        chosen, total = set(), 0
        for p in numbers:
            chosen.add(p)
            total += sizes[p]
            if total >= self.drain_bytes:
                break
        self._next_group = p + 1
        return {tp for tp in (wanted if wanted is not None else self._records)
                if tp.partition in chosen}


class PacedConsumerThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread whose fetcher is a :class:`PacedFetcher` with the
    longest interval ``consumer.fetch_interval_ms`` (None or 0: aiokafka's own behaviour)."""

    async def on_start(self) -> None:
        await super().on_start()
        interval_ms = getattr(self.consumer, "fetch_interval_ms", None)
        consumer = self._consumer
        if interval_ms and consumer is not None and consumer._fetcher is not None:
            owner = self.consumer  # a GatedConsumer: partitions waiting to be opened
            PacedFetcher.pace(consumer._fetcher, interval_ms / 1000,
                              gating=lambda: bool(getattr(owner, "gated", ())))
