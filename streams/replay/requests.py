"""Starting a replay: the checks every door (API, CLI, demo) runs before anything is written.

:func:`parse_body` checks the shape of a request (the same body for ``POST /replays`` and
``replay start``), :func:`plan` checks it against Kafka: the loop exists and is deliverable
(enabled, URL ownership validated), the window has records and retention still holds all of
it. Every problem is an :class:`~streams.api.inputs.InputError` naming its field; nothing is
written before all checks pass.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from schemas.loop import Loop
from schemas.validation import RAW_EVENT_TYPES

from streams.api.inputs import InputError
from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics
from streams.kafka.window import WindowError, plan_window
from streams.ops.history import Selection
from streams.ops.moments import MomentError, parse_moment
from streams.replay.book import new_replay_id

__all__ = ["BODY_FIELDS", "parse_body", "plan"]

BODY_FIELDS = frozenset({"loop", "since", "until", "types", "database", "collection",
                         "rate_per_s", "new_ids", "dry_run"})


def _name(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InputError(key, "must be null or a string of 1-256 characters")
    return value


def _moment(value: Any, key: str, now_ms: int) -> int:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InputError(key, "must be ISO 8601 text, an age like '6h', or Unix milliseconds")
    try:
        return parse_moment(value, now_ms)
    except MomentError as exc:
        raise InputError(key, str(exc)) from None


def parse_body(body: Any, now_ms: int | None = None) -> dict[str, Any]:
    """A replay request body -> checked values (times as Unix ms; ``until`` defaults to now)."""
    if not isinstance(body, dict):
        raise InputError(None, "the request body must be a JSON object")
    for key in body:
        if key not in BODY_FIELDS:
            raise InputError(key, f"unknown field (allowed: {', '.join(sorted(BODY_FIELDS))})")
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    loop = _name(body, "loop")
    if loop is None:
        raise InputError("loop", "is required: the id of the loop to replay to")
    if "since" not in body:
        raise InputError("since", "is required (ISO 8601, or an age like 6h, 2d)")
    since_ms = _moment(body["since"], "since", now)
    until_ms = _moment(body.get("until", now), "until", now)
    if until_ms <= since_ms:
        raise InputError("until", "must be later than since")
    types = body.get("types")
    if types is not None:
        if not isinstance(types, list) or not types:
            raise InputError("types", "must be a non-empty list of event types")
        for i, t in enumerate(types):
            if t not in RAW_EVENT_TYPES:
                raise InputError(f"types[{i}]", f"unknown event type {t!r}")
        types = sorted(set(types))
    rate = body.get("rate_per_s")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not 0.01 <= rate <= 100000):
        raise InputError("rate_per_s", "must be a number between 0.01 and 100000")
    flags = {}
    for key in ("new_ids", "dry_run"):
        flags[key] = body.get(key, False)
        if not isinstance(flags[key], bool):
            raise InputError(key, "must be true or false")
    return {"loop_id": loop, "since_ms": since_ms, "until_ms": until_ms, "types": types,
            "database": _name(body, "database"), "collection": _name(body, "collection"),
            "rate_per_s": rate, **flags}


def plan(kafka: KafkaConfig, topics: Topics, loop: Loop | None,
         checked: dict[str, Any]) -> dict[str, Any]:
    """The request record for ``fl.replays``, with the window's spans fixed now (so a resumed
    replay reads exactly the same offsets). ``loop`` is the definition of
    ``checked["loop_id"]`` (None: unknown)."""
    if loop is None:
        raise InputError("loop", f"no loop with id {checked['loop_id']!r}")
    reason = loop.undeliverable_reason()
    if reason is not None:
        raise InputError("loop", f"loop {loop.id!r} cannot receive a replay: {reason} (a "
                         "replay sends to enabled loops with validated URL ownership only)")
    types = checked["types"]
    if types is not None:
        outside = sorted(set(types) - set(loop.events))
        if outside:
            raise InputError("types", f"loop {loop.id!r} does not receive {outside[0]!r} "
                             f"(it receives {', '.join(loop.events)})")
    selection = Selection(frozenset(types) if types else None, checked["database"],
                          checked["collection"], loop)
    raw = selection.raw_topics(topics)
    try:
        window = plan_window(kafka, raw, checked["since_ms"], checked["until_ms"])
    except WindowError as exc:
        raise InputError(exc.field, exc.problem) from None
    if window.records == 0:
        raise InputError("since", "no events in this window: the raw topics the loop reads "
                         f"({', '.join(t.rsplit('.', 1)[-1] for t in raw)}) have no record "
                         "between since and until")
    return {
        "id": new_replay_id(), **checked, "created_at": time.time(),
        "records": window.records,
        "spans": [[s.topic, s.partition, s.start, s.end] for s in window.spans],
    }
