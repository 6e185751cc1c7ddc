"""enrichers.profiles.apply_edit: the state machine of the profile table."""
from __future__ import annotations

import copy

import pytest

from enrichers.errors import UnsupportedEvent
from enrichers.profiles import apply_edit
from schemas import validate_profile
from tests.schemas.examples import OCCURRED_AT, profile_snapshot, raw_event, subprofile_edit


def test_update_merges_fields_and_keeps_the_rest() -> None:
    before = profile_snapshot()
    after = apply_edit(before, raw_event("update", fields={"city": "Gent", "age": 41},
                                         interests=None, created=None,
                                         modified="2026-11-26T10:00:00Z"))
    assert after is not None
    assert after["fields"] == {**before["fields"], "city": "Gent", "age": 41}
    assert after["interests"] == before["interests"]
    assert after["email"] == before["email"]
    assert after["created"] == before["created"]
    assert after["modified"] == "2026-11-26T10:00:00Z"
    assert after["subprofiles"] == before["subprofiles"]
    validate_profile(after)


def test_update_never_mutates_its_inputs() -> None:
    before, event = profile_snapshot(), raw_event("update")
    frozen_before, frozen_event = copy.deepcopy(before), copy.deepcopy(event)
    apply_edit(before, event)
    apply_edit(before, subprofile_edit("update"))
    apply_edit(before, subprofile_edit("delete"))
    assert before == frozen_before and event == frozen_event


def test_interests_are_replaced_when_given() -> None:
    after = apply_edit(profile_snapshot(), raw_event("update", interests=["cooking"]))
    assert after is not None and after["interests"] == ["cooking"]
    after = apply_edit(profile_snapshot(), raw_event("update", interests=[]))
    assert after is not None and after["interests"] == []


def test_email_follows_the_email_field() -> None:
    after = apply_edit(profile_snapshot(), raw_event("update", fields={"email": "new@example.org"}))
    assert after is not None and after["email"] == "new@example.org"
    after = apply_edit(profile_snapshot(), raw_event("update", fields={"email": ""}))
    assert after is not None and "email" not in after and after["fields"]["email"] == ""
    after = apply_edit(profile_snapshot(), raw_event("update", fields={"city": "Gent"}))
    assert after is not None and after["email"] == "daan.visser3@example.org"


@pytest.mark.parametrize("etype", ["create", "update"])
def test_creating_from_nothing(etype: str) -> None:
    event = raw_event(etype, fields={"email": "chloé@example.org", "firstname": "Chloé"},
                      created=None, modified=None)
    after = apply_edit(None, event)
    assert after == {
        "id": "p3", "database": "newsletter",
        "fields": {"email": "chloé@example.org", "firstname": "Chloé"},
        "email": "chloé@example.org", "interests": ["golf", "cycling"],
        **({"created": OCCURRED_AT} if etype == "create" else {}),
        "modified": OCCURRED_AT,
    }
    validate_profile(after)


def test_create_takes_created_and_modified_from_the_event() -> None:
    after = apply_edit(None, raw_event("create"))
    assert after is not None
    assert (after["created"], after["modified"]) == ("2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")


def test_profile_delete_returns_none() -> None:
    assert apply_edit(profile_snapshot(), raw_event("delete")) is None
    assert apply_edit(None, raw_event("delete")) is None


def test_subprofile_update_changes_only_that_subprofile() -> None:
    before = profile_snapshot()
    after = apply_edit(before, subprofile_edit("update", fields={"amount": 20}))
    assert after is not None
    assert {k: v for k, v in after.items() if k != "subprofiles"} == \
        {k: v for k, v in before.items() if k != "subprofiles"}
    assert after["subprofiles"]["s7"] == {"collection": "orders",
                                          "fields": {"order": "A-1000", "amount": 20},
                                          "created": "2026-01-01T00:00:00Z",
                                          "modified": OCCURRED_AT}
    validate_profile(after)


def test_subprofile_create_adds_a_subprofile() -> None:
    after = apply_edit(profile_snapshot(), subprofile_edit("create", subprofile="s8"))
    assert after is not None and set(after["subprofiles"]) == {"s7", "s8"}
    assert after["subprofiles"]["s8"] == {"collection": "orders",
                                          "fields": {"order": "A-1001", "amount": 12.5},
                                          "created": OCCURRED_AT, "modified": OCCURRED_AT}


def test_subprofile_edit_of_an_unknown_profile_starts_a_stub() -> None:
    after = apply_edit(None, subprofile_edit("create"))
    assert after is not None
    assert (after["id"], after["database"], after["fields"]) == ("p3", "newsletter", {})
    assert set(after["subprofiles"]) == {"s7"}
    validate_profile(after)


def test_subprofile_delete() -> None:
    after = apply_edit(profile_snapshot(), subprofile_edit("delete"))
    assert after is not None and after["subprofiles"] == {}
    assert after["fields"] == profile_snapshot()["fields"]
    unknown = apply_edit(profile_snapshot(), subprofile_edit("delete", subprofile="s9"))
    assert unknown == profile_snapshot()
    assert apply_edit(None, subprofile_edit("delete")) is None


def test_unsupported_events() -> None:
    with pytest.raises(UnsupportedEvent, match="got 'open'"):
        apply_edit(profile_snapshot(), raw_event("open"))
    with pytest.raises(UnsupportedEvent, match="no 'collection'"):
        apply_edit(None, subprofile_edit("update", collection=None))
    with pytest.raises(UnsupportedEvent, match="no 'profile'"):
        apply_edit(None, raw_event("update", profile=None))
