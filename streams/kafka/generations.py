"""Generations of the internal topics and the scaling state kept in ``fl.partitioning``.

With ``worker.partitioning: repartition`` the enrich stage reads internal topics whose
partition count the pipeline owns. A *generation* ``G`` is a set of Kafka names:

- ``fl.gen<G>.events`` (every raw event, re-keyed by profile id else recipient) and
  ``fl.gen<G>.profiles`` (compacted; the re-keyed ``fl.ref.profiles``), both with the
  generation's partition count and the topic prefix;
- the Faust app id (consumer group) ``<app_id>-g<G>`` and its two table changelogs;
- the worker's data dir ``<data_dir>/g<G>``.

``fl.partitioning`` (compacted, one partition) holds, as JSON under fixed keys:

- ``state``: written only by the coordinator (:mod:`streams.ops.partitions`): the serving
  generation and its count, the one being built (:class:`Next`), generations to delete;
- ``request`` / ``cancel``: written by ``feedbackloops partitions scale|cancel`` and the API;
- ``cut/<topic>/<partition>``: where the re-key stage switched a raw partition to a generation.

This module is Faust-free and Kafka-free: names, the state's shape, and its (de)serialisation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from schemas.errors import InvalidRecord

from streams.kafka.topics import COMPACT, HOUR_MS, TopicSpec, Topics

__all__ = ["Cut", "GenerationTopics", "Maintenance", "Next", "PHASES", "Request", "ScaleState", "cut_key",
           "generation_topics", "parse_cut", "parse_maintenance", "parse_object",
           "parse_request", "parse_state"]

_R = TypeVar("_R")

#: the phases of a scale, in order (see docs/decisions.md, "Partitions owned by the pipeline")
PHASES = ("building", "cutting", "draining")

STATE_KEY = "state"
REQUEST_KEY = "request"
CANCEL_KEY = "cancel"
#: direct mode's partition change (streams.ops.grow)
DIRECT_KEY = "direct"


@dataclass(frozen=True)
class GenerationTopics:
    """Every Kafka name of generation ``number`` (with the configured prefix)."""

    number: int
    events: str
    profiles: str
    #: the Faust app id and consumer group of the generation's workers
    group: str
    profiles_changelog: str
    soft_bounces_changelog: str

    @property
    def changelogs(self) -> tuple[str, str]:
        return (self.profiles_changelog, self.soft_bounces_changelog)

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic of the generation (what is created, and deleted when it retires)."""
        return (self.events, self.profiles, *self.changelogs)

    def specs(self, partitions: int, raw_retention_hours: float,
              max_message_bytes: int) -> list[TopicSpec]:
        """The generation's topics with ``partitions`` each; events are kept as long as the
        raw topics (a worker outage must not outlast them), records as large as theirs."""
        size = {"max.message.bytes": str(max_message_bytes)}
        retention = {"cleanup.policy": "delete",
                     "retention.ms": str(int(raw_retention_hours * HOUR_MS)), **size}
        return [TopicSpec(self.events, partitions, retention),
                *(TopicSpec(name, partitions, {**COMPACT, **size})
                  for name in (self.profiles, *self.changelogs))]


def generation_topics(topics: Topics, number: int) -> GenerationTopics:
    p = topics.prefix
    group = f"{topics.app_id}-g{number}"
    return GenerationTopics(number, f"{p}fl.gen{number}.events", f"{p}fl.gen{number}.profiles",
                            group, f"{p}{group}-profiles-changelog",
                            f"{p}{group}-soft-bounces-changelog")


@dataclass(frozen=True)
class Next:
    """The generation being built and how far the scale is."""

    generation: int
    partitions: int
    request_id: str
    phase: str = "building"
    started_ms: int = 0
    #: changelog partition ("topic/partition") -> where the copy has got to / must reach
    copy_positions: dict[str, int] = field(default_factory=dict)
    copy_targets: dict[str, int] = field(default_factory=dict)
    #: records to copy when the build started, and copied since (progress)
    copy_total: int = 0
    copied: int = 0
    #: the cut time: raw records stamped at or after it go to the new generation
    cut_at_ms: int = 0
    #: raw partition ("topic/partition") -> cut offset, once every raw partition has one
    cuts: dict[str, int] = field(default_factory=dict)
    #: the serving generation's end offsets ("topic/partition") its group must commit up to
    drain_targets: dict[str, int] = field(default_factory=dict)
    cut_started_ms: int = 0

    @property
    def progress(self) -> float:
        """0..1: the table copy's share of the work (the cut-over is the last percent)."""
        if self.phase != "building":
            return 0.99
        if self.copy_total <= 0:
            return 0.0
        return min(0.98, 0.98 * self.copied / self.copy_total)


@dataclass(frozen=True)
class ScaleState:
    """The latest ``state`` record."""

    serving: int
    partitions: int
    next: Next | None = None
    #: generations that stopped serving and whose topics are deleted once their group is empty
    retired: tuple[int, ...] = ()
    #: request ids already acted on (the last few), so a request is never done twice
    handled: tuple[str, ...] = ()
    #: the highest generation number ever used (a cancelled one's too: names are not reused)
    highest: int = 0
    #: the last scale's outcome, for `partitions status`: "done", "cancelled", or a refusal
    last: dict[str, Any] = field(default_factory=dict)
    updated_ms: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    def replace(self, **changes: Any) -> "ScaleState":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Request:
    """``partitions scale N`` (or ``cancel``: ``partitions`` is 0)."""

    id: str
    partitions: int
    requested_ms: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))


@dataclass(frozen=True)
class Maintenance:
    """Direct mode's partition change: ``stopping`` (workers stop and wait), ``altering``
    (topics grow, snapshots are published again), ``done`` (workers start with the new
    count)."""

    id: str
    partitions: int
    phase: str
    started_ms: int = 0

    @property
    def in_progress(self) -> bool:
        return self.phase in ("stopping", "altering")

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))


@dataclass(frozen=True)
class Cut:
    """Raw partition switched to ``generation`` at ``offset``."""

    generation: int
    offset: int

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))


def cut_key(topic: str, partition: int) -> str:
    return f"cut/{topic}/{partition}"


def parse_object(data: bytes) -> dict[str, Any]:
    """A record's JSON object (else InvalidRecord)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not JSON: {exc}", None) from None
    if not isinstance(doc, dict):
        raise InvalidRecord("not a JSON object", None)
    return doc


def parse_state(data: bytes) -> ScaleState:
    doc = parse_object(data)
    try:
        nxt = doc.get("next")
        return ScaleState(
            serving=int(doc["serving"]), partitions=int(doc["partitions"]),
            next=Next(**nxt) if isinstance(nxt, dict) else None,
            retired=tuple(int(g) for g in doc.get("retired", ())),
            handled=tuple(str(h) for h in doc.get("handled", ())),
            highest=int(doc.get("highest", 0)),
            last=dict(doc.get("last") or {}), updated_ms=int(doc.get("updated_ms", 0)))
    except (KeyError, TypeError) as exc:
        raise InvalidRecord(f"not a scaling state: {exc}", None) from None


def _record(kind: type[_R], data: bytes, what: str) -> _R:
    """The dataclass ``kind`` from a JSON object of its fields (else InvalidRecord)."""
    try:
        return kind(**parse_object(data))
    except TypeError as exc:
        raise InvalidRecord(f"not {what}: {exc}", None) from None


def parse_request(data: bytes) -> Request:
    return _record(Request, data, "a request")


def parse_maintenance(data: bytes) -> Maintenance:
    return _record(Maintenance, data, "a maintenance record")


def parse_cut(data: bytes) -> Cut:
    return _record(Cut, data, "a cut record")
