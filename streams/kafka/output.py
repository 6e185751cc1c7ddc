"""The confluent-kafka producer every stage writes through, with per-record completion.

Idempotent, acks=all, murmur2 partitioning (same as Faust/aiokafka and the Java client).
Completion callbacks run on the event loop thread, from a poller task. A record whose delivery
fails is produced again: at-least-once never gives up on an outcome.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer

from streams.kafka.clients import producer_config
from streams.config.settings import KafkaConfig

__all__ = ["Output"]

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | str]]
Done = Callable[[], None]


class Output:
    """``send(topic, key, value, on_done)``; ``on_done`` runs once Kafka has the record."""

    def __init__(self, kafka: KafkaConfig, **overrides: object) -> None:
        conf = producer_config(kafka, **{
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500000,
            "queue.buffering.max.kbytes": 1048576,
        })
        conf.update(overrides)
        self._conf = conf
        self._client: Producer | None = None
        self._poller: asyncio.Task[None] | None = None
        self.unacked = 0

    @property
    def _producer(self) -> Producer:
        """Made on first use, so building the app for a CLI command connects nothing."""
        if self._client is None:
            self._client = Producer(self._conf)
        return self._client

    def send(self, topic: str, key: bytes | str | None, value: bytes | None,
             on_done: Done | None = None, headers: Headers | None = None) -> None:
        """Queue one record; never drops it (retries on delivery failure)."""

        def callback(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.warning("produce to %s failed (%s); producing again", topic, err)
                self.unacked -= 1
                self.send(topic, key, value, on_done, headers)
                return
            self.unacked -= 1
            if on_done is not None:
                on_done()

        while True:
            try:
                if headers:
                    self._producer.produce(topic, value, key, headers=list(headers),
                                           on_delivery=callback)
                else:
                    self._producer.produce(topic, value, key, on_delivery=callback)
                self.unacked += 1
                return
            except BufferError:  # local queue full: serve callbacks, then try again
                self._producer.poll(0.05)

    def poll(self) -> int:
        return self._producer.poll(0)

    def start(self) -> None:
        """Start the poller task that runs completion callbacks on this loop."""
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        while True:
            served = self._producer.poll(0)
            await asyncio.sleep(0 if served else 0.002)

    async def flush(self, timeout_s: float = 30.0) -> int:
        """Wait until every queued record is acknowledged; returns how many remain."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.unacked > 0 and loop.time() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(0.005)
        return self.unacked

    async def close(self, timeout_s: float = 30.0) -> None:
        remaining = await self.flush(timeout_s)
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if remaining:
            log.error("closing the producer with %d records unacknowledged", remaining)
