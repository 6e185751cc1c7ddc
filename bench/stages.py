"""How far each stage got, over time: the end offsets of ``fl.deliveries`` (records the worker
wrote) sampled on a thread. Next to the produce times and the receipts this shows which stage
held a run back: if deliveries pile up in Kafka the sender is the limit, if they appear no
faster than they are delivered the worker is."""
from __future__ import annotations

import threading
import time
import uuid

import numpy as np
from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.kafka.clients import confluent_config
from streams.config.settings import KafkaConfig

__all__ = ["TopicEnds"]


class TopicEnds:
    """Samples the sum of ``topic``'s end offsets every ``interval_s``; :meth:`per_bucket`
    turns the samples into records written per second."""

    def __init__(self, kafka: KafkaConfig, topic: str, partitions: int,
                 interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer = Consumer(confluent_config(kafka, **{
            "group.id": f"bench-ends-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}))
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topic-ends", daemon=True)
        self._base: int | None = None

    def start(self) -> "TopicEnds":
        self._base = self._total()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()

    def _total(self) -> int:
        total = 0
        for tp in self._tps:
            try:
                _, high = self._consumer.get_watermark_offsets(tp, timeout=2, cached=False)
            except KafkaException:
                return -1
            total += high
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            total = self._total()
            if total >= 0:
                self.samples.append((time.time(), total - (self._base or 0)))

    def per_bucket(self, start: float, bucket_s: float, buckets: int) -> list[float]:
        """Records written per second in each bucket from ``start`` (interpolated)."""
        if len(self.samples) < 2:
            return []
        t = np.array([s[0] for s in self.samples])
        v = np.array([s[1] for s in self.samples], dtype=float)
        edges = start + bucket_s * np.arange(buckets + 1)
        at_edges = np.interp(edges, t, v)
        rates: list[float] = (np.diff(at_edges) / bucket_s).tolist()
        return rates
