"""Read what a receiver got back into event dicts, whatever the loop's encoding."""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .receiver import Call

_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def events_of(call: Call) -> list[dict[str, Any]]:
    """The events in one call: a JSON object, a JSON array, or a Copernica-style form."""
    ctype = call.headers.get("Content-Type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        return [parse_form(call.body.decode())]
    doc = orjson.loads(call.body)
    return doc if isinstance(doc, list) else [doc]


def parse_form(body: str) -> dict[str, Any]:
    """``fields[city]=Köln&interests[]=golf`` -> ``{"fields": {"city": "Köln"}, "interests": ["golf"]}``."""
    out: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = [m.group(1) if m.group(1) is not None else m.group(2) for m in _KEY.finditer(raw_key)]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if part == "":  # list append
                if last:
                    node.append(value)
                else:
                    node.append({} if nxt else [])
                    node = node[-1]
                continue
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt == "" else {})
    return out


def duplicates_of(calls: list[Call], wanted: set[str]) -> int:
    """Assert that the calls carried exactly the events ``wanted`` (by ``event_id``), each
    copy of an event with the same ``webhook-id``; return how many copies were extra."""
    webhook_ids: dict[str, set[str]] = defaultdict(set)
    count: dict[str, int] = defaultdict(int)
    for call in calls:
        for ev in events_of(call):
            webhook_ids[ev["event_id"]].add(call.headers["webhook-id"])
            count[ev["event_id"]] += 1
    assert set(count) == wanted, (f"{len(wanted - set(count))} missing, "
                                  f"{len(set(count) - wanted)} unexpected")
    assert all(len(ids) == 1 for ids in webhook_ids.values()), "a duplicate changed webhook-id"
    return sum(c - 1 for c in count.values())


class Arrivals:
    """A ``receiver.wait_for`` predicate: true once every id of ``wanted`` arrived (as an
    ``event_id``). Incremental: parsing every call on every poll would take the GIL from the
    receiver, which shares the test's process, and slow the deliveries it waits for."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.received: set[str] = set()
        self._parsed = 0

    def __call__(self, calls: list[Call]) -> bool:
        self.received.update(ev["event_id"] for c in calls[self._parsed:] for ev in events_of(c))
        self._parsed = len(calls)
        return self.wanted <= self.received

    @property
    def missing(self) -> set[str]:
        return self.wanted - self.received
