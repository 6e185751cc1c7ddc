"""Copy table changelogs into another partitioning: the table build of a new generation.

A Faust table's changelog is compacted and keyed like the table; its records are the table's
stored bytes. Copying every record, in order, to a changelog with another partition count —
each to murmur2(key) mod the new count, where the new generation's events of that key land —
gives the new generation's workers the same table when they recover it. Tombstones are copied
as tombstones. Positions are ``"topic/partition" -> next offset`` and only move past records
the producer has flushed, so a copy resumed from saved positions repeats records in order and
every key still ends with its last value.
"""
from __future__ import annotations

import logging
import time
from typing import Mapping, cast

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from streams.config.settings import KafkaConfig
from streams.errors import KafkaFailure, NotAcknowledged
from streams.kafka.clients import confluent_config, producer_config

__all__ = ["ChangelogCopier", "position_key"]

log = logging.getLogger(__name__)


def position_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def _split(key: str) -> tuple[str, int]:
    topic, partition = key.rsplit("/", 1)
    return topic, int(partition)


class ChangelogCopier:
    """Copies ``source topic -> target topic`` for a set of changelog pairs."""

    def __init__(self, kafka: KafkaConfig, group_id: str) -> None:
        self._consumer = Consumer(confluent_config(kafka, **{
            "group.id": group_id,  # never joined nor committed: positions are the caller's
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "enable.partition.eof": True, "fetch.wait.max.ms": 50}))
        self._producer = Producer(producer_config(kafka, **{
            "linger.ms": 20, "compression.type": "lz4", "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000}))

    def close(self) -> None:
        self._consumer.close()

    def ends(self, topics: list[str]) -> dict[str, int]:
        """``"topic/partition" -> end offset`` of every partition of ``topics``."""
        return {key: high for key, (_low, high) in self.watermarks(topics).items()}

    def watermarks(self, topics: list[str]) -> dict[str, tuple[int, int]]:
        meta = self._consumer.list_topics(timeout=30)
        found: dict[str, tuple[int, int]] = {}
        for topic in topics:
            info = meta.topics.get(topic)
            if info is None or info.error is not None:
                raise KafkaFailure(f"topic {topic} is not available: "
                                   f"{info.error if info else 'missing'}")
            for p in info.partitions:
                low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                                 timeout=30)
                found[position_key(topic, p)] = (low, high)
        return found

    def copy(self, pairs: Mapping[str, str], positions: dict[str, int],
             targets: Mapping[str, int], budget_s: float,
             max_records: int | None = None) -> tuple[dict[str, int], int]:
        """Copy from ``positions`` towards ``targets`` for at most about ``budget_s`` and
        ``max_records`` (None: no limit).

        ``pairs``: source topic -> target topic. Returns the new positions (flushed records
        only) and how many records were copied.
        """
        positions = dict(positions)
        open_ = {k: positions.get(k, 0) for k, end in targets.items()
                 if positions.get(k, 0) < end}
        if not open_:
            return positions, 0
        self._consumer.assign([TopicPartition(*_split(k), offset) for k, offset in open_.items()])
        deadline = time.monotonic() + budget_s
        copied = 0
        reached: dict[str, int] = {}
        try:
            while open_ and time.monotonic() < deadline and (
                    max_records is None or copied < max_records):
                for msg in self._consumer.consume(
                        2000 if max_records is None else max(1, min(2000, max_records - copied)),
                        0.2):
                    topic, partition = cast(str, msg.topic()), cast(int, msg.partition())
                    k = position_key(topic, partition)
                    if k not in open_:
                        continue
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            end = cast(int, msg.offset())
                            reached[k] = max(reached.get(k, 0), end)
                            if end >= targets[k]:
                                del open_[k]
                            continue
                        raise KafkaFailure(f"copying {k}: {err}")
                    offset = cast(int, msg.offset())
                    if offset >= targets[k]:  # beyond what this call copies
                        del open_[k]
                        continue
                    self._produce(pairs[topic], msg.key(), msg.value(), msg.timestamp()[1])
                    copied += 1
                    reached[k] = offset + 1
                    if offset + 1 >= targets[k]:
                        del open_[k]
        finally:
            self._consumer.unassign()
        remaining = self._producer.flush(60)
        if remaining:
            raise NotAcknowledged(f"table copy: {remaining} records not acknowledged in 60 s")
        for k, offset in reached.items():
            positions[k] = max(positions.get(k, 0), min(offset, targets[k]))
        return positions, copied

    def _produce(self, topic: str, key: bytes | None, value: bytes | None,
                 timestamp_ms: int) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, timestamp=max(timestamp_ms, 0))
                return
            except BufferError:  # local queue full: let some deliveries finish
                self._producer.poll(0.05)
