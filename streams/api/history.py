"""Read the recent tail of the attempt log and the dead letters, filtered by loop.

``fl.attempts`` is keyed by loop id, so one loop's attempts share a partition; dead letters
are keyed ``loop|profile`` and spread over all partitions. Both reads look at a bounded window
at the end of the partitions (``scan``), newest first.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

import orjson
from confluent_kafka import Consumer, TopicPartition

from ..clients import confluent_config, read_to_ends
from ..settings import KafkaConfig

__all__ = ["tail"]


def _murmur2_partition(key: bytes, partitions: int) -> int:
    """The Java client's (and aiokafka's, and our producers') default partition for ``key``."""
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(key)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    if rest:
        tail_bytes = key[length - rest:]
        if rest == 3:
            h ^= tail_bytes[2] << 16
        if rest >= 2:
            h ^= tail_bytes[1] << 8
        h ^= tail_bytes[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def tail(kafka: KafkaConfig, topic: str, match: Callable[[dict[str, Any]], bool], limit: int,
         scan: int = 20000, key: bytes | None = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Up to ``limit`` newest JSON records of ``topic`` that ``match``; with ``key``, only the
    partition that key maps to is read."""
    consumer = Consumer(confluent_config(kafka, **{
        "group.id": f"fl-history-{uuid.uuid4().hex}", "enable.auto.commit": False,
        "enable.partition.eof": True}))
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        partitions = sorted(meta.partitions)
        if key is not None:
            partitions = [_murmur2_partition(key, len(partitions))]
        assignments, ends = [], {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                assignments.append(TopicPartition(topic, p, max(low, high - scan)))
                ends[p] = high
        if not assignments:
            return []
        found: list[tuple[int, dict[str, Any]]] = []
        for msg in read_to_ends(consumer, assignments, ends, timeout_s):
            try:
                doc = orjson.loads(msg.value() or b"")
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and match(doc):
                found.append((msg.timestamp()[1], doc))
        found.sort(key=lambda item: item[0], reverse=True)
        return [doc for _, doc in found[:limit]]
    finally:
        consumer.close()
