"""Validation of control-API request bodies: every problem names its field.

Unknown fields are rejected (a typo such as ``evnets`` must not silently create a loop that
receives nothing). Limits mirror ``schemas/loop.json``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from yarl import URL

from schemas.validation import RAW_EVENT_TYPES

__all__ = ["InputError", "parse_create", "parse_patch", "parse_redrive", "parse_replay",
           "parse_rotate", "parse_test"]


class InputError(ValueError):
    """A request body problem: ``field`` and a human ``problem``."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


def check_url(value: Any, field: str = "url") -> str:
    if not isinstance(value, str) or not value:
        raise InputError(field, "must be a non-empty string")
    if len(value) > 2048:
        raise InputError(field, "must be at most 2048 characters")
    try:
        url = URL(value)
    except ValueError as exc:
        raise InputError(field, f"is not a URL ({exc})") from None
    if url.scheme not in ("http", "https"):
        raise InputError(field, f"must use http or https, not {url.scheme or 'no scheme'!r}")
    if not url.host:
        raise InputError(field, "must name a host")
    if url.user or url.password:
        raise InputError(field, "must not carry credentials (user:password@)")
    if url.fragment:
        raise InputError(field, "must not have a #fragment")
    return value  # the SSRF guard checks the address (ControlPlane, then at connect time)


def _events(value: Any, field: str = "events") -> list[str]:
    if not isinstance(value, list) or not value:
        raise InputError(field, "must be a non-empty list of event types")
    out: list[str] = []
    for i, item in enumerate(value):
        if item not in RAW_EVENT_TYPES:
            raise InputError(f"{field}[{i}]", f"unknown event type {item!r} "
                             f"(known: {', '.join(sorted(RAW_EVENT_TYPES))})")
        if item not in out:
            out.append(item)
    return out


def _opt_name(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InputError(field, "must be null or a string of 1-256 characters")
    return value


def _fields(value: Any, field: str = "fields") -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(field, "must be null (all profile fields) or a list of field names")
    if len(value) > 500:
        raise InputError(field, "must list at most 500 field names")
    return list(dict.fromkeys(value))


def _number(lo: float, hi: float, integer: bool = False) -> Callable[[Any, str], float | int]:
    def check(value: Any, field: str) -> float | int:
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or (isinstance(value, float) and not math.isfinite(value)):
            raise InputError(field, f"must be {'an integer' if integer else 'a number'}")
        if not lo <= value <= hi:
            raise InputError(field, f"must be between {lo:g} and {hi:g}, got {value}")
        return value
    return check


def _encoding(value: Any, field: str = "encoding") -> str:
    if value not in ("json", "form", "json-batch"):
        raise InputError(field, f"must be one of json, form, json-batch; got {value!r}")
    return str(value)


def _batch(value: Any, field: str = "batch") -> dict[str, int]:
    if not isinstance(value, dict):
        raise InputError(field, "must be an object {max_events, max_wait_ms}")
    _reject_unknown(value, {"max_events", "max_wait_ms"}, f"{field}.")
    return {"max_events": int(_number(1, 1000, True)(value.get("max_events", 100), f"{field}.max_events")),
            "max_wait_ms": int(_number(1, 60000, True)(value.get("max_wait_ms", 1000), f"{field}.max_wait_ms"))}


def _secret(value: Any, field: str = "secret") -> str:
    if not isinstance(value, str) or not value.startswith("whsec_") or len(value) < 30:
        raise InputError(field, "must be a Standard Webhooks secret: 'whsec_' + base64 of >= 16 bytes")
    return value


def _status(value: Any, field: str = "status") -> str:
    if value not in ("enabled", "disabled"):
        raise InputError(field, f"must be 'enabled' or 'disabled', got {value!r}")
    return str(value)


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "url": check_url, "events": _events,
    "database": _opt_name, "collection": _opt_name, "fields": _fields,
    "encoding": _encoding, "batch": _batch,
    "rate_per_s": _number(0.01, 100000), "max_in_flight": _number(1, 1000, True),
    "timeout_s": _number(0.1, 120), "secret": _secret, "status": _status,
}
CREATE_FIELDS = frozenset(_CHECKS) - {"status"}
PATCH_FIELDS = frozenset(_CHECKS) - {"secret"}


def _reject_unknown(body: Mapping[str, Any], allowed: frozenset[str] | set[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise InputError(f"{prefix}{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InputError(None, "the request body must be a JSON object")
    return body


def parse_create(body: Any) -> dict[str, Any]:
    """A create body -> checked fields (url and events required)."""
    body = _object(body)
    _reject_unknown(body, CREATE_FIELDS)
    for required in ("url", "events"):
        if required not in body:
            raise InputError(required, "is required")
    return {key: _CHECKS[key](value, key) for key, value in body.items()}


def parse_patch(body: Any) -> dict[str, Any]:
    body = _object(body)
    _reject_unknown(body, PATCH_FIELDS)
    if not body:
        raise InputError(None, "nothing to change: send at least one field")
    return {key: _CHECKS[key](value, key) for key, value in body.items()}


def parse_rotate(body: Any) -> float:
    """``{"grace_s": seconds}`` (optional; default one day) -> grace in seconds."""
    body = _object(body or {})
    _reject_unknown(body, {"grace_s"})
    return float(_number(0, 30 * 86400)(body.get("grace_s", 86400), "grace_s"))


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
