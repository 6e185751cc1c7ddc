"""What a worker's Faust app reads and where its tables live: the raw topics, or a generation.

``direct`` mode reads the raw topics and ``fl.ref.profiles`` under the app id
``worker.app_id``. ``repartition`` mode reads one generation's internal topics
(:mod:`streams.kafka.generations`) under the generation's own app id, data dir and changelogs;
its records name the raw record they came from in an ``fl-src`` header (:func:`raw_origin`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from streams.config.settings import Config
from streams.kafka.generations import generation_topics
from streams.kafka.topics import Topics

__all__ = ["Sources", "raw_origin"]


@dataclass(frozen=True)
class Sources:
    """The Faust app's topics, tables and identity."""

    app_id: str
    #: event topics the enrich agent reads
    events: tuple[str, ...]
    #: the snapshot topic the profile-snapshots agent reads
    profiles: str
    profiles_changelog: str
    soft_bounces_changelog: str
    #: partitions of every topic above (tables are co-partitioned with them)
    partitions: int
    data_dir: str
    #: topics whose records go first at equal timestamps (streams.worker.ordering)
    first: tuple[str, ...]
    #: the generation (repartition mode), else None
    generation: int | None = None

    @classmethod
    def direct(cls, config: Config, topics: Topics, partitions: int | None = None) -> "Sources":
        """The raw topics; ``partitions``: their count (default ``kafka.partitions``)."""
        return cls(config.worker.app_id, tuple(topics.raw.values()), topics.ref_profiles,
                   topics.profiles_changelog, topics.soft_bounces_changelog,
                   partitions or config.kafka.partitions, config.worker.data_dir,
                   (topics.raw["profile"], topics.ref_profiles))

    @classmethod
    def of_generation(cls, config: Config, topics: Topics, number: int,
                      partitions: int) -> "Sources":
        names = generation_topics(topics, number)
        return cls(names.group, (names.events,), names.profiles, names.profiles_changelog,
                   names.soft_bounces_changelog, partitions,
                   str(Path(config.worker.data_dir) / f"g{number}"), (names.profiles,), number)


def raw_origin(headers: Any, topic: str, partition: int, offset: int) -> tuple[str, int, int]:
    """(topic, partition, offset) of the raw record a re-keyed record came from (its
    ``fl-src`` header), else the record's own."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, value in pairs:
        if key == "fl-src":
            src_topic, src_partition, src_offset = bytes(value).decode().rsplit("/", 2)
            return src_topic, int(src_partition), int(src_offset)
    return topic, partition, offset
