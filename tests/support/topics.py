"""Read a topic from the start, for assertions."""
from __future__ import annotations

import time


from confluent_kafka import Consumer, Message, TopicPartition

from streams.kafka.clients import confluent_config

from .processes import Project


def read_topic(project: Project, topic: str, expected: int, timeout_s: float = 60) -> list[Message]:
    """Every record of ``topic`` once at least ``expected`` are there (or the timeout ends)."""
    consumer = Consumer(confluent_config(project.config.kafka, **{
        "group.id": f"reader-{time.time_ns()}", "auto.offset.reset": "earliest",
        "enable.auto.commit": False}))
    try:
        meta = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.topics[topic].partitions])
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out.extend(m for m in consumer.consume(1000, 0.3) if m.error() is None)
            if len(out) >= expected:
                # a short grace read so "exactly N" assertions see any extra record
                out.extend(m for m in consumer.consume(1000, 0.5) if m.error() is None)
                break
        return out
    finally:
        consumer.close()


