from __future__ import annotations

import time
from typing import Callable

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.kafka.clients import confluent_config
from streams.config.loading import parse_config
from streams.kafka.provision import create_topics
from streams.kafka.topics import Topics
from tests.support.processes import Project


def test_every_design_topic_is_specified() -> None:
    topics = Topics(parse_config({"kafka": {"topic_prefix": "x."}}).kafka, retry_tiers=("5s", "5m"))
    names = {s.name for s in topics.specs()}
    for expected in ["fl.raw.opens", "fl.raw.clicks", "fl.raw.bounces", "fl.raw.failures",
                     "fl.raw.deliveries", "fl.raw.profile-edits", "fl.raw.unsubscribes",
                     "fl.raw.complaints", "fl.esp.reports", "fl.ref.profiles", "fl.ref.tags",
                     "fl.loops", "fl.invalid", "fl.deliveries", "fl.deliveries.retry.5s",
                     "fl.deliveries.retry.5m", "fl.deliveries.dead", "fl.attempts",
                     "fl.profile-actions", "fl.esp.unmapped", "fl.accounts", "fl.stats",
                     "fl.deliveries.replay", "fl.replays"]:
        assert "x." + expected in names
    compacted = {s.name for s in topics.specs() if s.compacted}
    assert compacted == {"x.fl.ref.profiles", "x.fl.ref.tags", "x.fl.loops", "x.fl.accounts",
                         "x.fl.replays",
                         "x.feedbackloops-profiles-changelog",
                         "x.feedbackloops-soft-bounces-changelog", "x.fl.partitioning"}


@pytest.mark.kafka
def test_create_twice_is_harmless(project_factory: Callable[..., Project]) -> None:
    project = project_factory()  # creates the topics once
    specs = project.topics.specs()
    again = create_topics(project.config.kafka, specs)
    assert again.created == [] and sorted(again.existing) == sorted(s.name for s in specs)
    admin = AdminClient(confluent_config(project.config.kafka))
    # a new client's first metadata can lag behind the broker on a loaded machine: ask again
    deadline = time.monotonic() + 30
    while True:
        meta = admin.list_topics(timeout=10).topics
        if all(s.name in meta for s in specs) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(meta[project.topics.raw["open"]].partitions) == 4
    assert len(meta[project.topics.loops].partitions) == 1
    resources = [ConfigResource("topic", project.topics.ref_profiles),
                 ConfigResource("topic", project.topics.raw["open"])]
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
    assert configs[project.topics.ref_profiles]["cleanup.policy"].value == "compact"
    assert configs[project.topics.raw["open"]]["cleanup.policy"].value == "delete"
    assert int(configs[project.topics.raw["open"]]["retention.ms"].value) >= 7 * 24 * 3600 * 1000
    # what our producers may send (limits.record_bytes) fits, whatever the broker's default
    for name in (project.topics.ref_profiles, project.topics.raw["open"]):
        entry = configs[name]["max.message.bytes"]
        assert entry.value == "1048588" and not entry.is_default  # set on the topic itself
