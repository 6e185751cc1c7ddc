"""Kafka client settings derived from the configuration, for confluent-kafka and for Faust."""
from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

from confluent_kafka import Consumer, Message, TopicPartition

from streams.config.settings import KafkaConfig

__all__ = ["confluent_config", "faust_broker_settings", "murmur2_partition", "producer_config",
           "read_to_ends", "read_window"]


def confluent_config(kafka: KafkaConfig, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for a producer, consumer or admin client (producers: use
    :func:`producer_config`)."""
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.startswith("SASL"):
        conf["sasl.mechanism"] = kafka.sasl_mechanism
        conf["sasl.username"] = kafka.sasl_username
        conf["sasl.password"] = kafka.sasl_password.reveal() if kafka.sasl_password else ""
    if kafka.ssl_cafile:
        conf["ssl.ca.location"] = kafka.ssl_cafile
    conf.update(extra)
    return conf


def producer_config(kafka: KafkaConfig, **extra: Any) -> dict[str, Any]:
    """Settings for a producer: ``partitioner: murmur2_random`` makes keyed records land where
    the Java client and aiokafka (Faust) put them, which co-partitioning depends on; idempotent
    with ``acks=all``, so an acknowledged record is durable and written once. ``extra`` adds
    to or overrides these."""
    return confluent_config(kafka, **{"partitioner": "murmur2_random",
                                      "enable.idempotence": True, "acks": "all", **extra})


def faust_broker_settings(kafka: KafkaConfig) -> dict[str, Any]:
    """Keyword settings for ``faust.App`` (broker URL and credentials)."""
    settings: dict[str, Any] = {
        "broker": ";".join(f"kafka://{s.strip()}" for s in kafka.bootstrap_servers.split(",")),
    }
    if kafka.security_protocol == "PLAINTEXT":
        return settings
    import faust

    ssl_context = None
    if kafka.security_protocol.endswith("SSL"):
        import ssl

        ssl_context = ssl.create_default_context(cafile=kafka.ssl_cafile or None)
    if kafka.security_protocol.startswith("SASL"):
        password = kafka.sasl_password.reveal() if kafka.sasl_password else ""
        if kafka.sasl_mechanism == "PLAIN":
            settings["broker_credentials"] = faust.SASLCredentials(
                username=kafka.sasl_username, password=password, ssl_context=ssl_context)
        else:
            settings["broker_credentials"] = faust.SASLCredentials(
                username=kafka.sasl_username, password=password, ssl_context=ssl_context,
                mechanism=kafka.sasl_mechanism)
    elif ssl_context is not None:
        settings["broker_credentials"] = ssl_context
    return settings


def murmur2_partition(key: bytes, partitions: int) -> int:
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


def read_to_ends(consumer: Consumer, start: list[TopicPartition], ends: dict[int, int],
                 timeout_s: float, poll_s: float = 0.2) -> Iterator[Message]:
    """Assign ``start`` and yield its records until each partition ``p`` reached the record
    before ``ends[p]`` (or failed), or ``timeout_s`` passed: a bounded scan of a topic."""
    consumer.assign(start)
    remaining = {tp.partition for tp in start}
    deadline = time.monotonic() + timeout_s
    while remaining and time.monotonic() < deadline:
        for msg in consumer.consume(1000, poll_s):
            p, offset = msg.partition(), msg.offset()
            if msg.error() is not None or p is None or offset is None:
                if p is not None:  # None: a client-wide error, not a partition's
                    remaining.discard(p)
                continue
            if offset >= ends[p] - 1:
                remaining.discard(p)
            yield msg


def read_window(kafka: KafkaConfig, topic: str, since_ms: int | None = None,
                last: int | None = None, key: bytes | None = None,
                timeout_s: float = 60.0) -> Iterator[Message]:
    """The records of ``topic`` up to each partition's end as it is now: from the first record
    written at or after ``since_ms`` (Unix ms), or only the ``last`` records of each partition,
    else from the start; with ``key``, only the partition that key maps to. Outside any
    consumer group."""
    consumer = Consumer(confluent_config(kafka, **{
        "group.id": f"fl-reader-{uuid.uuid4().hex}", "enable.auto.commit": False,
        "enable.partition.eof": True}))
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        chosen = sorted(meta.partitions)
        if key is not None:
            chosen = [murmur2_partition(key, len(chosen))]
        start, ends = [], {}
        for p in chosen:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                first = low if last is None else max(low, high - last)
                start.append(TopicPartition(topic, p, first))
                ends[p] = high
        if since_ms is not None and start:
            # records are appended in time order, so the window starts at since_ms's offset
            found = consumer.offsets_for_times(
                [TopicPartition(topic, tp.partition, since_ms) for tp in start], timeout=timeout_s)
            firsts = {tp.partition: tp.offset for tp in start}
            start = [TopicPartition(topic, tp.partition, max(tp.offset, firsts[tp.partition]))
                     for tp in found if tp.offset >= 0]
        if start:
            yield from read_to_ends(consumer, start, ends, timeout_s, poll_s=0.5)
    finally:
        consumer.close()
