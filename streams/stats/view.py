"""The statistics as every API process sees them: ``fl.stats`` folded into windows.

A thread reads ``fl.stats`` (committed transactions only) from 32 days back and keeps
following it. Each minute delta is added to its minute, hour and day window (tumbling, UTC);
minutes are kept 3 hours, hours 3 days, days 35 days. :meth:`StatsView.series` answers a
query for one dimension (see :mod:`streams.stats.counting`): the last N windows of a level,
with the latency percentiles and unique counts of that level.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Final

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.config.settings import KafkaConfig
from streams.errors import KafkaFailure, TopicMissing, ViewNotLoaded
from streams.kafka.clients import confluent_config
from streams.kafka.registry import again_on_error
from streams.stats.counting import LEVELS, Dim, percentile, window_start

__all__ = ["METRICS", "StatsView", "row_of"]

log = logging.getLogger(__name__)

KEEP: Final = {"1m": 180, "1h": 72, "1d": 35}
#: the counters every window shows (0 when nothing happened)
METRICS: Final = ("in", "invalid", "routed", "delivered", "retried", "errors", "dead")
_KEEP_MS: Final = 32 * 86_400_000

Bucket = dict[Dim, dict[str, float]]


def row_of(metrics: dict[str, float], level: str) -> dict[str, Any]:
    """One window as the API shows it: counters, latency percentiles, the level's uniques."""
    row: dict[str, Any] = {m: int(metrics.get(m, 0)) for m in METRICS}
    row["latency_ms"] = {"p50": percentile(metrics, 0.5), "p95": percentile(metrics, 0.95),
                         "p99": percentile(metrics, 0.99)}
    for kind in ("opens", "clicks"):
        if kind in metrics:
            row[kind] = int(metrics[kind])
            row[f"unique_{kind}"] = int(metrics.get(f"u{level}_{kind}", 0))
    if "last_ms" in metrics:
        row["last_delivery_ms"] = int(metrics["last_ms"])
    return row


def merge(into: dict[str, float], metrics: dict[str, float]) -> None:
    for k, v in metrics.items():
        into[k] = max(into.get(k, 0), v) if k == "last_ms" else into.get(k, 0) + v


class StatsView:
    """Windows of every dimension; start with :meth:`start` (waits until loaded)."""

    def __init__(self, kafka: KafkaConfig, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self._windows: dict[str, dict[int, Bucket]] = {level: {} for level in LEVELS}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0

    def start(self, wait_ready_s: float | None = 60.0) -> StatsView:
        self._thread = threading.Thread(target=self._run, name="stats-view", daemon=True)
        self._thread.start()
        if wait_ready_s is not None and not self._ready.wait(wait_ready_s):
            raise ViewNotLoaded(self.topic, wait_ready_s, None)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    # -- queries ------------------------------------------------------------------------------
    def series(self, level: str, dims: list[Dim], last: int,
               now_ms: int | None = None) -> list[dict[str, Any]]:
        """The last ``last`` windows of ``level`` (oldest first, the current one last), each
        the sum of ``dims`` (several dims: e.g. the databases of an account)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        size = LEVELS[level]
        current = window_start(now_ms, level)
        out = []
        with self._lock:
            windows = self._windows[level]
            for i in range(last - 1, -1, -1):
                start = current - i * size
                merged: dict[str, float] = {}
                bucket = windows.get(start)
                if bucket is not None:
                    for dim in dims:
                        found = bucket.get(dim)
                        if found is not None:
                            merge(merged, found)
                out.append({"start_ms": start, **row_of(merged, level)})
        return out

    def total(self, level: str, dims: list[Dim], last: int,
              now_ms: int | None = None) -> dict[str, float]:
        """The raw metrics of ``dims`` summed over the last ``last`` windows of ``level``."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        first = window_start(now_ms, level) - (last - 1) * LEVELS[level]
        merged: dict[str, float] = {}
        with self._lock:
            for start, bucket in self._windows[level].items():
                if start >= first:
                    for dim in dims:
                        found = bucket.get(dim)
                        if found is not None:
                            merge(merged, found)
        return merged

    def children(self, level: str, prefix: Dim, kind: str, last: int,
                 now_ms: int | None = None) -> dict[str, dict[str, float]]:
        """Per value of ``kind`` directly under ``prefix`` (``("db", d)`` + ``mailing``), the
        metrics summed over the last ``last`` windows: {value: metrics}."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        size = LEVELS[level]
        first = window_start(now_ms, level) - (last - 1) * size
        n = len(prefix)
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            for start, bucket in self._windows[level].items():
                if start < first:
                    continue
                for dim, metrics in bucket.items():
                    if len(dim) == n + 2 and dim[:n] == prefix and dim[n] == kind:
                        merge(out.setdefault(dim[n + 1], {}), metrics)
        return out

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # -- following fl.stats ---------------------------------------------------------------------
    def apply(self, value: bytes) -> None:
        """Fold one ``fl.stats`` record into the windows (and drop windows past keeping)."""
        doc = orjson.loads(value)
        start = int(doc["start_ms"])
        rows = doc["rows"]
        with self._lock:
            for level, windows in self._windows.items():
                bucket = windows.setdefault(window_start(start, level), {})
                for dim_list, metrics in rows:
                    dim = tuple(dim_list)
                    target = bucket.get(dim)
                    if target is None:
                        bucket[dim] = dict(metrics)
                    else:
                        merge(target, metrics)
                if len(windows) > KEEP[level] + 5:
                    for old in sorted(windows)[:len(windows) - KEEP[level]]:
                        del windows[old]
            self.applied += 1

    def _run(self) -> None:
        again_on_error(self._stop, self._follow, "stats view")

    def _follow(self) -> None:
        consumer = Consumer(confluent_config(self.kafka, **{
            "group.id": f"fl-stats-view-{id(self)}", "enable.auto.commit": False,
            "enable.partition.eof": True, "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100}))
        try:
            meta = consumer.list_topics(self.topic, timeout=30).topics.get(self.topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise TopicMissing(self.topic)
            since = int(time.time() * 1000) - _KEEP_MS
            starts = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, since) for p in sorted(meta.partitions)], 30)
            ends = {}
            for tp in starts:
                _low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition),
                                                            timeout=30)
                ends[tp.partition] = high
                if tp.offset < 0:  # nothing that new: start at the end
                    tp.offset = high
            consumer.assign(starts)
            positions = {tp.partition: tp.offset for tp in starts}
            self._check_ready(positions, ends)
            self._windows = {level: {} for level in LEVELS}
            while not self._stop.is_set():
                for msg in consumer.consume(500, 0.2):
                    err, part, offset = msg.error(), msg.partition(), msg.offset()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF and part is not None \
                                and offset is not None:
                            positions[part] = max(positions[part], offset)
                        elif err.fatal():
                            raise KafkaFailure(f"{self.topic}: {err}")
                        continue
                    if part is None or offset is None:  # only error events lack them
                        continue
                    try:
                        self.apply(msg.value() or b"")
                    except (ValueError, KeyError, TypeError) as exc:
                        log.warning("stats view: skipped record at offset %d: %s", offset, exc)
                    positions[part] = offset + 1
                if not self._ready.is_set():
                    self._check_ready(positions, ends)
        finally:
            consumer.close()

    def _check_ready(self, positions: dict[int, int], ends: dict[int, int]) -> None:
        # with read_committed the end is a transaction marker: EOF tells us we are there
        if all(positions.get(p, 0) >= high for p, high in ends.items()):
            self._ready.set()
