from __future__ import annotations

import orjson

from senders.engine import Outcome
from senders.retry import RetrySchedule
from streams.config.loading import parse_config
from streams.delivery.outcomes import OutcomeRouter
from streams.kafka.topics import Topics

TOPICS = Topics.for_config(parse_config({}))
ROUTER = OutcomeRouter(TOPICS, RetrySchedule())
DELIVERY = {"delivery_id": "d1", "loop_id": "l1", "event_id": "e1", "event_type": "open",
            "profile": "p1", "source_ts_ms": 1, "routed_ms": 1_000, "payload": {"type": "open"},
            "attempts": []}


def test_delivered_writes_only_the_attempt_log() -> None:
    d = ROUTER.after_attempt(DELIVERY, Outcome("delivered", 204, 0.01, None, "HTTP 204"), 2_000)
    assert d.final == "delivered" and [r.topic for r in d.records] == [TOPICS.attempts]
    log = orjson.loads(d.records[0].value)
    assert log["status"] == 204 and log["attempt"] == 1 and log["delivery_id"] == "d1"


def test_retry_goes_to_the_tier_of_its_delay_with_not_before() -> None:
    out = Outcome("retry", 503, 0.2, "ServerError", "HTTP 503", retry_in_s=290.0)
    d = ROUTER.after_attempt(DELIVERY, out, 2_000)
    assert d.final == "retry" and d.tier == "5m"
    retry = orjson.loads(d.records[1].value)
    assert d.records[1].topic == TOPICS.retry["5m"]
    assert retry["not_before_ms"] == 2_000 + 290_000
    assert retry["attempts"][0]["status"] == 503 and retry["delivery_id"] == "d1"


def test_dead_and_gone() -> None:
    dead = ROUTER.after_attempt(DELIVERY, Outcome("dead", 400, 0.1, "ClientError", "HTTP 400"), 5)
    assert dead.final == "dead" and dead.records[1].topic == TOPICS.dead
    assert orjson.loads(dead.records[1].value)["final_reason"] == "HTTP 400"
    gone = ROUTER.after_attempt(DELIVERY, Outcome("gone", 410, 0.1, "GoneError", "HTTP 410"), 5)
    assert gone.final == "dead" and gone.disable_reason and "410" in gone.disable_reason


def test_failing_for_too_long_asks_to_disable() -> None:
    out = Outcome("retry", 503, 0.1, "ServerError", "x", retry_in_s=5, failing_since=100.0)
    assert ROUTER.after_attempt(DELIVERY, out, 200_000, disable_after_s=50).disable_reason
    assert ROUTER.after_attempt(DELIVERY, out, 120_000, disable_after_s=50).disable_reason is None


def test_defer_moves_to_first_tier_without_an_attempt() -> None:
    record, tier = ROUTER.defer(DELIVERY, 1_000)
    doc = orjson.loads(record.value)
    assert tier == "5s" and doc["attempts"] == [] and doc["deferrals"] == 1
    assert doc["not_before_ms"] == 6_000


def test_breaker_skips_are_history_not_attempt_log() -> None:
    out = Outcome("retry", None, 0.0, "CircuitOpen", "circuit open", retry_in_s=5.0,
                  breaker_open=True)
    d = ROUTER.after_attempt(DELIVERY, out, 1_000)
    assert [r.topic for r in d.records] == [TOPICS.retry["5s"]]
    assert orjson.loads(d.records[0].value)["attempts"][0]["error"] == "CircuitOpen"


def test_defer_waits_as_long_as_the_loops_queue_needs_in_the_tier_for_that() -> None:
    record, tier = ROUTER.defer(DELIVERY, 1_000, delay_s=60.0)
    doc = orjson.loads(record.value or b"")
    assert tier == "5s" and doc["not_before_ms"] == 61_000, "held in memory until due"
    record, tier = ROUTER.defer(DELIVERY, 1_000, delay_s=0.5)
    assert orjson.loads(record.value or b"")["not_before_ms"] == 6_000, "never before the first delay"
