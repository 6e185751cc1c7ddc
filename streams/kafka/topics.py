"""Every topic of the design, with its key, partitioning and cleanup policy (DESIGN.md, Topics).

Names take the configured prefix. ``fl.deliveries.retry.<delay>`` tiers follow the retry schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

from streams.config.settings import Config, KafkaConfig, LimitsConfig

__all__ = ["COMPACT", "RAW_TOPICS", "TopicSpec", "Topics"]

#: event type -> raw topic suffix. Profile create/update/delete share one topic.
RAW_TOPICS: dict[str, str] = {
    "open": "fl.raw.opens",
    "click": "fl.raw.clicks",
    "bounce": "fl.raw.bounces",
    "failure": "fl.raw.failures",
    "delivery": "fl.raw.deliveries",
    "profile": "fl.raw.profile-edits",
    "unsubscribe": "fl.raw.unsubscribes",
    "complaint": "fl.raw.complaints",
}

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: topic configs of every compacted topic we create
COMPACT = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
           "segment.ms": str(HOUR_MS)}


@dataclass(frozen=True)
class TopicSpec:
    """One topic as provisioned: name (with prefix), partitions and topic-level configs."""

    name: str
    partitions: int
    configs: dict[str, str]

    @property
    def compacted(self) -> bool:
        return self.configs.get("cleanup.policy") == "compact"


class Topics:
    """Topic names and specs for one configuration."""

    def __init__(self, kafka: KafkaConfig, retry_tiers: tuple[str, ...] = (),
                 app_id: str = "feedbackloops",
                 max_message_bytes: int = LimitsConfig().topic_max_message_bytes) -> None:
        self._kafka = kafka
        self._retry_tiers = retry_tiers
        #: every topic's max.message.bytes: what our producers may send (limits.record_bytes)
        #: plus Kafka's margin, set explicitly so a broker default cannot disagree
        self.max_message_bytes = max_message_bytes
        p = kafka.topic_prefix
        #: the topic prefix and the worker's app id (generation names derive from both)
        self.prefix = p
        self.app_id = app_id
        self.raw = {etype: p + name for etype, name in RAW_TOPICS.items()}
        self.esp_reports = p + "fl.esp.reports"
        self.esp_unmapped = p + "fl.esp.unmapped"
        self.ref_profiles = p + "fl.ref.profiles"
        self.ref_tags = p + "fl.ref.tags"
        self.loops = p + "fl.loops"
        self.accounts = p + "fl.accounts"
        self.stats = p + "fl.stats"
        self.invalid = p + "fl.invalid"
        self.deliveries = p + "fl.deliveries"
        #: the replay lane: deliveries of replays, sent by the replayer (streams/replay/)
        self.replay_deliveries = p + "fl.deliveries.replay"
        #: replays: requests, progress, cancels, lane counts (compacted; streams/replay/book.py)
        self.replays = p + "fl.replays"
        self.retry = {tier: f"{p}fl.deliveries.retry.{tier}" for tier in retry_tiers}
        self.dead = p + "fl.deliveries.dead"
        self.attempts = p + "fl.attempts"
        self.profile_actions = p + "fl.profile-actions"
        self.operations = p + "fl.operations"
        #: the scaling state of repartition mode (streams.kafka.generations)
        self.partitioning = p + "fl.partitioning"
        #: the profile table's changelog (Faust's naming, with our prefix).
        self.profiles_changelog = f"{p}{app_id}-profiles-changelog"
        #: the soft-bounce counters' changelog (streams.esp.softbounces)
        self.soft_bounces_changelog = f"{p}{app_id}-soft-bounces-changelog"

    @classmethod
    def for_config(cls, config: Config) -> "Topics":
        """Names for ``config``: its prefix, its retry tiers, its worker app id."""
        from senders.retry import tier_name

        tiers = tuple(dict.fromkeys(tier_name(d) for d in config.sender.retry_schedule_s))
        return cls(config.kafka, tiers, config.worker.app_id,
                   config.limits.topic_max_message_bytes)

    def specs(self) -> list[TopicSpec]:
        """All topics with partitions and cleanup policy, in a stable order."""
        k = self._kafka
        n = k.partitions
        raw_retention = str(int(k.raw_retention_hours * HOUR_MS))
        size = {"max.message.bytes": str(self.max_message_bytes)}
        delete = {"cleanup.policy": "delete", **size}
        compact = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                   "segment.ms": str(HOUR_MS), **size}
        specs = [TopicSpec(name, n, {**delete, "retention.ms": raw_retention})
                 for name in self.raw.values()]
        specs += [
            TopicSpec(self.esp_reports, n, {**delete, "retention.ms": raw_retention}),
            TopicSpec(self.esp_unmapped, n, {**delete, "retention.ms": str(30 * DAY_MS)}),
            TopicSpec(self.ref_profiles, n, compact),
            TopicSpec(self.ref_tags, n, compact),
            TopicSpec(self.profiles_changelog, n, compact),
            TopicSpec(self.soft_bounces_changelog, n, compact),
            # Loops are few; one partition keeps the registry's read-your-writes simple.
            TopicSpec(self.loops, 1, compact),
            # API accounts and their token hashes: few, followed by every worker like loops
            TopicSpec(self.accounts, 1, compact),
            # statistics deltas (streams/stats): read from 32 days back by every API process
            TopicSpec(self.stats, 1, {**delete, "retention.ms": str(32 * DAY_MS)}),
            TopicSpec(self.invalid, n, {**delete, "retention.ms": str(14 * DAY_MS)}),
            TopicSpec(self.deliveries, n, {**delete, "retention.ms": str(7 * DAY_MS)}),
            TopicSpec(self.replay_deliveries, n,
                      {**delete, "retention.ms": str(7 * DAY_MS)}),
            TopicSpec(self.replays, n, compact),
        ]
        specs += [TopicSpec(t, n, {**delete, "retention.ms": str(7 * DAY_MS)})
                  for t in self.retry.values()]
        specs += [
            TopicSpec(self.dead, n,
                      {**delete, "retention.ms": str(int(k.dead_retention_days * DAY_MS))}),
            TopicSpec(self.attempts, n, {**delete, "retention.ms": str(7 * DAY_MS)}),
            TopicSpec(self.profile_actions, n, {**delete, "retention.ms": str(7 * DAY_MS)}),
            TopicSpec(self.operations, 1, {**delete, "retention.ms": str(30 * DAY_MS)}),
            # one partition: one coordinator, and a total order of state, requests and cuts
            TopicSpec(self.partitioning, 1, compact),
        ]
        return specs
