"""Writes to a compacted topic that return once this process's view of it shows them.

Every control-plane write (loops, accounts) goes through :meth:`CompactedWriter.write`:
produce (idempotent, acks=all), wait for Kafka's acknowledgement, then wait until the
process's :class:`~streams.kafka.registry.CompactedView` of the topic has applied the record
(read-your-writes).
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol

from confluent_kafka import Producer

from streams.kafka.clients import confluent_config
from streams.config.settings import KafkaConfig
from streams.errors import NotAcknowledged, WriteNotVisible

__all__ = ["CompactedWriter"]


class _Follower(Protocol):
    def wait_for(self, partition: int, offset: int, timeout_s: float = 10.0) -> bool: ...


class CompactedWriter:
    """Produces to ``topic`` and waits until ``view`` shows the record."""

    def __init__(self, kafka: KafkaConfig, topic: str, view: _Follower) -> None:
        self.topic = topic
        self.view = view
        self._conf = confluent_config(kafka, **{
            "enable.idempotence": True, "acks": "all", "linger.ms": 0})
        self._client: Producer | None = None

    @property
    def _producer(self) -> Producer:
        """Made on first write: a process that never writes never connects for it."""
        if self._client is None:
            self._client = Producer(self._conf)
        return self._client

    async def write(self, key: bytes, value: bytes | None, timeout_s: float = 10.0) -> None:
        """Produce ``key``/``value`` (None: a tombstone) and return once the view has it."""
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
