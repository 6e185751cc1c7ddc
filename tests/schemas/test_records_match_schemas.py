"""The Faust records and the JSON schemas describe the same documents.

For every schema file (and every nested object shape that a record mirrors): the same property
names, and a property is required in the schema exactly when the record field is neither
Optional nor defaulted. Adding a property to one side only fails here.
"""
from __future__ import annotations

import typing
from importlib import resources
from typing import Any

import faust
import orjson
import pytest

from schemas import (RAW_EVENT_SCHEMAS, SCHEMA_FILES, load_schema, validate_loop,
                     validate_profile, validate_raw_event, validate_tags)
from schemas.records import RECORD_FOR_EVENT_TYPE, RECORD_FOR_SCHEMA, Contract, OpenEvent
from tests.schemas.examples import (loop_definition, mailing_tags, profile_snapshot,
                                    valid_raw_events)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _object_schema(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The object shape inside a property schema: itself, its items, or its map values."""
    node = _resolve(node, root)
    if "properties" in node:
        return node
    for key in ("items", "additionalProperties"):
        inner = node.get(key)
        if isinstance(inner, dict):
            found = _object_schema(inner, root)
            if found is not None:
                return found
    return None


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _nested_record(annotation: Any) -> type[faust.Record] | None:
    if isinstance(annotation, type) and issubclass(annotation, faust.Record):
        return annotation
    for arg in typing.get_args(annotation):
        found = _nested_record(arg)
        if found is not None:
            return found
    return None


def mismatches(record: type[faust.Record], schema: dict[str, Any], root: dict[str, Any],
               where: str) -> list[str]:
    """Every disagreement between ``record`` and the object ``schema``, as readable lines."""
    fields: dict[str, Any] = dict(record._options.fields)
    defaults = record._options.defaults
    properties: dict[str, Any] = schema.get("properties", {})
    problems = [f"{where}: property '{name}' has no field in {record.__name__}"
                for name in properties if name not in fields]
    problems += [f"{where}: field {record.__name__}.{name} is not a schema property"
                 for name in fields if name not in properties]
    required = set(schema.get("required", ()))
    for name, annotation in fields.items():
        if name not in properties:
            continue
        record_requires = name not in defaults and not _is_optional(annotation)
        if record_requires != (name in required):
            problems.append(
                f"{where}: '{name}' is {'required' if name in required else 'optional'} in the "
                f"schema but {'required' if record_requires else 'optional'} in "
                f"{record.__name__}")
        nested = _nested_record(annotation)
        if nested is not None:
            inner = _object_schema(properties[name], root)
            if inner is None:
                problems.append(f"{where}: '{name}' is a {nested.__name__} but not an object")
            else:
                problems += mismatches(nested, inner, root, f"{where}.{name}")
        elif _object_schema(properties[name], root) is not None:
            problems.append(f"{where}: '{name}' is an object shape without a record")
    return problems


def test_every_schema_file_has_a_record() -> None:
    shipped = {entry.name for entry in resources.files("schemas").iterdir()
               if entry.name.endswith(".json")}
    assert shipped == set(SCHEMA_FILES) == set(RECORD_FOR_SCHEMA)


@pytest.mark.parametrize("file_name", SCHEMA_FILES)
def test_record_matches_schema(file_name: str) -> None:
    schema = load_schema(file_name)
    assert mismatches(RECORD_FOR_SCHEMA[file_name], schema, schema, file_name) == []


def test_event_type_records_agree_with_schema_files() -> None:
    for etype, file_name in RAW_EVENT_SCHEMAS.items():
        assert RECORD_FOR_EVENT_TYPE[etype] is RECORD_FOR_SCHEMA[file_name]


def test_checker_notices_a_property_added_to_the_schema_only() -> None:
    schema = load_schema("open.json")
    schema["properties"]["country"] = {"type": "string"}
    assert mismatches(OpenEvent, schema, schema, "open.json") == [
        "open.json: property 'country' has no field in OpenEvent"]


def test_checker_notices_a_field_added_to_the_record_only() -> None:
    class Wider(OpenEvent):
        country: str | None = None

    schema = load_schema("open.json")
    assert mismatches(Wider, schema, schema, "open.json") == [
        "open.json: field Wider.country is not a schema property"]


def test_checker_notices_required_ness_and_nested_differences() -> None:
    schema = load_schema("open.json")
    schema["required"].append("ip")
    assert mismatches(OpenEvent, schema, schema, "open.json") == [
        "open.json: 'ip' is required in the schema but optional in OpenEvent"]
    loop = load_schema("loop.json")
    loop["properties"]["batch"]["properties"]["max_bytes"] = {"type": "integer"}
    assert mismatches(RECORD_FOR_SCHEMA["loop.json"], loop, loop, "loop.json") == [
        "loop.json.batch: property 'max_bytes' has no field in LoopBatch"]


def _round_trip(record: type[Contract], doc: dict[str, Any]) -> Any:
    return orjson.loads(record.from_data(doc).dumps())


@pytest.mark.parametrize("name", sorted(valid_raw_events()))
def test_raw_event_record_round_trip_stays_valid(name: str) -> None:
    doc = valid_raw_events()[name]
    again = _round_trip(RECORD_FOR_EVENT_TYPE[doc["type"]], doc)
    assert again == doc
    validate_raw_event(again)


def test_reference_record_round_trips_stay_valid() -> None:
    assert _round_trip(RECORD_FOR_SCHEMA["profile.json"], profile_snapshot()) == profile_snapshot()
    validate_profile(_round_trip(RECORD_FOR_SCHEMA["profile.json"], profile_snapshot()))
    validate_tags(_round_trip(RECORD_FOR_SCHEMA["tags.json"], mailing_tags()))
    loop = validate_loop(_round_trip(RECORD_FOR_SCHEMA["loop.json"], loop_definition()))
    # None-valued fields are left out and come back as the schema's defaults
    assert loop["secrets"][0] == {"secret": loop_definition()["secrets"][0]["secret"]}
    assert {**loop, "secrets": None} == {**validate_loop(loop_definition()), "secrets": None}


def test_nested_records_are_coerced_on_access() -> None:
    loop = RECORD_FOR_SCHEMA["loop.json"].from_data(loop_definition())
    assert type(loop.secrets[0]).__name__ == "LoopSecret"
    assert loop.validation.validated_at == 1795600000.0
    snapshot = RECORD_FOR_SCHEMA["profile.json"].from_data(profile_snapshot())
    assert snapshot.subprofiles["s7"].collection == "orders"


def test_records_carry_no_faust_metadata() -> None:
    record = OpenEvent(id="x", type="open", occurred_at="t", database="d", profile="p")
    assert orjson.loads(record.dumps()) == {"id": "x", "type": "open", "occurred_at": "t",
                                            "database": "d", "profile": "p"}
