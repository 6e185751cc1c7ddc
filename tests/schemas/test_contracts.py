"""schemas.contracts: the schema files ship, are standard draft-07, self-contained, and the raw
event families agree on the envelope every raw event shares."""
from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from schemas import (RAW_EVENT_SCHEMAS, RAW_EVENT_TYPES, REFERENCE_SCHEMAS, SCHEMA_FILES,
                     inline_refs, load_schema)

RAW_FILES = sorted(set(RAW_EVENT_SCHEMAS.values()))
ENVELOPE = ["id", "type", "occurred_at", "database", "collection", "subprofile", "recipient",
            "mailing", "message"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_files_listed() -> None:
    assert SCHEMA_FILES == tuple(sorted({*RAW_EVENT_SCHEMAS.values(), *REFERENCE_SCHEMAS.values()}))
    assert set(RAW_EVENT_SCHEMAS) == RAW_EVENT_TYPES


@pytest.mark.parametrize("file_name", SCHEMA_FILES)
def test_schema_is_standard_draft_07_and_self_contained(file_name: str) -> None:
    schema = load_schema(file_name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert all(ref.startswith("#/definitions/") for ref in _refs(schema))
    assert schema["additionalProperties"] is False
    assert "additionalProperties: false" in schema["description"]


@pytest.mark.parametrize("file_name", RAW_FILES)
def test_raw_event_schemas_share_the_envelope(file_name: str) -> None:
    reference = inline_refs(load_schema("open.json"))
    schema = inline_refs(load_schema(file_name))
    for name in ENVELOPE:
        if name != "type":
            assert schema["properties"][name] == reference["properties"][name], name
    assert schema["required"][:4] == ["id", "type", "occurred_at", "database"]
    if "profile" in schema["required"]:
        assert schema["properties"]["profile"] == reference["properties"]["profile"]
    else:
        assert schema["anyOf"] == [{"required": ["profile"]}, {"required": ["recipient"]}]


def test_type_values_match_the_mapping() -> None:
    for etype, file_name in RAW_EVENT_SCHEMAS.items():
        declared = load_schema(file_name)["properties"]["type"]
        assert etype in declared.get("enum", [declared.get("const")])


def test_loop_event_list_is_the_raw_event_types() -> None:
    items = load_schema("loop.json")["properties"]["events"]["items"]
    assert set(items["enum"]) == RAW_EVENT_TYPES


def test_every_string_has_a_length_limit_and_every_map_a_size_limit() -> None:
    def walk(node: Any, where: str) -> list[str]:
        problems = []
        if isinstance(node, dict):
            types = node.get("type")
            types = types if isinstance(types, list) else [types]
            if "string" in types and "maxLength" not in node:
                problems.append(where)
            if ("object" in types and isinstance(node.get("additionalProperties"), dict)
                    and "maxProperties" not in node):
                problems.append(where)
            if "array" in types and "maxItems" not in node:
                problems.append(where)
            for key, value in node.items():
                problems += walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                problems += walk(item, f"{where}/{i}")
        return problems

    for file_name in SCHEMA_FILES:
        assert walk(load_schema(file_name), file_name) == []


def test_load_schema_returns_a_fresh_copy() -> None:
    first = load_schema("open.json")
    first["properties"].clear()
    assert load_schema("open.json")["properties"]
    with pytest.raises(FileNotFoundError):
        load_schema("nope.json")


def test_inline_refs() -> None:
    schema = {"$id": "urn:x", "definitions": {"a": {"type": "string"}},
              "properties": {"x": {"$ref": "#/definitions/a"}, "definitions": {"type": "null"}}}
    assert inline_refs(schema) == {"properties": {"x": {"type": "string"},
                                                  "definitions": {"type": "null"}}}
    with pytest.raises(ValueError, match="only local"):
        inline_refs({"properties": {"x": {"$ref": "https://example.com/s.json"}}})
    assert json.dumps(inline_refs(load_schema("loop.json")))  # nothing unresolvable left
