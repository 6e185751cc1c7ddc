"""The worker's paced fetcher on a real aiokafka consumer and broker: a steady trickle of
records over many partitions is read completely, in fetch rounds at least the interval apart
(aiokafka's own fetcher fetches again as soon as the last answer is read)."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.worker.fetching import PacedFetcher

pytestmark = [pytest.mark.kafka]

PARTITIONS = 16
INTERVAL_S = 0.1


class CountingFetcher(PacedFetcher):
    rounds = 0
    round_events = 10**9  # a fixed interval: the longest (the spacing by rate is unit-tested)

    def _get_actions_per_node(self, assignment: Any) -> Any:
        actions = super()._get_actions_per_node(assignment)
        if actions[0]:
            CountingFetcher.rounds += 1
        return actions


def trickle(bootstrap: str, topic: str, seconds: float, every_s: float) -> int:
    """A record every ``every_s`` for ``seconds`` (its own thread); how many were sent."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    sent = 0
    started = time.monotonic()
    while sent == 0 or time.monotonic() - started < seconds:
        producer.produce(topic, b"x" * 100, str(sent).encode())
        producer.poll(0)
        sent += 1
        time.sleep(every_s)
    assert producer.flush(30) == 0
    return sent


async def test_a_trickle_is_read_in_paced_rounds(kafka_bootstrap: str) -> None:
    topic = f"fetching-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(30)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                                group_id=f"g-{topic}", auto_offset_reset="earliest",
                                fetch_max_wait_ms=1500)
    try:
        await consumer.start()
        CountingFetcher.pace(consumer._fetcher, INTERVAL_S)
        # every partition has a leader and the consumer reads: one record through first
        await asyncio.to_thread(trickle, kafka_bootstrap, topic, 0, 0)
        received = 0
        deadline = time.monotonic() + 60
        while received < 1:
            assert time.monotonic() < deadline, "the first record was not read within 60 s"
            received += sum(map(len, (await consumer.getmany(timeout_ms=1000)).values()))
        CountingFetcher.rounds = 0
        started = time.monotonic()
        sending = asyncio.create_task(asyncio.to_thread(trickle, kafka_bootstrap, topic, 2.0,
                                                        0.002))
        received = 0
        deadline = time.monotonic() + 120
        while not (sending.done() and received >= sending.result()):
            assert time.monotonic() < deadline, f"{received} records read within 120 s"
            received += sum(map(len, (await consumer.getmany(timeout_ms=1000)).values()))
        elapsed = time.monotonic() - started
        assert received == sending.result()
        # one round per interval at most (+1: the round in flight when the window began);
        # aiokafka alone plans a round each time the last answer was read (hundreds here)
        assert CountingFetcher.rounds <= elapsed / INTERVAL_S + 1, (CountingFetcher.rounds,
                                                                   received, elapsed)
    finally:
        await consumer.stop()
        for future in admin.delete_topics([topic]).values():
            try:
                future.result(30)
            except Exception:
                pass


async def test_a_big_fetch_is_handed_over_by_whole_partition_numbers(
        kafka_bootstrap: str) -> None:
    opens, edits = (f"fetching-{name}-{uuid.uuid4().hex[:8]}" for name in ("opens", "edits"))
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, 8, 1) for t in (opens, edits)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 20})
    for i in range(4000):  # ~1.2 MB over both topics and all partitions, waiting in Kafka
        producer.produce(opens if i % 3 else edits, b"x" * 300, str(i).encode(), partition=i % 8)
    assert producer.flush(30) == 0
    consumer = AIOKafkaConsumer(opens, edits, bootstrap_servers=kafka_bootstrap,
                                group_id=f"g-{opens}", auto_offset_reset="earliest")
    try:
        await consumer.start()
        PacedFetcher.pace(consumer._fetcher, 0.0, drain_bytes=256 * 1024)
        parts: list[dict[Any, list[Any]]] = []
        received, deadline = 0, time.monotonic() + 60
        while received < 4000:
            assert time.monotonic() < deadline, f"{received} of 4000 records read within 60 s"
            part = await consumer.getmany(timeout_ms=1000)
            if part:
                parts.append(part)
                received += sum(map(len, part.values()))
        assert received == 4000
        assert len(parts) > 1  # not all at once
        for part in parts:  # each partition number with both its topics, when both had some
            numbers = {tp.partition for tp in part}
            assert {(tp.topic, tp.partition) for tp in part} == \
                {(t, p) for t in (opens, edits) for p in numbers}, sorted(part)
    finally:
        await consumer.stop()
        for future in admin.delete_topics([opens, edits]).values():
            try:
                future.result(30)
            except Exception:
                pass
