"""Read and replay ``fl.invalid``: the records the worker could not use, with the reason.

An ``fl.invalid`` record is the original key and value, with headers naming the reason, the
field and the source topic, partition and offset (:func:`streams.kafka.records.invalid_headers`).
:func:`recent` lists the newest; :func:`replay` writes matching ones back to their source
topic, byte for byte, with an ``fl-replay`` header naming where they were parked. Use it after a
fix that makes them acceptable: a release that accepts what the schema refused, a bug fixed
(reason ``internal error ...``), an ESP report whose reference secret was configured late.

A record parked as a truncated copy (it was over ``limits.record_bytes``: headers
``fl-truncated`` and ``fl-original-value-bytes``) is replayed from its original, read back from
the source topic at its offset; once retention has removed it, it counts as skipped.

A replayed record keeps its key, so it lands on the partition it came from, next to its
profile. It is processed *now*: a replayed profile edit is applied after newer edits of that
profile, so filter by topic when that matters. Records stay in ``fl.invalid`` (an append-only
log); replaying the same window twice writes twice, and a record that is still invalid is
parked again. Count first with ``dry_run``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams.kafka.clients import confluent_config, producer_config, read_window
from streams.kafka.limits import ORIGINAL_VALUE_BYTES, TRUNCATED
from streams.kafka.records import header_pairs, now_ms
from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics
from streams.errors import NotAcknowledged

__all__ = ["ReplayReport", "describe", "recent", "replay", "replayable_topics"]

#: characters of the original value shown when listing
SHOWN_VALUE_CHARS = 2048
#: the largest original a replay writes back (librdkafka's own limit per record)
ORIGINALS_MAX_BYTES = 100 * 2**20


@dataclass
class ReplayReport:
    """What a replay found and wrote."""

    scanned: int = 0
    matched: int = 0
    written: int = 0
    #: matched records whose source is not a topic the worker reads, or truncated copies
    #: whose original is no longer in the source topic (not written)
    skipped: int = 0
    #: truncated copies replayed from their original in the source topic
    from_source: int = 0
    topics: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def replayable_topics(topics: Topics) -> frozenset[str]:
    """The topics the worker reads: the only ones a replay writes to."""
    return frozenset({*topics.raw.values(), topics.ref_profiles, topics.esp_reports})


def describe(msg: Message) -> dict[str, Any]:
    """One ``fl.invalid`` record as the API shows it."""
    headers = {k: v.decode("utf-8", "replace") for k, v in header_pairs(msg.headers())}
    value = msg.value()
    text = value.decode("utf-8", "replace") if value is not None else None
    key = msg.key()

    def number(name: str) -> int | None:
        raw = headers.get(name, "")
        return int(raw) if raw.lstrip("-").isdigit() else None

    return {
        "reason": headers.get("fl-reason", ""),
        "field": headers.get("fl-field"),
        "source": {"topic": headers.get("fl-source-topic"),
                   "partition": number("fl-source-partition"),
                   "offset": number("fl-source-offset")},
        "invalid_ms": msg.timestamp()[1],
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value": text[:SHOWN_VALUE_CHARS] if text is not None else None,
        "value_bytes": len(value) if value is not None else 0,
        "original_bytes": number(ORIGINAL_VALUE_BYTES) if TRUNCATED in headers else None,
        "replayed_from": headers.get("fl-replay"),
        "at": {"partition": msg.partition(), "offset": msg.offset()},
    }


def _matches(doc: dict[str, Any], topic: str | None, reason: str | None) -> bool:
    if topic is not None and doc["source"]["topic"] != topic:
        return False
    return reason is None or reason.lower() in doc["reason"].lower()


def recent(kafka: KafkaConfig, topics: Topics, topic: str | None = None,
           reason: str | None = None, limit: int = 20, scan: int = 20000,
           timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Up to ``limit`` newest invalid records from source ``topic`` whose reason contains
    ``reason`` (case-insensitive), among the last ``scan`` of each partition."""
    found = [doc for doc in map(describe, read_window(kafka, topics.invalid, last=scan,
                                                      timeout_s=timeout_s))
             if _matches(doc, topic, reason)]
    found.sort(key=lambda d: d["invalid_ms"], reverse=True)
    return found[:limit]


def replay(kafka: KafkaConfig, topics: Topics, topic: str | None = None,
           reason: str | None = None, since_ms: int | None = None, until_ms: int | None = None,
           dry_run: bool = False, timeout_s: float = 60.0) -> ReplayReport:
    """Write the invalid records parked in [since, until) from source ``topic`` whose reason
    contains ``reason`` back to their source topics (see the module docstring)."""
    report = ReplayReport()
    until_ms = until_ms if until_ms is not None else now_ms()
    allowed = replayable_topics(topics)
    # an original read back may be larger than our own record limit: the platform put it in
    # compressed, and so does the replay (the broker checks the compressed batch)
    producer = None if dry_run else Producer(producer_config(kafka, **{
        "linger.ms": 20, "compression.type": "lz4", "message.max.bytes": ORIGINALS_MAX_BYTES}))
    originals = _Originals(kafka)
    try:
        for msg in read_window(kafka, topics.invalid, since_ms, timeout_s=timeout_s):
            report.scanned += 1
            doc = describe(msg)
            if doc["invalid_ms"] >= until_ms or not _matches(doc, topic, reason):
                continue
            report.matched += 1
            source = doc["source"]["topic"]
            key, value = msg.key(), msg.value()
            if source in allowed and doc["original_bytes"] is not None:
                original = originals.read(source, doc["source"]["partition"],
                                          doc["source"]["offset"])
                if original is None:
                    source = None  # retention removed it: skipped below
                else:
                    key, value = original.key(), original.value()
                    report.from_source += 1
            if source not in allowed:
                report.skipped += 1
                continue
            report.topics[source] = report.topics.get(source, 0) + 1
            if producer is not None:
                where = f"{topics.invalid}/{msg.partition()}/{msg.offset()}"
                producer.produce(source, value, key, headers=[("fl-replay", where)])
                producer.poll(0)
                report.written += 1
    finally:
        originals.close()
    if producer is not None and producer.flush(timeout_s):
        raise NotAcknowledged("not every replayed record was acknowledged by Kafka")
    return report


class _Originals:
    """Reads single records back from their source topic (for truncated copies)."""

    def __init__(self, kafka: KafkaConfig, timeout_s: float = 10.0) -> None:
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._consumer: Consumer | None = None

    def read(self, topic: str, partition: int | None, offset: int | None) -> Message | None:
        """The record at ``topic``/``partition``/``offset``, or None when it is gone."""
        if partition is None or offset is None:
            return None
        if self._consumer is None:
            self._consumer = Consumer(confluent_config(self._kafka, **{
                "group.id": "fl-invalid-originals", "enable.auto.commit": False,
                "auto.offset.reset": "error"}))
        low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                         timeout=self._timeout_s)
        if not low <= offset < high:
            return None
        self._consumer.assign([TopicPartition(topic, partition, offset)])
        msg = self._consumer.poll(self._timeout_s)
        if msg is None or msg.error() is not None or msg.offset() != offset:
            return None
        return msg

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
