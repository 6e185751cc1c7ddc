"""A standby's changelog catch-up on the real broker: the records from where its recovery
ended to each partition's end now, in order, tombstones included."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from faust.types import TP

from streams.config.loading import parse_config
from streams.kafka.clients import confluent_config
from streams.worker.standby import Handover

pytestmark = [pytest.mark.kafka]


def test_the_catch_up_reads_each_changelog_partition_from_its_start_to_its_end(
        kafka_bootstrap: str) -> None:
    config = parse_config({"kafka": {"bootstrap_servers": kafka_bootstrap}})
    topic = f"standby-read-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(confluent_config(config.kafka))
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(30)
    producer = Producer(confluent_config(config.kafka))
    for offset in range(6):  # partition 0: k0..k5, k5 a tombstone; partition 1: k0..k2
        producer.produce(topic, key=b"k%d" % offset,
                         value=None if offset == 5 else b"v%d" % offset, partition=0)
    for offset in range(3):
        producer.produce(topic, key=b"k%d" % offset, value=b"w%d" % offset, partition=1)
    producer.flush(30)
    try:
        handover = Handover(config, None, 2, [], [])  # type: ignore[arg-type]
        found = handover._read({TP(topic, 0): 3, TP(topic, 1): 3})  # p1: nothing new
        assert [(c.message.offset, c.key, c.value) for c in found[TP(topic, 0)]] == \
            [(3, b"k3", b"v3"), (4, b"k4", b"v4"), (5, b"k5", None)]
        assert found[TP(topic, 1)] == []
        assert all(c.message.tp == TP(topic, 0) for c in found[TP(topic, 0)])
    finally:
        for future in admin.delete_topics([topic]).values():
            future.result(30)
