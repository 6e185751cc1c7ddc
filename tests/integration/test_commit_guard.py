"""The commit guard on the real broker: a fresh partition's first fetched batch, dropped before
the stream saw it (the test hook ``FLTEST_DROP_FIRST_FETCH``, as Faust's ``getmany`` drops a
batch around a rebalance), is not committed past; the next worker reads it again.

Without the guard, Faust commits the acked run after the dropped batch (nothing was ever
committed, so nothing is checked) and the dropped events are never delivered."""
from __future__ import annotations

from typing import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.demo.events import DemoWorld
from streams.kafka.clients import confluent_config, murmur2_partition
from streams.worker.commitguard import DROP_FIRST_FETCH_ENV
from tests.support.payloads import Arrivals
from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]


def test_a_dropped_first_batch_of_a_fresh_partition_is_read_again_not_skipped(
        project_factory: Callable[..., Project], receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = project_factory(loops=[{"id": "cg", "url": receiver.url("/cg"),
                                      "events": ["open"], "trusted": True,
                                      "rate_per_s": 100000, "max_in_flight": 64}])
    topic = project.topics.raw["open"]
    world = DemoWorld(profiles=20, seed=3)
    for profile in world.profiles:
        project.produce(project.topics.ref_profiles, profile["id"], profile)
    first = [world.event("open") for _ in range(40)]
    partitions = project.config.kafka.partitions
    assert {murmur2_partition(e["profile"].encode(), partitions) for e in first} == \
        set(range(partitions)), "every partition's first batch holds events of the first round"
    for event in first:
        project.produce(topic, event["profile"], event)
    project.flush()
    monkeypatch.setenv(DROP_FIRST_FETCH_ENV, topic)
    worker = project.start("worker", "-l", "info")
    monkeypatch.delenv(DROP_FIRST_FETCH_ENV)
    project.start("sender", name="sender")
    for p in range(partitions):  # each partition's first batch: the first round's events
        worker.wait_for_log(f"test hook: dropping {topic}[{p}] offsets 0-", 120)
    second = [world.event("open") for _ in range(40)]
    for event in second:
        project.produce(topic, event["profile"], event)
    project.flush()
    receiver.wait_for(Arrivals({e["id"] for e in second}), timeout_s=120,
                      what="the second round (after the dropped batches)")
    assert worker.stop() == 0  # a clean stop commits whatever may be committed
    group = Consumer(confluent_config(project.config.kafka, **{
        "group.id": project.config.worker.app_id, "enable.auto.commit": False}))
    try:
        committed = group.committed([TopicPartition(topic, p) for p in range(partitions)],
                                    timeout=10)
    finally:
        group.close()
    assert [tp.offset for tp in committed if tp.offset >= 0] == [], \
        f"committed past the dropped batches: {committed}"
    project.start("worker", "-l", "info")  # no hook: reads every partition from its start
    receiver.wait_for(Arrivals({e["id"] for e in first + second}), timeout_s=120,
                      what="the dropped events too")
