"""The enriched history of a time window: what replay sends and export writes.

:class:`History` reads the raw topics' spans of a :class:`~streams.kafka.window.Window`, one
partition number at a time, and enriches each event the way the worker does
(:class:`~streams.worker.enrichment.RawEvents` then :func:`~streams.worker.enrichment.enriched`),
with **today's** profile state: the profile table's changelog partition (see
:mod:`streams.kafka.changelog`), read just before that partition's events. So ``fields``,
``email`` and ``interests`` are the profile's current ones, and ``profile_known`` is false for
a profile the table does not hold today (deleted since, or never known); tags are today's too.
Records the worker refused (they are on ``fl.invalid``) are skipped, as they were never
delivered. Profile edits are not applied again: today's state already contains them.

Order: partition by partition; within one, as the topics' records arrive (not merged by
timestamp across topics — with today's state for every event the order changes nothing).

Cost: a profile snapshot is decoded once and reused for that profile's next events (up to
:data:`DECODED_PROFILES` decoded at a time; :func:`~enrichers.enrich.enrich` never changes
its arguments, so sharing one decoded snapshot is safe).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Generator, Mapping, NamedTuple

import orjson

from enrichers.fields import select_fields
from enrichers.routing import in_scope
from schemas.loop import Loop
from schemas.validation import InvalidRecord

from streams.config.settings import KafkaConfig
from streams.kafka.changelog import read_profiles
from streams.kafka.partitioning import serving_changelog
from streams.kafka.topics import RAW_TOPICS, Topics
from streams.kafka.window import Window, read_spans, reader
from streams.worker.enrichment import PROFILE_EDITS, RawEvents, TagLookup, enriched

__all__ = ["Counts", "DECODED_PROFILES", "History", "Item", "Selection", "topic_family"]

DECODED_PROFILES = 8192
"""Decoded profile snapshots kept per partition read (a few MB): a profile's events reuse its
snapshot instead of decoding the JSON again each time."""


def topic_family(event_type: str) -> str:
    """The :data:`~streams.kafka.topics.RAW_TOPICS` key of an event type."""
    return "profile" if event_type in PROFILE_EDITS else event_type


@dataclass(frozen=True)
class Selection:
    """Which events of the window: ``types`` (None: all), ``database``, ``collection``
    (None: any), and a ``loop`` whose scope (events, database, collection) and ``fields``
    selection apply too."""

    types: frozenset[str] | None = None
    database: str | None = None
    collection: str | None = None
    loop: Loop | None = None

    def raw_topics(self, topics: Topics) -> list[str]:
        """The raw topics that can hold selected events."""
        wanted = self.types
        if self.loop is not None:
            scope = frozenset(self.loop.events)
            wanted = scope if wanted is None else wanted & scope
        if wanted is None:
            return list(topics.raw.values())
        families = {topic_family(t) for t in wanted}
        return [topics.raw[f] for f in RAW_TOPICS if f in families]

    def wants(self, event: Mapping[str, Any]) -> bool:
        etype = event["type"]
        if self.types is not None and etype not in self.types:
            return False
        if self.database is not None and event.get("database") != self.database:
            return False
        if self.collection is not None and event.get("collection") != self.collection:
            return False
        return self.loop is None or in_scope(self.loop, etype, event.get("database"),
                                             event.get("collection"))

    def shape(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with the loop's ``fields`` selection applied (no loop: unchanged)."""
        if self.loop is None or self.loop.fields is None:
            return payload
        return select_fields(payload, self.loop.fields)


@dataclass
class Counts:
    """What a read of the window saw: records ``read`` = ``outside`` (record timestamp not in
    the window) + ``invalid`` (refused by the worker too) + ``filtered`` + ``selected``."""

    read: int = 0
    outside: int = 0
    invalid: int = 0
    filtered: int = 0
    selected: int = 0
    profiles_loaded: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Item(NamedTuple):
    """One record of the window: where it is, and its event and payload when selected
    (``None`` for a skipped record, so a reader can still advance past it)."""

    span: str
    offset: int
    timestamp_ms: int
    event: dict[str, Any] | None
    payload: dict[str, Any] | None


class History:
    """Reads and enriches a window; ``counts`` accumulate over every :meth:`read`."""

    def __init__(self, kafka: KafkaConfig, topics: Topics, tags: TagLookup,
                 selection: Selection, *, with_profiles: bool = True,
                 timeout_s: float = 60.0) -> None:
        self.kafka = kafka
        self.topics = topics
        self.tags = tags
        self.selection = selection
        #: False: no changelog read and no payload (dry runs only route, and routing needs
        #: the event alone)
        self.with_profiles = with_profiles
        self.timeout_s = timeout_s
        self.raw_events = RawEvents(topics)
        self.counts = Counts()
        self._spans: dict[tuple[str, int], str] = {}
        self._decoded: dict[bytes, dict[str, Any]] = {}
        self._generation: tuple[str, int] | None | bool = False  # False: not looked up yet
        #: repartition mode: the serving generation's whole table, read once per History
        self._whole_table: dict[bytes, bytes] | None = None

    def _profiles(self, partition: int) -> dict[bytes, bytes]:
        """The profiles the events of raw ``partition`` can name: that partition of the
        changelog in direct mode; in repartition mode the raw topics are not co-partitioned
        with the table, so every partition of the serving generation's changelog (read once,
        then the same table for every raw partition)."""
        if self._generation is False:
            self._generation = serving_changelog(self.kafka, self.topics)
        if not isinstance(self._generation, tuple):
            return read_profiles(self.kafka, self.topics.profiles_changelog, partition,
                                 self.timeout_s)
        if self._whole_table is None:
            changelog, partitions = self._generation
            self._whole_table = {}
            for p in range(partitions):
                self._whole_table.update(read_profiles(self.kafka, changelog, p,
                                                       self.timeout_s))
        return self._whole_table

    def read(self, window: Window, positions: Mapping[str, int] | None = None,
             partitions: set[int] | None = None) -> Generator[Item, None, None]:
        """Every record of ``window`` (of ``partitions``, default all), from
        ``positions[span.key]`` where given. Closing the iterator stops the read."""
        for partition, spans in window.by_partition().items():
            if partitions is not None and partition not in partitions:
                continue
            todo = [s for s in spans if (positions or {}).get(s.key, s.start) < s.end]
            if not todo:
                continue
            profiles: dict[bytes, bytes] = {}
            if self.with_profiles:
                profiles = self._profiles(partition)
                self.counts.profiles_loaded += len(profiles)
            self._decoded.clear()
            consumer = reader(self.kafka)
            try:
                for msg in read_spans(consumer, todo, self.timeout_s, dict(positions or {})):
                    yield self._item(str(msg.topic()), int(msg.partition() or 0),
                                     int(msg.offset() or 0), msg.timestamp()[1], msg.key(),
                                     msg.value(), window, profiles)
            finally:
                consumer.close()
            del profiles
            self._decoded.clear()

    def _item(self, topic: str, partition: int, offset: int, ts_ms: int, key: bytes | None,
              value: bytes | None, window: Window, profiles: Mapping[bytes, bytes]) -> Item:
        c = self.counts
        c.read += 1
        span = self._spans.get((topic, partition))
        if span is None:
            span = self._spans[(topic, partition)] = f"{topic}/{partition}"
        if not window.since_ms <= ts_ms < window.until_ms:
            c.outside += 1
            return Item(span, offset, ts_ms, None, None)
        try:
            event = self.raw_events.parse(topic, key, value)
        except InvalidRecord:
            c.invalid += 1
            return Item(span, offset, ts_ms, None, None)
        if not self.selection.wants(event):
            c.filtered += 1
            return Item(span, offset, ts_ms, None, None)
        c.selected += 1
        etype = event["type"]
        c.by_type[etype] = c.by_type.get(etype, 0) + 1
        if not self.with_profiles:
            return Item(span, offset, ts_ms, event, None)
        profile_id = event.get("profile")
        profile = self._profile(profile_id.encode(), profiles) if profile_id else None
        payload = self.selection.shape(enriched(event, profile, self.tags))
        return Item(span, offset, ts_ms, event, payload)

    def _profile(self, key: bytes, profiles: Mapping[bytes, bytes]) -> dict[str, Any] | None:
        """The decoded snapshot of ``key`` (None: not in the table), decoded once."""
        decoded = self._decoded.get(key)
        if decoded is None:
            stored = profiles.get(key)
            if stored is None:
                return None
            if len(self._decoded) >= DECODED_PROFILES:
                self._decoded.clear()  # simpler than LRU, and a partition's events repeat
            decoded = self._decoded[key] = orjson.loads(stored)
        return decoded
