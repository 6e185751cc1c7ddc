from __future__ import annotations

from typing import Callable

import pytest
from confluent_kafka import Producer

from streams.kafka.history import tail
from streams.kafka.clients import murmur2_partition
from streams.kafka.clients import confluent_config
from tests.support.processes import Project


def test_murmur2_matches_known_java_values() -> None:
    # The test vectors of Kafka's UtilsTest.testMurmur2 (toPositive, modulo a large prime).
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
               b"a-little-bit-longer-string": -1486304829, b"abc": 479470107, b"": 275646681,
               b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971}
    for key, java in vectors.items():
        assert murmur2_partition(key, 1_000_000_007) == (java & 0x7FFFFFFF) % 1_000_000_007, key


@pytest.mark.kafka
def test_tail_finds_the_partition_librdkafka_chose(project_factory: Callable[..., Project]) -> None:
    project = project_factory()
    producer = Producer(confluent_config(project.config.kafka, partitioner="murmur2_random"))
    seen: dict[str, int] = {}
    for i in range(40):
        key = f"loop-{i}"
        producer.produce(project.topics.attempts, b'{"loop_id": "%s", "n": %d}' % (key.encode(), i),
                         key.encode(), on_delivery=lambda err, msg, k=key: seen.__setitem__(k, msg.partition()))
    producer.flush(10)
    for key, partition in seen.items():
        assert murmur2_partition(key.encode(), 4) == partition
    found = tail(project.config.kafka, project.topics.attempts, lambda d: d["loop_id"] == "loop-7",
                 10, key=b"loop-7")
    assert [d["n"] for d in found] == [7]
