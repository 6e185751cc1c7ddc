"""Size limits end to end (issue 9, items 2 and 3): oversize input produced the way an outside
producer can (gzip-compressed, so the broker takes a batch whose record is far larger
uncompressed) never crashes the worker, never loses an event, and lands where the README says."""
from __future__ import annotations

import base64
import os
import time
from typing import Any, Callable

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from streams.demo.events import DemoWorld
from streams.kafka.clients import confluent_config
from streams.kafka.limits import ORIGINAL_VALUE_BYTES, TRUNCATED, record_size
from streams.ops.invalid import replay
from tests.support.payloads import events_of
from tests.support.processes import Project, WorkerProcess
from tests.support.receiver import Receiver
from tests.support.topics import read_topic

pytestmark = [pytest.mark.kafka]


def loop(id_: str, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": id_, "url": url, "events": events, "trusted": True, "rate_per_s": 1000,
            "max_in_flight": 16, **extra}


def produce_gzip(project: Project, topic: str, key: str, value: bytes) -> tuple[int, int]:
    """Produce like the outside test did: gzip, and a producer whose own limit was raised.
    Returns the record's (partition, offset)."""
    producer = Producer(confluent_config(project.config.kafka, **{
        "partitioner": "murmur2_random", "compression.type": "gzip",
        "message.max.bytes": 10_000_000}))
    where: list[tuple[int, int]] = []

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None, err
        where.append((msg.partition(), msg.offset()))

    producer.produce(topic, value, key.encode(), on_delivery=on_delivery)
    assert producer.flush(30) == 0
    return where[0]


def committed(project: Project, topic: str, partition: int) -> int:
    consumer = Consumer(confluent_config(project.config.kafka, **{
        "group.id": project.config.worker.app_id, "enable.auto.commit": False}))
    try:
        [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return int(tp.offset)
    finally:
        consumer.close()


def start_and_open(project: Project, world: DemoWorld,
                   *profiles: dict[str, Any]) -> tuple[WorkerProcess, list[dict[str, Any]]]:
    """Start a worker and a sender, then produce one open per profile (in that order)."""
    worker = project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    opens = [world.event("open", p) for p in profiles]
    for event in opens:
        project.produce(project.topics.raw["open"], event["profile"], event)
    project.flush()
    return worker, opens


def by_event(receiver: Receiver, path: str) -> dict[str, dict[str, Any]]:
    return {ev["event_id"]: ev for c in receiver.calls_to(path) for ev in events_of(c)}


def test_a_1_5_mb_gzip_profile_is_refused_and_the_worker_keeps_going(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(loops=[loop("opens", receiver.url("/o"), ["open"])])
    world = DemoWorld(profiles=3, seed=5)
    big = {**world.profiles[0],
           "fields": {f"field{i:03d}": chr(65 + i % 26) * 15_000 for i in range(100)}}
    big_value = orjson.dumps(big)
    assert len(big_value) > 1_500_000
    small = world.profiles[1]
    # the profiles are there before the worker starts: its cold-start gate reads them first
    partition, offset = produce_gzip(project, project.topics.ref_profiles, big["id"], big_value)
    project.produce(project.topics.ref_profiles, small["id"], small)
    project.flush()
    worker, (open_big, open_small) = start_and_open(project, world, big, small)
    receiver.wait_for(lambda _: len(by_event(receiver, "/o")) >= 2, timeout_s=120,
                      what="both opens")
    got = by_event(receiver, "/o")
    # the refused profile is not in the table: its open is delivered, marked unknown
    assert got[open_big["id"]]["profile_known"] is False and "fields" not in got[open_big["id"]]
    assert got[open_small["id"]]["fields"] == small["fields"]
    # the table keeps working after the refusal: a newer snapshot applies, an open shows it
    newer = {**small, "fields": {**small["fields"], "city": "Zwolle"}}
    project.produce(project.topics.ref_profiles, small["id"], newer)
    project.flush()
    time.sleep(1.0)
    again = world.event("open", small)
    project.produce(project.topics.raw["open"], small["id"], again)
    project.flush()
    receiver.wait_for(lambda _: again["id"] in by_event(receiver, "/o"), timeout_s=60,
                      what="the open after the newer snapshot")
    assert by_event(receiver, "/o")[again["id"]]["fields"]["city"] == "Zwolle"
    # the refusal is on fl.invalid: reason, coordinates, a truncated copy marked as such
    [parked] = read_topic(project, project.topics.invalid, 1)
    headers = dict(parked.headers())
    assert headers["fl-reason"].decode() == (
        f"the profile snapshot is {len(big_value)} bytes, over the 524288-byte limit "
        "(limits.profile_bytes)")
    assert headers["fl-source-topic"].decode() == project.topics.ref_profiles
    assert (int(headers["fl-source-partition"]), int(headers["fl-source-offset"])) == (
        partition, offset)
    assert headers[TRUNCATED] == b"value"
    assert int(headers[ORIGINAL_VALUE_BYTES]) == len(big_value)
    assert big_value.startswith(parked.value()) and parked.key() == big["id"].encode()
    assert record_size(parked.key(), parked.value(), parked.headers()) <= 1_000_000
    assert worker.proc.poll() is None and "Traceback" not in worker.log()


def test_a_5_mb_gzip_raw_record_is_parked_truncated_with_its_coordinates(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(loops=[loop("opens", receiver.url("/o"), ["open"])])
    world = DemoWorld(profiles=3, seed=6)
    profile = world.profiles[0]
    project.produce(project.topics.ref_profiles, profile["id"], profile)
    project.flush()
    worker = project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    huge_event = {**world.event("open", profile), "useragent": "Mozilla/5.0 " * 420_000}
    huge = orjson.dumps(huge_event)
    assert len(huge) > 5_000_000
    topic = project.topics.raw["open"]
    partition, offset = produce_gzip(project, topic, profile["id"], huge)
    after = world.event("open", profile)  # same partition, after the huge one
    project.produce(topic, profile["id"], after)
    project.flush()
    receiver.wait_for(lambda _: after["id"] in by_event(receiver, "/o"), timeout_s=120,
                      what="the open after the 5 MB record")
    assert huge_event["id"] not in by_event(receiver, "/o")
    # the offset moves past the huge record only once its parked copy is in Kafka
    deadline = time.monotonic() + 60
    while committed(project, topic, partition) <= offset:
        assert time.monotonic() < deadline, "the worker never committed past the huge record"
        time.sleep(0.2)
    [parked] = read_topic(project, project.topics.invalid, 1, timeout_s=5)
    headers = dict(parked.headers())
    assert headers["fl-reason"].decode() == (
        f"the raw event is {len(huge)} bytes, over the 262144-byte limit "
        "(limits.raw_event_bytes)")
    assert headers["fl-source-topic"].decode() == topic
    assert (int(headers["fl-source-partition"]), int(headers["fl-source-offset"])) == (
        partition, offset)
    assert headers[TRUNCATED] == b"value" and int(headers[ORIGINAL_VALUE_BYTES]) == len(huge)
    assert huge.startswith(parked.value()) and len(parked.value()) > 900_000
    assert record_size(parked.key(), parked.value(), parked.headers()) <= 1_000_000
    # the original can be read back from its coordinates: replay writes it, not the copy
    report = replay(project.config.kafka, project.topics, topic=topic)
    assert (report.matched, report.from_source, report.written) == (1, 1, 1)
    parked_twice = read_topic(project, project.topics.invalid, 2)
    assert len(parked_twice) == 2  # still over its limit: parked again, with the replay mark
    replayed = next(m for m in parked_twice if m.offset() != parked.offset()
                    or m.partition() != parked.partition())
    assert int(dict(replayed.headers())[ORIGINAL_VALUE_BYTES]) == len(huge)
    assert "fl-replay" in dict(replayed.headers())
    assert worker.proc.poll() is None and "Traceback" not in worker.log()


def test_an_oversize_payload_is_delivered_without_its_largest_fields_and_batches_split(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(
        limits={"payload_bytes": 60_000, "batch_body_bytes": 80_000, "profile_bytes": 200_000},
        loops=[loop("one", receiver.url("/one"), ["open"]),
               loop("many", receiver.url("/many"), ["open"], encoding="json-batch",
                    batch={"max_events": 100, "max_wait_ms": 1000})])
    world = DemoWorld(profiles=3, seed=7)
    big = {**world.profiles[0], "fields": {**world.profiles[0]["fields"],
                                           **{f"note{i}": str(i) * (10_000 + 1_000 * i) for i in range(6)}}}
    mid = {**world.profiles[1], "fields": {**world.profiles[1]["fields"], "bio": "b" * 16_000,
                                           "cv": "c" * 15_000}}
    for p in (big, mid):
        project.produce(project.topics.ref_profiles, p["id"], p)
    project.flush()
    _, events = start_and_open(project, world, big, *[mid] * 5)
    receiver.wait_for(lambda _: len(by_event(receiver, "/one")) >= 6
                      and len(by_event(receiver, "/many")) >= 6, timeout_s=120,
                      what="6 events on each loop")
    for path in ("/one", "/many"):
        got = by_event(receiver, path)
        trimmed = got[events[0]["id"]]
        assert trimmed["fields_omitted"] == ["note5", "note4"]  # the fewest largest, named
        assert set(trimmed["fields"]) == set(big["fields"]) - {"note5", "note4"}
        assert trimmed["email"] == big["email"] and trimmed["profile_known"] is True
        for e in events[1:]:
            assert got[e["id"]]["fields"] == mid["fields"]
            assert "fields_omitted" not in got[e["id"]]
    for call in receiver.calls_to("/one"):
        payload = call.json()
        payload.pop("webhook_id", None)
        assert len(orjson.dumps(payload)) <= 60_000
    bodies = [c.body for c in receiver.calls_to("/many")]
    assert all(len(b) <= 80_000 for b in bodies) and len(bodies) >= 3
    # each item of a json-batch body carries its own webhook_id: the delivery's, distinct
    items = [item for b in bodies for item in orjson.loads(b)]
    ids = {item["event_id"]: item["webhook_id"] for item in items}
    assert all(isinstance(i, str) and i for i in ids.values()) and len(set(ids.values())) == len(ids)


def test_a_delivery_the_broker_refuses_is_parked_not_produced_forever(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(loops=[loop("opens", receiver.url("/o"), ["open"])])
    # an operator lowered fl.deliveries' limit below what the worker may produce
    admin = AdminClient(confluent_config(project.config.kafka))
    resource = ConfigResource("topic", project.topics.deliveries, incremental_configs=[
        ConfigEntry("max.message.bytes", "20000",
                    incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()
    world = DemoWorld(profiles=3, seed=8)
    noisy = base64.b64encode(os.urandom(12_000)).decode()  # 16,000 characters lz4 cannot shrink
    heavy = {**world.profiles[0], "fields": {"a": noisy, "b": noisy[::-1], "c": noisy[1:]}}
    light = world.profiles[1]
    for p in (heavy, light):
        project.produce(project.topics.ref_profiles, p["id"], p)
    project.flush()
    worker, (open_heavy, open_light) = start_and_open(project, world, heavy, light)
    receiver.wait_for(lambda _: open_light["id"] in by_event(receiver, "/o"), timeout_s=120,
                      what="the light open")
    [parked] = read_topic(project, project.topics.invalid, 1)
    headers = dict(parked.headers())
    assert headers["fl-refused-topic"].decode() == project.topics.deliveries
    assert headers["fl-error"] == b"MSG_SIZE_TOO_LARGE"
    assert "Message size too large" in headers["fl-reason"].decode()
    delivery = orjson.loads(parked.value())  # whole: it fits fl.invalid
    assert delivery["event_id"] == open_heavy["id"] and delivery["loop_id"] == "opens"
    time.sleep(2)
    assert open_heavy["id"] not in by_event(receiver, "/o")
    log = worker.log()
    assert log.count("producing again") == 0 and "Traceback" not in log
    assert worker.proc.poll() is None
    # both opens are committed: no partition is stuck behind the refused delivery
    topic = project.topics.raw["open"]
    deadline = time.monotonic() + 60
    while sum(max(0, committed(project, topic, p)) for p in range(4)) < 2:
        assert time.monotonic() < deadline, "the worker did not commit both opens"
        time.sleep(0.2)
