"""The records the stages exchange on Kafka: deliveries (with their attempts), invalid input.

A delivery travels ``fl.deliveries`` -> (``fl.deliveries.retry.<tier>``)* -> done or
``fl.deliveries.dead``; the same JSON document grows an ``attempts`` list on the way.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, NamedTuple, TypedDict

import orjson

from streams.errors import InvalidDelivery

__all__ = ["Attempt", "Delivery", "OutRecord", "header_pairs", "delivery_key", "invalid_headers", "new_delivery",
           "now_ms", "decode", "encode"]


class Attempt(TypedDict, total=False):
    n: int
    at_ms: int
    outcome: str            # delivered | retry | dead | gone
    status: int | None
    error: str | None       # error class, e.g. "RequestTimeout", "ServerError"
    reason: str
    latency_ms: float


class Delivery(TypedDict, total=False):
    delivery_id: str
    loop_id: str
    event_id: str
    event_type: str
    profile: str | None
    recipient: str | None   # the event's recipient, for the delivery key when no profile
    source_ts_ms: int       # when the raw event was produced (Kafka timestamp)
    routed_ms: int
    payload: dict[str, Any]
    attempts: list[Attempt]
    not_before_ms: int      # retry tiers: not to be sent before this time
    deferrals: int          # times moved to a tier without an attempt (loop busy)
    final_reason: str       # dead letters only
    dead_ms: int
    redrives: int           # times put back from the dead letters
    replay_id: str          # deliveries of a replay (fl.deliveries.replay, streams/replay/)


class OutRecord(NamedTuple):
    """One record to produce: topic, key, value (None = tombstone), headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


def now_ms() -> int:
    return int(time.time() * 1000)


def new_delivery(delivery_id: str, loop_id: str, event: dict[str, Any],
                 payload: dict[str, Any], source_ts_ms: int) -> Delivery:
    return {
        "delivery_id": delivery_id, "loop_id": loop_id, "event_id": event["id"],
        "event_type": event["type"], "profile": event.get("profile"),
        "recipient": event.get("recipient"), "source_ts_ms": source_ts_ms, "routed_ms": now_ms(), "payload": payload,
        "attempts": [],
    }


def delivery_key(delivery: Delivery) -> bytes:
    """The key of a delivery on every topic it travels (fresh, retry tiers, dead letters):
    ``loop id | profile id (else recipient, else event id)``; spreads one loop over all
    partitions and keeps a profile's deliveries to a loop on one."""
    who = delivery.get("profile") or delivery.get("recipient") or delivery["event_id"]
    return f"{delivery['loop_id']}|{who}".encode()


def encode(delivery: Delivery) -> bytes:
    return orjson.dumps(delivery)


def decode(data: bytes | None) -> Delivery:
    """A delivery record's value; :class:`InvalidDelivery` when it is not one."""
    try:
        doc = orjson.loads(data or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidDelivery(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or "delivery_id" not in doc or "loop_id" not in doc:
        raise InvalidDelivery("not a delivery record")
    return doc  # type: ignore[return-value]


def header_pairs(headers: Any) -> list[tuple[str, bytes]]:
    """A record's headers as ``(name, bytes)`` pairs, whatever shape the client gave them in
    (a list of pairs or a mapping; ``str`` or ``None`` values)."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in items]


def invalid_headers(reason: str, topic: str, partition: int, offset: int,
                    field: str | None = None) -> list[tuple[str, bytes]]:
    """Headers of an ``fl.invalid`` record; its key and value are the original bytes."""
    headers = [("fl-reason", reason.encode()), ("fl-source-topic", topic.encode()),
               ("fl-source-partition", str(partition).encode()),
               ("fl-source-offset", str(offset).encode())]
    if field:
        headers.append(("fl-field", field.encode()))
    return headers
