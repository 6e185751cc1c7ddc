"""The sender process: consume deliveries, POST them, write outcomes, commit in order.

One confluent-kafka consumer (group ``<app_id>-sender``, round-robin assignment) reads
``fl.deliveries`` and every ``fl.deliveries.retry.<tier>``. Each record is decoded once and
handed to :class:`streams.delivery.intake.Intake`, which decides (dead letter, defer, send) and
queues it in its loop's lane (:class:`senders.lanes.Lanes`): records of one partition are *not*
sent in order, so a slow loop never blocks a healthy one. Retry records wait in memory until
their ``not_before_ms``.

At-least-once: a record's offset becomes committable only when the records its outcome caused
(attempt log, retry, dead letter) are acknowledged by Kafka, and only the finished prefix of
each partition is committed (:class:`streams.delivery.ledger.Ledger`). Back-pressure: reading
pauses while ``ACTIVE_PER_SLOT`` x ``process_max_in_flight`` deliveries are started and
undecided (no loop may hold more than half of that while others have work, see
:mod:`streams.delivery.decision`), and a partition with ``max_pending_per_partition``
unfinished records pauses until a quarter of them finish.

All consumer calls run on one dedicated thread; rebalance callbacks (which librdkafka runs
inside ``consume``) hand work to the event loop and wait for it.

Lanes of traffic: the live sender (``lane="live"``) reads ``fl.deliveries`` and the retry
tiers; the replay lane (``lane="replay"``, in the replayer process, :mod:`streams.replay`)
reads ``fl.deliveries.replay`` in its own group with ``replay.share`` of every loop's caps and
stops reading while ``hold()`` says live traffic has a backlog (see :class:`Intake` for what
differs per delivery).
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from confluent_kafka import Consumer, KafkaError, TopicPartition

from schemas.loop import Loop, limit
from senders.engine import Dispatcher
from senders.lanes import Lanes
from senders.retry import RetrySchedule

from streams.config.settings import Config
from streams.delivery.disabling import LoopDisabler
from streams.delivery.intake import Intake
from streams.delivery.ledger import TP, Ledger
from streams.delivery.outcomes import OutcomeRouter
from streams.kafka.clients import confluent_config
from streams.kafka.loopstore import LoopStore
from streams.kafka.output import Output
from streams.kafka.records import now_ms
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics

__all__ = ["SenderService", "retry_schedule"]

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 0.5
#: records per consume call; the loop yields to responses every YIELD_EVERY of them.
CONSUME_BATCH = 500
YIELD_EVERY = 100
#: how often the partitions of the delivery topics are counted again (they may grow)
RECOUNT_EVERY_S = 10.0
#: deliveries started (sending or queued in their loop's lane) per process in-flight slot;
#: beyond that, reading pauses (held retries and the outcome records do not count).
ACTIVE_PER_SLOT = 4


def retry_schedule(config: Config) -> RetrySchedule:
    s = config.sender
    return RetrySchedule(delays_s=s.retry_schedule_s, jitter=s.retry_jitter,
                         max_retry_after_s=s.max_retry_after_s, max_age_s=s.max_age_s)


class SenderService:
    """Runs until :meth:`stop`; see the module docstring for the guarantees."""

    def __init__(self, config: Config, topics: Topics, metrics: PipelineMetrics,
                 dispatcher: Dispatcher, loops: CompactedView[Loop],
                 loop_store: LoopStore, output: Output, lane: str = "live",
                 replays: Any = None, hold: Callable[[], bool] | None = None) -> None:
        self.config = config
        #: "live" or "replay"; ``replays``: the replay lane's ReplayBook (cancels, counts)
        self.lane = lane
        self._lane_share = 1.0 if lane == "live" else config.replay.share
        #: while it returns True no new record is read (the replay lane: live is behind)
        self._hold = hold
        self.topics = topics
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.ledger = Ledger()
        s = config.sender
        self.max_active = s.process_max_in_flight * ACTIVE_PER_SLOT
        disabler = LoopDisabler(loops, loop_store, output, topics, metrics)
        self.intake = Intake(config, OutcomeRouter(topics, retry_schedule(config)), loops,
                             metrics, output, disabler, self.max_active, lane, replays)
        self.lanes = Lanes(dispatcher, self.intake.after,
                           process_max_in_flight=s.process_max_in_flight)
        self.intake.lanes = self.lanes
        self.disabler = disabler
        self._total_partitions = 0
        self._consumer_thread = ThreadPoolExecutor(1, thread_name_prefix="sender-consumer")
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = False
        self.consumer = Consumer(confluent_config(config.kafka, **{
            "group.id": f"{config.worker.app_id}-sender"
                        + ("" if lane == "live" else f"-{lane}"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # round robin interleaves the topics, so every sender gets its part of
            # fl.deliveries (cooperative-sticky balanced counts over all topics together and
            # could leave a second sender with retry tiers only)
            "partition.assignment.strategy": "roundrobin",
            "max.poll.interval.ms": 600000,
            "session.timeout.ms": 15000,
            "heartbeat.interval.ms": 3000,
            # a paused partition resumed while a fetch waits joins the next one: in a spike
            # fetches return at once, idle it waits at most this
            "fetch.wait.max.ms": config.kafka.idle_fetch_wait_ms,
            "queued.max.messages.kbytes": 65536,
            # partitions added to fl.deliveries or a tier (`partitions scale`) are assigned
            # within this, not librdkafka's 5 minutes
            "topic.metadata.refresh.interval.ms": int(RECOUNT_EVERY_S * 1000),
        }))

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        topics = self._topics()
        await self._call(self._count_partitions)
        await self._call(self.consumer.subscribe, topics, on_assign=self._on_assign,
                         on_revoke=self._on_revoke, on_lost=self._on_lost)
        timers = [asyncio.create_task(self._release_due()),
                  asyncio.create_task(self._flush_batches()),
                  asyncio.create_task(self._report_forever())]
        if self.intake.replay_counts is not None:
            timers.append(asyncio.create_task(self.intake.replay_counts.publish_forever()))
        self.ready = True
        last_commit = time.monotonic()
        intake, ledger = self.intake, self.ledger
        try:
            while not self._stopping.is_set():
                room = self.max_active - intake.active
                if self._hold is not None and self._hold():
                    room = 0
                if room <= 0:  # enough work started: let it finish before reading more
                    await asyncio.sleep(0.005)
                    msgs = []
                else:
                    msgs = await self._call(self.consumer.consume, min(room, CONSUME_BATCH), 0.05)
                now = now_ms()
                for i, msg in enumerate(msgs):
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error: %s", err)
                        continue
                    entry = intake.read(ledger, msg, now)
                    if entry is not None and entry.delivery.get("not_before_ms", 0) > now:
                        ledger.hold(entry, entry.delivery["not_before_ms"])
                        self._wake.set()
                    elif entry is not None:
                        intake.begin(entry)
                    if i % YIELD_EVERY == YIELD_EVERY - 1:
                        await asyncio.sleep(0)  # let responses in between
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    await self._commit()
                    last_commit = time.monotonic()
                await self._apply_backpressure()
        finally:
            self.ready = False
            for t in timers:
                t.cancel()
            await self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def _shutdown(self) -> None:
        """Finish what is in flight (bounded), flush outcomes, commit, leave the group."""
        self.intake.flush_batches(everything=True)
        deadline = time.monotonic() + limit("timeout_s", "maximum") + 5
        while (self.lanes.held or self.disabler.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self.lanes.close()
        await self.output.flush(30)
        await self._commit()
        await self._call(self.consumer.close)
        self._consumer_thread.shutdown(wait=True)

    @property
    def output(self) -> Output:
        return self.intake.output

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = self._loop or asyncio.get_running_loop()
        return await loop.run_in_executor(self._consumer_thread, lambda: fn(*args, **kwargs))

    def _topics(self) -> list[str]:
        """What this sender reads: the live delivery topics, or the replay lane's."""
        return ([self.topics.deliveries, *self.topics.retry.values()] if self.lane == "live"
                else [self.topics.replay_deliveries])

    def _count_partitions(self) -> None:
        """Count the delivery topics' partitions (on the consumer thread): each loop's share
        is owned / all of them, and `partitions scale` may have grown them."""
        topics = self._topics()
        meta = self.consumer.list_topics(None, 30)
        self._total_partitions = sum(len(meta.topics[t].partitions) for t in topics
                                     if t in meta.topics)

    # -- rebalance (called on the consumer thread inside consume/close) --------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        try:
            self._count_partitions()
        except Exception as exc:  # the last count stands; the periodic one tries again
            log.info("counting the delivery partitions failed: %s", exc)
        asyncio.run_coroutine_threadsafe(self._assigned(partitions), self._loop).result(30)
        self._skip_finished(consumer, partitions)

    def _skip_finished(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions this process lost (and could not commit) start past what it finished
        (:meth:`Ledger.resume_at`), and that offset is committed, so nobody re-sends it."""
        remembered = [p for p in partitions if self.ledger.remembers((p.topic, p.partition))]
        if not remembered:
            return
        try:
            committed = {(c.topic, c.partition): c.offset if c.offset >= 0 else None
                         for c in consumer.committed(remembered, timeout=10)}
        except Exception as exc:  # no harm: the partitions start at the committed offset
            log.info("lost partitions start at their committed offsets: %s", exc)
            return
        starts = []
        for p in partitions:
            at = self.ledger.resume_at((p.topic, p.partition), committed.get((p.topic, p.partition)))
            starts.append(TopicPartition(p.topic, p.partition, at if at is not None else p.offset))
        skipping = [s for s, p in zip(starts, partitions) if s.offset != p.offset]
        if not skipping:
            return
        consumer.assign(starts)  # in the callback: librdkafka then assigns these, not its own
        try:
            consumer.commit(offsets=skipping, asynchronous=False)
        except Exception as exc:  # the next regular commit covers it
            log.info("commit after a lost assignment deferred: %s", exc)
        log.info("lost partitions resume past their finished records: %s",
                 " ".join(f"{s.topic}[{s.partition}]@{s.offset}" for s in skipping))

    async def _assigned(self, partitions: list[TopicPartition]) -> None:
        self.ledger.assign((p.topic, p.partition) for p in partitions)
        self._update_share()
        log.info("assigned %s", _describe((p.topic, p.partition) for p in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        offsets = asyncio.run_coroutine_threadsafe(
            self._revoked(partitions, drain=True), self._loop).result(60)
        if offsets:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except Exception as exc:  # the new owner re-reads from the last commit
                log.warning("commit on revoke failed: %s", exc)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._revoked(partitions, drain=False),
                                         self._loop).result(60)

    async def _revoked(self, partitions: list[TopicPartition], drain: bool) -> list[TopicPartition]:
        tps = {(p.topic, p.partition) for p in partitions}
        if drain:  # let in-flight work of these partitions finish so it is not sent twice
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.ledger.busy(tps):
                await asyncio.sleep(0.05)
            await self.output.flush(10)
        if drain:
            commits = self.ledger.revoke(tps)
        else:
            self.ledger.lost(tps)
            commits = []
        self._update_share()
        log.info("revoked %s", _describe(tps))
        return [TopicPartition(t, p, o) for (t, p), o in commits] if drain else []

    def _update_share(self) -> None:
        """Each loop's limits are split over the sender processes by the share of the
        delivery partitions (fresh and retry tiers together) this process owns."""
        owned = len(self.ledger.partitions)
        total = max(self._total_partitions, owned, 1)
        self.dispatcher.set_share(max(owned, 1) / total * self._lane_share)

    # -- metrics ---------------------------------------------------------------------------
    async def _report_forever(self, every_s: float = 2.0) -> None:
        last_count = time.monotonic()
        while True:
            try:
                await self._report()
                if time.monotonic() - last_count >= RECOUNT_EVERY_S:
                    last_count = time.monotonic()
                    await self._call(self._count_partitions)
                    self._update_share()
            except Exception as exc:  # metrics must never stop delivery
                log.info("metrics report failed: %s", exc)
            await asyncio.sleep(every_s)

    async def _report(self) -> None:
        m = self.metrics
        m.in_flight.set(self.lanes.in_flight)
        m.active.set(self.intake.active)
        m.pending.set(self.ledger.outstanding)
        self.intake.report_breakers()
        tps = [TopicPartition(t, p) for t, p in self.ledger.partitions]
        if not tps:
            return
        positions = await self._call(self.consumer.position, tps)
        for tp in positions:
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                m.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))

    # -- timers ----------------------------------------------------------------------------
    async def _release_due(self) -> None:
        """Start held retry records when their time comes."""
        while True:
            now = now_ms()
            for i, entry in enumerate(self.ledger.due(now)):
                self.intake.begin(entry)
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # a tier's worth coming due at once: let others in
            self._report_held()
            due = self.ledger.next_due_ms()
            wait_s = 0.5 if due is None else min(0.5, max(0.0, (due - now) / 1000))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s)
            except asyncio.TimeoutError:
                pass

    def _report_held(self) -> None:
        held = self.ledger.held_per_topic()
        for tier, topic in self.topics.retry.items():
            self.metrics.retry_held.labels(tier).set(held.get(topic, 0))

    async def _flush_batches(self) -> None:
        while True:
            self.intake.flush_batches()
            await asyncio.sleep(0.01)

    # -- commits and back-pressure ---------------------------------------------------------
    async def _commit(self) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.ledger.committable()]
        if not offsets:
            return
        try:
            await self._call(self.consumer.commit, offsets=offsets, asynchronous=False)
        except Exception as exc:  # rebalancing: the next commit (or the new owner) catches up
            log.info("commit deferred: %s", exc)
            return
        for tp in offsets:
            self.ledger.committed((tp.topic, tp.partition), tp.offset)

    async def _apply_backpressure(self) -> None:
        pause, resume = self.ledger.backpressure(self.config.sender.max_pending_per_partition)
        if pause:
            await self._call(self.consumer.pause, [TopicPartition(t, p) for t, p in pause])
            self.ledger.paused(pause, True)
        if resume:
            await self._call(self.consumer.resume, [TopicPartition(t, p) for t, p in resume])
            self.ledger.paused(resume, False)


def _describe(tps: Iterable[TP]) -> str:
    """``fl.deliveries[0,1,2] fl.deliveries.retry.5s[0,1,2]``: partitions grouped by topic."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in tps:
        by_topic.setdefault(topic, []).append(partition)
    return " ".join(f"{t}[{','.join(map(str, sorted(ps)))}]" for t, ps in sorted(by_topic.items()))
