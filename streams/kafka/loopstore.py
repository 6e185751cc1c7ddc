"""Loops: the registry view of ``fl.loops`` plus writes that read their own writes.

The view holds :class:`schemas.loop.Loop` objects, made by :func:`parse_loop` (a record that
is not a valid loop is skipped by every process alike). Every write (API, CLI, YAML start-up,
the sender disabling a loop) goes through :meth:`LoopStore.put` / :meth:`LoopStore.delete`:
produce to the compacted topic, then wait until this process's view shows the record.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from confluent_kafka import Producer

from schemas.loop import Loop

from streams.kafka.clients import confluent_config
from streams.kafka.registry import CompactedView
from streams.config.settings import KafkaConfig
from streams.errors import NotAcknowledged, WriteNotVisible

__all__ = ["LoopStore", "parse_loop"]


def parse_loop(data: bytes) -> Loop:
    """``fl.loops`` value -> the loop (raises ValueError: ``InvalidRecord`` naming the field)."""
    return Loop.from_doc(orjson.loads(data))


class LoopStore:
    """Reads from the in-memory view; writes through Kafka and waits to see them."""

    def __init__(self, kafka: KafkaConfig, topic: str, view: CompactedView[Loop]) -> None:
        self.topic = topic
        self.view = view
        self._conf = confluent_config(kafka, **{
            "enable.idempotence": True, "acks": "all", "linger.ms": 0})
        self._client: Producer | None = None

    @property
    def _producer(self) -> Producer:
        """Made on first write: a process that never writes loops never connects for it."""
        if self._client is None:
            self._client = Producer(self._conf)
        return self._client

    def get(self, loop_id: str) -> Loop | None:
        return self.view.get(loop_id)

    def all(self) -> list[Loop]:
        return self.view.values()

    async def put(self, loop: Loop | dict[str, Any], timeout_s: float = 10.0) -> Loop:
        """Stamp ``updated_at``/``version`` (and ``created_at`` of a new loop), validate,
        write, and return the loop once this process's view shows it. A document may leave
        the stamps out."""
        doc = loop.to_doc() if isinstance(loop, Loop) else dict(loop)
        previous = self.view.get(doc["id"])
        now = time.time()
        doc["version"] = (previous.version if previous is not None else 0) + 1
        doc["updated_at"] = now
        doc["created_at"] = previous.created_at if previous is not None else doc.get("created_at", now)
        written = Loop.from_doc(doc)
        await self._write(written.id.encode(), orjson.dumps(written.to_doc()), timeout_s)
        return written

    async def delete(self, loop_id: str, timeout_s: float = 10.0) -> None:
        await self._write(loop_id.encode(), None, timeout_s)

    async def _write(self, key: bytes, value: bytes | None, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                loop.call_soon_threadsafe(done.set_exception, NotAcknowledged(str(err)))
            else:
                loop.call_soon_threadsafe(done.set_result, (msg.partition(), msg.offset()))

        self._producer.produce(self.topic, value, key, on_delivery=on_delivery)
        await loop.run_in_executor(None, self._producer.flush, timeout_s)
        try:
            partition, offset = await asyncio.wait_for(done, timeout_s)
        except asyncio.TimeoutError:
            raise NotAcknowledged(f"{self.topic}: write not acknowledged within "
                                  f"{timeout_s:g}s") from None
        seen = await loop.run_in_executor(None, self.view.wait_for, partition, offset, timeout_s)
        if not seen:
            raise WriteNotVisible(self.topic, timeout_s)
