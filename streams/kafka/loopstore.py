"""Loops: the registry view of ``fl.loops`` plus writes that read their own writes.

The view holds :class:`schemas.loop.Loop` objects, made by :func:`parse_loop` (a record that
is not a valid loop is skipped by every process alike). Every write (API, CLI, YAML start-up,
the sender disabling a loop) goes through :meth:`LoopStore.put` / :meth:`LoopStore.delete`:
produce to the compacted topic, then wait until this process's view shows the record.
"""
from __future__ import annotations

import time
from typing import Any

import orjson
from schemas.loop import Loop

from streams.kafka.writer import CompactedWriter
from streams.kafka.registry import CompactedView
from streams.config.settings import KafkaConfig


__all__ = ["LoopStore", "parse_loop"]


def parse_loop(data: bytes) -> Loop:
    """``fl.loops`` value -> the loop (raises ValueError: ``InvalidRecord`` naming the field)."""
    return Loop.from_doc(orjson.loads(data))


class LoopStore:
    """Reads from the in-memory view; writes through Kafka and waits to see them."""

    def __init__(self, kafka: KafkaConfig, topic: str, view: CompactedView[Loop]) -> None:
        self.topic = topic
        self.view = view
        self._writer = CompactedWriter(kafka, topic, view)

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
        await self._writer.write(written.id.encode(), orjson.dumps(written.to_doc()), timeout_s)
        return written

    async def delete(self, loop_id: str, timeout_s: float = 10.0) -> None:
        await self._writer.write(loop_id.encode(), None, timeout_s)
