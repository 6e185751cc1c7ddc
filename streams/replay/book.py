"""``fl.replays``: every replay's request, progress, cancel and delivery counts, in Kafka.

One compacted topic, several keys per replay, all in the partition of the replay id
(``murmur2(id) % partitions``, so the replayer that owns a replay sees all of its records):

==========================  ==============  =========================================
key                         written by      value
==========================  ==============  =========================================
``<id>``                    API / CLI       the request (:func:`new_request`): loop,
                                            window, spans, filters, options
``<id>/progress``           the replayer    state, positions per span, counts
``<id>/cancel``             API / CLI       ``{"cancelled_at"}``
``<id>/lane/<instance>``    replay lanes    delivered / failed / dropped counts
==========================  ==============  =========================================

Each writer owns its keys, so no write overwrites another's. :class:`ReplayBook` is every
process's view (a :class:`~streams.kafka.registry.CompactedView`) and folds the keys of a
replay into its status (:meth:`ReplayBook.status`).
"""
from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any, Final

import orjson
from confluent_kafka import Producer

from schemas.errors import InvalidRecord

from streams.config.settings import KafkaConfig
from streams.errors import NotAcknowledged, ReplayNotFound, WriteNotVisible
from streams.kafka.clients import murmur2_partition, producer_config
from streams.kafka.registry import CompactedView

__all__ = ["FINISHED", "ReplayBook", "ReplayNotFound", "new_replay_id", "replay_partition"]

#: states a replay ends in; ``replay status`` returns once one is reached
FINISHED: Final = frozenset({"done", "cancelled", "failed"})


def new_replay_id() -> str:
    return f"rp_{secrets.token_hex(8)}"


def replay_partition(replay_id: str, partitions: int) -> int:
    """The ``fl.replays`` partition of every record of ``replay_id``."""
    return murmur2_partition(replay_id.encode(), partitions)


def _parse(data: bytes) -> dict[str, Any]:
    doc = orjson.loads(data)
    if not isinstance(doc, dict):
        raise InvalidRecord("not a JSON object")
    return doc


class ReplayBook:
    """The view of ``fl.replays`` and writes to it that read their own writes."""

    def __init__(self, kafka: KafkaConfig, topic: str) -> None:
        self.topic = topic
        self.view: CompactedView[dict[str, Any]] = CompactedView(kafka, topic, _parse)
        self._conf = producer_config(kafka, **{"linger.ms": 0})
        self._producer: Producer | None = None
        self._partitions = 0
        # runner threads and the lane write through one producer: one write at a time, so
        # each waits for its own acknowledgement
        self._writing = threading.Lock()

    def start(self, wait_ready_s: float | None = 30.0) -> "ReplayBook":
        self.view.start(wait_ready_s)
        return self

    def stop(self) -> None:
        self.view.stop()

    # -- reads -----------------------------------------------------------------------------
    def request(self, replay_id: str) -> dict[str, Any] | None:
        return self.view.get(replay_id)

    def cancelled(self, replay_id: str) -> bool:
        return self.view.get(f"{replay_id}/cancel") is not None

    def ids(self) -> list[str]:
        """Every replay id, oldest request first."""
        requests = [doc for key, doc in self.view.items() if "/" not in key]
        return [doc["id"] for doc in sorted(requests, key=lambda d: d.get("created_at", 0))]

    def status(self, replay_id: str) -> dict[str, Any]:
        """The request with its progress and counts folded in (raises ReplayNotFound)."""
        request = self.view.get(replay_id)
        if request is None:
            raise ReplayNotFound(replay_id)
        progress = self.view.get(f"{replay_id}/progress") or {}
        cancel = self.view.get(f"{replay_id}/cancel")
        prefix = f"{replay_id}/lane/"
        lanes = [doc for key, doc in self.view.items() if key.startswith(prefix)]
        delivered = sum(int(d.get("delivered", 0)) for d in lanes)
        failed = sum(int(d.get("failed", 0)) for d in lanes)
        dropped = sum(int(d.get("dropped", 0)) for d in lanes)
        routed = int(progress.get("routed", 0))
        runner = progress.get("state", "pending")
        if cancel is not None:
            state = "cancelled" if runner in ("cancelled", "routed", "failed", "pending") \
                else "cancelling"
        elif runner == "failed":
            state = "failed"
        elif runner == "routed":
            state = "done" if request.get("dry_run") or delivered + failed >= routed else "sending"
        else:
            state = runner  # pending | running
        return {
            **{k: v for k, v in request.items() if k != "spans"},
            "state": state,
            "read": int(progress.get("read", 0)),
            "selected": int(progress.get("selected", 0)),
            "routed": routed,
            "delivered": delivered, "failed": failed, "dropped": dropped,
            "error": progress.get("error"),
            "started_at": progress.get("started_at"),
            "finished_at": progress.get("finished_at"),
            "updated_at": progress.get("updated_at"),
            "cancelled_at": cancel.get("cancelled_at") if cancel else None,
        }

    def all(self) -> list[dict[str, Any]]:
        return [self.status(i) for i in self.ids()]

    # -- writes (each waits until this view shows it) --------------------------------------
    def put(self, replay_id: str, suffix: str, doc: dict[str, Any] | None,
            timeout_s: float = 10.0, wait: bool = True) -> None:
        """Write ``doc`` (None: tombstone) under ``<id><suffix>`` in the replay's partition."""
        with self._writing:
            where = self._write(replay_id, suffix, doc, timeout_s)
        if wait and not self.view.wait_for(*where, timeout_s=timeout_s):
            raise WriteNotVisible(self.topic, timeout_s)

    def _write(self, replay_id: str, suffix: str, doc: dict[str, Any] | None,
               timeout_s: float) -> tuple[int, int]:
        if self._producer is None:
            self._producer = Producer(self._conf)
            meta = self._producer.list_topics(self.topic, timeout=timeout_s).topics[self.topic]
            self._partitions = len(meta.partitions)
        where: list[tuple[int, int]] = []
        errors: list[str] = []

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                where.append((msg.partition(), msg.offset()))

        self._producer.produce(self.topic, None if doc is None else orjson.dumps(doc),
                               f"{replay_id}{suffix}".encode(),
                               partition=replay_partition(replay_id, self._partitions),
                               on_delivery=on_delivery)
        self._producer.flush(timeout_s)
        if errors or not where:
            raise NotAcknowledged(f"{self.topic}: write of {replay_id}{suffix} failed: "
                               f"{errors[0] if errors else 'not acknowledged'}")
        return where[0]

    async def put_async(self, replay_id: str, suffix: str, doc: dict[str, Any] | None) -> None:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.put(replay_id, suffix, doc))

    def cancel(self, replay_id: str) -> dict[str, Any]:
        """Ask the replay to stop (idempotent); returns its status."""
        if self.view.get(replay_id) is None:
            raise ReplayNotFound(replay_id)
        if not self.cancelled(replay_id):
            self.put(replay_id, "/cancel", {"id": replay_id, "cancelled_at": time.time()})
        return self.status(replay_id)
