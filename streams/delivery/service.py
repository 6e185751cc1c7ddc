"""The sender process: consume deliveries, POST them, write outcomes, commit in order.

One confluent-kafka consumer (group ``<app_id>-sender``, round-robin assignment) reads
``fl.deliveries`` and every ``fl.deliveries.retry.<tier>``. Every record becomes a task at
once — records of one partition are *not* sent in order, so a slow loop never blocks a healthy
one — and the :class:`senders.engine.Dispatcher` applies each loop's in-flight cap, rate limit
and circuit breaker. Retry records wait in memory until their ``not_before_ms``.

At-least-once: a record's offset becomes committable only when the records its outcome caused
(attempt log, retry, dead letter) are acknowledged by Kafka, and only the finished prefix of
each partition is committed (:class:`PartitionOffsets`). Back-pressure: a partition with more
than ``max_pending_per_partition`` unfinished records is paused until a quarter finish; a
loop whose queue would take longer than ``defer_after_s`` to drain at its recent pace has new
deliveries deferred to the first retry tier.

All consumer calls run on one dedicated thread; rebalance callbacks (which librdkafka runs
inside ``consume``) hand work to the event loop and wait for it.
"""
from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from schemas.loop import Loop, limit
from senders.batching import Batcher
from senders.engine import Dispatcher, Outcome
from senders.retry import RetrySchedule

from streams.kafka.clients import confluent_config
from streams.kafka.records import OutRecord
from streams.kafka.loopstore import LoopStore
from streams.metrics import PipelineMetrics
from streams.kafka.output import Output
from streams.kafka.records import Delivery, decode, now_ms
from streams.kafka.registry import CompactedView
from streams.config.settings import Config
from streams.kafka.topics import Topics
from streams.delivery.disabling import LoopDisabler
from streams.delivery.offsets import PartitionOffsets
from streams.delivery.outcomes import OutcomeRouter
from streams.errors import InvalidDelivery

__all__ = ["SenderService", "retry_schedule"]

log = logging.getLogger(__name__)

TP = tuple[str, int]
COMMIT_EVERY_S = 0.5
#: records per consume call; the loop yields to responses every YIELD_EVERY of them.
CONSUME_BATCH = 500
YIELD_EVERY = 100
#: deliveries started (sending or waiting for their loop's slot) per process in-flight slot;
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
                 loop_store: LoopStore, output: Output) -> None:
        self.config = config
        self.topics = topics
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.loops = loops
        self.loop_store = loop_store
        self.output = output
        self.router = OutcomeRouter(topics, retry_schedule(config))
        self.batcher: Batcher[tuple[TP, int, int, Delivery]] = Batcher()
        self._offsets: dict[TP, PartitionOffsets] = {}
        self._generation: dict[TP, int] = {}
        self._paused: set[TP] = set()
        self._held: list[tuple[int, int, TP, int, int, Delivery]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        #: deliveries started and not yet decided (in a task, or in an open json-batch)
        self._active = 0
        self._total_partitions = 0
        self._seen_loops: set[str] = set()
        self.disabler = LoopDisabler(loops, loop_store, output, topics, metrics)
        #: per loop, a moving average of how long a call takes (timeouts included)
        self._latency_s: dict[str, float] = {}
        self._consumer_thread = ThreadPoolExecutor(1, thread_name_prefix="sender-consumer")
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = False
        self.consumer = Consumer(confluent_config(config.kafka, **{
            "group.id": f"{config.worker.app_id}-sender",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # round robin interleaves the topics, so every sender gets its part of
            # fl.deliveries (cooperative-sticky balanced counts over all topics together and
            # could leave a second sender with retry tiers only)
            "partition.assignment.strategy": "roundrobin",
            "max.poll.interval.ms": 600000,
            "session.timeout.ms": 15000,
            "heartbeat.interval.ms": 3000,
            "fetch.wait.max.ms": 20,
            "queued.max.messages.kbytes": 65536,
        }))

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        topics = [self.topics.deliveries, *self.topics.retry.values()]
        meta = await self._call(self.consumer.list_topics, None, 30)
        self._total_partitions = sum(len(meta.topics[t].partitions) for t in topics
                                     if t in meta.topics)
        await self._call(self.consumer.subscribe, topics, on_assign=self._on_assign,
                         on_revoke=self._on_revoke, on_lost=self._on_lost)
        timers = [asyncio.create_task(self._release_due()),
                  asyncio.create_task(self._flush_batches()),
                  asyncio.create_task(self._report_forever())]
        self.ready = True
        last_commit = time.monotonic()
        try:
            max_active = self.config.sender.process_max_in_flight * ACTIVE_PER_SLOT
            while not self._stopping.is_set():
                room = max_active - self._active
                if room <= 0:  # enough work started: let it finish before reading more
                    await asyncio.sleep(0.005)
                    msgs = []
                else:
                    msgs = await self._call(self.consumer.consume, min(room, CONSUME_BATCH), 0.05)
                now = now_ms()
                for i, msg in enumerate(msgs):
                    self._on_message(msg, now)
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
        for key, items in self.batcher.drain():
            self._start_batch(key, items)
        deadline = limit("timeout_s", "maximum") + 5
        pending = self._tasks | self.disabler.tasks
        if pending:
            await asyncio.wait(pending, timeout=deadline)
        await self.output.flush(30)
        await self._commit()
        await self._call(self.consumer.close)
        self._consumer_thread.shutdown(wait=True)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = self._loop or asyncio.get_running_loop()
        return await loop.run_in_executor(self._consumer_thread, lambda: fn(*args, **kwargs))

    # -- rebalance (called on the consumer thread inside consume/close) --------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._assigned(partitions), self._loop).result(30)

    async def _assigned(self, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            tp = (p.topic, p.partition)
            self._offsets[tp] = PartitionOffsets()
            self._generation[tp] = self._generation.get(tp, 0) + 1
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
            while time.monotonic() < deadline and any(
                    self._offsets[tp].outstanding - self._held_count(tp) > 0
                    for tp in tps if tp in self._offsets):
                await asyncio.sleep(0.05)
            await self.output.flush(10)
        commits = []
        for tp in tps:
            offs = self._offsets.pop(tp, None)
            self._paused.discard(tp)
            self._generation[tp] = self._generation.get(tp, 0) + 1  # late finishes are ignored
            if drain and offs is not None and (o := offs.committable()) is not None:
                commits.append(TopicPartition(tp[0], tp[1], o))
        self._held = [h for h in self._held if h[2] not in tps]
        heapq.heapify(self._held)
        self._update_share()
        log.info("revoked %s", _describe(tps))
        return commits

    def _held_count(self, tp: TP) -> int:
        return sum(1 for h in self._held if h[2] == tp)

    def _update_share(self) -> None:
        """Each loop's limits are split over the sender processes by the share of the
        delivery partitions (fresh and retry tiers together) this process owns."""
        total = max(self._total_partitions, len(self._offsets), 1)
        self.dispatcher.set_share(max(len(self._offsets), 1) / total)

    # -- records ---------------------------------------------------------------------------
    def _on_message(self, msg: Message, now: int) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", err)
            return
        tp = (msg.topic(), msg.partition())
        offs = self._offsets.get(tp)
        if offs is None:  # a record of a partition revoked meanwhile
            return
        offset = msg.offset()
        offs.read(offset)
        gen = self._generation[tp]
        try:
            delivery = decode(msg.value())
        except InvalidDelivery as exc:
            record = OutRecord(self.topics.dead, msg.key(), msg.value(),
                               [("fl-reason", f"malformed delivery record: {exc}".encode())])
            self._produce([record], tp, offset, gen)
            return
        due = delivery.get("not_before_ms", 0)
        if due > now:
            heapq.heappush(self._held, (due, next(self._seq), tp, offset, gen, delivery))
            self._wake.set()
            return
        self._begin_safely(tp, offset, gen, delivery)

    def _begin_safely(self, tp: TP, offset: int, gen: int, delivery: Delivery) -> None:
        """``_begin``, but a bug dead-letters the delivery instead of stopping the sender."""
        try:
            self._begin(tp, offset, gen, delivery)
        except Exception as exc:
            log.exception("could not start delivery %s (%s[%d]@%d)",
                          delivery.get("delivery_id"), tp[0], tp[1], offset)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self._produce([self.router.dead_without_attempt(delivery, reason, now_ms())],
                          tp, offset, gen)

    def _begin(self, tp: TP, offset: int, gen: int, delivery: Delivery) -> None:
        now = now_ms()
        loop_id = delivery["loop_id"]
        settings = self.loops.get(loop_id)
        problem = _undeliverable(settings)
        if problem is not None:
            self._forget(loop_id)  # a re-enabled loop starts with a fresh breaker and streak
            self._produce([self.router.dead_without_attempt(delivery, problem, now)], tp, offset, gen)
            return
        assert settings is not None
        self._track(settings)
        if self._expected_wait_s(settings) > self.config.sender.defer_after_s:
            if _age_s(delivery) > self.config.sender.max_age_s:
                reason = f"deferred past max_age_s={self.config.sender.max_age_s:g}: loop too slow"
                self._produce([self.router.dead_without_attempt(delivery, reason, now)],
                              tp, offset, gen)
                return
            record, tier = self.router.defer(delivery, now)
            self.metrics.deliveries.labels(loop_id, "deferred").inc()
            self.metrics.retry_scheduled.labels(tier).inc()
            self._produce([record], tp, offset, gen)
            return
        if settings.encoding == "json-batch":
            self._active += 1
            full = self.batcher.add(loop_id, (tp, offset, gen, delivery),
                                    settings.batch_max_events, settings.batch_max_wait_ms)
            if full is not None:
                self._start_batch(loop_id, full)
            return
        self._active += 1
        task = asyncio.create_task(self._deliver_one(settings, tp, offset, gen, delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _expected_wait_s(self, settings: Loop) -> float:
        """How long the loop's queue would take to drain at its recent pace."""
        waiting = self.dispatcher.waiting(settings.id)
        if not waiting:
            return 0.0
        limits = self.dispatcher.limits(settings.id)
        capacity, rate = limits if limits is not None else (settings.max_in_flight, settings.rate_per_s)
        per_call_s = max(self._latency_s.get(settings.id, 0.0) / max(capacity, 1), 1.0 / rate)
        return waiting * per_call_s

    def _track(self, loop: Loop) -> None:
        """Metrics series of a loop seen for the first time."""
        if loop.id not in self._seen_loops:
            self._seen_loops.add(loop.id)
            self._init_loop_metrics(loop.id)

    async def _deliver_one(self, settings: Loop, tp: TP, offset: int, gen: int,
                           delivery: Delivery) -> None:
        attempt = len(delivery.get("attempts", ())) + 1
        outcome = await self.dispatcher.deliver(settings, delivery["delivery_id"],
                                                [delivery["payload"]], attempt,
                                                age_s=_age_s(delivery))
        self._after(settings, outcome, [(tp, offset, gen, delivery)])

    def _start_batch(self, loop_id: str, entries: list[tuple[TP, int, int, Delivery]]) -> None:
        loop = self.loops.get(loop_id)
        problem = _undeliverable(loop)
        if problem is not None:
            now = now_ms()
            self._active -= len(entries)
            for tp, offset, gen, d in entries:
                self._produce([self.router.dead_without_attempt(d, problem, now)], tp, offset, gen)
            return
        assert loop is not None
        task = asyncio.create_task(self._deliver_batch(loop, entries))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_batch(self, settings: Loop,
                             entries: list[tuple[TP, int, int, Delivery]]) -> None:
        ids = sorted(d["delivery_id"] for *_, d in entries)
        webhook_id = "batch_" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        payloads = [{**d["payload"], "webhook_id": d["delivery_id"]} for *_, d in entries]
        attempt = max(len(d.get("attempts", ())) for *_, d in entries) + 1
        outcome = await self.dispatcher.deliver(settings, webhook_id, payloads, attempt,
                                                age_s=max(_age_s(d) for *_, d in entries))
        self._after(settings, outcome, entries)

    def _after(self, settings: Loop, outcome: Outcome,
               entries: list[tuple[TP, int, int, Delivery]]) -> None:
        now = now_ms()
        self._active -= len(entries)
        m = self.metrics
        loop_id = settings.id
        m.deliveries.labels(loop_id, outcome.kind).inc()
        if outcome.status is not None:
            m.http_latency.labels(loop_id).observe(outcome.latency_s)
        if not outcome.breaker_open:
            previous = self._latency_s.get(loop_id, outcome.latency_s)
            self._latency_s[loop_id] = 0.8 * previous + 0.2 * outcome.latency_s
        disable: tuple[str, str] | None = None
        for tp, offset, gen, delivery in entries:
            decision = self.router.after_attempt(delivery, outcome, now,
                                                 self.config.sender.disable_after_s)
            if decision.final == "delivered":
                m.delivered_events.labels(loop_id).inc()
                m.end_to_end.observe(max(0.0, (now - delivery.get("source_ts_ms", now)) / 1000))
            elif decision.tier is not None:
                m.retry_scheduled.labels(decision.tier).inc()
            if disable is None and decision.disable_reason is not None:
                disable = ("gone" if outcome.kind == "gone" else "failing", decision.disable_reason)
            self._produce(decision.records, tp, offset, gen)
        if disable is not None:
            self.disabler.disable_soon(loop_id, *disable)

    def _produce(self, records: list[OutRecord], tp: TP, offset: int, gen: int) -> None:
        remaining = len(records)

        def done() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and self._generation.get(tp) == gen:
                offs = self._offsets.get(tp)
                if offs is not None:
                    offs.done(offset)

        for r in records:
            if r.topic == self.topics.dead:
                loop_id = (r.key or b"").split(b"|", 1)[0].decode("utf-8", "replace")
                self.metrics.dead_letters.labels(loop_id).inc()
            self.output.send(r.topic, r.key, r.value, done, r.headers)

    # -- metrics ---------------------------------------------------------------------------
    def _init_loop_metrics(self, loop_id: str) -> None:
        """Create a loop's series at 0, so increase() sees its first event."""
        m = self.metrics
        for kind in ("delivered", "retry", "dead", "gone", "deferred"):
            m.deliveries.labels(loop_id, kind)
        m.delivered_events.labels(loop_id)
        m.dead_letters.labels(loop_id)
        m.breaker_open.labels(loop_id).set(0)

    def _forget(self, loop_id: str) -> None:
        if loop_id in self._seen_loops:
            self._seen_loops.discard(loop_id)
            self.dispatcher.forget(loop_id)
            self.metrics.breaker_open.remove(loop_id)

    async def _report_forever(self, every_s: float = 2.0) -> None:
        while True:
            try:
                await self._report()
            except Exception as exc:  # metrics must never stop delivery
                log.info("metrics report failed: %s", exc)
            await asyncio.sleep(every_s)

    async def _report(self) -> None:
        m, d = self.metrics, self.dispatcher
        m.in_flight.set(sum(d.in_flight(loop_id) for loop_id in self._seen_loops))
        m.active.set(self._active)
        m.pending.set(sum(o.outstanding for o in self._offsets.values()))
        for loop_id in self._seen_loops:
            m.breaker_open.labels(loop_id).set(1 if d.breaker_state(loop_id) == "open" else 0)
        tps = [TopicPartition(t, p) for t, p in self._offsets]
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
            while self._held and self._held[0][0] <= now:
                _, _, tp, offset, gen, delivery = heapq.heappop(self._held)
                if self._generation.get(tp) == gen:
                    self._begin_safely(tp, offset, gen, delivery)
            self._report_held()
            wait_s = 0.5 if not self._held else min(0.5, max(0.0, (self._held[0][0] - now) / 1000))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s)
            except asyncio.TimeoutError:
                pass

    def _report_held(self) -> None:
        counts: dict[str, int] = {tier: 0 for tier in self.topics.retry}
        by_topic = {t: tier for tier, t in self.topics.retry.items()}
        for h in self._held:
            tier = by_topic.get(h[2][0])
            if tier is not None:
                counts[tier] += 1
        for tier, n in counts.items():
            self.metrics.retry_held.labels(tier).set(n)

    async def _flush_batches(self) -> None:
        while True:
            for loop_id, items in self.batcher.due():
                self._start_batch(loop_id, items)
            await asyncio.sleep(0.01)

    # -- commits and back-pressure ---------------------------------------------------------
    async def _commit(self) -> None:
        offsets = []
        for (topic, partition), offs in self._offsets.items():
            o = offs.committable()
            if o is not None:
                offsets.append(TopicPartition(topic, partition, o))
        if not offsets:
            return
        try:
            await self._call(self.consumer.commit, offsets=offsets, asynchronous=False)
        except Exception as exc:  # rebalancing: the next commit (or the new owner) catches up
            log.info("commit deferred: %s", exc)
            return
        for tp in offsets:
            offs = self._offsets.get((tp.topic, tp.partition))
            if offs is not None:
                offs.committed(tp.offset)

    async def _apply_backpressure(self) -> None:
        cap = self.config.sender.max_pending_per_partition
        pause, resume = [], []
        for tp, offs in self._offsets.items():
            if tp not in self._paused and offs.outstanding >= cap:
                pause.append(tp)
            elif tp in self._paused and offs.outstanding < cap * 3 // 4:
                resume.append(tp)
        if pause:
            await self._call(self.consumer.pause, [TopicPartition(t, p) for t, p in pause])
            self._paused.update(pause)
        if resume:
            await self._call(self.consumer.resume, [TopicPartition(t, p) for t, p in resume])
            self._paused.difference_update(resume)

def _undeliverable(loop: Loop | None) -> str | None:
    return "loop deleted" if loop is None else loop.undeliverable_reason()


def _age_s(delivery: Delivery) -> float:
    """Seconds since the delivery was routed (the schedule's max_age_s counts from there)."""
    return max(0.0, (now_ms() - delivery.get("routed_ms", now_ms())) / 1000)


def _describe(tps: Iterable[TP]) -> str:
    """``fl.deliveries[0,1,2] fl.deliveries.retry.5s[0,1,2]``: partitions grouped by topic."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in tps:
        by_topic.setdefault(topic, []).append(partition)
    return " ".join(f"{t}[{','.join(map(str, sorted(ps)))}]" for t, ps in sorted(by_topic.items()))
