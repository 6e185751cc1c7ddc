"""Re-drive dead letters: put deliveries from ``fl.deliveries.dead`` back on ``fl.deliveries``.

For the dead letters of one loop (or all) that died within a time window, a fresh delivery is
written with the same delivery id — so the same ``webhook-id``, and receivers that already
processed it can drop it — an empty attempt list (the retry schedule starts again) and
``redrives`` counting how often this happened. Dead letters are not removed (the topic is an
append-only log); re-driving the same window twice sends twice. Use ``dry_run`` to count first.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import orjson
from confluent_kafka import Producer

from streams.kafka.clients import producer_config, read_window
from streams.kafka.records import Delivery, encode, now_ms
from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics
from streams.errors import NotAcknowledged

__all__ = ["RedriveReport", "redrive"]


@dataclass
class RedriveReport:
    """What a re-drive found and wrote."""

    scanned: int = 0
    matched: int = 0
    written: int = 0
    loops: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def redrive(kafka: KafkaConfig, topics: Topics, loop_id: str | None = None,
            since_ms: int | None = None, until_ms: int | None = None, dry_run: bool = False,
            timeout_s: float = 60.0, allowed: Callable[[str], bool] | None = None) -> RedriveReport:
    """Re-drive dead letters of ``loop_id`` (None: every loop; with ``allowed``, every loop
    id it accepts) that died in [since, until)."""
    report = RedriveReport()
    until_ms = until_ms if until_ms is not None else now_ms()
    producer = None if dry_run else Producer(producer_config(kafka, **{"linger.ms": 20}))
    for msg in read_window(kafka, topics.dead, since_ms, timeout_s=timeout_s):
        report.scanned += 1
        fresh = _fresh(msg.value(), loop_id, since_ms, until_ms)
        if fresh is None or (allowed is not None and not allowed(fresh["loop_id"])):
            continue
        report.matched += 1
        report.loops[fresh["loop_id"]] = report.loops.get(fresh["loop_id"], 0) + 1
        if producer is not None:
            producer.produce(topics.deliveries, encode(fresh), msg.key())
            producer.poll(0)
            report.written += 1
    if producer is not None and producer.flush(timeout_s):
        raise NotAcknowledged("not every re-driven delivery was acknowledged by Kafka")
    return report

def _fresh(value: bytes | None, loop_id: str | None, since_ms: int | None,
           until_ms: int) -> Delivery | None:
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or "delivery_id" not in doc or "payload" not in doc:
        return None
    if loop_id is not None and doc.get("loop_id") != loop_id:
        return None
    dead_ms = doc.get("dead_ms", 0)
    if (since_ms is not None and dead_ms < since_ms) or dead_ms >= until_ms:
        return None
    fresh: Delivery = {k: v for k, v in doc.items()  # type: ignore[assignment]
                       if k not in ("attempts", "not_before_ms", "final_reason", "dead_ms",
                                    "deferrals")}
    fresh["attempts"] = []
    fresh["routed_ms"] = now_ms()  # max_age_s counts from the re-drive
    fresh["redrives"] = doc.get("redrives", 0) + 1
    return fresh
