"""Raw events wait until their partition's profile snapshots are read (cold start, backlog).

When a worker is assigned partition ``p``, it notes where ``fl.ref.profiles[p]`` ends and
keeps the raw topics' partition ``p`` paused (:class:`GatedConsumer`) until the snapshot agent
has read up to there. So after an outage a backlog of opens is not enriched before the backlog
of profile snapshots that precedes it. Only fetching is held back — no agent blocks, so
nothing else starves. After ``timeout_s`` the partition opens anyway, with a warning: a stuck
snapshot topic must not stop delivery forever.

In repartition mode the snapshot topic is a generation's, written by the re-key stage from
``fl.ref.profiles``: its end means nothing until the re-key stage has forwarded what
``fl.ref.profiles`` held (at a cold start it may not have begun). There the gate first waits
for :class:`RekeyCatchUp`, then notes the generation partition's end.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Iterable, Mapping

from confluent_kafka import Consumer, TopicPartition
from faust.types import TP

from streams.kafka.clients import confluent_config
from streams.config.settings import KafkaConfig
from streams.worker.commitguard import GuardedConsumer
from streams.worker.fetching import PacedConsumerThread
from streams.worker.timeline import milestone

__all__ = ["GatedConsumer", "ProfileBootstrap", "RekeyCatchUp"]

log = logging.getLogger(__name__)


class GatedConsumer(GuardedConsumer):
    """Faust's aiokafka consumer, plus partitions held paused until :meth:`ungate`.

    Faust resumes every partition after a rebalance; gated ones stay paused through that.
    First commits go through :mod:`streams.worker.commitguard`.
    Fetch rounds are paced, at most ``fetch_interval_ms`` apart (:mod:`streams.worker.fetching`;
    set with :meth:`fetching`).
    """

    fetch_interval_ms: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gated: set[TP] = set()

    @classmethod
    def fetching(cls, interval_ms: int) -> type["GatedConsumer"]:
        """This class with ``fetch_interval_ms`` (Faust instantiates the class itself)."""
        return type(cls.__name__, (cls,), {"fetch_interval_ms": interval_ms})

    def _new_consumer_thread(self) -> PacedConsumerThread:
        return PacedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def gate(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        self.gated |= tps
        self.pause_partitions(tps)

    async def ungate(self, tps: Iterable[TP], committed: Mapping[str, int],
                     still: Callable[[], bool] = lambda: True) -> bool:
        """Resume fetching ``tps`` (one partition number) from the group's committed offset
        (``committed``, per topic, read from the broker: Faust's own record of it may not be
        loaded yet; a negative one: the topic's earliest, asked of the consumer). Records fetched for a gated partition around a rebalance are dropped by
        Faust's ``getmany`` (it skips partitions that are not active), so the position is set
        back to be sure none is skipped.

        ``still()`` is asked again after each wait: a rebalance that began meanwhile makes
        ``committed`` stale and the partition may be another worker's now, or gated again for
        the new assignment, whose own opening comes after Faust's seek to the committed
        offsets. Then nothing is resumed (False); the seek, if it was made, is undone by
        that seek."""
        tps = set(tps) & self.gated
        fresh = [tp for tp in tps if committed.get(tp.topic, -1) < 0]
        # nothing committed yet: start where auto_offset_reset="earliest" starts
        starts = await self.earliest_offsets(*fresh) if fresh else {}
        if not still():
            return False
        positions = {}
        for tp in tps:
            offset = committed.get(tp.topic, -1)
            positions[tp] = offset if offset >= 0 else starts[tp]
        # seek while still paused (a fetch between resume and seek would be processed, then
        # read again), on the consumer's own thread: aiokafka is not thread-safe, and
        # Faust's plain seek() runs on the caller's thread (a fetch raced it: KeyError)
        if positions:
            await self.seek_wait(positions)
        if not still():
            return False
        self.gated -= tps
        super().resume_partitions(tps)
        return True

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        super().resume_partitions({tp for tp in tps if tp not in self.gated})

    def _set_active_tps(self, tps: set[TP]) -> set[TP]:
        active = super()._set_active_tps(tps)
        active.difference_update(self.gated)
        return active


class ProfileBootstrap:
    """Per partition: the offset of fl.ref.profiles the snapshot agent must reach."""

    def __init__(self, kafka: KafkaConfig, topic: str, raw_topics: Iterable[str], group_id: str,
                 timeout_s: float, upstream: "RekeyCatchUp | None" = None) -> None:
        self.topic = topic
        #: repartition mode: ``topic`` is complete only once this reports the re-key stage
        #: caught up on ``fl.ref.profiles``
        self.upstream = upstream
        self.raw_topics = tuple(raw_topics)
        self.timeout_s = timeout_s
        self._kafka = kafka
        self._group_id = group_id
        self._read_up_to: dict[int, int] = {}
        self._waiting: dict[int, tuple[float, int | None]] = {}  # partition -> (since, target)
        self._gating = asyncio.Event()  # set when partitions start waiting
        self._query: Consumer | None = None

    def assigned(self, consumer: GatedConsumer, tps: Iterable[TP]) -> None:
        """Gate the raw partitions matching the snapshot partitions just assigned."""
        assigned = set(tps)
        consumer.gated &= assigned
        partitions = {tp.partition for tp in assigned if tp.topic == self.topic}
        # an assignment replaces the last one: partitions it left out are not ours to open
        for gone in set(self._waiting) - partitions:
            del self._waiting[gone]
        now = time.monotonic()
        for p in partitions:
            self._waiting[p] = (now, None)
        if partitions:
            self._gating.set()
        consumer.gate(tp for tp in assigned if tp.topic in self.raw_topics and tp.partition in partitions)

    def restart_clocks(self) -> None:
        """Count every waiting partition's ``timeout_s`` from now (a standby's partitions wait
        for their generation to serve first, for as long as the scale's build takes)."""
        now = time.monotonic()
        self._waiting = {p: (now, target) for p, (_since, target) in self._waiting.items()}

    def read(self, partition: int, offset: int) -> None:
        """The snapshot agent finished the record at ``offset``."""
        self._read_up_to[partition] = offset

    async def run(self, consumer: GatedConsumer,
                  settled: Callable[[], bool] = lambda: True) -> None:
        """Open each gated partition once its snapshots are read (forever; a Faust task).

        Read means: the snapshot agent finished the record before the target, or our group's
        committed offset reached the target (another worker read them before a rebalance handed
        the partition over, so nothing is left for ours to read).

        Nothing opens until ``settled()``: after a rebalance Faust seeks every stream partition
        to its committed offset and resets its own read positions once table recovery is done.
        A partition already open and read from at that moment had records processed twice,
        others skipped as "already read" and a "gap" counted as acknowledged, so a commit could
        pass an event never processed (seen in the kill test: one event lost, another
        partition's commits stuck)."""
        last_check = 0.0
        while True:
            if not self._waiting:  # nothing gated: no wake-ups until the next assignment
                self._gating.clear()
                await self._gating.wait()
            if not settled():
                await asyncio.sleep(0.05)
                continue
            recheck = time.monotonic() - last_check > 1.0
            if recheck:
                last_check = time.monotonic()
            for p, (since, target) in list(self._waiting.items()):
                try:
                    await self._step(consumer, p, since, target, recheck, settled)
                except Exception as exc:  # a busy broker, a rebalance meanwhile: next round
                    log.warning("partition %d: opening after the profile bootstrap failed "
                                "(%s: %s); retrying", p, type(exc).__name__, exc)
            await asyncio.sleep(0.05)

    async def _step(self, consumer: GatedConsumer, p: int, since: float, target: int | None,
                    recheck: bool, settled: Callable[[], bool]) -> None:
        """One round for gated partition ``p``: learn its target, open it once read (or late)."""
        if target is None:
            if self.upstream is not None and not await asyncio.to_thread(self.upstream.reached):
                if time.monotonic() - since <= self.timeout_s:
                    return
                log.warning("the re-key stage has not forwarded %s within %.0fs; opening "
                            "partition %d anyway", self.upstream.topic, self.timeout_s, p)
            target = await asyncio.to_thread(self._end_unless_committed, p)
            if self._waiting.get(p) != (since, None):  # revoked or reassigned meanwhile
                return
            self._waiting[p] = (since, target)
        read = self._read_up_to.get(p, -1) >= target - 1
        if not read and recheck:
            committed = await asyncio.to_thread(self._committed, [self.topic], p)
            read = committed[self.topic] >= target
        late = time.monotonic() - since > self.timeout_s
        if not (read or late):
            return
        if late:
            log.warning("%s[%d] not read up to offset %d within %.0fs; enriching anyway",
                        self.topic, p, target, self.timeout_s)
        # where to start, read here: the consumer's own earliest-offset query waits on its
        # thread behind a fetch, which long-polls up to a second while every partition is
        # gated (a second per partition at a cut-over; docs/decisions.md)
        committed = await asyncio.to_thread(self.start_offsets, self.raw_topics, p)

        def still() -> bool:  # no rebalance since this round began (checked after each wait)
            return self._waiting.get(p) == (since, target) and settled()

        if not still():
            return
        if await consumer.ungate([tp for tp in consumer.gated if tp.partition == p], committed,
                                 still):
            del self._waiting[p]
            milestone(f"partition {p} opened {time.monotonic() - since:.2f}s after its "
                      f"assignment", once=False)

    def _end_unless_committed(self, partition: int) -> int:
        """The partition's end now, or -1 when our group already committed past it."""
        low, high = self._client().get_watermark_offsets(TopicPartition(self.topic, partition),
                                                         timeout=10)
        committed = self._committed([self.topic], partition)[self.topic]
        return -1 if high <= low or committed >= high else high

    def _committed(self, topics: Iterable[str], partition: int) -> dict[str, int]:
        """Our group's committed offsets of ``partition`` of each topic (-1001: none)."""
        found = self._client().committed([TopicPartition(t, partition) for t in topics],
                                         timeout=10)
        return {tp.topic: int(tp.offset) for tp in found}

    def start_offsets(self, topics: Iterable[str], partition: int) -> dict[str, int]:
        """Our group's committed offsets of ``partition`` of each topic, else the topic's
        low watermark (where ``auto_offset_reset="earliest"`` starts)."""
        found = self._committed(topics, partition)
        for topic, offset in found.items():
            if offset < 0:
                found[topic] = self._earliest(topic, partition)
        return found

    def _earliest(self, topic: str, partition: int) -> int:
        return int(self._client().get_watermark_offsets(TopicPartition(topic, partition),
                                                        timeout=10)[0])

    def _client(self) -> Consumer:
        """One query client for the process (calls come one at a time from :meth:`run`);
        never a group member: it only reads the group's committed offsets and watermarks."""
        if self._query is None:
            self._query = Consumer(confluent_config(self._kafka, **{
                "group.id": self._group_id, "enable.auto.commit": False}))
        return self._query


class RekeyCatchUp:
    """Whether the re-key stage (consumer group ``group``) has forwarded everything ``topic``
    (``fl.ref.profiles``) held when :meth:`reached` was first asked: its committed offsets
    (made only after the forwarded records are acknowledged) are at those ends. Once reached,
    it stays reached for the process: later snapshots are forwarded as they come."""

    def __init__(self, kafka: KafkaConfig, group: str, topic: str) -> None:
        self.topic = topic
        self._kafka = kafka
        self._group = group
        self._marks: dict[int, int] | None = None
        self._reached = False
        self._query: Consumer | None = None

    def reached(self) -> bool:
        """(Blocking: broker queries; called from a thread.)"""
        if self._reached:
            return True
        if self._query is None:
            self._query = Consumer(confluent_config(self._kafka, **{
                "group.id": self._group, "enable.auto.commit": False}))
        if self._marks is None:
            meta = self._query.list_topics(self.topic, timeout=10).topics[self.topic]
            marks = {}
            for p in meta.partitions:
                low, high = self._query.get_watermark_offsets(TopicPartition(self.topic, p),
                                                               timeout=10)
                if high > low:
                    marks[p] = high
            self._marks = marks
        committed = self._query.committed([TopicPartition(self.topic, p) for p in self._marks],
                                          timeout=10)
        self._reached = all(tp.offset >= self._marks[tp.partition] for tp in committed)
        if self._reached:
            log.info("the re-key stage has forwarded %s up to %s", self.topic, self._marks)
        return self._reached
