"""Request bodies per loop encoding: ``json``, ``json-batch`` and Copernica-style ``form``.

``form`` (``application/x-www-form-urlencoded``, UTF-8, PHP's bracket convention, so an existing
``$_POST`` script keeps working):

- scalars: ``key=value``; booleans ``1`` / ``0`` (what PHP's ``(bool)`` and Copernica's fields
  expect; ``true`` would be truthy even when false); numbers in Python's ``str()`` form;
  ``None`` is left out (PHP has no null in a form).
- mappings per key: ``fields[firstname]=Anna``, nested ``a[b][c]=v``.
- lists of scalars per item: ``interests[]=golf&interests[]=tennis``.
- lists holding any mapping or list are indexed, so items stay together:
  ``tags[0][name]=x&tags[0][id]=1&tags[1][name]=y``.
- empty lists and mappings are left out (a form cannot say "empty array"; PHP sees no key).
- names and values are percent-encoded (space as ``+``); the brackets stay literal, and a
  bracket inside a name is encoded, so ``a[b]`` as a *name* cannot be confused with nesting.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping, Sequence
from urllib.parse import quote_plus, unquote_plus

import orjson

from .errors import EncodingError

__all__ = ["CONTENT_TYPES", "encode", "encode_form", "form_pairs"]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
#: the Content-Type sent per loop encoding.
CONTENT_TYPES: Mapping[str, str] = {"json": JSON, "json-batch": JSON, "form": FORM}


def encode(encoding: str, payloads: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
    """``(body, content_type)`` for ``payloads`` in the loop's ``encoding``. ``json`` and
    ``form`` take exactly one payload, ``json-batch`` one or more (sent as an array). Raises
    EncodingError for a wrong count, an unknown encoding or a value JSON cannot hold."""
    if encoding == "json-batch":
        if not payloads:
            raise EncodingError("json-batch needs at least one payload")
        return _dumps(payloads if isinstance(payloads, list) else list(payloads)), JSON
    if encoding not in CONTENT_TYPES:
        raise EncodingError(f"unknown encoding {encoding!r}: use json, json-batch or form")
    if len(payloads) != 1:
        raise EncodingError(f"{encoding} sends exactly one payload per call, got {len(payloads)}")
    if encoding == "json":
        return _dumps(payloads[0]), JSON
    return encode_form(payloads[0]), FORM


def encode_form(payload: Mapping[str, Any]) -> bytes:
    """The ``form`` body for one payload (rules in the module docstring)."""
    return "&".join(f"{name}={_quote(value)}" for name, value in _pairs(payload)).encode("ascii")


def form_pairs(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The decoded ``(name, value)`` pairs the form body carries, in order (for tests and the
    test tool's preview)."""
    return [(_unquote_name(name), value) for name, value in _pairs(payload)]


def _pairs(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in payload.items():
        _add(_name(key), value, out)
    return out


def _add(name: str, value: Any, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, str):
        out.append((name, value))
    elif isinstance(value, bool):
        out.append((name, "1" if value else "0"))
    elif isinstance(value, (int, float)):
        out.append((name, str(value)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _add(f"{name}[{_name(key)}]", item, out)
    elif isinstance(value, (list, tuple)):
        if any(isinstance(item, (Mapping, list, tuple)) for item in value):
            for i, item in enumerate(value):
                _add(f"{name}[{i}]", item, out)
        else:
            for item in value:
                _add(f"{name}[]", item, out)
    else:
        raise EncodingError(f"{_unquote_name(name)}: cannot form-encode a {type(value).__name__}")


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote(value: str) -> str:
    # most values (ids, numbers, types) need no escaping; skip quote_plus for them
    return value if _UNRESERVED.fullmatch(value) else quote_plus(value, safe="")


def _name(key: Any) -> str:
    return _quoted_name(key if isinstance(key, str) else str(key))


@lru_cache(maxsize=4096)
def _quoted_name(key: str) -> str:
    """Field names repeat from event to event: quote each once."""
    return _quote(key)


def _unquote_name(name: str) -> str:
    return unquote_plus(name)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise EncodingError(f"cannot encode as JSON: {exc}") from None
