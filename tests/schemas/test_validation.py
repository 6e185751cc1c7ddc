"""schemas.validation: valid documents pass, every kind of invalid input yields an actionable
InvalidRecord, and the schema files are standard JSON Schema (checked with ``jsonschema``)."""
from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from schemas import (RAW_EVENT_SCHEMAS, RAW_EVENT_TYPES, InvalidRecord, load_schema,
                     parse_profile, parse_raw_event, parse_tags, validate_loop, validate_profile,
                     validate_raw_event, validate_tags)
from tests.schemas.examples import (EVENT_ID, loop_definition, mailing_tags, profile_snapshot,
                                    raw_event, valid_raw_events)

VALID = valid_raw_events()


def standard_validator(file_name: str) -> jsonschema.Draft7Validator:
    schema = load_schema(file_name)
    return jsonschema.Draft7Validator(schema,
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_raw_event_types() -> None:
    assert RAW_EVENT_TYPES == {"open", "click", "bounce", "failure", "delivery", "create",
                               "update", "delete", "unsubscribe", "complaint"}
    assert {doc["type"] for doc in VALID.values()} == RAW_EVENT_TYPES


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_raw_event_passes(name: str) -> None:
    doc = VALID[name]
    assert parse_raw_event(orjson.dumps(doc)) == doc
    assert validate_raw_event(doc) is doc


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_raw_event_is_valid_for_jsonschema_too(name: str) -> None:
    doc = VALID[name]
    standard_validator(RAW_EVENT_SCHEMAS[doc["type"]]).validate(doc)


def test_reference_documents_pass_both_validators() -> None:
    assert parse_profile(orjson.dumps(profile_snapshot())) == profile_snapshot()
    assert parse_tags(orjson.dumps(mailing_tags())) == mailing_tags()
    assert validate_loop(loop_definition()) == loop_definition()
    standard_validator("profile.json").validate(profile_snapshot())
    standard_validator("tags.json").validate(mailing_tags())
    standard_validator("loop.json").validate(loop_definition())


def _without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in keys}


OPEN = raw_event("open")
# (case id, raw bytes or a document, field named or None, text the reason must contain,
#  whether jsonschema must reject the document as well)
INVALID: list[tuple[str, bytes | dict[str, Any], str | None, str, bool]] = [
    ("empty bytes", b"", None, "empty", False),
    ("not json", b"{'id': 1}", None, "not JSON", False),
    ("truncated json", b'{"id": "x"', None, "not JSON", False),
    ("not utf-8", b'{"type": "open", "x": "\xff"}', None, "not valid UTF-8 at byte 23", False),
    ("bom", b'\xef\xbb\xbf{"type": "open"}', None, "byte order mark", False),
    ("nan", b'{"type": "open", "code": NaN}', None, "not JSON", False),
    ("array at top level", b"[]", None, "JSON array, expected an object", False),
    ("string at top level", b'"open"', None, "JSON string, expected an object", False),
    ("oversize record", orjson.dumps({**OPEN, "useragent": "x" * 300_000}), None,
     "over the 262144-byte limit", False),
    ("missing type", _without(OPEN, "type"), "type", "field 'type' is required", False),
    ("unknown type", {**OPEN, "type": "opn"}, "type", "unknown event type 'opn'", False),
    ("type not a string", {**OPEN, "type": ["open"]}, "type", "expected string, got array",
     False),
    ("missing id", _without(OPEN, "id"), "id", "field 'id' is required", True),
    ("missing occurred_at", _without(OPEN, "occurred_at"), "occurred_at", "is required", True),
    ("missing database", _without(OPEN, "database"), "database", "is required", True),
    ("neither profile nor recipient", _without(OPEN, "profile", "recipient"), "profile",
     "one of the fields 'profile' or 'recipient' is required", True),
    ("click without url", _without(raw_event("click"), "url"), "url",
     "field 'url' is required", True),
    ("create without fields", _without(raw_event("create"), "fields"), "fields",
     "field 'fields' is required", True),
    ("update without fields", _without(raw_event("update"), "fields"), "fields",
     "field 'fields' is required", True),
    ("subprofile without collection", raw_event("update", subprofile="s1"), "collection",
     "field 'collection' is required when 'subprofile' is given", True),
    ("profile edit without profile", _without(raw_event("delete"), "profile"), "profile",
     "field 'profile' is required", True),
    ("unknown extra field", {**OPEN, "ipp": "1.2.3.4"}, "ipp",
     "unknown field 'ipp' in the open event (did you mean 'ip'?)", True),
    ("field of another type", {**OPEN, "url": "https://x"}, "url", "unknown field 'url'", True),
    ("unknown nested field", {**raw_event("update"), "fields": {"a": {"b": 1}}}, "fields.a",
     "expected string or number or boolean or null, got object", True),
    ("wrong type", {**OPEN, "database": 7}, "database", "expected string, got integer 7", True),
    ("wrong type code", raw_event("failure", code="550"), "code",
     "expected integer, got string '550'", True),
    ("bool is not a string", {**OPEN, "profile": True}, "profile",
     "expected string, got boolean true", True),
    ("empty database", {**OPEN, "database": ""}, "database", "must not be empty", True),
    ("oversize value", {**OPEN, "useragent": "é" * 2049}, "useragent",
     "2049 characters, over the 2048-character limit", True),
    ("oversize mime", raw_event("bounce", mime="x" * 200_001), "mime",
     "over the 200000-character limit", True),
    ("oversize header value", {**OPEN, "headers": {"Cookie": "c" * 4097}}, "headers.Cookie",
     "over the 4096-character limit", True),
    ("too many headers", {**OPEN, "headers": {f"X-H{i}": "v" for i in range(201)}}, "headers",
     "field 'headers': more than 200 entries", True),
    ("header name too long", {**OPEN, "headers": {"X" * 300: "v"}}, "headers",
     "is longer than 256 characters", True),
    ("header value not a string", {**OPEN, "headers": {"DNT": 1}}, "headers.DNT",
     "expected string, got integer", True),
    ("too many fields", raw_event("update", fields={f"f{i}": i for i in range(201)}), "fields",
     "more than 200 entries", True),
    ("too many interests", raw_event("update", interests=["x"] * 501), "interests",
     "more than 500 items", True),
    ("interest not a string", raw_event("update", interests=["golf", 3]), "interests[1]",
     "expected string, got integer 3", True),
    ("bad month", {**OPEN, "occurred_at": "2026-13-01T00:00:00Z"}, "occurred_at",
     "field 'occurred_at': '2026-13-01T00:00:00Z' is not an RFC 3339 date-time", False),
    ("bad day", {**OPEN, "occurred_at": "2026-02-29T00:00:00Z"}, "occurred_at",
     "is not an RFC 3339 date-time", False),
    ("date without time", {**OPEN, "occurred_at": "2026-11-26"}, "occurred_at",
     "is not an RFC 3339 date-time", False),
    ("date without offset", {**OPEN, "occurred_at": "2026-11-26T10:00:00"}, "occurred_at",
     "is not an RFC 3339 date-time", False),
    ("bad created", raw_event("update", created="yesterday"), "created",
     "is not an RFC 3339 date-time", False),
    ("bad uuid", {**OPEN, "id": "1b4e28ba-2fa1-11d2-883f"}, "id", "is not a UUID", True),
    ("bad ip", {**OPEN, "ip": "198.51.100.256"}, "ip",
     "is not an IPv4 address or an IPv6 address", True),
    ("bad complaint ip", raw_event("complaint", source_ip="mail.example.net"), "source_ip",
     "is not an IPv4 address or an IPv6 address", True),
    ("bad recipient", {**OPEN, "recipient": "daan at example.org"}, "recipient",
     "is not an e-mail address", True),
    ("smtp code out of range", raw_event("delivery", code=99), "code",
     "99 is below the minimum 100", True),
]


@pytest.mark.parametrize(("data", "field", "reason", "standard"),
                         [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_raw_event_is_rejected_with_a_reason(data: bytes | dict[str, Any],
                                                     field: str | None, reason: str,
                                                     standard: bool) -> None:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    with pytest.raises(InvalidRecord) as caught:
        parse_raw_event(raw)
    assert reason in caught.value.reason
    assert caught.value.field == field
    assert str(caught.value) == caught.value.reason
    assert "\n" not in caught.value.reason
    if field is not None:
        assert field.split(".")[0].split("[")[0] in caught.value.reason
    if standard:
        assert isinstance(data, dict)
        validator = standard_validator(RAW_EVENT_SCHEMAS[data["type"]])
        assert not validator.is_valid(data), "jsonschema accepts what fastjsonschema rejects"


def test_max_bytes_is_configurable() -> None:
    data = orjson.dumps(OPEN)
    assert parse_raw_event(data, max_bytes=len(data)) == OPEN
    with pytest.raises(InvalidRecord, match=f"record is {len(data)} bytes, over the 100-byte"):
        parse_raw_event(data, max_bytes=100)


def test_reason_shortens_long_values() -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_raw_event(orjson.dumps({**OPEN, "recipient": "no-at-sign-" * 20}))
    assert len(caught.value.reason) < 200
    assert "(220 characters)" in caught.value.reason


def test_validate_raw_event_rejects_non_objects() -> None:
    with pytest.raises(InvalidRecord, match="JSON array"):
        validate_raw_event([OPEN])


def test_event_id_is_checked_for_every_type() -> None:
    for etype in RAW_EVENT_TYPES:
        with pytest.raises(InvalidRecord) as caught:
            validate_raw_event(raw_event(etype, id=EVENT_ID.upper() + "x"))
        assert caught.value.field == "id"


# ---------------------------------------------------------------------------------- profiles

def test_profile_snapshot_minimal_and_invalid() -> None:
    minimal = {"id": "p1", "database": "db", "fields": {}}
    assert validate_profile(minimal) == minimal
    with pytest.raises(InvalidRecord) as caught:
        validate_profile({"id": "p1", "database": "db"})
    assert caught.value.field == "fields"
    with pytest.raises(InvalidRecord) as caught:
        parse_profile(orjson.dumps(profile_snapshot(subprofiles={"s1": {"fields": {}}})))
    assert caught.value.reason == "field 'subprofiles.s1.collection' is required"
    with pytest.raises(InvalidRecord, match="not valid UTF-8"):
        parse_profile(b'{"id": "\xc3"}')


# ---------------------------------------------------------------------------------- tags

def test_tags_invalid() -> None:
    assert validate_tags({"id": "m1", "tags": []}) == {"id": "m1", "tags": []}
    with pytest.raises(InvalidRecord) as caught:
        parse_tags(orjson.dumps(mailing_tags(links={"l1": {"url": "https://x", "tags": [],
                                                           "tag": []}})))
    assert caught.value.field == "links.l1.tag"
    assert "did you mean 'tags'?" in caught.value.reason
    with pytest.raises(InvalidRecord, match="field 'links.l1.tags' is required"):
        parse_tags(orjson.dumps(mailing_tags(links={"l1": {"url": "https://x"}})))
    with pytest.raises(InvalidRecord, match="field 'tags' is required"):
        parse_tags(b'{"id": "m1"}')


# ---------------------------------------------------------------------------------- loops

def test_validate_loop_fills_defaults_without_mutating() -> None:
    minimal = {"id": "l1", "url": "http://hooks.example.com/", "events": ["open"],
               "secrets": [{"secret": "whsec_abc="}], "created_at": 1, "updated_at": 1,
               "version": 0}
    before = orjson.dumps(minimal)
    loop = validate_loop(minimal)
    assert orjson.dumps(minimal) == before
    assert loop == {**minimal, "database": None, "collection": None, "encoding": "json",
                    "fields": None, "batch": {"max_events": 100, "max_wait_ms": 1000},
                    "rate_per_s": 50, "max_in_flight": 10, "timeout_s": 10,
                    "delivery": "events", "summary_every": "1h",
                    "status": "enabled", "disabled_reason": None, "validation": None}
    standard_validator("loop.json").validate(loop)


INVALID_LOOPS: list[tuple[str, dict[str, Any], str, str]] = [
    ("ftp url", {"url": "ftp://example.com/x"}, "url", "does not match"),
    ("url with spaces", {"url": "https://exa mple.com/"}, "url", "does not match"),
    ("no events", {"events": []}, "events", "needs at least 1 item"),
    ("unknown event type", {"events": ["open", "opn"]}, "events[1]", "'opn' is not one of"),
    ("duplicate events", {"events": ["open", "open"]}, "events", "duplicate"),
    ("bad encoding", {"encoding": "xml"}, "encoding",
     "'xml' is not one of 'json', 'form', 'json-batch'"),
    ("batch too big", {"batch": {"max_events": 1001, "max_wait_ms": 10}}, "batch.max_events",
     "1001 is above the maximum 1000"),
    ("batch wait too long", {"batch": {"max_events": 1, "max_wait_ms": 60001}},
     "batch.max_wait_ms", "above the maximum 60000"),
    ("zero rate", {"rate_per_s": 0}, "rate_per_s", "must be greater than 0"),
    ("in flight", {"max_in_flight": 0}, "max_in_flight", "below the minimum 1"),
    ("timeout too short", {"timeout_s": 0.05}, "timeout_s", "below the minimum 0.1"),
    ("timeout too long", {"timeout_s": 121}, "timeout_s", "above the maximum 120"),
    ("no secrets", {"secrets": []}, "secrets", "needs at least 1 item"),
    ("bad status", {"status": "paused"}, "status", "not one of 'enabled', 'disabled'"),
    ("bad method", {"validation": {"file_name": "a.txt", "content": "c", "method": "mail"}},
     "validation.method", "'mail' is not one of 'file', 'dns', 'operator', null"),
    ("validation file name with slash", {"validation": {"file_name": "../a", "content": "c"}},
     "validation.file_name", "does not match"),
    ("fields not a list", {"fields": "email"}, "fields", "expected array or null, got string"),
    ("typo", {"max_inflight": 3}, "max_inflight", "did you mean 'max_in_flight'?"),
    ("version float", {"version": 1.5}, "version", "expected integer"),
]


@pytest.mark.parametrize(("change", "field", "reason"), [c[1:] for c in INVALID_LOOPS],
                         ids=[c[0] for c in INVALID_LOOPS])
def test_invalid_loop_names_the_field(change: dict[str, Any], field: str, reason: str) -> None:
    doc = loop_definition(**change)
    with pytest.raises(InvalidRecord) as caught:
        validate_loop(doc)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert not standard_validator("loop.json").is_valid(doc)


def test_pattern_end_is_the_end_of_the_string() -> None:
    # Python's "$" also matches before a final newline; the compiled validators anchor with \Z.
    for change in ({"url": "https://example.com/\n"},
                   {"validation": {"file_name": "a.txt\n", "content": "c"}},
                   {"secrets": [{"secret": "whsec_abc\n"}]}):
        with pytest.raises(InvalidRecord, match="does not match the pattern"):
            validate_loop(loop_definition(**change))


@pytest.mark.parametrize("missing", ["id", "url", "events", "secrets", "created_at",
                                     "updated_at", "version"])
def test_loop_required_fields(missing: str) -> None:
    with pytest.raises(InvalidRecord, match=f"field '{missing}' is required"):
        validate_loop(_without(loop_definition(), missing))


def test_loop_reason_never_contains_the_secret() -> None:
    secret = "sk_live_do_not_print_me"
    with pytest.raises(InvalidRecord) as caught:
        validate_loop(loop_definition(secrets=[{"secret": secret}]))
    assert caught.value.field == "secrets[0].secret"
    assert secret not in caught.value.reason
    with pytest.raises(InvalidRecord) as caught:
        validate_loop(loop_definition(secrets=[{"secret": 12345}]))
    assert "12345" not in caught.value.reason


def test_validate_loop_rejects_non_mapping() -> None:
    with pytest.raises(InvalidRecord, match="JSON array, expected an object"):
        validate_loop([])  # type: ignore[arg-type]
