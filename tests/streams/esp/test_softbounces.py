"""The soft-bounce limit in the enrich stage: N failed soft bounces of a profile within D days
act as a hard bounce; delays, hard bounces, other profiles and repeats do not count."""
from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from streams.config.loading import parse_config
from streams.esp.softbounces import SoftBounces
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics


def counter(**esp: Any) -> SoftBounces:
    config = parse_config({"esp": esp})
    return SoftBounces(config.esp, Topics.for_config(config),
                       PipelineMetrics(CollectorRegistry()))


def bounce(n: int, day: int, profile: str = "p1", **extra: Any) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "type": "bounce", "database": "news",
            "profile": profile, "occurred_at": f"2026-11-{day:02d}T10:00:00Z",
            "bounce_class": "soft", "action": "failed", "reason": "mailbox-full", **extra}


LIMIT = {"soft_bounce_limit": {"count": 3, "days": 7}, "on_hard_bounce": "update",
         "hard_bounce_fields": {"bounced": "yes"}}


def test_three_soft_bounces_within_a_week_act_as_hard() -> None:
    soft, table = counter(**LIMIT), {}
    assert soft.count(bounce(1, 1), table) == []
    assert soft.count(bounce(2, 3), table) == []
    [record] = soft.count(bounce(3, 6), table)
    action = orjson.loads(record.value or b"")
    assert record.topic == soft.topics.profile_actions and record.key == b"p1"
    assert (action["reason"], action["action"], action["fields"], action["soft_bounces"]) == (
        "soft-bounce-limit", "update", {"bounced": "yes"}, 3)
    assert orjson.loads(table[b"p1"]) == [], "counting starts again"


def test_old_bounces_leave_the_window() -> None:
    soft, table = counter(**LIMIT), {}
    soft.count(bounce(1, 1), table)
    soft.count(bounce(2, 2), table)
    assert soft.count(bounce(3, 12), table) == []  # the first two are older than 7 days
    assert len(orjson.loads(table[b"p1"])) == 1


def test_what_does_not_count() -> None:
    soft, table = counter(**LIMIT), {}
    for event in (bounce(1, 1, action="delayed"), bounce(2, 1, bounce_class="hard"),
                  bounce(3, 1, bounce_class="unknown"), {**bounce(4, 1), "type": "open"}):
        assert soft.count(event, table) == []
    assert table == {}
    no_profile = bounce(5, 1)
    del no_profile["profile"]
    assert soft.count(no_profile, table) == []
    soft.count(bounce(6, 1), table)
    soft.count(bounce(6, 1), table)  # the same event read again after a crash
    soft.count(bounce(7, 1, profile="p2"), table)
    assert len(orjson.loads(table[b"p1"])) == 1 and len(orjson.loads(table[b"p2"])) == 1


def test_off_by_default_and_nothing_behaviour_writes_no_action() -> None:
    soft, table = counter(), {}
    assert not soft.enabled
    assert all(soft.count(bounce(n, 1), table) == [] for n in range(5)) and table == {}
    soft, table = counter(soft_bounce_limit={"count": 1}), {}
    assert soft.count(bounce(1, 1), table) == []
