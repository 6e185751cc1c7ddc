"""The statistics aggregator: reads what the pipeline already writes, counts, writes deltas.

A confluent-kafka consumer (group ``<app_id>-stats``) reads the raw topics, ``fl.invalid``,
``fl.deliveries``, ``fl.attempts`` and ``fl.deliveries.dead`` on a thread of its own; nothing
is added to the worker's or the sender's per-event path. Every ``flush_s`` it writes the
minute deltas it counted to ``fl.stats`` and commits its input offsets **in one Kafka
transaction**: the deltas and the offsets they account for become visible together or not
at all, so a crash, a kill or a rebalance never counts a record twice or loses one (readers
use ``read_committed``). Several workers share the partitions like any consumer group.

Unique opens and clicks need to know which profiles were seen earlier in the day: when this
process is given a raw opens or clicks partition, it reads that partition from the start of
the UTC day up to the committed offset to rebuild the sets before counting on.

On any error the aggregator drops what it had not committed and starts again from the
committed offsets (a fresh consumer and producer), which is exact for the same reason.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from streams.config.settings import Config
from streams.kafka.clients import confluent_config, producer_config, read_to_ends
from streams.kafka.registry import again_on_error
from streams.kafka.topics import Topics
from streams.stats.counting import LEVELS, Tally, encode_deltas

__all__ = ["Aggregator"]

log = logging.getLogger(__name__)


class Aggregator:
    """Start with :meth:`start`, stop with :meth:`stop`; ``flushes`` counts transactions."""

    def __init__(self, config: Config, topics: Topics, flush_s: float = 2.0) -> None:
        self.config = config
        self.topics = topics
        self.flush_s = flush_s
        self.group = f"{config.worker.app_id}-stats"
        self._type_of_raw = {t: etype for etype, t in topics.raw.items()}
        self._unique_topics = {topics.raw["open"], topics.raw["click"]}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0
        #: the input partitions this process counts now
        self.assigned: set[tuple[str, int]] = set()

    def leads(self) -> bool:
        """True while this process counts ``fl.attempts`` partition 0: exactly one member of
        the stats group at a time (summary calls are made there)."""
        return (self.topics.attempts, 0) in self.assigned

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stats-aggregator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        # on an error: start again from the committed offsets (exact, see the module doc)
        again_on_error(self._stop, self._session, "stats aggregator", 1.0, 30.0)

    def _session(self) -> None:
        kafka = self.config.kafka
        producer = Producer(producer_config(kafka, **{
            "transactional.id": f"{self.group}-{uuid.uuid4().hex}", "linger.ms": 20}))
        producer.init_transactions(30)
        consumer = Consumer(confluent_config(kafka, **{
            "group.id": self.group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
            # few, full fetches: the counts are needed every flush_s, not at once, and each
            # fetch costs this process and the broker per partition (~100 of them)
            "fetch.min.bytes": 256 * 1024, "fetch.wait.max.ms": 500}))
        tally = Tally()
        state = {"dirty": False}

        def flush() -> None:
            self._flush(producer, consumer, tally)
            state["dirty"] = False

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            self.assigned.update((p.topic, p.partition) for p in partitions)
            mine = [p for p in partitions if p.topic in self._unique_topics]
            if mine:
                self._restore_uniques(c, mine, tally)

        def on_revoke(c: Consumer, partitions: list[TopicPartition]) -> None:
            if state["dirty"]:
                flush()
            self.assigned.difference_update((p.topic, p.partition) for p in partitions)
            tally.forget((p.topic, p.partition) for p in partitions)

        topics = [*self.topics.raw.values(), self.topics.invalid, self.topics.deliveries,
                  self.topics.attempts, self.topics.dead]
        consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
        last_flush = time.monotonic()
        try:
            while not self._stop.is_set():
                for msg in consumer.consume(1000, 0.2):
                    if msg.error() is None:
                        try:
                            self._count(tally, msg)
                        except Exception:  # one record must not stop the counting
                            # (a restart would read the same record again, forever)
                            log.exception("stats: record skipped (%s [%d] at offset %d)",
                                          msg.topic(), msg.partition(), msg.offset())
                        state["dirty"] = True
                if state["dirty"] and time.monotonic() - last_flush >= self.flush_s:
                    flush()
                    last_flush = time.monotonic()
                    tally.prune(int(time.time() * 1000))
            if state["dirty"]:
                flush()
        finally:
            self.assigned.clear()
            consumer.close()
            producer.flush(10)

    def _count(self, tally: Tally, msg: Any) -> None:
        topic = msg.topic()
        ts_ms = msg.timestamp()[1]
        t = self.topics
        if topic in self._type_of_raw:
            tally.raw((topic, msg.partition()), ts_ms, msg.value())
        elif topic == t.attempts:
            tally.attempt(ts_ms, msg.value())
        elif topic == t.deliveries:
            tally.delivery(ts_ms, msg.value(), "routed")
        elif topic == t.dead:
            tally.delivery(ts_ms, msg.value(), "dead")
        elif topic == t.invalid:
            source = (dict(msg.headers() or ()).get("fl-source-topic") or b"").decode(
                "utf-8", "replace")
            raw_type = self._type_of_raw.get(source)
            tally.invalid(ts_ms, None if raw_type == "profile" else raw_type, msg.value())

    def _flush(self, producer: Producer, consumer: Consumer, tally: Tally) -> None:
        """Deltas and input offsets in one transaction."""
        records = encode_deltas(tally.take())
        positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
        producer.begin_transaction()
        try:
            for key, value in records:
                producer.produce(self.topics.stats, value, key)
            if positions:
                producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(),
                                                     30)
            producer.commit_transaction(30)
        except KafkaException:
            producer.abort_transaction(30)
            raise
        self.flushes += 1

    def _restore_uniques(self, consumer: Consumer, partitions: list[TopicPartition],
                         tally: Tally) -> None:
        """Rebuild the unique sets of ``partitions`` from the start of the UTC day to where
        this group committed (those records are counted already; only seen-marks are made)."""
        now_ms = int(time.time() * 1000)
        day_ms = now_ms - now_ms % LEVELS["1d"]
        committed = {(tp.topic, tp.partition): tp.offset
                     for tp in consumer.committed(partitions, 30)}
        reader = Consumer(confluent_config(self.config.kafka, **{
            "group.id": f"{self.group}-restore-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "enable.partition.eof": True}))
        try:
            for topic in {p.topic for p in partitions}:
                mine = [p for p in partitions if p.topic == topic
                        and committed.get((topic, p.partition), -1) > 0]
                if not mine:
                    continue
                starts = reader.offsets_for_times(
                    [TopicPartition(topic, p.partition, day_ms) for p in mine], 30)
                begin = [s for s in starts if 0 <= s.offset < committed[(topic, s.partition)]]
                ends = {s.partition: committed[(topic, s.partition)] for s in begin}
                restored = 0
                for msg in read_to_ends(reader, begin, ends, timeout_s=120):
                    part, offset = msg.partition(), msg.offset()  # None only for errors
                    if (msg.error() is None and part is not None and offset is not None
                            and offset < ends[part]):
                        tally.raw((topic, part), msg.timestamp()[1], msg.value(), count=False)
                        restored += 1
                log.info("stats: unique sets of %s restored from %d records", topic, restored)
        finally:
            reader.close()
