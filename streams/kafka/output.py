"""The confluent-kafka producer every stage writes through, with per-record completion.

Idempotent, acks=all, murmur2 partitioning (same as Faust/aiokafka and the Java client).
Completion callbacks run on the event loop thread, from a poller task. A record whose delivery
fails for a transient reason is produced again: at-least-once never gives up on an outcome.

A record Kafka refuses for good (:func:`streams.kafka.parking.permanent`: too large, invalid
topic, ...) is not produced again forever, and never raises into the caller: it is *parked* in
``fl.invalid`` (:func:`streams.kafka.parking.parked_copy`) and ``on_done`` runs once the parked
copy is acknowledged, so the offset that caused it moves on only then. The steps:

1. a record over ``limits.record_bytes`` is parked at once (librdkafka would refuse it);
2. a record the broker refused is produced again *alone* (a second producer that sends one
   record per batch): the broker refuses a whole batch when one record of it is too large, so
   the refusal of a batch says nothing about the other records in it;
3. refused alone, it is parked; a parked copy refused in turn is parked again cut to 4 KiB;
   refused even so (``fl.invalid`` itself unusable), it is tried every 5 s with an error in the
   log: nothing is dropped, that partition waits for the operator.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.kafka.clients import producer_config
from streams.config.settings import KafkaConfig
from streams.kafka.limits import record_size
from streams.kafka.parking import MINIMAL_COPY_BYTES, OVER_LIMIT, Parking, parked_copy, permanent

__all__ = ["Output"]

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | str]]
Done = Callable[[], None]

# the steps of the module docstring
_BATCHED, _ALONE, _PARKED, _MINIMAL = range(4)
#: a minimal parked copy refused by Kafka is tried again after this long
STUCK_RETRY_S = 5.0
#: the longest the poller sleeps while records are pending and none completed (a completion
#: only advances commits and frees memory; it never delays a record)
POLL_MAX_WAIT_S = 0.008


class Output:
    """``send(topic, key, value, on_done)``; ``on_done`` runs once Kafka has the record (or,
    when Kafka refuses it for good, its parked copy in ``parking.topic``)."""

    def __init__(self, kafka: KafkaConfig, parking: Parking, **overrides: object) -> None:
        conf = producer_config(kafka, **{
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500000,
            "queue.buffering.max.kbytes": 1048576,
            # the same limit as our own check, so librdkafka never refuses what we pass
            "message.max.bytes": parking.record_bytes,
        })
        conf.update(overrides)
        self._conf = conf
        self.parking = parking
        self._client: Producer | None = None
        self._alone_client: Producer | None = None
        self._poller: asyncio.Task[None] | None = None
        self._pending = asyncio.Event()  # set while records await acknowledgement
        #: minimal parked copies waiting to be tried again: (due monotonic s, the send)
        self._stuck: list[tuple[float, Callable[[], None]]] = []
        self._refusal_logged_at = -1.0
        self.unacked = 0

    @property
    def _producer(self) -> Producer:
        """Made on first use, so building the app for a CLI command connects nothing."""
        if self._client is None:
            self._client = Producer(self._conf)
        return self._client

    @property
    def _alone(self) -> Producer:
        """One record per batch: a refusal is that record's own (made at the first refusal)."""
        if self._alone_client is None:
            self._alone_client = Producer({**self._conf, "batch.num.messages": 1, "linger.ms": 0})
        return self._alone_client

    def send(self, topic: str, key: bytes | str | None, value: bytes | None,
             on_done: Done | None = None, headers: Headers | None = None) -> None:
        """Queue one record; never drops it (see the module docstring)."""
        size = record_size(key, value, headers)
        if size > self.parking.record_bytes:
            self._park(_BATCHED, topic, key, value, headers, on_done, OVER_LIMIT,
                       f"{size} bytes, over limits.record_bytes ({self.parking.record_bytes})")
            return
        self._send(_BATCHED, topic, topic, key, value, headers, on_done)

    def _send(self, step: int, topic: str, meant_for: str, key: bytes | str | None,
              value: bytes | None, headers: Headers | None, on_done: Done | None) -> None:
        producer = self._producer if step == _BATCHED else self._alone

        def callback(err: KafkaError | None, _msg: Message) -> None:
            self.unacked -= 1
            if err is None:
                if on_done is not None:
                    on_done()
            elif permanent(err):
                self._refused(step, topic, meant_for, key, value, headers, on_done, err)
            else:
                log.warning("produce to %s failed (%s); producing again", topic, err)
                self._send(step, topic, meant_for, key, value, headers, on_done)

        while True:
            try:
                if headers:
                    producer.produce(topic, value, key, headers=list(headers),
                                     on_delivery=callback)
                else:
                    producer.produce(topic, value, key, on_delivery=callback)
                self.unacked += 1
                if self.unacked == 1:
                    self._pending.set()
                return
            except BufferError:  # local queue full: serve callbacks, then try again
                producer.poll(0.05)
            except KafkaException as exc:
                err = exc.args[0]
                if not isinstance(err, KafkaError) or not permanent(err):
                    raise
                # refused before it left this process: it is this record's own fault
                self._refused(max(step, _ALONE), topic, meant_for, key, value, headers,
                              on_done, err)
                return

    def _refused(self, step: int, topic: str, meant_for: str, key: bytes | str | None,
                 value: bytes | None, headers: Headers | None, on_done: Done | None,
                 err: KafkaError) -> None:
        if step == _BATCHED:
            now = time.monotonic()
            if now - self._refusal_logged_at >= 1.0:  # once per batch, not per record of it
                self._refusal_logged_at = now
                log.info("Kafka refused a batch for %s (%s); producing its records one by one",
                         topic, err.name())
            self._send(_ALONE, topic, meant_for, key, value, headers, on_done)
        elif step == _ALONE:
            self._park(step, topic, key, value, headers, on_done, err.name(), err.str())
        elif step == _PARKED:
            log.error("Kafka refused the parked copy of a record for %s on %s (%s); parking "
                      "it cut to %d bytes", meant_for, topic, err.name(), MINIMAL_COPY_BYTES)
            copy = parked_copy(self.parking, topic, key, value, headers, err.name(), err.str(),
                               MINIMAL_COPY_BYTES)
            self._send(_MINIMAL, topic, meant_for, copy.key, copy.value, copy.headers, on_done)
        else:
            log.error("Kafka refused even a %d-byte parked copy of a record for %s on %s (%s); "
                      "trying again every %.0fs: check that topic", MINIMAL_COPY_BYTES,
                      meant_for, topic, err.str(), STUCK_RETRY_S)
            self.unacked += 1  # still owed: flush() waits for it
            self._stuck.append((time.monotonic() + STUCK_RETRY_S, lambda: self._send(
                _MINIMAL, topic, meant_for, key, value, headers, on_done)))

    def _park(self, step: int, topic: str, key: bytes | str | None, value: bytes | None,
              headers: Headers | None, on_done: Done | None, error: str, detail: str) -> None:
        parking = self.parking
        copy = parked_copy(parking, topic, key, value, headers, error, detail)
        log.warning("parking a record for %s in %s: %s: %s%s", topic, parking.topic, error,
                    detail, " (a truncated copy)" if copy.truncated else "")
        if parking.on_parked is not None:
            parking.on_parked(topic, error)
        self._send(_PARKED, parking.topic, topic, copy.key, copy.value, copy.headers, on_done)

    def poll(self) -> int:
        served = self._producer.poll(0)
        if self._alone_client is not None:
            served += self._alone_client.poll(0)
        if self._stuck:
            now = time.monotonic()
            due = [send for at, send in self._stuck if at <= now]
            self._stuck = [(at, send) for at, send in self._stuck if at > now]
            for send in due:
                self.unacked -= 1
                send()
        return served

    def start(self) -> None:
        """Start the poller task that runs completion callbacks on this loop."""
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        wait_s = 0.0
        while True:
            if self.unacked <= 0:  # nothing to serve: no wake-ups until a record is sent
                self._pending.clear()
                await self._pending.wait()
            if self.poll():
                wait_s = 0.0
            else:  # acks come a linger and a round trip after a send: back off to 8 ms
                wait_s = min(POLL_MAX_WAIT_S, wait_s * 2 or 0.002)
            await asyncio.sleep(wait_s)

    async def flush(self, timeout_s: float = 30.0) -> int:
        """Wait until every queued record is acknowledged; returns how many remain."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.unacked > 0 and loop.time() < deadline:
            self.poll()
            await asyncio.sleep(0.005)
        return self.unacked

    async def close(self, timeout_s: float = 30.0) -> None:
        remaining = await self.flush(timeout_s)
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if remaining:
            log.error("closing the producer with %d records unacknowledged", remaining)
