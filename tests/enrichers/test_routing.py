"""enrichers.routing: which loops get an event, stable delivery ids, per-loop payloads."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from enrichers.enrich import enrich
from enrichers.routing import DELIVERY_NAMESPACE, LoopIndex, delivery_id, route
from schemas.loop import Loop
from tests.schemas.examples import (EVENT_ID, loop_definition, mailing_tags, profile_snapshot,
                                    raw_event)


def loop(loop_id: str, **overrides: Any) -> Loop:
    return Loop.from_doc(loop_definition(id=loop_id, **overrides))


UNVALIDATED = {"file_name": "feedbackloop-x.txt", "content": "x", "validated_at": None}


def ids(loops: list[Any]) -> list[str]:
    return [found.id for found in loops]


def test_filters_by_type() -> None:
    index = LoopIndex([loop("opens", events=["open"]), loop("clicks", events=["click"]),
                       loop("both", events=["click", "open"])])
    assert ids(index.matching("open", "newsletter", None)) == ["opens", "both"]
    assert ids(index.matching("click", "newsletter", None)) == ["clicks", "both"]
    assert index.matching("bounce", "newsletter", None) == []


def test_filters_by_database() -> None:
    index = LoopIndex([loop("any", database=None), loop("news", database="newsletter"),
                       loop("shop", database="shop")])
    assert ids(index.matching("open", "newsletter", None)) == ["any", "news"]
    assert ids(index.matching("open", "shop", None)) == ["any", "shop"]
    assert ids(index.matching("open", "other", None)) == ["any"]
    assert ids(index.matching("open", None, None)) == ["any"]


def test_filters_by_collection() -> None:
    index = LoopIndex([loop("any"), loop("orders", collection="orders"),
                       loop("returns", collection="returns")])
    assert ids(index.matching("open", "newsletter", "orders")) == ["any", "orders"]
    assert ids(index.matching("open", "newsletter", None)) == ["any"]


def test_only_enabled_and_validated_loops_are_routed() -> None:
    index = LoopIndex([
        loop("ok"),
        loop("disabled", status="disabled", disabled_reason="410 Gone"),
        loop("never-validated", validation=None),
        loop("not-validated", validation=UNVALIDATED),
        # proven for another URL: the owner changed the URL after validating
        loop("moved", url="https://elsewhere.example.org/hook"),
    ])
    assert len(index) == 1
    assert ids(index.matching("open", "newsletter", None)) == ["ok"]


def test_empty_index() -> None:
    index = LoopIndex([])
    assert len(index) == 0 and index.matching("open", "db", None) == []


def test_delivery_id_is_a_stable_uuid_per_pair() -> None:
    first = delivery_id(EVENT_ID, "loop-1")
    assert first == delivery_id(EVENT_ID, "loop-1")
    assert uuid.UUID(first).version == 5
    assert first != delivery_id(EVENT_ID, "loop-2")
    assert first != delivery_id("2b4e28ba-2fa1-11d2-883f-0016d3cca427", "loop-1")
    # pinned: receivers de-duplicate by this id across releases
    assert first == "b3fd2315-2404-5b0f-9e74-3fc5ea3c2422"


def test_delivery_id_does_not_confuse_concatenations() -> None:
    assert delivery_id("b-c", "a") != delivery_id("c", "a-b")


def test_route_applies_each_loops_field_selection() -> None:
    index = LoopIndex([loop("all", fields=None), loop("some", fields=["firstname"])])
    event = raw_event("open")
    payload = enrich(event, profile_snapshot(), mailing_tags())
    routed = route(event, payload, index)
    assert [(found.id, sorted(p["fields"])) for found, p in routed] == [
        ("all", ["city", "email", "firstname", "lastname", "newsletter"]),
        ("some", ["firstname"]),
    ]
    assert payload == enrich(event, profile_snapshot(), mailing_tags())
    assert routed[1][1]["email"] == "daan.visser3@example.org"


@pytest.mark.parametrize("etype", ["bounce", "complaint", "delete"])
def test_route_nothing_when_no_loop_wants_the_type(etype: str) -> None:
    index = LoopIndex([loop("opens", events=["open"])])
    event = raw_event(etype)
    assert route(event, enrich(event, profile_snapshot(), None), index) == []


@pytest.mark.parametrize("loop_id", ["loop-1", "ünïcode loop", "a" * 300, ""])
def test_delivery_id_equals_the_standard_uuid5(loop_id: str) -> None:
    # computed by hand for speed; must stay the library's uuid5 of the same name
    for event_id in (EVENT_ID, "not-a-uuid", "2b4e28ba-2fa1-11d2-883f-0016d3cca427"):
        assert delivery_id(event_id, loop_id) == str(
            uuid.uuid5(DELIVERY_NAMESPACE, f"{loop_id}\x00{event_id}"))
