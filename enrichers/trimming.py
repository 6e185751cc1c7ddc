"""An enriched payload over its size limit loses its largest profile fields, and says so.

The profile is what makes a payload large (a raw event and its tags have limits of their own),
so :func:`omit_largest_fields` leaves out the fewest, largest entries of ``fields`` that bring
the payload's JSON under the limit and lists their names, largest first, in
``fields_omitted``. Everything else (email, interests, tags, the event's own data) stays, so a
receiving script still gets the event and can fetch what was left out. Sizes are orjson's
compact encoding, the one the payload is stored and sent in.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = ["OMITTED", "omit_largest_fields", "payload_bytes"]

OMITTED: Final = "fields_omitted"
"""The payload key listing the profile fields left out for size."""


def payload_bytes(payload: Mapping[str, Any]) -> int:
    """The payload's size as compact JSON."""
    return len(orjson.dumps(payload))


def omit_largest_fields(payload: Mapping[str, Any], max_bytes: int) -> dict[str, Any] | None:
    """``payload`` (a copy) whose JSON is at most ``max_bytes``: unchanged when it fits, else
    without its largest ``fields`` entries and with ``fields_omitted`` naming them. ``None``
    when it is over ``max_bytes`` even without any field (the caller refuses the event).
    Ties between equally large fields go by name, so the result is deterministic.
    """
    size = payload_bytes(payload)
    if size <= max_bytes:
        return dict(payload)
    fields = payload.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        return None
    # an entry costs its JSON pair plus a comma; largest first
    costs = sorted(((len(orjson.dumps({name: value})) - 1, name)
                    for name, value in fields.items()), key=lambda c: (-c[0], c[1]))
    omitted: list[str] = []
    saved = 0
    for cost, name in costs:
        omitted.append(name)
        saved += cost
        # the list itself costs its JSON plus '"fields_omitted":' and a comma
        listed = len(orjson.dumps(omitted)) + len(OMITTED) + 4
        if size - saved + listed <= max_bytes:
            trimmed = _without(payload, fields, omitted)
            if payload_bytes(trimmed) <= max_bytes:  # the estimate is exact; check anyway
                return trimmed
    trimmed = _without(payload, fields, omitted)
    return trimmed if payload_bytes(trimmed) <= max_bytes else None


def _without(payload: Mapping[str, Any], fields: Mapping[str, Any],
             omitted: list[str]) -> dict[str, Any]:
    gone = set(omitted)
    out = dict(payload)
    out["fields"] = {name: value for name, value in fields.items() if name not in gone}
    out[OMITTED] = list(omitted)
    return out
