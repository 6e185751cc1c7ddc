"""What to write to Kafka after a delivery attempt: attempt log, retry tier, dead letter.

Pure: given a delivery record, the dispatcher's :class:`senders.engine.Outcome` (which already
applied the retry schedule: ``retry_in_s``, or ``dead`` when exhausted) and the time,
return the records to produce and whether the loop must be disabled. The sender commits the
delivery's offset only once every one of those records is acknowledged by Kafka.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from senders.engine import Outcome
from senders.retry import RetrySchedule

from streams.kafka.records import Attempt, Delivery, OutRecord, delivery_key, encode
from streams.kafka.topics import Topics

__all__ = ["Decision", "OutcomeRouter"]

SNIPPET_BYTES = 1024


@dataclass(frozen=True)
class Decision:
    """Records to produce, and the reason to disable the loop (None: keep it)."""

    records: list[OutRecord]
    final: str                    # delivered | retry | dead
    disable_reason: str | None = None
    tier: str | None = None


class OutcomeRouter:
    """Turns outcomes into records, following the retry schedule."""

    def __init__(self, topics: Topics, schedule: RetrySchedule) -> None:
        self.topics = topics
        self.schedule = schedule
        self.first_tier = schedule.tier_for(schedule.delays_s[0])

    def after_attempt(self, delivery: Delivery, outcome: Outcome, now_ms: int,
                      disable_after_s: float | None = None) -> Decision:
        previous = delivery.get("attempts") or ()
        n = len(previous) + 1
        attempt: Attempt = {
            "n": n, "at_ms": now_ms, "outcome": outcome.kind, "status": outcome.status,
            "error": outcome.error_class, "reason": outcome.reason,
            "latency_ms": round(outcome.latency_s * 1000, 3),
        }
        # The attempt log records calls; a breaker refusal made none, so it is kept in the
        # delivery's own history (and counts against the schedule) but not logged.
        records = [] if outcome.breaker_open else [self._attempt_log(delivery, attempt, outcome)]
        if outcome.kind == "delivered":  # the common case: no copy of the delivery
            return Decision(records, "delivered")
        updated: Delivery = dict(delivery)  # type: ignore[assignment]
        updated["attempts"] = [*previous, attempt]
        key = delivery_key(delivery)
        disable: str | None = None
        if outcome.kind == "gone":
            disable = "the endpoint answered 410 Gone"
            records.append(self._dead(updated, key, f"410 Gone: {outcome.reason}", now_ms))
            return Decision(records, "dead", disable)
        if (disable_after_s is not None and outcome.failing_since is not None
                and now_ms / 1000 - outcome.failing_since >= disable_after_s):
            disable = (f"failing continuously for {disable_after_s:g}s "
                       f"(last: {outcome.error_class or outcome.status})")
        if outcome.kind == "dead" or outcome.retry_in_s is None:
            records.append(self._dead(updated, key, outcome.reason, now_ms))
            return Decision(records, "dead", disable)
        delay_s = outcome.retry_in_s
        tier = self.schedule.tier_for(delay_s)
        updated["not_before_ms"] = now_ms + int(delay_s * 1000)
        records.append(OutRecord(self.topics.retry[tier], key, encode(updated)))
        return Decision(records, "retry", disable, tier)

    def defer(self, delivery: Delivery, now_ms: int,
              delay_s: float | None = None) -> tuple[OutRecord, str]:
        """Move a delivery to a retry tier without an attempt (its loop is saturated), due
        after ``delay_s`` (at least the first delay, the default) in the tier for that delay."""
        updated: Delivery = dict(delivery)  # type: ignore[assignment]
        updated["deferrals"] = delivery.get("deferrals", 0) + 1
        delay_s = max(delay_s or 0.0, self.schedule.delays_s[0])
        tier = self.schedule.tier_for(delay_s)
        updated["not_before_ms"] = now_ms + int(delay_s * 1000)
        return OutRecord(self.topics.retry[tier], delivery_key(delivery), encode(updated)), tier

    def dead_without_attempt(self, delivery: Delivery, reason: str, now_ms: int) -> OutRecord:
        """Dead-letter a delivery that cannot be attempted (loop deleted, disabled, ...)."""
        return self._dead(delivery, delivery_key(delivery), reason, now_ms)

    # -- records ---------------------------------------------------------------------------
    def _dead(self, delivery: Delivery, key: bytes, reason: str, now_ms: int) -> OutRecord:
        dead: Delivery = dict(delivery)  # type: ignore[assignment]
        dead["final_reason"] = reason
        dead["dead_ms"] = now_ms
        dead.pop("not_before_ms", None)
        return OutRecord(self.topics.dead, key, encode(dead))

    def _attempt_log(self, delivery: Delivery, attempt: Attempt, outcome: Outcome) -> OutRecord:
        snippet = outcome.response_snippet
        payload = delivery.get("payload") or {}
        doc: dict[str, Any] = {
            "loop_id": delivery["loop_id"], "delivery_id": delivery["delivery_id"],
            "event_id": delivery["event_id"], "event_type": delivery.get("event_type"),
            "attempt": attempt["n"], "at_ms": attempt["at_ms"], "outcome": outcome.kind,
            "status": outcome.status, "latency_ms": attempt["latency_ms"],
            "error_class": outcome.error_class, "reason": outcome.reason,
            "response": snippet[:SNIPPET_BYTES].decode("utf-8", "replace") if snippet else "",
            # for the statistics (streams/stats): where the event came from, and when
            "database": payload.get("database"), "collection": payload.get("collection"),
            "source_ts_ms": delivery.get("source_ts_ms"),
        }
        return OutRecord(self.topics.attempts, delivery["loop_id"].encode(), orjson.dumps(doc))
