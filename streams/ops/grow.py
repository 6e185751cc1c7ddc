"""`partitions scale N` in direct mode: docs/operations.md's "Adding partitions" done by the
command, the producers' pause the only step left to a person.

In direct mode the raw topics are the worker's partitioning, so they, ``fl.ref.profiles`` and
the table changelogs change together while nothing is produced. The steps, each recorded in
``fl.partitioning`` (key ``direct``) so that running the command again continues one that was
interrupted:

1. wait until the raw topics and ``fl.ref.profiles`` stop growing and the workers' group has
   committed everything (the operator pauses the producers);
2. ``stopping``: the workers see it, stop and wait (:mod:`streams.worker.maintenance`); the
   command waits until their group is empty;
3. ``altering``: delete the table changelogs, grow the raw topics, ``fl.ref.profiles``,
   ``fl.deliveries`` and the retry tiers to N, create the changelogs with N, and publish every
   current snapshot of ``fl.ref.profiles`` again, so each lands where murmur2 now puts its key
   (where it was elsewhere before, a tombstone marked ``fl-moved`` clears the old copy: the
   workers ignore it, compaction drops the old value);
4. ``done``: the workers start with N partitions and rebuild their tables from the snapshots.

Profile edits applied since a profile's last snapshot, and soft-bounce counts, are not carried
over (as in the manual runbook): repartition mode keeps them (docs/decisions.md).
"""
from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from typing import Any, Callable, cast

from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.config.settings import Config
from streams.errors import InputError, KafkaFailure, NotAcknowledged
from streams.kafka.clients import confluent_config, murmur2_partition, producer_config
from streams.kafka.generations import Maintenance
from streams.kafka.partitioning import ControlView
from streams.kafka.provision import create_topics
from streams.kafka.topics import Topics
from streams.ops.partitions import grow_topics, wait_partitions

__all__ = ["grow_direct"]

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def grow_direct(config: Config, control: ControlView, partitions: int, say: Say,
                quiet_s: float = 10.0, timeout_s: float = 3600.0) -> dict[str, object]:
    """Grow the direct path to ``partitions`` (or finish an interrupted change to it)."""
    topics = Topics.for_config(config)
    admin = AdminClient(confluent_config(config.kafka))
    sources = [*topics.raw.values(), topics.ref_profiles]
    counts = _counts(admin, sources)
    change = control.maintenance()
    if change is not None and change.in_progress:
        if change.partitions != partitions:
            raise InputError("partitions", f"a change to {change.partitions} partitions is "
                             f"{change.phase}: run `partitions scale {change.partitions}` to "
                             "finish it first")
        say(f"continuing the change to {partitions} partitions ({change.phase})")
    else:
        current = counts[topics.ref_profiles]
        if len(set(counts.values())) != 1:
            raise InputError("partitions", "the raw topics and fl.ref.profiles differ in "
                             f"partition count ({counts}); direct mode needs them equal")
        if partitions <= current:
            raise InputError("partitions", f"direct mode can only grow the raw topics, which "
                             f"have {current}; repartition mode can also shrink")
        say("Pause the platform's producers of raw events and profile snapshots now. Waiting "
            "until nothing new arrives and the workers have enriched everything ...")
        _wait_quiet(config, admin, sources, quiet_s, timeout_s, say)
        change = Maintenance(uuid.uuid4().hex, partitions, "stopping", int(time.time() * 1000))
        control.put_maintenance(change)
    if change.phase == "stopping":
        say("workers are stopping ...")
        _wait_group_empty(admin, config.worker.app_id, timeout_s)
        change = Maintenance(change.id, partitions, "altering", change.started_ms)
        control.put_maintenance(change)
    say(f"growing the topics to {partitions} partitions and publishing the snapshots again ...")
    latest = _latest_snapshots(config, topics.ref_profiles)
    _replace_changelogs(config, admin, topics, partitions)
    grown = grow_topics(admin, [*sources, topics.deliveries, *topics.retry.values()],
                        partitions)
    moved = _republish(config, topics.ref_profiles, latest, partitions)
    control.put_maintenance(Maintenance(change.id, partitions, "done", change.started_ms))
    say(f"done: {len(grown)} topics grown, {len(latest)} snapshots published again ({moved} "
        "moved). Resume the producers: restart them, or wait 5 minutes after resuming "
        "(their metadata refresh) before they use the new partitions.")
    return {"outcome": "done", "partitions": partitions, "grown": grown,
            "snapshots": len(latest), "moved": moved}


def _counts(admin: AdminClient, names: list[str]) -> dict[str, int]:
    meta = admin.list_topics(timeout=30).topics
    missing = [n for n in names if n not in meta]
    if missing:
        raise KafkaFailure(f"topics missing: {', '.join(missing)}")
    return {n: len(meta[n].partitions) for n in names}


def _query(config: Config, group: str) -> Consumer:
    return Consumer(confluent_config(config.kafka, **{"group.id": group,
                                                      "enable.auto.commit": False}))


def _wait_quiet(config: Config, admin: AdminClient, names: list[str], quiet_s: float,
                timeout_s: float, say: Say) -> None:
    """Until the topics' ends stay put for ``quiet_s`` and the worker group committed them."""
    query = _query(config, config.worker.app_id)
    meta = admin.list_topics(timeout=30).topics
    tps = [TopicPartition(n, p) for n in names for p in meta[n].partitions]
    deadline = time.monotonic() + timeout_s
    last_ends: dict[tuple[str, int], int] = {}
    still_since = time.monotonic()
    told = 0.0
    try:
        while time.monotonic() < deadline:
            ends = {(tp.topic, tp.partition): query.get_watermark_offsets(tp, timeout=10)[1]
                    for tp in tps}
            if ends != last_ends:
                last_ends, still_since = ends, time.monotonic()
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in query.committed(tps, timeout=10)}
            lag = sum(max(0, end - max(committed.get(k, 0), 0)) for k, end in ends.items())
            quiet = time.monotonic() - still_since
            if lag == 0 and quiet >= quiet_s:
                return
            if time.monotonic() - told >= 5:
                say(f"  not enriched yet: {lag} records; nothing new for {quiet:.0f} s")
                told = time.monotonic()
            time.sleep(0.5)
    finally:
        query.close()
    raise KafkaFailure(f"the producers did not pause (or the workers did not catch up) within "
                       f"{timeout_s:.0f} s; nothing was changed")


def _wait_group_empty(admin: AdminClient, group: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = admin.describe_consumer_groups([group])[group].result().state
        if state in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD):
            return
        time.sleep(0.5)
    raise KafkaFailure(f"the workers (group {group}) did not stop within {timeout_s:.0f} s")


def _latest_snapshots(config: Config, topic: str) -> dict[bytes, tuple[int, bytes]]:
    """Every key's current snapshot and the partition it is in (tombstones and the
    ``fl-moved`` marks of an interrupted run left out)."""
    consumer = Consumer(confluent_config(config.kafka, **{
        "group.id": "fl-partitions-grow", "enable.auto.commit": False,
        "enable.partition.eof": True}))
    latest: dict[bytes, tuple[int, bytes]] = {}
    try:
        parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        open_ = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                open_[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in open_])
        while open_:
            for msg in consumer.consume(1000, 1.0):
                p = cast(int, msg.partition())
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        open_.pop(p, None)
                        continue
                    raise KafkaFailure(f"reading {topic}: {err}")
                key, value = msg.key(), msg.value()
                if cast(int, msg.offset()) + 1 >= open_.get(p, 0):
                    open_.pop(p, None)
                if key is None or _moved(msg.headers()):
                    continue
                if value is None:
                    latest.pop(key, None)
                else:
                    latest[key] = (p, value)
    finally:
        consumer.close()
    return latest


def _moved(headers: dict[str, Any] | list[tuple[str, Any]] | None) -> bool:
    pairs = list(headers.items()) if isinstance(headers, dict) else (headers or [])
    return any(key == "fl-moved" for key, _value in pairs)


def _replace_changelogs(config: Config, admin: AdminClient, topics: Topics,
                        partitions: int) -> None:
    names = [topics.profiles_changelog, topics.soft_bounces_changelog]
    present = admin.list_topics(timeout=30).topics
    if all(n in present and len(present[n].partitions) == partitions for n in names):
        return  # an interrupted run got that far
    doomed = [n for n in names if n in present]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result()
    grown = Topics(dataclasses.replace(config.kafka, partitions=partitions),
                   app_id=config.worker.app_id, max_message_bytes=topics.max_message_bytes)
    specs = [s for s in grown.specs() if s.name in names]
    deadline = time.monotonic() + 60
    while True:  # a deleted topic's name is free again only once the brokers removed it
        try:
            create_topics(config.kafka, specs)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise KafkaFailure(f"could not create the changelogs again: {exc}") from None
            time.sleep(1.0)


def _republish(config: Config, topic: str, latest: dict[bytes, tuple[int, bytes]],
               partitions: int) -> int:
    producer = Producer(producer_config(config.kafka, **{"linger.ms": 20,
                                                         "compression.type": "lz4"}))
    # its metadata must know the new partitions first: librdkafka fails a record for a
    # partition it does not know with only a delivery report
    wait_partitions(producer, [topic], partitions, 60.0)
    failed: list[str] = []

    def delivered(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    moved = 0
    for key, (old, value) in latest.items():
        new = murmur2_partition(key, partitions)
        while True:
            try:
                producer.produce(topic, value, key, partition=new, on_delivery=delivered)
                if new != old:
                    producer.produce(topic, None, key, partition=old,
                                     headers=[("fl-moved", b"1")], on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        moved += new != old
    if producer.flush(120):
        raise NotAcknowledged(f"{topic}: snapshots not acknowledged within 120 s")
    if failed:  # the change stays "altering": running the command again publishes them again
        raise NotAcknowledged(f"{topic}: {len(failed)} snapshots not written ({failed[0]})")
    return moved
