"""Loop definitions: the registry view of ``fl.loops`` plus writes that read their own writes.

Every write (API, CLI, YAML start-up, the sender disabling a loop) goes through
:meth:`LoopStore.put` / :meth:`LoopStore.delete`: produce to the compacted topic, then wait
until this process's view shows the record.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from confluent_kafka import Producer

from schemas.validation import validate_loop

from streams.kafka.clients import confluent_config
from streams.kafka.registry import CompactedView
from streams.config.settings import KafkaConfig

__all__ = ["LoopStore", "parse_loop"]


def parse_loop(data: bytes) -> dict[str, Any]:
    """``fl.loops`` value -> validated loop definition (raises ValueError)."""
    return validate_loop(orjson.loads(data))


class LoopStore:
    """Reads from the in-memory view; writes through Kafka and waits to see them."""

    def __init__(self, kafka: KafkaConfig, topic: str, view: CompactedView[dict[str, Any]]) -> None:
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

    def get(self, loop_id: str) -> dict[str, Any] | None:
        return self.view.get(loop_id)

    def all(self) -> list[dict[str, Any]]:
        return self.view.values()

    async def put(self, loop: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """Validate, stamp ``updated_at``/``version``, write, and return once visible."""
        doc = dict(loop)
        previous = self.view.get(doc["id"])
        doc["version"] = (previous or {}).get("version", 0) + 1
        doc["updated_at"] = time.time()
        doc.setdefault("created_at", (previous or {}).get("created_at", doc["updated_at"]))
        validate_loop(doc)
        await self._write(doc["id"].encode(), orjson.dumps(doc), timeout_s)
        return doc

    async def delete(self, loop_id: str, timeout_s: float = 10.0) -> None:
        await self._write(loop_id.encode(), None, timeout_s)

    async def _write(self, key: bytes, value: bytes | None, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                loop.call_soon_threadsafe(done.set_exception, RuntimeError(str(err)))
            else:
                loop.call_soon_threadsafe(done.set_result, (msg.partition(), msg.offset()))

        self._producer.produce(self.topic, value, key, on_delivery=on_delivery)
        await loop.run_in_executor(None, self._producer.flush, timeout_s)
        partition, offset = await asyncio.wait_for(done, timeout_s)
        seen = await loop.run_in_executor(None, self.view.wait_for, partition, offset, timeout_s)
        if not seen:
            raise TimeoutError(f"{self.topic}: write not visible within {timeout_s:g}s")
