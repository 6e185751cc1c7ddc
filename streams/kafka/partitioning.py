"""``fl.partitioning`` on every process: the scaling state in memory, and writes to it.

A :class:`~streams.kafka.registry.CompactedView` of the topic's JSON records, read through
the shapes of :mod:`streams.kafka.generations`. Writes are synchronous (the coordinator and
the re-key stage run on their own threads; the CLI has nothing else to do) and return once
this process's view shows them, so a writer always reads its own write.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from confluent_kafka import Producer

from streams.config.settings import KafkaConfig
from streams.errors import NotAcknowledged, WriteNotVisible
from streams.kafka.clients import producer_config
from streams.kafka.generations import (CANCEL_KEY, DIRECT_KEY, REQUEST_KEY, STATE_KEY, Cut,
                                       Maintenance, Request, ScaleState, cut_key, parse_cut,
                                       parse_maintenance, parse_object, parse_request,
                                       generation_topics, parse_state)
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics

__all__ = ["ControlView", "READY_PREFIX", "serving_changelog"]

#: ``ready/<generation>/<worker>``: that worker's standby has recovered (streams.worker.standby)
READY_PREFIX = "ready/"


class ControlView:
    """The scaling state, requests and cut records, as this process last read them."""

    def __init__(self, kafka: KafkaConfig, topic: str) -> None:
        self.topic = topic
        self.view: CompactedView[dict[str, Any]] = CompactedView(kafka, topic, parse_object)
        self._conf = producer_config(kafka, **{"linger.ms": 0})
        self._client: Producer | None = None

    def start(self, wait_ready_s: float | None = 30.0) -> "ControlView":
        self.view.start(wait_ready_s)
        return self

    def stop(self) -> None:
        self.view.stop()

    # -- reads -----------------------------------------------------------------------------
    def state(self) -> ScaleState | None:
        doc = self.view.get(STATE_KEY)
        return parse_state(orjson.dumps(doc)) if doc is not None else None

    def request(self) -> Request | None:
        doc = self.view.get(REQUEST_KEY)
        return parse_request(orjson.dumps(doc)) if doc is not None else None

    def cancel(self) -> Request | None:
        doc = self.view.get(CANCEL_KEY)
        return parse_request(orjson.dumps(doc)) if doc is not None else None

    def cuts(self) -> dict[tuple[str, int], Cut]:
        """Every recorded cut, by raw (topic, partition)."""
        found: dict[tuple[str, int], Cut] = {}
        for key, doc in self.view.items():
            if key.startswith("cut/"):
                topic, partition = key[4:].rsplit("/", 1)
                found[(topic, int(partition))] = parse_cut(orjson.dumps(doc))
        return found

    def maintenance(self) -> Maintenance | None:
        """Direct mode's partition change, if one was ever made."""
        doc = self.view.get(DIRECT_KEY)
        return parse_maintenance(orjson.dumps(doc)) if doc is not None else None

    def put_maintenance(self, maintenance: Maintenance) -> None:
        self._write(DIRECT_KEY, maintenance.encode())

    def cut(self, topic: str, partition: int) -> Cut | None:
        doc = self.view.get(cut_key(topic, partition))
        return parse_cut(orjson.dumps(doc)) if doc is not None else None

    def ready(self, generation: int) -> set[str]:
        """The workers whose standby for ``generation`` has recovered its tables."""
        prefix = f"{READY_PREFIX}{generation}/"
        return {key[len(prefix):] for key, _doc in self.view.items() if key.startswith(prefix)}

    def put_ready(self, generation: int, member: str) -> None:
        self._write(f"{READY_PREFIX}{generation}/{member}",
                    orjson.dumps({"generation": generation, "member": member,
                                  "at_ms": int(time.time() * 1000)}))

    @property
    def version(self) -> int:
        return self.view.version

    # -- writes ----------------------------------------------------------------------------
    def put_state(self, state: ScaleState) -> ScaleState:
        state = state.replace(updated_ms=int(time.time() * 1000))
        self._write(STATE_KEY, state.encode())
        return state

    def put_cuts(self, cuts: list[tuple[str, int, Cut]]) -> None:
        """Record where raw partitions (topic, partition) switched generation."""
        self._write_many([(cut_key(t, p), cut.encode()) for t, p, cut in cuts])

    def request_scale(self, partitions: int) -> Request:
        request = Request(uuid.uuid4().hex, partitions, int(time.time() * 1000))
        self._write(REQUEST_KEY, request.encode())
        return request

    def request_cancel(self, request_id: str) -> Request:
        cancel = Request(request_id, 0, int(time.time() * 1000))
        self._write(CANCEL_KEY, cancel.encode())
        return cancel

    def _write(self, key: str, value: bytes, timeout_s: float = 15.0) -> None:
        self._write_many([(key, value)], timeout_s)

    def _write_many(self, records: list[tuple[str, bytes]], timeout_s: float = 15.0) -> None:
        if not records:
            return
        if self._client is None:
            self._client = Producer(self._conf)
        written: list[tuple[int, int]] = []
        failed: list[str] = []

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                failed.append(str(err))
            else:
                written.append((msg.partition(), msg.offset()))

        for key, value in records:
            self._client.produce(self.topic, value, key.encode(), on_delivery=on_delivery)
        self._client.flush(timeout_s)
        if failed or len(written) < len(records):
            raise NotAcknowledged(f"{self.topic}: {failed[0] if failed else 'not acknowledged'}")
        partition, offset = max(written)
        if not self.view.wait_for(partition, offset, timeout_s):
            raise WriteNotVisible(self.topic, timeout_s)


def serving_changelog(kafka: KafkaConfig, topics: Topics) -> tuple[str, int] | None:
    """(profile changelog, partition count) of the serving generation in repartition mode;
    None in direct mode (no ``fl.partitioning`` state). Reads the control topic once."""
    from confluent_kafka.admin import AdminClient

    from streams.kafka.clients import confluent_config

    if topics.partitioning not in AdminClient(confluent_config(kafka)).list_topics(timeout=30).topics:
        return None
    control = ControlView(kafka, topics.partitioning).start()
    try:
        state = control.state()
    finally:
        control.stop()
    if state is None:
        return None
    return generation_topics(topics, state.serving).profiles_changelog, state.partitions
