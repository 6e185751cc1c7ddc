"""The load generator: realistic raw events (``streams.demo.events.DemoWorld``) for P profiles,
produced with confluent-kafka as fast as it goes or at a fixed rate, keyed by profile id with
the murmur2 partitioner exactly as in production.

Event ids are UUIDs that carry a run tag and the event's index
(``tttttttt-0000-4000-8000-iiiiiiiiiiii``), so a receipt maps back to its produce time without a
table. Events are generated and serialised *before* the clock starts: the measured produce time
is Kafka's, not Python's dict building.
"""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import orjson
from confluent_kafka import Producer

from enrichers.enrich import enrich
from enrichers.routing import delivery_id
from senders.encoding import encode as encode_body
from streams.kafka.clients import confluent_config
from streams.demo.events import DemoWorld, topic_key
from streams.kafka.records import Delivery, delivery_key, encode, new_delivery
from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics

__all__ = ["EventIds", "ProduceStats", "Record", "Workload", "body_records", "delivery_records",
           "produce"]

#: (topic, key, value)
Record = tuple[str, bytes, bytes]

#: librdkafka settings of the generator: big batches, lz4, a short linger.
PRODUCER_SETTINGS: dict[str, Any] = {
    "partitioner": "murmur2_random",
    "linger.ms": 5,
    "batch.num.messages": 10000,
    "batch.size": 1048576,
    "compression.type": "lz4",
    "acks": "all",
    "queue.buffering.max.messages": 2000000,
    "queue.buffering.max.kbytes": 2097152,
}


class EventIds:
    """Event ids that encode ``(tag, index)``; ``index_of`` reads them back."""

    def __init__(self, tag: int | None = None) -> None:
        self.tag = random.getrandbits(32) if tag is None else tag & 0xFFFFFFFF
        self._prefix = f"{self.tag:08x}"

    def id(self, index: int) -> str:
        return str(uuid.UUID(int=(self.tag << 96) | index, version=4))

    def index_of(self, event_id: str) -> int | None:
        if not event_id.startswith(self._prefix) or len(event_id) != 36:
            return None
        try:
            return int(event_id[24:], 16)
        except ValueError:
            return None


class Workload:
    """``n`` open/click events (two opens per click) over ``profiles`` profiles, serialised.

    ``records[i]`` is event ``i``; its profile snapshot and its mailing's tags are in
    :meth:`write_reference`'s files.
    """

    def __init__(self, topics: Topics, n: int, profiles: int, mailings: int = 5, seed: int = 7,
                 ids: EventIds | None = None) -> None:
        self.world = DemoWorld(profiles=profiles, mailings=mailings, seed=seed)
        self.ids = ids or EventIds()
        self.n = n
        self.events: list[dict[str, Any]] = []
        self.records: list[Record] = []
        kinds = ("open", "open", "click")
        for i in range(n):
            event = self.world.event(kinds[i % 3])
            event["id"] = self.ids.id(i)
            self.events.append(event)
            self.records.append((topics.raw[topic_key(event)], event["profile"].encode(),
                                 orjson.dumps(event)))

    def topics_used(self) -> list[str]:
        return sorted({t for t, _, _ in self.records})

    def write_reference(self, directory: Path) -> tuple[Path, Path]:
        """``profiles.jsonl`` and ``tags.jsonl`` for ``feedbackloops profiles|tags load``."""
        directory.mkdir(parents=True, exist_ok=True)
        profiles, tags = directory / "profiles.jsonl", directory / "tags.jsonl"
        with open(profiles, "wb") as fh:
            for p in self.world.profiles:
                fh.write(orjson.dumps(p) + b"\n")
        with open(tags, "wb") as fh:
            for m in self.world.mailings:
                fh.write(orjson.dumps(m) + b"\n")
        return profiles, tags

    def warm_up_records(self, topics: Topics, n: int,
                        loop_ids: Sequence[str] | None = None) -> list[Record]:
        """``n`` more opens with ids of their own (a fresh :class:`EventIds`), as raw records,
        or with ``loop_ids`` as ``fl.deliveries`` records to those loops."""
        ids = EventIds()
        events = []
        for i in range(n):
            event = self.world.event("open")
            event["id"] = ids.id(i)
            events.append(event)
        if loop_ids is not None:
            return _deliveries(self.world, events, topics, loop_ids)
        return [(topics.raw["open"], e["profile"].encode(), orjson.dumps(e)) for e in events]

    def payload(self, i: int) -> dict[str, Any]:
        """Event ``i`` as the enrich stage would send it (profile and tags joined)."""
        event = self.events[i]
        mailing = next(m for m in self.world.mailings if m["id"] == event["mailing"])
        return enrich(event, self.world.by_id.get(event["profile"]), mailing)


def delivery_records(workload: Workload, topics: Topics, loop_ids: Sequence[str]) -> list[Record]:
    """``fl.deliveries`` records for every (event, loop), as the enrich stage writes them
    (event-major: record ``i * len(loop_ids) + j`` is event ``i`` to loop ``j``)."""
    return _deliveries(workload.world, workload.events, topics, loop_ids)


def body_records(workload: Workload, topic: str, loop_id: str) -> list[Record]:
    """For a peer that POSTs each record's value as it is (Kafka Connect's HTTP sink): record
    ``i`` holds event ``i``'s request body exactly as the sender POSTs it to a ``json`` loop
    (the enriched payload, ~800 bytes), keyed like the delivery record so it lands on the same
    partition."""
    return [(topic, delivery_key(d), encode_body("json", [d["payload"]])[0])
            for d in _delivery_docs(workload.world, workload.events, [loop_id])]


def _deliveries(world: DemoWorld, events: Sequence[dict[str, Any]], topics: Topics,
                loop_ids: Sequence[str]) -> list[Record]:
    return [(topics.deliveries, delivery_key(d), encode(d))
            for d in _delivery_docs(world, events, loop_ids)]


def _delivery_docs(world: DemoWorld, events: Sequence[dict[str, Any]],
                   loop_ids: Sequence[str]) -> Iterator[Delivery]:
    """The delivery of every (event, loop), event-major, as the enrich stage makes them."""
    tags = {m["id"]: m for m in world.mailings}
    now = int(time.time() * 1000)
    for event in events:
        payload = enrich(event, world.by_id.get(event["profile"]), tags.get(event["mailing"]))
        for loop_id in loop_ids:
            yield new_delivery(delivery_id(event["id"], loop_id), loop_id, event, payload, now)


@dataclass(frozen=True)
class ProduceStats:
    """How producing went: records, seconds from the first ``produce()`` to the last
    acknowledgement, and the resulting records/s."""

    records: int
    seconds: float
    per_s: float
    target_per_s: float | None = None


def produce(kafka: KafkaConfig, records: Sequence[Record], rate_per_s: float | None = None,
            stamp_every: int = 1) -> tuple[np.ndarray, ProduceStats]:
    """Produce ``records`` (as fast as possible, or paced at ``rate_per_s``) and wait until
    Kafka acknowledged all. Returns the wall-clock time of every ``produce()`` call (index =
    record number; with ``stamp_every`` > 1 only every n-th is stamped, the rest share it) and
    the stats. Raises RuntimeError when a record is not acknowledged."""
    producer = Producer(confluent_config(kafka, **PRODUCER_SETTINGS))
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    times = np.zeros(len(records), dtype=float)
    started = time.time()
    if rate_per_s is None:
        _produce_fast(producer, records, times, on_delivery, stamp_every)
    else:
        _produce_paced(producer, records, times, on_delivery, rate_per_s)
    remaining = producer.flush(120)
    seconds = time.time() - started
    if remaining or failures:
        raise RuntimeError(f"{remaining + len(failures)} records not acknowledged by Kafka "
                           f"(first error: {failures[0] if failures else 'flush timeout'})")
    return times, ProduceStats(len(records), seconds, len(records) / max(seconds, 1e-9),
                               rate_per_s)


def _produce_one(producer: Producer, record: Record, on_delivery: Any) -> None:
    topic, key, value = record
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.01)


def _produce_fast(producer: Producer, records: Sequence[Record], times: np.ndarray,
                  on_delivery: Any, stamp_every: int) -> None:
    now = time.time()
    for i, record in enumerate(records):
        if i % stamp_every == 0:
            now = time.time()
        times[i] = now
        _produce_one(producer, record, on_delivery)
        if i % 1000 == 999:
            producer.poll(0)


def _produce_paced(producer: Producer, records: Sequence[Record], times: np.ndarray,
                   on_delivery: Any, rate_per_s: float) -> None:
    """Every ~2 ms, produce what is due by then: the offered load is flat at ``rate_per_s``.

    Each record is stamped with the time it was *due*, not the time ``produce()`` ran: a
    generator that falls behind must not hide the queueing it caused (coordinated omission)."""
    start = time.monotonic()
    wall0 = time.time()
    sent = 0
    total = len(records)
    while sent < total:
        elapsed = time.monotonic() - start
        due = min(total, int(elapsed * rate_per_s) + 1)
        while sent < due:
            times[sent] = wall0 + sent / rate_per_s
            _produce_one(producer, records[sent], on_delivery)
            sent += 1
        producer.poll(0)
        next_due = sent / rate_per_s
        delay = next_due - (time.monotonic() - start)
        if delay > 0:
            time.sleep(min(delay, 0.002))
