"""Which schema file is the contract for what, and loading them from the installed package.

The JSON files sit directly in this package (``setup.cfg`` ships ``schemas/*.json``). Each file is
self-contained (shared shapes live in its own ``definitions``) so producers can use one file alone.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

import orjson

__all__ = [
    "RAW_EVENT_TYPES",
    "RAW_EVENT_SCHEMAS",
    "REFERENCE_SCHEMAS",
    "SCHEMA_FILES",
    "load_schema",
    "inline_refs",
]

RAW_EVENT_SCHEMAS: Final[Mapping[str, str]] = MappingProxyType({
    "open": "open.json",
    "click": "click.json",
    "bounce": "bounce.json",
    "failure": "failure.json",
    "delivery": "delivery.json",
    "create": "profile-edit.json",
    "update": "profile-edit.json",
    "delete": "profile-edit.json",
    "unsubscribe": "unsubscribe.json",
    "complaint": "complaint.json",
})
"""Raw event ``type`` -> the schema file that is its contract."""

RAW_EVENT_TYPES: Final[frozenset[str]] = frozenset(RAW_EVENT_SCHEMAS)
"""Every ``type`` a raw event may have."""

REFERENCE_SCHEMAS: Final[Mapping[str, str]] = MappingProxyType({
    "profile": "profile.json",
    "tags": "tags.json",
    "loop": "loop.json",
})
"""Reference data (profile snapshots, mailing tags, loop definitions) -> schema file."""

SCHEMA_FILES: Final[tuple[str, ...]] = tuple(
    sorted(set(RAW_EVENT_SCHEMAS.values()) | set(REFERENCE_SCHEMAS.values())))
"""Every schema file of the package."""


@functools.cache
def _load_bytes(file_name: str) -> bytes:
    return resources.files(__package__).joinpath(file_name).read_bytes()


def load_schema(file_name: str) -> dict[str, Any]:
    """A fresh copy of the parsed schema ``file_name`` (e.g. ``"open.json"``).

    Raises ``FileNotFoundError`` for a file the package does not ship.
    """
    schema: dict[str, Any] = orjson.loads(_load_bytes(file_name))
    return schema


def inline_refs(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``{"$ref": "#/definitions/..."}`` replaced by its target.

    The files use ``definitions`` for readability; the compiled validator is ~15 % faster without
    the function call fastjsonschema generates per ``$ref``. Only local refs are supported (the
    files are self-contained); ``ValueError`` names any other.
    """
    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                return resolve(_target(schema, ref))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return {key: resolve(value) for key, value in schema.items()
            if key not in ("definitions", "$id")}


def _target(schema: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref is supported, got {ref!r}")
    node: Any = schema
    for part in ref[2:].split("/"):
        node = node[part]
    return node
