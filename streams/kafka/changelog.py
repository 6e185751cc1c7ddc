"""Today's profile state outside the worker: the profile table's changelog, one partition at a
time.

The worker's profile table (RocksDB, inside the worker) is mirrored by Faust to a compacted
changelog topic (``<app_id>-profiles-changelog``): key = profile id, value = the snapshot the
table holds (bytes, ``profile.json`` shape), tombstone = deleted. It already contains every
snapshot from ``fl.ref.profiles`` and every profile edit applied in timestamp order, so reading
it gives exactly the state the live path uses — rebuilding that from ``fl.ref.profiles`` plus
``fl.raw.profile-edits`` would repeat the worker's ordering rules and miss edits older than the
raw topics' retention (docs/decisions.md, "Replay and export").

The changelog is co-partitioned with the raw topics (the table writes partition *p*'s changes
to changelog partition *p*), so the events of raw partition *p* need only changelog partition
*p*: readers hold one partition in memory at a time.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from streams.config.settings import KafkaConfig
from streams.kafka.window import Span, read_spans, reader

__all__ = ["FieldTypes", "read_profiles", "scan_field_types"]


class FieldTypes:
    """Field name -> the Python value types seen (``bool``, ``int``, ``float``, ``str``),
    in first-seen order of names; ``None`` values add no type."""

    def __init__(self) -> None:
        self.types: dict[str, set[type]] = {}

    def add(self, fields: Any) -> None:
        if not isinstance(fields, dict):
            return
        for name, value in fields.items():
            seen = self.types.get(name)
            if seen is None:
                seen = self.types[name] = set()
            if value is not None:
                seen.add(type(value))

    def add_profile(self, profile: Any) -> None:
        """A snapshot's fields and its subprofiles' (subprofile events carry those)."""
        if not isinstance(profile, dict):
            return
        self.add(profile.get("fields"))
        for sub in (profile.get("subprofiles") or {}).values():
            if isinstance(sub, dict):
                self.add(sub.get("fields"))


def _partition_span(kafka: KafkaConfig, topic: str, partition: int,
                    timeout_s: float) -> tuple[Span | None, Consumer]:
    consumer = reader(kafka)
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                               timeout=timeout_s)
    return (Span(topic, partition, low, high) if high > low else None), consumer


def read_profiles(kafka: KafkaConfig, topic: str, partition: int,
                  timeout_s: float = 60.0) -> dict[bytes, bytes]:
    """Profile id -> snapshot bytes of one changelog partition, as it is now."""
    span, consumer = _partition_span(kafka, topic, partition, timeout_s)
    table: dict[bytes, bytes] = {}
    try:
        if span is None:
            return table
        for msg in read_spans(consumer, [span], timeout_s):
            key, value = msg.key(), msg.value()
            if key is None:
                continue
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        return table
    finally:
        consumer.close()


def scan_field_types(kafka: KafkaConfig, topic: str, partitions: Iterable[int],
                     into: FieldTypes | None = None, timeout_s: float = 60.0) -> FieldTypes:
    """The field names and value types of every snapshot in the changelog partitions
    (superseded and deleted ones included: a superset does no harm), without keeping them."""
    found = into if into is not None else FieldTypes()
    for partition in partitions:
        span, consumer = _partition_span(kafka, topic, partition, timeout_s)
        try:
            if span is None:
                continue
            for msg in read_spans(consumer, [span], timeout_s):
                value = msg.value()
                if value is not None:
                    try:
                        found.add_profile(orjson.loads(value))
                    except orjson.JSONDecodeError:
                        continue
        finally:
            consumer.close()
    return found
