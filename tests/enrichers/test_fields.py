"""enrichers.fields.select_fields: per-loop field selection that never mutates its input."""
from __future__ import annotations

import copy
from typing import Any

from enrichers.fields import select_fields

PAYLOAD: dict[str, Any] = {
    "id": "m", "type": "open", "email": "a@example.org",
    "fields": {"email": "a@example.org", "firstname": "Anna", "city": "Köln"},
    "interests": ["golf"], "tags": ["t"],
}


def test_none_keeps_everything_in_a_copy() -> None:
    selected = select_fields(PAYLOAD, None)
    assert selected == PAYLOAD and selected is not PAYLOAD


def test_only_the_fields_map_is_filtered_in_the_loops_order() -> None:
    selected = select_fields(PAYLOAD, ["city", "email", "nonexistent"])
    assert selected["fields"] == {"city": "Köln", "email": "a@example.org"}
    assert list(selected["fields"]) == ["city", "email"]
    assert {k: v for k, v in selected.items() if k != "fields"} == \
        {k: v for k, v in PAYLOAD.items() if k != "fields"}


def test_empty_selection_gives_empty_fields() -> None:
    assert select_fields(PAYLOAD, [])["fields"] == {}


def test_does_not_mutate_its_input() -> None:
    payload = copy.deepcopy(PAYLOAD)
    selected = select_fields(payload, ["city"])
    selected["fields"]["city"] = "Gent"
    selected["extra"] = 1
    assert payload == PAYLOAD


def test_payload_without_fields() -> None:
    assert select_fields({"id": "x"}, ["email"]) == {"id": "x"}
