"""Kafka client settings derived from the configuration, for confluent-kafka and for Faust."""
from __future__ import annotations

import time
from typing import Any, Iterator

from confluent_kafka import Consumer, Message, TopicPartition

from .settings import KafkaConfig

__all__ = ["confluent_config", "faust_broker_settings"]


def confluent_config(kafka: KafkaConfig, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for a producer, consumer or admin client.

    ``partitioner: murmur2_random`` makes keyed records land where the Java client and
    aiokafka (Faust) put them, which co-partitioning depends on.
    """
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
