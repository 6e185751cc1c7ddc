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


def test_forged_reference_is_parked_with_the_parsed_result_and_junk_is_invalid() -> None:
    esp, topics = reports(on_complaint="remove")
    [forged] = handle(esp, arf(ref(secret="somebody-elses-secret-01234"), "a@example.org", "m"))
    assert forged.topic == topics.esp_unmapped
    headers = dict(forged.headers or [])
    assert b"signature" in headers["fl-reason"] and headers["fl-source-offset"] == b"7"
    parsed = orjson.loads(headers["fl-parsed"])
    assert parsed["kind"] == "arf"
    [finding] = parsed["findings"]
    assert (finding["type"], finding["recipient"], finding["feedback_type"]) == (
        "complaint", "a@example.org", "abuse")
    assert "signature" in finding["problem"]
    assert forged.value is not None and forged.value.startswith(b"From: Yahoo")
    assert forged.key == b"arf.mail.yahoo.com"
    assert esp.metrics.esp_unmapped.labels("complaint")._value.get() == 1
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
    assert forged.topic == topics.esp_unmapped


# --- feedback types, bounces, recipient mapping ------------------------------------------------

CORPUS_SECRET = "esp-corpus-secret-2026"
CORPUS = __import__("pathlib").Path(__file__).resolve().parents[2] / "enrichers" / "esp_corpus"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def events(records: list[OutRecord], topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value or b"") for r in records if r.topic == topic]


def corpus_reports(**esp: Any) -> tuple[EspReports, Topics]:
    config = parse_config({"esp": {"ref_secret": CORPUS_SECRET, **esp}})
    topics = Topics.for_config(config)
    return EspReports(config.esp, topics, PipelineMetrics(CollectorRegistry())), topics


def test_auth_failure_never_unsubscribes() -> None:
    esp, topics = reports(on_complaint="remove")
    out = handle(esp, arf(ref(), "anna@example.org", "m1@example.com",
                          feedback_type="auth-failure"))
    assert set(by_topic(out)) == {topics.raw["complaint"]}
    assert events(out, topics.raw["complaint"])[0]["feedback_type"] == "auth-failure"


def test_auth_failure_cannot_be_configured_to_unsubscribe() -> None:
    import pytest

    from streams.config.loading import ConfigError
    with pytest.raises(ConfigError, match="auth-failure"):
        parse_config({"esp": {"unsubscribe_feedback_types": ["abuse", "auth-failure"]}})


def test_fraud_unsubscribes_virus_and_other_do_not_by_default() -> None:
    esp, topics = reports(on_complaint="remove")
    for feedback_type, acts in (("fraud", True), ("virus", False), ("other", False),
                                ("not-spam", False)):
        out = by_topic(handle(esp, arf(ref(), "anna@example.org", f"{feedback_type}@x",
                                       feedback_type=feedback_type)))
        assert (topics.profile_actions in out) is acts, feedback_type
        assert len(out[topics.raw["complaint"]]) == 1
    esp, topics = reports(on_complaint="remove", unsubscribe_feedback_types=["abuse", "virus"])
    out = by_topic(handle(esp, arf(ref(), "anna@example.org", "v@x", feedback_type="virus")))
    assert topics.profile_actions in out


def test_opt_out_is_an_unsubscribe_request_not_a_complaint() -> None:
    esp, topics = corpus_reports(databases=[{"database": "newsletter", "on_complaint": "update",
                                             "fields": {"newsletter": "no"}}])
    out = handle(esp, corpus("arf/opt-out-text-plain.eml"))
    assert topics.raw["complaint"] not in by_topic(out)
    [unsubscribe] = events(out, topics.raw["unsubscribe"])
    assert (unsubscribe["source"], unsubscribe["profile"]) == ("opt-out", "p-101")
    [action] = events(out, topics.profile_actions)
    assert (action["reason"], action["fields"]) == ("opt-out", {"newsletter": "no"})
    # with behaviour "nothing" the request is still an unsubscribe event
    esp, topics = corpus_reports()
    out = handle(esp, corpus("arf/opt-out-text-plain.eml"))
    assert set(by_topic(out)) == {topics.raw["unsubscribe"]}


def test_one_complaint_event_per_recipient_one_action_per_profile() -> None:
    esp, topics = corpus_reports(on_complaint="remove")
    out = handle(esp, corpus("arf/seven-recipients.eml"))
    complaints = events(out, topics.raw["complaint"])
    assert [c["recipient"] for c in complaints] == [
        f"member{i}@lists.example.org" for i in range(1, 8)]
    assert len({c["id"] for c in complaints}) == 7
    assert len(events(out, topics.raw["unsubscribe"])) == 1
    assert len(events(out, topics.profile_actions)) == 1
    for record in out:
        if record.topic != topics.profile_actions:
            parse_raw_event(record.value or b"")


def test_complaint_event_carries_the_arf_fields() -> None:
    esp, topics = corpus_reports()
    [event] = events(handle(esp, corpus("arf/auth-failure-dkim.eml")), topics.raw["complaint"])
    assert (event["dkim_domain"], event["dkim_selector"], event["auth_failure"]) == (
        "shop.example", "fl2026", "signature")
    assert event["reported_domain"] == ["shop.example"]
    assert event["occurred_at_source"] == "arrival-date"
    [event] = events(handle(esp, corpus("arf/no-arrival-date.eml")), topics.raw["complaint"])
    assert event["occurred_at_source"] == "report-date"
    assert event["occurred_at"].startswith("2026-11-26T10:19:58")


def test_hard_bounce_triggers_the_hard_bounce_behaviour_soft_does_not() -> None:
    esp, topics = corpus_reports(on_hard_bounce="update", hard_bounce_fields={"bounced": "yes"})
    out = handle(esp, corpus("qmail/user-unknown.eml"))
    [bounce] = events(out, topics.raw["bounce"])
    assert (bounce["bounce_class"], bounce["reason"], bounce["format"]) == (
        "hard", "user-unknown", "qmail")
    assert (bounce["action"], bounce["status"], bounce["code"]) == ("failed", "5.1.1", 550)
    assert bounce["mapped_by"] == "ref" and bounce["profile"] == "p-101"
    [action] = events(out, topics.profile_actions)
    assert (action["reason"], action["action"], action["fields"]) == (
        "hard-bounce", "update", {"bounced": "yes"})
    assert action["event_id"] == bounce["id"]
    for name in ("qmail/over-quota.eml", "dsn/greylisted-delayed.eml"):
        out = handle(esp, corpus(name))
        assert topics.profile_actions not in by_topic(out), name
        assert len(events(out, topics.raw["bounce"])) == 1


def test_delayed_recipients_are_bounce_events() -> None:
    esp, topics = corpus_reports()
    [event] = events(handle(esp, corpus("dsn/postfix-delayed.eml")), topics.raw["bounce"])
    assert (event["action"], event["bounce_class"]) == ("delayed", "soft")


def test_bounce_rules_from_the_configuration() -> None:
    esp, topics = corpus_reports(bounce_rules={"statuses": {"5.2.2": "has-moved"}})
    [event] = events(handle(esp, corpus("yahoo/remote-mailbox-full.eml")), topics.raw["bounce"])
    assert (event["reason"], event["bounce_class"]) == ("has-moved", "hard")


def test_bounces_map_by_recipient_only_when_allowed_complaints_never() -> None:
    raw = corpus("postfix/warning-delayed.eml")  # no returned original, no reference
    esp, topics = corpus_reports()
    [parked] = handle(esp, raw)
    assert parked.topic == topics.esp_unmapped
    assert b"no original message" in dict(parked.headers or [])["fl-reason"]
    esp, topics = corpus_reports(databases=[{"database": "news",
                                             "map_bounces_by_recipient": True,
                                             "bounce_envelopes": ["b-*@bounce.shop.example"]}])
    [record] = handle(esp, raw)
    event = orjson.loads(record.value or b"")
    assert record.topic == topics.raw["bounce"] and record.key == b"karin@example.net"
    assert (event["database"], event["mapped_by"], "profile" in event) == (
        "news", "recipient", False)
    [parked] = handle(esp, corpus("arf/auth-failure-dmarc-forged.eml"))
    assert parked.topic == topics.esp_unmapped, "a complaint never maps by address"
    esp, topics = corpus_reports(databases=[{"database": "news",
                                             "map_bounces_by_recipient": True,
                                             "bounce_envelopes": ["other@*"]}])
    assert handle(esp, raw)[0].topic == topics.esp_unmapped


def test_every_corpus_report_becomes_events_or_a_parked_record_never_lost() -> None:
    esp, topics = corpus_reports(on_complaint="remove", on_hard_bounce="remove")
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".eml", ".json"):
            continue
        out = handle(esp, path.read_bytes())
        assert out or path.parent.name == "negative", path  # a success DSN: nothing to do
        for record in out:
            assert record.topic in {*topics.raw.values(), topics.profile_actions,
                                    topics.esp_unmapped, topics.invalid}, path
            if record.topic in topics.raw.values():
                parse_raw_event(record.value or b"")


def test_an_auto_reply_is_invalid_with_the_reason_never_a_bounce() -> None:
    esp, topics = corpus_reports(on_hard_bounce="remove")
    [record] = handle(esp, corpus("negative/out-of-office-exchange.eml"))
    assert record.topic == topics.invalid
    assert b"auto-reply" in dict(record.headers or [])["fl-reason"]


def test_a_report_over_its_limit_is_invalid_with_the_setting_named() -> None:
    config = parse_config({"esp": {"ref_secret": SECRET}})
    metrics = PipelineMetrics(CollectorRegistry())
    esp = EspReports(config.esp, Topics.for_config(config), metrics, max_report_bytes=2048)
    raw = arf(ref(), "anna@example.org", "m1@example.com") + b"\n" + b"x" * 3000
    [record] = handle(esp, raw)
    assert record.topic == Topics.for_config(config).invalid and record.value == raw
    reason = dict(record.headers or [])["fl-reason"].decode()
    assert reason == (f"the report is {len(raw)} bytes, over the 2048-byte limit "
                      "(limits.esp_report_bytes)")
    assert metrics.oversize.labels("esp_report")._value.get() == 1
