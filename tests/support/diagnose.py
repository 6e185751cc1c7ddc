"""When a test misses events: where are they? (raw topic, deliveries, retries, dead, invalid),
and how far did each consumer group commit. Printed into the failure message, so a failing CI
run says what broke."""
from __future__ import annotations

import re
from typing import Iterable

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.clients import confluent_config

from .processes import Project

__all__ = ["where_are"]


def _scan(project: Project, topic: str) -> list[tuple[int, int, bytes]]:
    """Every (partition, offset, value) of ``topic``, read to its current end."""
    consumer = Consumer(confluent_config(project.config.kafka, **{
        "group.id": "diagnose", "enable.auto.commit": False}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or not meta.partitions:
            return []
        out = []
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                batch = consumer.consume(1000, 2.0)
                if not batch:
                    break
                last = -1
                for m in batch:
                    if m.error() is None:
                        out.append((p, m.offset(), m.value() or b""))
                        last = m.offset()
                if last >= high - 1:
                    break
        return out
    finally:
        consumer.close()


def _committed(project: Project) -> list[str]:
    admin = AdminClient(confluent_config(project.config.kafka))
    lines = []
    groups = [g.group_id for g in admin.list_consumer_groups().result(timeout=10).valid
              if g.group_id.startswith(project.config.worker.app_id)]
    from confluent_kafka import ConsumerGroupTopicPartitions

    for group in sorted(groups):
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        for _g, fut in res.items():
            tps = fut.result(timeout=10).topic_partitions or []
            shown = ", ".join(f"{tp.topic.rsplit('.', 1)[-1]}[{tp.partition}]={tp.offset}"
                              for tp in sorted(tps, key=lambda t: (t.topic, t.partition))
                              if "changelog" not in tp.topic)
            lines.append(f"  committed by {group}: {shown}")
    return lines


def where_are(project: Project, raw_topic: str, missing: Iterable[str], logs: Iterable[str] = (),
              limit: int = 10) -> str:
    """A report on ``missing`` event ids: their raw coordinates, whether a delivery record was
    written for them (and where), and each group's committed offsets."""
    missing = sorted(missing)
    wanted = set(missing)
    lines = [f"{len(missing)} events missing, e.g. {missing[:3]}"]
    raw = {}
    for p, o, v in _scan(project, raw_topic):
        try:
            eid = orjson.loads(v).get("id")
        except orjson.JSONDecodeError:
            continue
        if eid in wanted:
            raw[eid] = (p, o)
    lines.append("  raw coordinates: " + ", ".join(f"{raw.get(e)}" for e in missing[:limit]))
    t = project.topics
    for topic in (t.deliveries, *t.retry.values(), t.dead, t.invalid):
        found = []
        for p, o, v in _scan(project, topic):
            text = v.decode("utf-8", "replace")
            hit = next((e for e in missing[:limit * 5] if e in text), None)
            if hit is not None:
                found.append(f"{hit[:8]}@{p}/{o}")
        if found:
            lines.append(f"  in {topic}: {', '.join(found[:limit])}")
    lines.extend(_committed(project))
    for text in logs:
        noteworthy = [ln for ln in text.splitlines()
                      if re.search(r"WARNING|ERROR|Traceback|assigned|revoked|gated|not read", ln)]
        lines.extend("  | " + ln[:300] for ln in noteworthy[-40:])
    return "\n".join(lines)
