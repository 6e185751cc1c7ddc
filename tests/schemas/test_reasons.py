"""schemas.reasons: fastjsonschema failures become one-line reasons naming the field."""
from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest

from schemas.errors import InvalidRecord
from schemas.reasons import invalid_record, json_type, show


def reason_for(schema: dict[str, Any], doc: Any) -> InvalidRecord:
    validate = fastjsonschema.compile(schema)
    with pytest.raises(fastjsonschema.JsonSchemaValueException) as caught:
        validate(doc)
    return invalid_record(caught.value, "test record")


def test_show_and_json_type() -> None:
    assert show(None) == "null" and show(True) == "true" and show(False) == "false"
    assert show("abc") == "'abc'" and show(3) == "3"
    assert show("x" * 100) == "'" + "x" * 59 + "… (100 characters)"
    assert show(list(range(100))).endswith("…")
    values: tuple[Any, ...] = ({}, [], "", True, 1, 1.5, None)
    assert [json_type(v) for v in values] == [
        "object", "array", "string", "boolean", "integer", "number", "null"]


def test_top_level_unknown_fields_list_what_is_allowed() -> None:
    error = reason_for({"type": "object", "properties": {"alpha": {}, "beta": {}},
                        "additionalProperties": False}, {"zzz": 1})
    assert error.reason == "unknown field 'zzz' in the test record (allowed: 'alpha', 'beta')"
    assert error.field == "zzz"


def test_rules_without_a_specific_handler_fall_back_to_the_library_message() -> None:
    error = reason_for({"type": "object", "properties": {"n": {"multipleOf": 5}}}, {"n": 7})
    assert error.field == "n"
    assert error.reason == "field 'n': n must be multiple of 5"


def test_other_rules() -> None:
    assert reason_for({"properties": {"a": {"const": "x"}}}, {"a": "y"}).reason == \
        "field 'a': 'y' must be 'x'"
    assert reason_for({"properties": {"a": {"minLength": 3}}}, {"a": "y"}).reason == \
        "field 'a': 1 characters, under the 3-character minimum"
    assert reason_for({"properties": {"a": {"minItems": 2}}}, {"a": [1]}).reason == \
        "field 'a' needs at least 2 items"
    assert reason_for({"properties": {"a": {"exclusiveMaximum": 2}}}, {"a": 2}).reason == \
        "field 'a': 2 must be less than 2"
    assert reason_for({"properties": {"h": {"propertyNames": {"minLength": 1}}}},
                      {"h": {"": 1}}).reason == "field 'h' has an empty key"
    assert reason_for({"properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
                      {"a": 1}).reason == "field 'a': 1 matches none of the allowed shapes"
    assert reason_for({"type": "object"}, []).reason == "record: expected object, got array []"
