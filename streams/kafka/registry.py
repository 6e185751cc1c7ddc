"""In-memory views of small compacted topics (``fl.loops``, ``fl.ref.tags``) on every process.

Each view is a dict kept current by a background thread that reads every partition of its
topic from the beginning, without a consumer group, and keeps reading. This is the "global
table" of the design without Faust's GlobalTable (whose recovery can loop with several
workers): the compacted topic already is the changelog.

Read-your-writes: a writer produces to the topic, learns the record's offset, and calls
:meth:`CompactedView.wait_for` until the view has applied it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.kafka.clients import confluent_config
from streams.config.settings import KafkaConfig
from streams.errors import InputError, KafkaFailure, TopicMissing, ViewNotLoaded

__all__ = ["CompactedView", "StaticView", "again_on_error"]

log = logging.getLogger(__name__)

#: how long a topic may be absent from the metadata before :meth:`CompactedView.start` gives
#: up: right after ``topics create`` the metadata shows it at once, so longer means missing.
MISSING_GRACE_S = 5.0

V = TypeVar("V")


def again_on_error(stop: threading.Event, work: Callable[[], None], what: str,
                   first_s: float = 0.5, most_s: float = 10.0,
                   on_error: Callable[[Exception], None] | None = None) -> None:
    """Run ``work`` until it returns or ``stop`` is set; after an error (e.g. "not leader"
    right after a topic was created) log it and run it again, backing off up to ``most_s``."""
    backoff_s = first_s
    while not stop.is_set():
        try:
            work()
            return
        except Exception as exc:
            if on_error is not None:
                on_error(exc)
            log.warning("%s: %s; starting again in %.1fs", what, exc, backoff_s)
            stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, most_s)


class CompactedView(Generic[V]):
    """A dict mirror of a compacted topic: ``key -> parse(value)``; tombstones delete.

    Values that ``parse`` rejects (it raises ``ValueError``) are skipped and counted in
    ``rejected``, so a bad record cannot stop every process from starting.
    """

    def __init__(self, kafka: KafkaConfig, topic: str, parse: Callable[[bytes], V],
                 on_change: Callable[[str, V | None], None] | None = None) -> None:
        self.topic = topic
        self._kafka = kafka
        self._parse = parse
        self._on_change = on_change
        self._data: dict[str, V] = {}
        self._lock = threading.Lock()
        self._applied = threading.Condition(self._lock)
        self._positions: dict[int, int] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.version = 0
        self.rejected = 0
        self._problem: str | None = None  # the follower's last failure, for start()'s error
        self._missing_since: float | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, wait_ready_s: float | None = 30.0) -> "CompactedView[V]":
        """Start following the topic; by default block until the existing records are loaded.

        Raises :class:`TopicMissing` once the topic has been absent for ``MISSING_GRACE_S``,
        :class:`ViewNotLoaded` (with the follower's last problem) after ``wait_ready_s``; the
        follower stops then.
        """
        self._thread = threading.Thread(target=self._run, name=f"view:{self.topic}", daemon=True)
        self._thread.start()
        if wait_ready_s is None:
            return self
        deadline = time.monotonic() + wait_ready_s
        while not self._ready.wait(0.1):
            missing_since = self._missing_since
            if missing_since is not None and time.monotonic() - missing_since >= MISSING_GRACE_S:
                self._stop.set()
                raise TopicMissing(self.topic)
            if time.monotonic() >= deadline:
                self._stop.set()
                raise ViewNotLoaded(self.topic, wait_ready_s, self._problem)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # -- reads -----------------------------------------------------------------------------
    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def values(self) -> list[V]:
        with self._lock:
            return list(self._data.values())

    def items(self) -> list[tuple[str, V]]:
        with self._lock:
            return list(self._data.items())

    def __len__(self) -> int:
        return len(self._data)

    def wait_for(self, partition: int, offset: int, timeout_s: float = 10.0) -> bool:
        """Block until the record at ``partition``/``offset`` has been applied."""
        deadline = time.monotonic() + timeout_s
        with self._applied:
            while self._positions.get(partition, 0) <= offset:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._applied.wait(remaining)
        return True

    # -- the follower thread ---------------------------------------------------------------
    def _run(self) -> None:
        """Follow the topic; on any error start a new consumer from where it stopped."""
        again_on_error(self._stop, self._follow, f"view {self.topic}", on_error=self._note)

    def _note(self, exc: Exception) -> None:
        self._problem = str(exc)

    def _follow(self) -> None:
        consumer = Consumer(confluent_config(self._kafka, **{
            "group.id": f"fl-view-unused-{id(self)}",  # required by librdkafka; never committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": self._kafka.idle_fetch_wait_ms,
        }))
        try:
            meta = consumer.list_topics(self.topic, timeout=30)
            topic = meta.topics.get(self.topic)
            if topic is None or (topic.error is not None
                                 and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                if self._missing_since is None:
                    self._missing_since = time.monotonic()
                raise TopicMissing(self.topic)
            self._missing_since = None
            if topic.error is not None or not topic.partitions:
                raise KafkaFailure(f"{self.topic}: not available ({topic.error or 'no partitions'})")
            partitions = sorted(topic.partitions)
            targets: dict[int, int] = {}
            for p in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=30)
                targets[p] = high
                self._positions[p] = max(self._positions.get(p, 0), low)
            # first time from the beginning; after an error from where we were
            consumer.assign([TopicPartition(self.topic, p, self._positions.get(p, 0) or OFFSET_BEGINNING)
                             for p in partitions])
            self._check_ready(targets)
            while not self._stop.is_set():
                for msg in consumer.consume(500, 0.2):
                    err = msg.error()
                    partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            with self._applied:
                                self._positions[partition] = max(
                                    self._positions.get(partition, 0), offset)
                                self._applied.notify_all()
                        elif err.fatal() or not err.retriable():
                            raise KafkaFailure(f"{self.topic}: {err}")
                        else:
                            log.info("view %s: %s", self.topic, err)
                        continue
                    self._apply(partition, offset, msg.key(), msg.value())
                if not self._ready.is_set():
                    self._check_ready(targets)
        finally:
            consumer.close()

    def _check_ready(self, targets: dict[int, int]) -> None:
        if all(self._positions.get(p, 0) >= high for p, high in targets.items()):
            self._ready.set()

    def _apply(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        parsed: V | None = None
        skip = key is None
        if not skip and value is not None:
            try:
                parsed = self._parse(value)
            except (ValueError, InputError) as exc:  # InvalidRecord, AccountInvalid
                self.rejected += 1
                skip = True
                log.warning("view %s: skipped record at partition %d offset %d: %s",
                            self.topic, partition, offset, exc)
        with self._applied:
            if not skip:
                k = key.decode("utf-8", "replace")  # type: ignore[union-attr]
                if parsed is None:
                    self._data.pop(k, None)
                else:
                    self._data[k] = parsed
                self.version += 1
            self._positions[partition] = offset + 1
            self._applied.notify_all()
        if not skip and self._on_change is not None:
            self._on_change(key.decode("utf-8", "replace"), parsed)  # type: ignore[union-attr]



class StaticView(Generic[V]):
    """The in-memory twin of :class:`CompactedView` (unit tests, tools): same read surface."""

    def __init__(self, data: dict[str, V] | None = None) -> None:
        self._data = dict(data or {})
        self.version = 0
        self.ready = True

    def put(self, key: str, value: V | None) -> None:
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        self.version += 1

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def values(self) -> list[V]:
        return list(self._data.values())

    def items(self) -> list[tuple[str, V]]:
        return list(self._data.items())

    def __len__(self) -> int:
        return len(self._data)
