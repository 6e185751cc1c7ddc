"""EspReports: one report in, the raw events / profile actions / fl.invalid records out."""
from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from enrichers.esp import ProfileRef, make_ref
from schemas.validation import parse_raw_event
from streams.config.loading import parse_config
from streams.kafka.records import OutRecord
from streams.esp.reports import EspReports
from streams.metrics import PipelineMetrics
from streams.kafka.topics import Topics
from tests.support.esp_reports import arf, dsn

SECRET = "unit-test-ref-secret-0123456789"


def reports(**esp: Any) -> tuple[EspReports, Topics]:
    config = parse_config({"esp": {"ref_secret": SECRET, **esp}})
    topics = Topics.for_config(config)
    return EspReports(config.esp, topics, PipelineMetrics(CollectorRegistry())), topics


def ref(profile: str = "p1", database: str = "news", secret: str = SECRET) -> str:
    return make_ref(secret.encode(), ProfileRef(database=database, profile=profile, mailing="m9"))


def handle(esp: EspReports, raw: bytes) -> list[OutRecord]:
    return esp.handle("fl.esp.reports", 0, 7, 1_795_000_000_000, b"arf.mail.yahoo.com", raw)


def by_topic(records: list[OutRecord]) -> dict[str, list[OutRecord]]:
    out: dict[str, list[OutRecord]] = {}
    for r in records:
        out.setdefault(r.topic, []).append(r)
    return out


def test_complaint_with_behaviour_nothing_is_only_an_event() -> None:
    esp, topics = reports()
    [record] = handle(esp, arf(ref(), "anna@example.org", "m1@example.com"))
    assert record.topic == topics.raw["complaint"] and record.key == b"p1"
    event = parse_raw_event(record.value or b"")  # valid against the schema
    assert event["database"] == "news" and event["profile"] == "p1" and event["mailing"] == "m9"
    assert event["recipient"] == "anna@example.org" and event["feedback_type"] == "abuse"
    assert event["source_ip"] == "192.0.2.25" and event["message"] == "m1@example.com"
    assert event["occurred_at"].startswith("2026-11-26T10:00:00")


def test_update_behaviour_adds_unsubscribe_and_profile_action() -> None:
    esp, topics = reports(databases=[{"database": "news", "on_complaint": "update",
                                      "fields": {"newsletter": "no"}}])
    out = by_topic(handle(esp, arf(ref(), "redacted@yahoo.com", "m1@example.com")))
    [complaint] = out[topics.raw["complaint"]]
    [unsubscribe] = out[topics.raw["unsubscribe"]]
    [action] = out[topics.profile_actions]
    assert "recipient" not in orjson.loads(complaint.value or b""), "a redacted address is dropped"
    assert parse_raw_event(unsubscribe.value or b"")["profile"] == "p1"
    doc = orjson.loads(action.value or b"")
    assert action.key == b"p1" and doc["action"] == "update"
    assert doc["fields"] == {"newsletter": "no"} and doc["database"] == "news"
    assert doc["event_id"] == orjson.loads(complaint.value or b"")["id"]


def test_remove_behaviour_and_not_spam_retraction() -> None:
    esp, topics = reports(on_complaint="remove")
    out = by_topic(handle(esp, arf(ref(), "anna@example.org", "m1@example.com")))
    assert orjson.loads(out[topics.profile_actions][0].value or b"")["action"] == "remove"
    retraction = by_topic(handle(esp, arf(ref(), "anna@example.org", "m1@example.com",
                                          feedback_type="not-spam")))
    assert set(retraction) == {topics.raw["complaint"]}, "not-spam: no unsubscribe, no action"


def test_dsn_becomes_a_bounce() -> None:
    esp, topics = reports()
    [record] = handle(esp, dsn(ref("p2"), "bob@example.org", "m3@example.com"))
    event = parse_raw_event(record.value or b"")
    assert record.topic == topics.raw["bounce"] and record.key == b"p2"
    assert event["recipient"] == "bob@example.org" and "5.1.1" in event["mime"]
    assert event["envelope"] == "bounces+x@example.com"


def test_the_same_report_twice_gives_the_same_ids() -> None:
    esp, _ = reports(on_complaint="remove")
    raw = arf(ref(), "anna@example.org", "m1@example.com")
    first, again = handle(esp, raw), handle(esp, raw)
    assert [r.value for r in first] == [r.value for r in again]
    other = handle(esp, arf(ref(), "anna@example.org", "m2@example.com"))
    assert orjson.loads(other[0].value or b"")["id"] != orjson.loads(first[0].value or b"")["id"]


def test_forged_reference_and_junk_go_to_invalid_with_the_reason() -> None:
    esp, topics = reports(on_complaint="remove")
    [forged] = handle(esp, arf(ref(secret="somebody-elses-secret-01234"), "a@example.org", "m"))
    assert forged.topic == topics.invalid
    headers = dict(forged.headers or [])
    assert b"signature" in headers["fl-reason"] and headers["fl-source-offset"] == b"7"
    assert forged.value is not None and forged.value.startswith(b"From: Yahoo")
    [junk] = handle(esp, b"Subject: hello\n\njust a note")
    assert junk.topic == topics.invalid
    assert dict(junk.headers or [])["fl-reason"].startswith(b"not a usable ESP report")


def test_without_a_secret_every_report_is_invalid() -> None:
    config = parse_config({})
    topics = Topics.for_config(config)
    esp = EspReports(config.esp, topics, PipelineMetrics(CollectorRegistry()))
    [record] = handle(esp, arf(ref(), "a@example.org", "m1"))
    assert record.topic == topics.invalid
    assert b"esp.ref_secret is not configured" in dict(record.headers or [])["fl-reason"]


def test_the_demo_complaint_updates_the_profile_under_the_demo_config() -> None:
    from pathlib import Path

    from streams.config.loading import load_config
    from streams.demo.events import DemoWorld, complaint_report

    config = load_config(Path(__file__).resolve().parents[3] / "deploy" / "demo.yaml", environ={})
    assert config.esp.ref_secret is not None
    topics = Topics.for_config(config)
    esp = EspReports(config.esp, topics, PipelineMetrics(CollectorRegistry()))
    world = DemoWorld(profiles=4)
    raw = complaint_report(world, world.profiles[2], config.esp.ref_secret.reveal().encode())
    out = by_topic(handle(esp, raw))
    assert set(out) == {topics.raw["complaint"], topics.raw["unsubscribe"], topics.profile_actions}
    action = orjson.loads(out[topics.profile_actions][0].value or b"")
    assert action["profile"] == world.profiles[2]["id"] and action["fields"] == {"newsletter": "no"}


def test_references_signed_with_a_previous_secret_still_map() -> None:
    old = "the-secret-before-the-change-0123"
    esp, topics = reports(previous_ref_secrets=[old])
    [record] = handle(esp, arf(ref(secret=old), "anna@example.org", "m1@example.com"))
    assert record.topic == topics.raw["complaint"]
    [forged] = handle(esp, arf(ref(secret="never-configured-secret-0123"), "a@b.org", "m2"))
    assert forged.topic == topics.invalid
