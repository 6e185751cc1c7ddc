"""A time window of several topics, as offsets: what replay and export read.

:func:`plan_window` turns ``[since_ms, until_ms)`` (Kafka record timestamps, Unix ms; since
inclusive, until exclusive) into one :class:`Span` per topic partition with Kafka's
offsets-for-times: ``start`` is the first offset whose timestamp is ``>= since_ms``, ``end``
the first whose timestamp is ``>= until_ms`` (the partition's end when none is). Readers also
drop records whose own timestamp falls outside the window, so a producer that set timestamps
out of order cannot put a record from outside into it (one from inside, written after the
``end`` offset, is missed: the window is by offset, exact for producers whose timestamps grow
per partition — which ours and the platform's clients do).

Retention: when a partition has lost records to retention (its first kept offset is not 0)
and the first record it still keeps is younger than ``since_ms``, part of the window may be
gone; :func:`plan_window` raises :class:`WindowGone` saying how much, instead of replaying a
history with a hole in it.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Iterable, Iterator

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from streams.config.settings import KafkaConfig
from streams.errors import InputError, KafkaFailure
from streams.kafka.clients import confluent_config

__all__ = ["POLL_S", "Span", "Window", "WindowError", "WindowGone", "plan_window",
           "read_spans", "reader"]

POLL_S = 0.01
"""How long one ``consume`` of :func:`read_spans` waits. It returns early only with a full
batch (1,000 records), so the last, partial batch of every read waited this long: at 0.2 s
that was 0.2 s per changelog partition and per window partition read."""


class WindowError(InputError):
    """A window that cannot be read: ``field`` names the input to change."""


class WindowGone(WindowError):
    """Part of the window is older than what retention kept."""

    def __init__(self, problem: str, gone_ms: int, oldest_kept_ms: int) -> None:
        super().__init__("since", problem)
        self.gone_ms = gone_ms
        self.oldest_kept_ms = oldest_kept_ms


@dataclass(frozen=True)
class Span:
    """Offsets ``[start, end)`` of one topic partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def records(self) -> int:
        return max(0, self.end - self.start)

    @property
    def key(self) -> str:
        """``topic/partition``: the name this span's progress is kept under."""
        return f"{self.topic}/{self.partition}"


@dataclass(frozen=True)
class Window:
    """A planned window: its bounds and the non-empty spans, ordered by partition, topic."""

    since_ms: int
    until_ms: int
    spans: tuple[Span, ...]

    @property
    def records(self) -> int:
        """Records in the window's offset ranges (before any filter)."""
        return sum(s.records for s in self.spans)

    def by_partition(self) -> dict[int, list[Span]]:
        """Spans grouped by partition number: raw events and their profiles share it."""
        out: dict[int, list[Span]] = {}
        for span in self.spans:
            out.setdefault(span.partition, []).append(span)
        return out


def reader(kafka: KafkaConfig, **extra: object) -> Consumer:
    """A consumer outside any group (assign only; nothing committed)."""
    return Consumer(confluent_config(kafka, **{
        "group.id": f"fl-reader-{uuid.uuid4().hex}", "enable.auto.commit": False,
        "enable.partition.eof": True,
        # a bounded prefetch: readers hold one window partition's worth of fetches at most
        "fetch.max.bytes": 4 * 2**20, "queued.max.messages.kbytes": 4096,
        # once that prefetch is full librdkafka postpones the next fetch by this (default
        # 1000 ms), while a reader drains 4 MB in ~0.2 s: it idled most of each second
        "fetch.queue.backoff.ms": 10, **extra}))


def plan_window(kafka: KafkaConfig, topics: Iterable[str], since_ms: int, until_ms: int,
                timeout_s: float = 30.0) -> Window:
    """The spans of ``topics`` in ``[since_ms, until_ms)``. Raises :class:`WindowError` for
    ``until <= since`` or a topic that does not exist, :class:`WindowGone` when retention
    took part of the window (see the module docstring)."""
    if until_ms <= since_ms:
        raise WindowError("until", "must be later than since")
    consumer = reader(kafka)
    try:
        tps: list[TopicPartition] = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise WindowError("types", f"topic {topic} does not exist")
            tps += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        marks = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=timeout_s)
                 for tp in tps}
        starts = _offsets_for(consumer, tps, since_ms, marks, timeout_s)
        ends = _offsets_for(consumer, tps, until_ms, marks, timeout_s)
        _check_retention(consumer, marks, starts, since_ms, timeout_s)
        spans = tuple(Span(t, p, starts[(t, p)], ends[(t, p)])
                      for t, p in sorted(marks, key=lambda tp: (tp[1], tp[0]))
                      if ends[(t, p)] > starts[(t, p)])
        return Window(since_ms, until_ms, spans)
    finally:
        consumer.close()


def _offsets_for(consumer: Consumer, tps: list[TopicPartition], at_ms: int,
                 marks: dict[tuple[str, int], tuple[int, int]],
                 timeout_s: float) -> dict[tuple[str, int], int]:
    found = consumer.offsets_for_times([TopicPartition(tp.topic, tp.partition, at_ms)
                                        for tp in tps], timeout=timeout_s)
    out = {}
    for tp in found:
        low, high = marks[(tp.topic, tp.partition)]
        # -1: no record at or after at_ms, so the partition's end
        out[(tp.topic, tp.partition)] = high if tp.offset < 0 else max(low, tp.offset)
    return out


def _check_retention(consumer: Consumer, marks: dict[tuple[str, int], tuple[int, int]],
                     starts: dict[tuple[str, int], int], since_ms: int,
                     timeout_s: float) -> None:
    # only partitions that lost records and whose window starts at the first kept record
    suspects = [TopicPartition(t, p, low) for (t, p), (low, high) in marks.items()
                if low > 0 and high > low and starts[(t, p)] == low]
    if not suspects:
        return
    oldest: dict[tuple[str, int], int] = {}
    for msg in read_spans(consumer, [Span(tp.topic, tp.partition, tp.offset, tp.offset + 1)
                                     for tp in suspects], timeout_s):
        oldest[(str(msg.topic()), int(msg.partition() or 0))] = msg.timestamp()[1]
    gaps = [(ts - since_ms, tp) for tp, ts in oldest.items() if ts > since_ms]
    if not gaps:
        return
    gone_ms, (topic, partition) = max(gaps)
    kept_ms = since_ms + gone_ms
    raise WindowGone(
        f"the window starts {_duration(gone_ms)} before the oldest record retention kept on "
        f"{topic}[{partition}] ({_iso(kept_ms)}; {marks[(topic, partition)][0]:,} older "
        f"records of that partition are deleted): up to {_duration(gone_ms)} of the window "
        f"is gone. Start at {_iso(kept_ms)} or later (raise the raw topics' retention.ms to "
        "keep more)", gone_ms, kept_ms)


def read_spans(consumer: Consumer, spans: list[Span], timeout_s: float = 60.0,
               positions: dict[str, int] | None = None) -> Iterator[Message]:
    """The records of ``spans`` (from ``positions[span.key]`` where given), each partition
    until its span's end; records past an end are not yielded. Stops early when no record
    arrives for ``timeout_s`` (raises ``TimeoutError``)."""
    ends = {(s.topic, s.partition): s.end for s in spans}
    starts = [TopicPartition(s.topic, s.partition,
                             (positions or {}).get(s.key, s.start)) for s in spans]
    remaining = {(tp.topic, tp.partition) for tp in starts
                 if tp.offset < ends[(tp.topic, tp.partition)]}
    if not remaining:
        return
    consumer.assign([tp for tp in starts if (tp.topic, tp.partition) in remaining])
    idle_since = time.monotonic()
    try:
        while remaining:
            batch = consumer.consume(1000, POLL_S)
            if batch:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > timeout_s:
                raise KafkaFailure(f"no record for {timeout_s:g}s from "
                                   f"{', '.join(f'{t}[{p}]' for t, p in sorted(remaining))}")
            for msg in batch:
                err = msg.error()
                where = (msg.topic(), msg.partition())
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        _done(consumer, remaining, where)
                    elif err.fatal() or not err.retriable():
                        raise KafkaFailure(f"reading {where}: {err}")
                    continue
                end = ends.get(where)  # type: ignore[arg-type]
                offset = msg.offset()
                if end is None or offset is None or offset >= end:
                    _done(consumer, remaining, where)
                    continue
                if offset >= end - 1:
                    _done(consumer, remaining, where)
                yield msg
    finally:
        consumer.unassign()


def _done(consumer: Consumer, remaining: set[tuple[str, int]], where: tuple[object, object]) -> None:
    """A partition read to its end: stop fetching it (the others may take a while)."""
    if where in remaining:
        remaining.discard(where)
        consumer.pause([TopicPartition(str(where[0]), int(str(where[1])))])


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _duration(ms: int) -> str:
    seconds = ms // 1000
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v} {u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "min"))
             if v] or [f"{seconds} s"]
    return " ".join(parts[:2])
