"""enrichers.esp beyond the corpus: lenient report fields, every ARF field exposed, JSON
notifications' edge cases, the outgoing headers and the one-click unsubscribe reference."""
from __future__ import annotations

import pytest

from enrichers.esp import (REF_HEADER, EspReportError, ProfileRef, make_ref,
                           make_unsubscribe_ref, message_headers, parse_report, read_ref,
                           read_unsubscribe_ref)
from enrichers.esp.fieldblocks import arf_fields, dsn_blocks, known_name

from .esp_corpus_measure import CORPUS

SECRET = b"esp-corpus-secret-2026"
REF = ProfileRef("newsletter", profile="p-101", mailing="m-2026-11")


@pytest.mark.parametrize(("raw", "name"), [
    ("ction", "action"), ("tatus", "status"), ("Final-Recipent", "final-recipient"),
    ("Diagnostic-Cod", "diagnostic-code"), ("Subject", "subject"), ("To", "to"),
    ("Date", "date"), ("ACTION", "action"),
])
def test_mangled_field_names_are_repaired_known_others_kept(raw: str, name: str) -> None:
    assert known_name(raw) == name


def test_recipient_blocks_without_blank_lines() -> None:
    per_message, blocks = dsn_blocks(
        "Reporting-MTA: dns; mx.example.org\n"
        "Final-Recipient: rfc822; a@example.org\nOriginal-Recipient: rfc822; a@example.org\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Original-Recipient: rfc822; b@example.org\nFinal-Recipient: rfc822; b@example.org\n"
        "Action: delayed\nStatus: 4.4.1\nDiagnostic-Code: smtp; 451 try\n  again later\n"
        "Final-Recipient: rfc822; c@example.org\nAction: failed\n")
    assert per_message == {"reporting-mta": ("dns; mx.example.org",)}
    assert [block["final-recipient"] for block in blocks] == [
        ("rfc822; a@example.org",), ("rfc822; b@example.org",), ("rfc822; c@example.org",)]
    assert blocks[1]["original-recipient"] == ("rfc822; b@example.org",)
    assert blocks[1]["diagnostic-code"] == ("smtp; 451 try again later",)


def test_arf_fields_keep_repeated_values() -> None:
    fields = arf_fields("Feedback-Type: abuse\nReported-URI: a\nReported-URI: b\n\nnot a field\n")
    assert fields["reported-uri"] == ("a", "b")


def test_every_arf_field_is_exposed() -> None:
    (complaint,) = parse_report((CORPUS / "arf/auth-failure-dkim.eml").read_bytes()).complaints
    assert complaint.feedback_type == "auth-failure"
    assert (complaint.auth_failure, complaint.delivery_result) == ("signature", "reject")
    assert (complaint.dkim_domain, complaint.dkim_identity, complaint.dkim_selector) == (
        "shop.example", "@shop.example", "fl2026")
    assert complaint.authentication_results is not None
    assert "dkim=fail" in complaint.authentication_results
    assert complaint.original_mail_from == "b-p-102@bounce.shop.example"
    assert complaint.reported_domain == ("shop.example",)
    (dmarc,) = parse_report(
        (CORPUS / "arf/auth-failure-dmarc-forged.eml").read_bytes()).complaints
    assert (dmarc.identity_alignment, dmarc.source_ip) == ("none", "203.0.113.66")
    (uris,) = parse_report((CORPUS / "arf/reported-uri-incidents.eml").read_bytes()).complaints
    assert uris.reported_uri == ("https://shop.example/deals", "mailto:news@shop.example")
    assert (uris.incidents, uris.user_agent) == (3, "Yahoo!-Mail-Feedback/2.0")


def test_one_complaint_per_reported_recipient() -> None:
    report = parse_report((CORPUS / "arf/seven-recipients.eml").read_bytes())
    assert [c.recipient for c in report.complaints] == [
        f"member{i}@lists.example.org" for i in range(1, 8)]
    assert {c.recipient_source for c in report.complaints} == {"report"}


def test_source_ip_with_a_comment() -> None:
    (complaint,) = parse_report(
        (CORPUS / "arf/source-ip-with-comment.eml").read_bytes()).complaints
    assert complaint.source_ip == "192.0.2.135"


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"hello": 1}', "holds no bounce or complaint notification"),
    (b"[1, 2", "does not parse"),
    (b'{"Type": "Notification", "Message": "not json"}', "holds no bounce"),
])
def test_json_that_is_no_notification(raw: bytes, reason: str) -> None:
    with pytest.raises(EspReportError, match=reason):
        parse_report(raw)


def test_json_bounce_type_decides_an_unknown_class() -> None:
    raw = (b'{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", '
           b'"bounceSubType": "General", "bouncedRecipients": [{"emailAddress": "a@example.org"}]},'
           b' "mail": {}}')
    (bounce,) = parse_report(raw).bounces
    assert (bounce.reason, bounce.bounce_class, bounce.format) == ("unknown", "hard", "ses-json")
    assert bounce.original is False and bounce.ref_values == ()


def test_message_headers() -> None:
    headers = message_headers(SECRET, REF, unsubscribe_base_url="https://fl.shop.example/",
                              feedback_sender="shopfl")
    assert headers[REF_HEADER] == make_ref(SECRET, REF)
    assert headers["List-Unsubscribe"] == (
        f"<https://fl.shop.example/unsubscribe/{make_unsubscribe_ref(SECRET, REF)}>")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Feedback-ID"] == "m-2026-11:newsletter:shopfl"
    assert set(message_headers(SECRET, ProfileRef("db: x"), unsubscribe_base_url=None,
                               feedback_sender="s")) == {REF_HEADER, "Feedback-ID"}
    assert message_headers(SECRET, ProfileRef("db: x"), unsubscribe_base_url=None,
                           feedback_sender="s")["Feedback-ID"] == "db-x:s"
    with pytest.raises(ValueError, match="http"):
        message_headers(SECRET, REF, unsubscribe_base_url="ftp://x", feedback_sender=None)


def test_unsubscribe_ref_and_header_ref_are_not_interchangeable() -> None:
    unsubscribe = make_unsubscribe_ref(SECRET, REF)
    assert unsubscribe.startswith("u1.")
    assert read_unsubscribe_ref(unsubscribe, SECRET) == REF
    assert read_unsubscribe_ref(unsubscribe, [b"old-secret-0123456789", SECRET]) == REF
    with pytest.raises(EspReportError):
        read_ref(unsubscribe, SECRET)
    with pytest.raises(EspReportError):
        read_unsubscribe_ref(make_ref(SECRET, REF), SECRET)
    # the same payload with a header reference's signature is refused too
    header_signature = make_ref(SECRET, REF).rsplit(".", 1)[1]
    forged = unsubscribe.rsplit(".", 1)[0] + "." + header_signature
    with pytest.raises(EspReportError, match="signature"):
        read_unsubscribe_ref(forged, SECRET)
    with pytest.raises(EspReportError, match="signature"):
        read_unsubscribe_ref(unsubscribe[:-3] + "AAA", SECRET)
