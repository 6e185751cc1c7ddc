"""Turn a fastjsonschema failure into an ``InvalidRecord`` a person can act on.

This is the one place where fastjsonschema's exception is translated. A reason is one line that
names the field (``batch.max_events``, ``headers.User-Agent``, ``secrets[0].secret``), says what
was wrong and, where useful, what would be valid. Values are quoted shortened, and never for a
field whose path mentions ``secret``.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import fastjsonschema

from .errors import InvalidRecord
from .formats import FORMAT_NAMES

__all__ = ["invalid_record", "json_type", "printable", "show"]

_MAX_SHOWN: Final = 60
_JSON_TYPES: Final[Mapping[type, str]] = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
    float: "number", type(None): "null",
}


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (``object``, ``array``, ``string`` ...)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def show(value: Any) -> str:
    """``value`` for a reason: JSON-ish, shortened to about 60 characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    if len(text) <= _MAX_SHOWN:
        return text
    if isinstance(value, str):
        return f"{text[:_MAX_SHOWN]}… ({len(value)} characters)"
    return f"{text[:_MAX_SHOWN]}…"


def invalid_record(exc: fastjsonschema.JsonSchemaValueException, contract: str) -> InvalidRecord:
    """The ``InvalidRecord`` for ``exc``, raised by the validator of ``contract`` (e.g. ``open event``)."""
    path = _path(exc.name)
    rule = exc.rule or ""
    definition: Mapping[str, Any] = exc.definition if isinstance(exc.definition, dict) else {}
    value = exc.value
    handler = _HANDLERS.get(rule)
    if handler is not None:
        reason, field = handler(path, value, definition, contract)
    else:
        reason, field = _generic(path, exc.message)
    # key names come from the record: a newline or control character in one must not make the
    # reason (a log line, a Kafka header) span lines
    return InvalidRecord(printable(reason), None if field is None else printable(field))


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x00``): one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _path(name: str | None) -> str | None:
    """``data.batch.max_events`` -> ``batch.max_events``; ``data`` -> None."""
    if not name or name == "data":
        return None
    return name[5:] if name.startswith("data.") else name


def _join(parent: str | None, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _subject(path: str | None) -> str:
    return f"field '{path}'" if path else "record"


def _value(path: str | None, value: Any) -> str:
    if path is not None and "secret" in path:
        return "the value"
    return show(value)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


Outcome = tuple[str, str | None]


def _required(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    present = value if isinstance(value, dict) else {}
    missing = [_join(path, key) for key in definition.get("required", ()) if key not in present]
    if not missing:  # cannot happen with fastjsonschema 2.x; keep the reason useful anyway
        return f"{_subject(path)} misses a required field", path
    if len(missing) == 1:
        return f"field '{missing[0]}' is required", missing[0]
    return f"fields {_quoted(missing)} are required", missing[0]


def _additional(path: str | None, value: Any, definition: Mapping[str, Any],
                contract: str) -> Outcome:
    known = list(definition.get("properties", {}))
    unknown = [key for key in (value if isinstance(value, dict) else {}) if key not in known]
    if not unknown:
        return f"{_subject(path)} has a field that is not allowed", path
    where = f"the {contract}" if path is None else f"'{path}'"
    first = unknown[0]
    guess = difflib.get_close_matches(first, known, n=1)
    hint = f"did you mean '{guess[0]}'?" if guess else f"allowed: {_quoted(known)}"
    return f"unknown field '{_join(path, first)}' in {where} ({hint})", _join(path, first)


def _type(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    expected = definition.get("type", "?")
    wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
    return (f"{_subject(path)}: expected {wanted}, got {json_type(value)} "
            f"{_value(path, value)}", path)


def _format(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    name = str(definition.get("format"))
    return f"{_subject(path)}: {_value(path, value)} is not {FORMAT_NAMES.get(name, name)}", path


def _any_of(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    branches = [b for b in definition.get("anyOf", ()) if isinstance(b, dict)]
    if branches and all(set(b) == {"required"} for b in branches):
        names = [_join(path, str(key)) for b in branches for key in b["required"]]
        either = " or ".join(f"'{name}'" for name in names)
        return f"one of the fields {either} is required", names[0]
    if branches and all(set(b) == {"format"} for b in branches):
        formats = [str(b["format"]) for b in branches]
        shapes = " or ".join(FORMAT_NAMES.get(name, name) for name in formats)
        return f"{_subject(path)}: {_value(path, value)} is not {shapes}", path
    return f"{_subject(path)}: {_value(path, value)} matches none of the allowed shapes", path


def _dependencies(path: str | None, value: Any, definition: Mapping[str, Any],
                  contract: str) -> Outcome:
    present = value if isinstance(value, dict) else {}
    for key, needs in definition.get("dependencies", {}).items():
        if key in present and isinstance(needs, list):
            missing = [_join(path, n) for n in needs if n not in present]
            if missing:
                return (f"field {_quoted(missing)} is required when "
                        f"'{_join(path, key)}' is given", missing[0])
    return f"{_subject(path)} misses a field another field depends on", path


def _enum(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    allowed = ", ".join(show(option) for option in definition.get("enum", ()))
    return f"{_subject(path)}: {_value(path, value)} is not one of {allowed}", path


def _const(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    return (f"{_subject(path)}: {_value(path, value)} must be "
            f"{show(definition.get('const'))}", path)


def _length(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    size = len(value) if isinstance(value, str) else 0
    if "maxLength" in definition and size > definition["maxLength"]:
        return (f"{_subject(path)}: {size} characters, over the "
                f"{definition['maxLength']}-character limit", path)
    minimum = definition.get("minLength", 0)
    if minimum == 1:
        return f"{_subject(path)} must not be empty", path
    return f"{_subject(path)}: {size} characters, under the {minimum}-character minimum", path


def _entries(path: str | None, value: Any, definition: Mapping[str, Any],
             contract: str) -> Outcome:
    size = len(value) if isinstance(value, dict | list) else 0
    unit = "entries" if isinstance(value, dict) else "items"
    for rule in ("maxProperties", "maxItems"):
        if rule in definition and size > definition[rule]:
            return f"{_subject(path)}: more than {definition[rule]} {unit}", path
    minimum = definition.get("minProperties", definition.get("minItems", 0))
    noun = "item" if minimum == 1 else "items"
    return f"{_subject(path)} needs at least {minimum} {noun}", path


def _property_names(path: str | None, value: Any, definition: Mapping[str, Any],
                    contract: str) -> Outcome:
    rule: Mapping[str, Any] = definition.get("propertyNames", {})
    low, high = rule.get("minLength", 0), rule.get("maxLength", float("inf"))
    for key in value if isinstance(value, dict) else ():
        if not low <= len(key) <= high:
            if not key:
                return f"{_subject(path)} has an empty key", path
            return f"{_subject(path)}: key {show(key)} is longer than {high} characters", path
    return f"{_subject(path)} has a key that is not allowed", path


def _bound(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    shown = _value(path, value)
    if "minimum" in definition and value < definition["minimum"]:
        return f"{_subject(path)}: {shown} is below the minimum {definition['minimum']}", path
    if "maximum" in definition and value > definition["maximum"]:
        return f"{_subject(path)}: {shown} is above the maximum {definition['maximum']}", path
    if "exclusiveMinimum" in definition and value <= definition["exclusiveMinimum"]:
        return (f"{_subject(path)}: {shown} must be greater than "
                f"{definition['exclusiveMinimum']}", path)
    return (f"{_subject(path)}: {shown} must be less than "
            f"{definition.get('exclusiveMaximum')}", path)


def _pattern(path: str | None, value: Any, definition: Mapping[str, Any],
             contract: str) -> Outcome:
    named = FORMAT_NAMES.get(str(definition.get("format")))
    if named is not None:  # a pattern standing in for a format (uuid)
        return f"{_subject(path)}: {_value(path, value)} is not {named}", path
    pattern = str(definition.get("pattern"))
    if pattern.endswith(r"\Z"):  # shown as written in the schema file (see validation._anchored)
        pattern = pattern[:-2] + "$"
    return f"{_subject(path)}: {_value(path, value)} does not match the pattern {pattern}", path


def _unique(path: str | None, value: Any, definition: Mapping[str, Any], contract: str) -> Outcome:
    return f"{_subject(path)} has duplicate items", path


def _generic(path: str | None, message: str) -> Outcome:
    text = message[5:] if message.startswith("data.") else message.removeprefix("data ")
    return f"{_subject(path)}: {text}" if path else f"record: {text}", path


_HANDLERS: Final = {
    "required": _required,
    "additionalProperties": _additional,
    "type": _type,
    "format": _format,
    "anyOf": _any_of,
    "dependencies": _dependencies,
    "enum": _enum,
    "const": _const,
    "maxLength": _length,
    "minLength": _length,
    "maxProperties": _entries,
    "minProperties": _entries,
    "maxItems": _entries,
    "minItems": _entries,
    "propertyNames": _property_names,
    "minimum": _bound,
    "maximum": _bound,
    "exclusiveMinimum": _bound,
    "exclusiveMaximum": _bound,
    "pattern": _pattern,
    "uniqueItems": _unique,
}
