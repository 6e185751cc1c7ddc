"""Validation of control-API request bodies: every problem names its field.

Unknown fields are rejected (a typo such as ``evnets`` must not silently create a loop that
receives nothing). Loop values are checked by the loop model (``schemas.loop.Loop``, limits and
defaults from ``schemas/loop.json``), the same for the API, the CLI, the YAML and the registry.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from schemas.errors import InvalidRecord
from schemas.validation import RAW_EVENT_TYPES

from streams.errors import InputError

__all__ = ["CREATE_FIELDS", "SIGNATURES", "parse_signature", "InputError", "PATCH_FIELDS", "from_invalid", "parse_create",
           "parse_list_filter", "parse_patch", "parse_redrive", "parse_replay", "parse_rotate",
           "parse_test"]


#: what a client may set on a loop; the model (schemas.loop.Loop) checks the values
LOOP_FIELDS = frozenset({"url", "events", "database", "collection", "fields", "encoding",
                         "batch", "rate_per_s", "max_in_flight", "timeout_s", "delivery",
                         "summary_every"})
CREATE_FIELDS = LOOP_FIELDS | {"secret", "signature"}
#: Standard Webhooks signature versions a loop may sign with
SIGNATURES = ("v1", "v1a")
PATCH_FIELDS = LOOP_FIELDS | {"status"}


def from_invalid(exc: InvalidRecord) -> InputError:
    """The API's error for a loop the model refused: the field as the client sent it
    (``secret`` for ``secrets[0].secret``) and the model's reason."""
    field = exc.field
    reason = exc.reason
    if field is not None and reason.startswith(f"field '{field}'"):
        reason = reason[len(f"field '{field}'"):].lstrip(": ")
    if field is not None and field.startswith("secrets"):
        field = "secret"
    return InputError(field, reason)


def _opt_name(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InputError(field, "must be null or a string of 1-256 characters")
    return value


def _number(lo: float, hi: float, integer: bool = False) -> Callable[[Any, str], float | int]:
    def check(value: Any, field: str) -> float | int:
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or (isinstance(value, float) and not math.isfinite(value)):
            raise InputError(field, f"must be {'an integer' if integer else 'a number'}")
        if not lo <= value <= hi:
            raise InputError(field, f"must be between {lo:g} and {hi:g}, got {value}")
        checked: float | int = value
        return checked
    return check


def _reject_unknown(body: Mapping[str, Any], allowed: frozenset[str] | set[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            name = key if key.isidentifier() else repr(key)[:40]
            raise InputError(f"{prefix}{key}", f"unknown field {name} (allowed: "
                             f"{', '.join(sorted(allowed))})")


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InputError(None, "the request body must be a JSON object")
    return body


def parse_create(body: Any) -> dict[str, Any]:
    """A create body -> its fields (url and events required). The values are checked when
    the loop is made (:class:`schemas.loop.Loop`, the same model for every door)."""
    body = _object(body)
    _reject_unknown(body, CREATE_FIELDS)
    for required in ("url", "events"):
        if required not in body:
            raise InputError(required, "is required")
    if "signature" in body:
        parse_signature(body["signature"])
    return dict(body)


def parse_patch(body: Any) -> dict[str, Any]:
    """A change body -> its fields; checked like :func:`parse_create`'s."""
    body = _object(body)
    _reject_unknown(body, PATCH_FIELDS)
    if not body:
        raise InputError(None, "nothing to change: send at least one field")
    return dict(body)


def parse_list_filter(query: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """``GET /loops`` filters ``database``, ``collection``, ``event`` (each optional)."""
    _reject_unknown(query, {"database", "collection", "event"})
    event = query.get("event")
    if event is not None and event not in RAW_EVENT_TYPES:
        raise InputError("event", f"unknown event type {event!r} "
                         f"(known: {', '.join(sorted(RAW_EVENT_TYPES))})")
    return (_opt_name(query.get("database"), "database"),
            _opt_name(query.get("collection"), "collection"), event)


def parse_signature(value: Any, field: str = "signature") -> str:
    """``v1`` (HMAC-SHA256, a shared secret) or ``v1a`` (ed25519, a public key)."""
    if value not in SIGNATURES:
        raise InputError(field, f"must be one of {', '.join(SIGNATURES)}, got {value!r}")
    return str(value)


def parse_rotate(body: Any) -> tuple[float, str | None]:
    """``{"grace_s"?: seconds, "signature"?: "v1"|"v1a"}`` -> (grace in seconds, default one
    day; the new secret's signature version, None = the loop's current one)."""
    body = _object(body or {})
    _reject_unknown(body, {"grace_s", "signature"})
    grace_s = float(_number(0, 30 * 86400)(body.get("grace_s", 86400), "grace_s"))
    signature = body.get("signature")
    return grace_s, None if signature is None else parse_signature(signature)


def parse_test(body: Any) -> tuple[str, dict[str, Any]]:
    """``{"json": {...}}`` or ``{"form": {...}}`` -> (encoding, the user's own data)."""
    body = _object(body)
    _reject_unknown(body, {"json", "form"})
    if len(body) != 1:
        raise InputError(None, "send exactly one of 'json' (an object) or 'form' (an object of fields)")
    (kind, data), = body.items()
    if not isinstance(data, dict):
        raise InputError(kind, "must be an object")
    if kind == "form" and not all(isinstance(v, (str, int, float, bool, list, dict)) or v is None
                                  for v in data.values()):
        raise InputError("form", "values must be strings, numbers, lists or objects")
    return ("json" if kind == "json" else "form"), data


def parse_redrive(body: Any) -> tuple[str | None, int | None, int | None, bool]:
    """``{"loop"?, "since_ms"?, "until_ms"?, "dry_run"?}`` -> checked values."""
    body = _object(body or {})
    _reject_unknown(body, {"loop", "since_ms", "until_ms", "dry_run"})
    since_ms, until_ms, dry_run = _window(body)
    return _opt_name(body.get("loop"), "loop"), since_ms, until_ms, dry_run


def parse_replay(body: Any) -> tuple[str | None, str | None, int | None, int | None, bool]:
    """``{"topic"?, "reason"?, "since_ms"?, "until_ms"?, "dry_run"?}`` -> checked values."""
    body = _object(body or {})
    _reject_unknown(body, {"topic", "reason", "since_ms", "until_ms", "dry_run"})
    since_ms, until_ms, dry_run = _window(body)
    return (_opt_name(body.get("topic"), "topic"), _opt_name(body.get("reason"), "reason"),
            since_ms, until_ms, dry_run)


def _window(body: Mapping[str, Any]) -> tuple[int | None, int | None, bool]:
    """The ``since_ms``/``until_ms`` window and ``dry_run`` flag of a re-drive or replay."""
    window = []
    for key in ("since_ms", "until_ms"):
        value = body.get(key)
        window.append(None if value is None else int(_number(0, 2**53, True)(value, key)))
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InputError("dry_run", "must be true or false")
    if window[0] is not None and window[1] is not None and window[0] >= window[1]:
        raise InputError("until_ms", "must be later than since_ms")
    return window[0], window[1], dry_run
