"""The Output on the real broker: records Kafka refuses for good are parked in fl.invalid, never
re-produced forever and never raised into the caller; their batch-mates are delivered."""
from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from typing import Iterator

import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.config.settings import KafkaConfig
from streams.kafka.clients import confluent_config
from streams.kafka.limits import ORIGINAL_VALUE_BYTES, TRUNCATED, record_size
from streams.kafka.output import Output
from streams.kafka.parking import MINIMAL_COPY_BYTES, OVER_LIMIT, Parking

pytestmark = [pytest.mark.kafka]

RECORD_BYTES = 200_000


class Topics:
    """Throw-away topics on the shared broker: ``make(name, max_message_bytes)``."""

    def __init__(self, bootstrap: str) -> None:
        self.kafka = KafkaConfig(bootstrap_servers=bootstrap)
        self.admin = AdminClient(confluent_config(self.kafka))
        self.prefix = f"out-{uuid.uuid4().hex[:8]}."
        self.made: list[str] = []

    def make(self, name: str, max_message_bytes: int = 1_048_588) -> str:
        topic = self.prefix + name
        futures = self.admin.create_topics([NewTopic(topic, 1, 1, config={
            "max.message.bytes": str(max_message_bytes)})])
        for future in futures.values():
            future.result()
        self.made.append(topic)
        return topic

    def read(self, topic: str, expected: int, timeout_s: float = 30) -> list[Message]:
        consumer = Consumer(confluent_config(self.kafka, **{
            "group.id": f"reader-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        try:
            consumer.assign([TopicPartition(topic, 0, 0)])
            out: list[Message] = []
            end = time.monotonic() + timeout_s
            while time.monotonic() < end and len(out) < expected:
                out += [m for m in consumer.consume(100, 0.5) if m.error() is None]
            out += [m for m in consumer.consume(100, 0.5) if m.error() is None]  # any extra
            return out
        finally:
            consumer.close()

    def close(self) -> None:
        if self.made:
            for future in self.admin.delete_topics(self.made, operation_timeout=30).values():
                try:
                    future.result()
                except Exception:
                    pass


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[Topics]:
    t = Topics(kafka_bootstrap)
    yield t
    t.close()


def output_for(topics: Topics, invalid: str, parked: list[tuple[str, str]]) -> Output:
    return Output(topics.kafka, Parking(invalid, RECORD_BYTES,
                                        lambda topic, error: parked.append((topic, error))))


async def wait_done(done: list[str], n: int, output: Output, timeout_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(done) < n and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert len(done) >= n, f"only {done} acknowledged; unacked={output.unacked}"


async def test_a_record_over_record_bytes_is_parked_truncated(topics: Topics) -> None:
    target, invalid = topics.make("target"), topics.make("invalid")
    parked: list[tuple[str, str]] = []
    output = output_for(topics, invalid, parked)
    output.start()
    done: list[str] = []
    big = os.urandom(300_000)
    output.send(target, b"k1", big, lambda: done.append("big"), [("trace", b"t")])
    output.send(target, b"k2", b"small", lambda: done.append("small"))
    await wait_done(done, 2, output)
    await output.close()
    assert parked == [(target, OVER_LIMIT)]
    [kept] = topics.read(target, 1)
    assert kept.value() == b"small"
    [copy] = topics.read(invalid, 1)
    headers = dict(copy.headers())
    assert headers["fl-refused-topic"].decode() == target and headers["trace"] == b"t"
    assert "over limits.record_bytes (200000)" in headers["fl-reason"].decode()
    assert headers[TRUNCATED] == b"value" and headers[ORIGINAL_VALUE_BYTES] == b"300000"
    assert copy.key() == b"k1" and big.startswith(copy.value())
    assert record_size(copy.key(), copy.value(), copy.headers()) <= RECORD_BYTES


async def test_a_broker_refusal_parks_only_the_record_at_fault(topics: Topics,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # the topic takes 20 kB; the broker refuses a whole batch holding one larger record
    target, invalid = topics.make("small-topic", 20_000), topics.make("invalid")
    parked: list[tuple[str, str]] = []
    output = output_for(topics, invalid, parked)
    output.start()
    done: list[str] = []
    for i in range(20):
        output.send(target, f"k{i}".encode(), f"small {i}".encode(),
                    lambda i=i: done.append(f"small {i}"))
    big = os.urandom(50_000)  # incompressible: over the topic's limit even with lz4
    output.send(target, b"big", big, lambda: done.append("big"))
    for i in range(20, 40):
        output.send(target, f"k{i}".encode(), f"small {i}".encode(),
                    lambda i=i: done.append(f"small {i}"))
    with caplog.at_level(logging.WARNING, logger="streams.kafka.output"):
        await wait_done(done, 41, output)
    await output.close()
    assert sorted(done) == sorted(["big", *(f"small {i}" for i in range(40))])
    assert parked == [(target, "MSG_SIZE_TOO_LARGE")]
    values = sorted(m.value() for m in topics.read(target, 40))
    assert values == sorted(f"small {i}".encode() for i in range(40))
    [copy] = topics.read(invalid, 1)
    assert copy.value() == big and copy.key() == b"big"
    assert dict(copy.headers())["fl-error"] == b"MSG_SIZE_TOO_LARGE"
    assert "Message size too large" in dict(copy.headers())["fl-reason"].decode()
    # no loop: the record was produced at most twice before it was parked
    assert sum("producing again" in r.getMessage() for r in caplog.records) == 0


async def test_an_invalid_topic_is_parked(topics: Topics) -> None:
    invalid = topics.make("invalid")
    parked: list[tuple[str, str]] = []
    output = output_for(topics, invalid, parked)
    output.start()
    done: list[str] = []
    output.send("not a valid topic name!", b"k", b"v", lambda: done.append("v"))
    await wait_done(done, 1, output)
    await output.close()
    assert parked == [("not a valid topic name!", "TOPIC_EXCEPTION")]
    [copy] = topics.read(invalid, 1)
    assert copy.value() == b"v"
    assert dict(copy.headers())["fl-refused-topic"] == b"not a valid topic name!"


async def test_a_refused_parked_copy_is_parked_again_smaller(topics: Topics) -> None:
    # fl.invalid itself takes only 10 kB: the parked copy (up to 200 kB) is refused too
    target, invalid = topics.make("small-topic", 20_000), topics.make("invalid", 10_000)
    parked: list[tuple[str, str]] = []
    output = output_for(topics, invalid, parked)
    output.start()
    done: list[str] = []
    big = os.urandom(50_000)
    output.send(target, b"big", big, lambda: done.append("big"))
    await wait_done(done, 1, output)
    await output.close()
    [copy] = topics.read(invalid, 1)
    assert big.startswith(copy.value()) and copy.value() != big
    assert record_size(copy.key(), copy.value(), copy.headers()) <= MINIMAL_COPY_BYTES
    assert dict(copy.headers())["fl-refused-topic"].decode() == target
    assert dict(copy.headers())[ORIGINAL_VALUE_BYTES] == b"50000"


async def test_an_unusable_parking_topic_holds_the_record_without_spinning(
        topics: Topics, caplog: pytest.LogCaptureFixture) -> None:
    parked: list[tuple[str, str]] = []
    output = output_for(topics, "not a valid topic name!", parked)
    output.start()
    done: list[str] = []
    with caplog.at_level(logging.ERROR, logger="streams.kafka.output"):
        output.send("also not valid!", b"k", b"v", lambda: done.append("v"))
        await asyncio.sleep(8)
    assert done == [] and output.unacked == 1  # owed, not dropped
    refusals = [r for r in caplog.records if "trying again every" in r.getMessage()]
    assert 1 <= len(refusals) <= 3  # retried every 5 s, not in a tight loop
    assert await output.flush(0.1) == 1
    await output.close(0.1)
