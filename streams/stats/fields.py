"""What the statistics read of each record: the few fields counted, and the rule for a field
of the wrong type.

msgspec decodes only these fields and skips the rest of the document without building it (an
enriched delivery's payload, a raw event's headers and user agent): about half of what
``orjson.loads`` of the whole record costs, three times per event. Every field is ``Any``: a
wrong type is judged by :func:`where`, :func:`text` and :func:`ms`, never by an exception,
so a record with one odd field still counts without it.
"""
from __future__ import annotations

import math
from typing import Any, Final, Optional

import msgspec

__all__ = ["ATTEMPT", "EVENT", "Attempt", "Event", "Where", "delivery", "ms", "text", "where"]

_LARGEST_MS: Final = 2 ** 63


class Where(msgspec.Struct, gc=False):
    database: Any = None
    collection: Any = None


class Event(Where, gc=False):
    """A raw event, or an ``fl.invalid`` record's value."""
    type: Any = None
    mailing: Any = None
    link: Any = None
    profile: Any = None
    recipient: Any = None
    id: Any = None


class _DeliveryAnyPayload(msgspec.Struct, gc=False):
    loop_id: Any = None
    event_type: Any = None  # and no payload: skipped, whatever it is


class _Delivery(_DeliveryAnyPayload, gc=False):
    payload: Optional[Where] = None  # Optional: msgspec evaluates it at run time


class Attempt(Where, gc=False):
    """An ``fl.attempts`` record."""
    loop_id: Any = None
    event_type: Any = None
    outcome: Any = None
    at_ms: Any = None
    source_ts_ms: Any = None


EVENT: Final = msgspec.json.Decoder(Event)
ATTEMPT: Final = msgspec.json.Decoder(Attempt)
_DELIVERY: Final = msgspec.json.Decoder(_Delivery)
_DELIVERY_ANY_PAYLOAD: Final = msgspec.json.Decoder(_DeliveryAnyPayload)


def delivery(value: bytes) -> tuple[str, str, str | None, str | None] | None:
    """A delivery record's (loop id, event type, database, collection), or None when it is
    not an object with a string ``loop_id``. A payload that is not an object leaves the
    database and collection None."""
    try:
        d: _Delivery | _DeliveryAnyPayload = _DELIVERY.decode(value)
        payload = d.payload  # type: ignore[union-attr]
    except msgspec.ValidationError:  # the payload (or the record) is not an object
        try:
            d = _DELIVERY_ANY_PAYLOAD.decode(value)
        except msgspec.DecodeError:
            return None
        payload = None
    except msgspec.DecodeError:
        return None
    if type(d.loop_id) is not str:
        return None
    database, collection = (None, None) if payload is None else where(payload.database,
                                                                      payload.collection)
    return d.loop_id, text(d.event_type, "unknown"), database, collection


def where(database: Any, collection: Any) -> tuple[str | None, str | None]:
    """Database and collection, each None unless a string (a collection only with a
    database)."""
    if type(database) is not str:
        return None, None
    return database, collection if type(collection) is str else None


def text(value: Any, default: str) -> str:
    """``value`` when it is a non-empty string, else ``default``."""
    return value if type(value) is str and value else default


def ms(value: Any) -> float | None:
    """``value`` when it is a finite number (not a bool; an integer within 64 bits), else
    None."""
    if type(value) is int:
        return float(value) if -_LARGEST_MS < value < _LARGEST_MS else None
    if type(value) is float and math.isfinite(value):
        return value
    return None
