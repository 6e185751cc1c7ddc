"""The soft-bounce limit: ``esp.soft_bounce_limit.count`` failed soft bounces of one profile
within ``days`` are treated as a hard bounce (the database's ``esp.on_hard_bounce``).

Where the state lives (decision): a Faust table keyed by profile id (``soft-bounces``, with its
changelog topic), written by the enrich agent when it reads a ``bounce`` event from
``fl.raw.bounces``. Raw topics are keyed by profile id and co-partitioned with the profile
table, so every bounce of a profile reaches the one worker that holds its counter; the ESP
agent could not keep it, its topic is keyed by reporting domain. Counting in the enrich stage
also counts bounce events the platform produces itself when they carry ``bounce_class``.

The value is JSON ``[[occurred_ms, event_id], ...]``: the profile's failed soft bounces inside
the window, oldest first. An event already counted (a re-read after a crash) is not counted
again. Reaching the limit writes the action (reason ``soft-bounce-limit``, its id derived from
the event's) and empties the list, so the next ``count`` soft bounces act again. Delays
(``action: delayed``) never count: the message may still arrive.
"""
from __future__ import annotations

from typing import Any, MutableMapping

import orjson

from enrichers.esp import ProfileRef
from schemas.formats import parse_rfc3339
from streams.config.esp import EspConfig
from streams.esp.events import profile_action
from streams.kafka.records import OutRecord
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics

__all__ = ["SoftBounces"]

DAY_MS = 86_400_000


class SoftBounces:
    """Counts soft bounces per profile in a table; says when the limit is reached."""

    def __init__(self, config: EspConfig, topics: Topics, metrics: PipelineMetrics) -> None:
        self.config = config
        self.topics = topics
        self.metrics = metrics

    @property
    def enabled(self) -> bool:
        return self.config.soft_bounce_limit.count > 0

    def count(self, event: dict[str, Any],
              table: MutableMapping[bytes, bytes]) -> list[OutRecord]:
        """Count ``event`` (a validated raw event) when it is a failed soft bounce of a known
        profile; the profile action when that reaches the limit."""
        profile = event.get("profile")
        if (not self.enabled or event.get("type") != "bounce" or not profile
                or event.get("bounce_class") != "soft" or event.get("action") == "delayed"):
            return []
        limit = self.config.soft_bounce_limit
        occurred_ms = int(parse_rfc3339(event["occurred_at"]).timestamp() * 1000)
        key = profile.encode()
        stored = table.get(key)
        seen: list[list[Any]] = orjson.loads(stored) if stored else []
        if any(entry[1] == event["id"] for entry in seen):
            return []
        window_start = occurred_ms - int(limit.days * DAY_MS)
        seen = [entry for entry in seen if entry[0] >= window_start]
        seen.append([occurred_ms, event["id"]])
        seen.sort(key=lambda entry: entry[0])
        if len(seen) < limit.count:
            table[key] = orjson.dumps(seen)
            return []
        table[key] = orjson.dumps([])
        ref = ProfileRef(event["database"], profile=profile, mailing=event.get("mailing"),
                         collection=event.get("collection"),
                         subprofile=event.get("subprofile"))
        behaviour, fields = self.config.hard_bounce_behaviour(ref.database)
        if behaviour == "nothing":
            return []
        self.metrics.profile_actions.labels(behaviour).inc()
        doc = profile_action(ref, behaviour, fields, "soft-bounce-limit",
                             f"soft-limit|{event['id']}", event)
        doc["soft_bounces"] = len(seen)
        return [OutRecord(self.topics.profile_actions, key, orjson.dumps(doc))]
