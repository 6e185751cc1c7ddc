"""Create the topics of :mod:`streams.kafka.topics` (idempotent) with confluent-kafka's admin client."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams.kafka.clients import confluent_config
from streams.config.settings import KafkaConfig
from streams.kafka.topics import TopicSpec

__all__ = ["ProvisionResult", "create_topics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvisionResult:
    """What ``create_topics`` did: names created, names already there, and mismatches."""

    created: list[str]
    existing: list[str]
    #: existing topics whose partition count differs from the configuration.
    mismatched: list[str]


def create_topics(kafka: KafkaConfig, specs: list[TopicSpec], timeout_s: float = 30.0) -> ProvisionResult:
    """Create every topic in ``specs`` that does not exist; leave existing ones alone.

    Topics get ``kafka.replication_factor`` replicas and ``min.insync.replicas`` set to
    ``kafka.insync_replicas`` (our producers write with ``acks=all``), not the broker's default.

    Running it twice is harmless: the second run reports every topic as existing.
    """
    admin = AdminClient(confluent_config(kafka))
    metadata = admin.list_topics(timeout=timeout_s)
    present = metadata.topics
    missing = [s for s in specs if s.name not in present]
    existing = [s.name for s in specs if s.name in present]
    mismatched = [s.name for s in specs
                  if s.name in present and len(present[s.name].partitions) != s.partitions]
    created: list[str] = []
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, num_partitions=s.partitions,
                      replication_factor=kafka.replication_factor,
                      config={"min.insync.replicas": str(kafka.insync_replicas), **s.configs})
             for s in missing],
            operation_timeout=timeout_s, request_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:  # a concurrent run
                    existing.append(name)
                else:
                    raise
    if created:
        _wait_visible(admin, created, timeout_s)
    for name in mismatched:
        log.warning("topic %s exists with a different partition count than configured", name)
    return ProvisionResult(created=created, existing=existing, mismatched=mismatched)


def _wait_visible(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Return once metadata shows every topic in ``names`` (a process started right after
    provisioning must find them), or warn after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        present = admin.list_topics(timeout=timeout_s).topics
        missing = [n for n in names if n not in present]
        if not missing:
            return
        if time.monotonic() > deadline:
            log.warning("created topics not yet in the metadata after %.0fs: %s", timeout_s,
                        ", ".join(missing))
            return
        time.sleep(0.2)
