"""enrichers.enrich: Copernica's field names per event type, plus the enrichment every payload
gets (email, fields, interests, tags, database, profile, mailing, profile_known)."""
from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from enrichers.enrich import copernica_time, enrich
from enrichers.errors import UnsupportedEvent
from enrichers.profiles import apply_edit
from tests.schemas.examples import (EVENT_ID, mailing_tags, profile_snapshot, raw_event,
                                    subprofile_edit)

MESSAGE_ID = "<m1.p3@mail.example.com>"
TIME = {"timestamp": "2026-11-26 10:00:00", "time": 1795687200}
PROFILE = profile_snapshot()
ENRICHED = {"database": "newsletter", "profile": "p3", "email": "daan.visser3@example.org",
            "fields": PROFILE["fields"], "interests": ["golf", "tennis"], "profile_known": True}
ENRICHED_MESSAGE = {**ENRICHED, "mailing": "m1", "tags": ["newsletter", "campaign-1"]}
HEAD = {"id": MESSAGE_ID, "event_id": EVENT_ID, **TIME, "recipient": "daan.visser3@example.org"}
EVENT = raw_event("open")


def payload_of(event: dict[str, Any], profile: dict[str, Any] | None = PROFILE,
               tags: dict[str, Any] | None = None) -> dict[str, Any]:
    return enrich(event, profile, tags if tags is not None else mailing_tags())


def test_open() -> None:
    assert payload_of(raw_event("open")) == {
        **HEAD, "type": "open", "ip": "198.51.100.7", "useragent": EVENT["useragent"],
        "referer": "https://mail.example.net/", "headers": EVENT["headers"], **ENRICHED_MESSAGE}


def test_click() -> None:
    event = raw_event("click")
    assert payload_of(event) == {
        **HEAD, "type": "click", "ip": "198.51.100.7", "original": event["url"], "link": "l10",
        "useragent": event["useragent"], "referer": event["referer"],
        "headers": event["headers"],
        **ENRICHED_MESSAGE, "tags": ["newsletter", "campaign-1", "product-10"]}


def test_bounce() -> None:
    event = raw_event("bounce")
    assert payload_of(event) == {**HEAD, "type": "bounce", "envelope": event["envelope"],
                                 "mime": event["mime"], **ENRICHED_MESSAGE}


def test_failure() -> None:
    event = raw_event("failure")
    assert payload_of(event) == {
        **HEAD, "type": "failure", "action": "failed", "state": "rcpt", "code": 550,
        "extended": "5.1.1", "description": event["description"], **ENRICHED_MESSAGE}


def test_delivery() -> None:
    event = raw_event("delivery")
    assert payload_of(event) == {
        **HEAD, "type": "delivery", "code": 250, "extended": "2.0.0",
        "description": event["description"], **ENRICHED_MESSAGE}


def test_unsubscribe() -> None:
    assert payload_of(raw_event("unsubscribe")) == {**HEAD, "type": "unsubscribe",
                                                    **ENRICHED_MESSAGE}


def test_complaint() -> None:
    assert payload_of(raw_event("complaint")) == {
        **HEAD, "type": "complaint", "feedback_type": "abuse",
        "reporter": "feedback.example.net", "source_ip": "2001:db8::25", **ENRICHED_MESSAGE}


def test_profile_create() -> None:
    event = raw_event("create")
    assert payload_of(event, profile=None) == {
        "id": EVENT_ID, "event_id": EVENT_ID, "type": "create", **TIME,
        "parameters": {"source": "signup-form"},
        "created": "2026-11-26 09:00:00", "modified": "2026-11-26 10:00:00",
        "database": "newsletter", "profile": "p3", "email": "daan.visser3@example.org",
        "fields": event["fields"], "interests": ["golf", "cycling"], "tags": [],
        "profile_known": True}


def test_profile_update_shows_the_merged_fields() -> None:
    event = raw_event("update", fields={"city": "Gent"}, interests=None, parameters=None,
                      created=None, modified=None)
    payload = payload_of(event)
    assert payload == {
        "id": EVENT_ID, "event_id": EVENT_ID, "type": "update", **TIME,
        "created": "2025-01-02 03:04:05", "modified": "2026-11-26 10:00:00",
        "database": "newsletter", "profile": "p3", "email": "daan.visser3@example.org",
        "fields": {**PROFILE["fields"], "city": "Gent"}, "interests": ["golf", "tennis"],
        "tags": [], "profile_known": True}


def test_update_then_enrich_shows_updated_fields_on_the_next_event() -> None:
    after = apply_edit(PROFILE, raw_event("update", fields={"firstname": "Dániel",
                                                            "email": "d@example.org"}))
    payload = payload_of(raw_event("open", recipient=None), profile=after)
    assert payload["fields"]["firstname"] == "Dániel"
    assert payload["email"] == payload["recipient"] == "d@example.org"


def test_edit_payload_is_the_same_with_the_snapshot_before_or_after() -> None:
    event = raw_event("update", fields={"city": "Gent"})
    assert payload_of(event, profile=apply_edit(PROFILE, event)) == payload_of(event)


def test_profile_delete_carries_the_fields_it_had() -> None:
    assert payload_of(raw_event("delete")) == {
        "id": EVENT_ID, "event_id": EVENT_ID, "type": "delete", **TIME,
        **ENRICHED, "tags": []}


def test_delete_of_an_unknown_profile() -> None:
    payload = payload_of(raw_event("delete", fields={"email": "gone@example.org"}), profile=None)
    assert payload["fields"] == {"email": "gone@example.org"}
    assert payload["profile_known"] is False
    assert "email" not in payload and "interests" not in payload


def test_subprofile_update_carries_the_subprofile_fields() -> None:
    payload = payload_of(subprofile_edit("update", fields={"amount": 20}))
    assert payload == {
        "id": EVENT_ID, "event_id": EVENT_ID, "type": "update", **TIME,
        "created": "2026-01-01 00:00:00", "modified": "2026-11-26 10:00:00",
        "database": "newsletter", "collection": "orders", "profile": "p3", "subprofile": "s7",
        "email": "daan.visser3@example.org", "fields": {"order": "A-1000", "amount": 20},
        "interests": ["golf", "tennis"], "tags": [], "profile_known": True}


def test_subprofile_create_of_an_unknown_parent() -> None:
    payload = payload_of(subprofile_edit("create"), profile=None)
    assert payload["fields"] == {"order": "A-1001", "amount": 12.5}
    assert payload["profile_known"] is False
    assert "email" not in payload


def test_subprofile_delete_carries_the_subprofile_fields() -> None:
    payload = payload_of(subprofile_edit("delete"))
    assert payload["fields"] == {"order": "A-1000"}
    assert (payload["subprofile"], payload["collection"]) == ("s7", "orders")
    assert "created" not in payload and "modified" not in payload


def test_events_naming_a_subprofile_carry_the_profile_fields() -> None:
    payload = payload_of(raw_event("open", subprofile="s7", collection="orders"))
    assert payload["fields"] == PROFILE["fields"]
    assert (payload["subprofile"], payload["collection"]) == ("s7", "orders")


def test_unknown_profile_is_delivered_with_what_is_known() -> None:
    payload = payload_of(raw_event("open"), profile=None)
    assert payload["profile_known"] is False
    assert payload["email"] == payload["recipient"] == "daan.visser3@example.org"
    assert "fields" not in payload and "interests" not in payload
    assert payload["tags"] == ["newsletter", "campaign-1"]


def test_event_without_profile_is_not_unknown() -> None:
    payload = payload_of(raw_event("bounce", profile=None), profile=None)
    assert payload["profile_known"] is True
    assert "profile" not in payload and "fields" not in payload


def test_recipient_falls_back_to_the_profile_email_for_message_events() -> None:
    payload = payload_of(raw_event("open", recipient=None))
    assert payload["recipient"] == payload["email"] == "daan.visser3@example.org"
    assert "recipient" not in payload_of(raw_event("update"))


def test_id_is_the_event_id_without_a_message() -> None:
    payload = payload_of(raw_event("open", message=None))
    assert payload["id"] == payload["event_id"] == EVENT_ID


def test_unknown_mailing_gives_no_tags() -> None:
    assert enrich(raw_event("click"), PROFILE, None)["tags"] == []


def test_time_is_utc() -> None:
    payload = payload_of(raw_event("open", occurred_at="2026-11-26T11:30:15.999+01:00"))
    assert (payload["timestamp"], payload["time"]) == ("2026-11-26 10:30:15", 1795689015)
    assert copernica_time("2026-01-01T00:30:00-01:00") == "2026-01-01 01:30:00"


def test_unicode_survives_and_serializes() -> None:
    profile = profile_snapshot(fields={"naam": "Chloé Ünal 👋", "stad": "Köln"},
                               email="chloé@exämple.org")
    payload = payload_of(raw_event("open", recipient=None, useragent="Mözilla ✓"),
                         profile=profile)
    assert payload["fields"] == {"naam": "Chloé Ünal 👋", "stad": "Köln"}
    assert payload["email"] == "chloé@exämple.org" and payload["useragent"] == "Mözilla ✓"
    assert orjson.loads(orjson.dumps(payload)) == payload


def test_no_none_values_and_nothing_shared_with_the_inputs() -> None:
    event, profile, tags = raw_event("click"), profile_snapshot(), mailing_tags()
    frozen = copy.deepcopy((event, profile, tags))
    payload = enrich(event, profile, tags)
    assert None not in payload.values()
    payload["fields"]["city"] = "x"
    payload["interests"].append("x")
    payload["headers"]["X"] = "x"
    payload["tags"].append("x")
    assert (event, profile, tags) == frozen


def test_unknown_type() -> None:
    with pytest.raises(UnsupportedEvent, match="'opn'"):
        enrich({**raw_event("open"), "type": "opn"}, PROFILE, None)
