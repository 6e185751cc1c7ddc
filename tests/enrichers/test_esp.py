"""enrichers.esp: signed X-FL-Ref references, ARF/JMRP complaints and DSN bounces.

The messages are built by the helpers below in the shape real providers send them (Yahoo-like
ARF, Postfix DSN, Microsoft JMRP), with references made by ``make_ref``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import random
from datetime import datetime, timezone

import pytest

import enrichers
from tests.enrichers.esp_corpus_measure import parses_or_refuses
from enrichers.errors import EnrichersError
from enrichers.esp import (REF_HEADER, Bounce, Complaint, EspReportError, ParsedReport,
                           ProfileRef, make_ref, parse_report, read_ref, resolve_ref)

SECRET = b"test-secret-3f1c9a0e"
OTHER_SECRET = b"someone-elses-secret"
REF = ProfileRef("newsletter", profile="1234", mailing="m-77")
MESSAGE_ID = "20240105101500.1A2B3C4D@mta-1.flmail.example"
NO_REF = "no X-FL-Ref header in the returned message"
UTC = timezone.utc


# --- message builders -------------------------------------------------------------------------


def sent_message(ref: str | None = None, *, to: str = "Jane Doe <jane.doe@example.org>",
                 message_id: str = MESSAGE_ID, extra: str = "") -> str:
    """An e-mail as we send it; ``ref`` defaults to ``make_ref(SECRET, REF)``, "" leaves the
    X-FL-Ref header out."""
    value = make_ref(SECRET, REF) if ref is None else ref
    ref_line = f"{REF_HEADER}: {value}\n" if value else ""
    return (
        "Received: from worker-3.flmail.example (worker-3.flmail.example [10.0.4.17])\n"
        "\tby mta-1.flmail.example (Postfix) with ESMTP id 4T5xQ71zQ9z9sWd\n"
        "\tfor <jane.doe@example.org>; Fri, 05 Jan 2024 10:15:01 +0000 (UTC)\n"
        f"{extra}"
        "Date: Fri, 05 Jan 2024 10:15:00 +0000\n"
        "From: Example Shop <news@shop.example>\n"
        f"To: {to}\n"
        "Subject: Your weekly update\n"
        f"Message-ID: <{message_id}>\n"
        "MIME-Version: 1.0\n"
        "List-Unsubscribe: <https://flmail.example/u/0c1d2e>\n"
        f"{ref_line}"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "Hello Jane,\n"
        "\n"
        "this is our weekly update.\n"
    )


def headers_of(message: str) -> str:
    """Only the header block of ``message`` (what text/rfc822-headers returns)."""
    return message.split("\n\n", 1)[0] + "\n"


ARF_FIELDS: dict[str, str] = {
    "Feedback-Type": "abuse",
    "User-Agent": "Yahoo!-Mail-Feedback/2.0",
    "Version": "1",
    "Original-Mail-From": "<bounce-1234@bounces.flmail.example>",
    "Original-Rcpt-To": "jane.doe@yahoo.com",
    "Arrival-Date": "Fri, 05 Jan 2024 10:15:03 +0000",
    "Reporting-MTA": "dns; fbl.mail.yahoo.com",
    "Source-IP": "203.0.113.25",
    "Reported-Domain": "shop.example",
}


def arf_report(original: str | None = None, *, original_type: str = "message/rfc822",
               fields: dict[str, str | None] | None = None,
               sender: str = "Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>",
               message_id: str = "fbl.5f3a.1704450001@arf.mail.yahoo.com") -> str:
    """A Yahoo-like ARF report; ``fields`` overrides ARF_FIELDS (``None`` drops a field)."""
    merged = {**ARF_FIELDS, **(fields or {})}
    block = "".join(f"{name}: {value}\n" for name, value in merged.items() if value is not None)
    original = sent_message() if original is None else original
    boundary = "----=_Part_1234_5678.1704450000000"
    return (
        "Return-Path: <>\n"
        "Received: from fbl.mail.yahoo.com (fbl.mail.yahoo.com [98.136.217.202])\n"
        "\tby mx.bounces.flmail.example (Postfix) with ESMTPS id 4T5xZ1;\n"
        "\tFri, 05 Jan 2024 10:20:01 +0000 (UTC)\n"
        "Date: Fri, 05 Jan 2024 10:19:58 +0000\n"
        f"From: {sender}\n"
        "To: fbl@bounces.flmail.example\n"
        "Subject: FW: Your weekly update\n"
        f"Message-ID: <{message_id}>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report;\n"
        f'\tboundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "This is an email abuse report for an email message received from IP 203.0.113.25\n"
        "on Fri, 05 Jan 2024 10:15:03 +0000. See http://tools.ietf.org/html/rfc5965.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/feedback-report\n"
        "\n"
        f"{block}"
        "\n"
        f"--{boundary}\n"
        f"Content-Type: {original_type}\n"
        "Content-Disposition: inline\n"
        "\n"
        f"{original}"
        f"--{boundary}--\n"
    )


DELAYED_BLOCK = (
    "Final-Recipient: rfc822; john@example.net\n"
    "Original-Recipient: rfc822;john@example.net\n"
    "Action: delayed\n"
    "Status: 4.4.1\n"
    "Remote-MTA: dns; mx.example.net\n"
    "Diagnostic-Code: X-Postfix; connect to mx.example.net[198.51.100.7]:25: Connection\n"
    "    timed out\n"
    "Will-Retry-Until: Fri, 12 Jan 2024 10:16:10 +0100 (CET)\n"
)
FAILED_BLOCK = (
    "Final-Recipient: rfc822; jane.doe@example.org\n"
    "Original-Recipient: rfc822;jane.doe@example.org\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; aspmx.l.google.com\n"
    "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does\n"
    "    not exist. Please try double-checking the recipient's email address\n"
)


def dsn_report(original: str | None = None, *, original_type: str = "message/rfc822",
               recipients: tuple[str, ...] = (FAILED_BLOCK, DELAYED_BLOCK),
               status_type: str = "message/delivery-status", status_encoding: str = "") -> str:
    """A Postfix DSN: per-message block, the ``recipients`` blocks, the returned original."""
    original = sent_message() if original is None else original
    boundary = "4T5xR02kz8z9sWf.1704446172/mx.example.org"
    status = ("Reporting-MTA: dns; mx.example.org\n"
              "X-Postfix-Queue-ID: 4T5xR02kz8z9sWf\n"
              "X-Postfix-Sender: rfc822; bounce-1234@bounces.flmail.example\n"
              "Arrival-Date: Fri,  5 Jan 2024 10:16:10 +0100 (CET)\n"
              "\n" + "\n".join(recipients))
    encoding_line = ""
    if status_encoding == "base64":
        status = base64.encodebytes(status.encode()).decode()
        encoding_line = "Content-Transfer-Encoding: base64\n"
    return (
        "Return-Path: <>\n"
        "Received: by mx.example.org (Postfix) id 4T5xR02kz8z9sWf;\n"
        "\tFri,  5 Jan 2024 10:16:12 +0100 (CET)\n"
        "Date: Fri,  5 Jan 2024 10:16:12 +0100 (CET)\n"
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: bounce-1234@bounces.flmail.example\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "Message-Id: <20240105091612.4T5xR02kz8z9sWf@mx.example.org>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is the mail system at host mx.example.org.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Delivery report\n"
        f"Content-Type: {status_type}\n"
        f"{encoding_line}"
        "\n"
        f"{status}"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Undelivered Message\n"
        f"Content-Type: {original_type}\n"
        "\n"
        f"{original}"
        "\n"
        f"--{boundary}--\n"
    )


def jmrp_report(original: str | None = None, *, sender: str = "<staff@hotmail.com>",
                subject: str = "complaint about message from 203.0.113.25") -> str:
    """A Microsoft JMRP report: text and the original as message/rfc822, no report part."""
    if original is None:
        original = sent_message(to="jane.doe@hotmail.com",
                                extra="X-HmXmrOriginalRecipient: <jane.doe@hotmail.com>\n"
                                      "X-Message-Status: n:0\n")
    boundary = "--Boundary_of_JMRP_1704453611"
    return (
        "Received: from BAY004-MC1F2.hotmail.com ([65.54.190.61]) by mx.bounces.flmail.example\n"
        "\twith ESMTPS id 4T5y; Fri, 05 Jan 2024 11:20:12 +0000\n"
        f"From: {sender}\n"
        "To: fbl@bounces.flmail.example\n"
        f"Subject: {subject}\n"
        "Date: Fri, 05 Jan 2024 03:20:11 -0800\n"
        "Message-ID: <JMRP.1704453611.77@hotmail.com>\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is an email abuse report for an email message received from IP 203.0.113.25\n"
        "on Fri, 05 Jan 2024 03:15:03 -0800\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/rfc822\n"
        "Content-Disposition: inline\n"
        "\n"
        f"{original}"
        "\n"
        f"--{boundary}--\n"
    )


def wrapper(*reports: str, subtype: str = "mixed", boundary: str = "=_wrap_0a9f7c") -> str:
    """Several reports in one message, each a message/rfc822 part (digest parts default to
    message/rfc822 and carry no Content-Type)."""
    parts = "".join(
        f"--{boundary}\n"
        + ("" if subtype == "digest" else "Content-Type: message/rfc822\n")
        + "\n" + report + "\n"
        for report in reports)
    return (
        "Date: Fri, 05 Jan 2024 12:00:00 +0000\n"
        "From: fbl@isp.example\n"
        "To: fbl@bounces.flmail.example\n"
        "Subject: 2 abuse reports\n"
        "Message-ID: <digest.1704456000@isp.example>\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n'
        "\n"
        f"{parts}"
        f"--{boundary}--\n"
    )


def mapped(finding: Complaint | Bounce) -> tuple[ProfileRef | None, str | None]:
    return resolve_ref(finding, SECRET)


def parse(message: str) -> ParsedReport:
    return parse_report(message.encode())


def only_complaint(message: str) -> Complaint:
    report = parse(message)
    assert report.bounces == ()
    assert len(report.complaints) == 1, report
    return report.complaints[0]


# --- make_ref / read_ref ----------------------------------------------------------------------


@pytest.mark.parametrize("ref", [
    ProfileRef("newsletter"),
    REF,
    ProfileRef("shop", profile="9", mailing="m1", collection="orders", subprofile="77"),
    ProfileRef("nieuwsbrief-ü", profile="prøfil", mailing="メール", collection="snowman ☃",
               subprofile="🙂"),
    ProfileRef("db", profile=""),
])
def test_ref_round_trip(ref: ProfileRef) -> None:
    assert read_ref(make_ref(SECRET, ref), SECRET) == ref


def test_make_ref_format() -> None:
    value = make_ref(SECRET, REF)
    version, payload, signature = value.split(".")
    assert version == "v1"
    assert "=" not in value and value.isascii()
    assert base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) == \
        b'{"d":"newsletter","m":"m-77","p":"1234"}'
    digest = hmac.new(SECRET, payload.encode("ascii"), hashlib.sha256).digest()[:16]
    assert signature == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert make_ref(SECRET, REF) == value
    assert make_ref(OTHER_SECRET, REF) != value


def test_make_ref_needs_a_database() -> None:
    with pytest.raises(ValueError, match="database"):
        make_ref(SECRET, ProfileRef(""))


def test_read_ref_removes_folding_whitespace() -> None:
    value = make_ref(SECRET, REF)
    folded = f"  {value[:20]}\r\n\t{value[20:40]}\n {value[40:]} \n"
    assert read_ref(folded, SECRET) == REF


def signed(payload_bytes: bytes) -> str:
    """A correctly signed reference around any payload (for the JSON checks)."""
    payload = base64.urlsafe_b64encode(payload_bytes).rstrip(b"=").decode()
    digest = hmac.new(SECRET, payload.encode(), hashlib.sha256).digest()[:16]
    return f"v1.{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


@pytest.mark.parametrize(("value", "reason"), [
    ("v2." + make_ref(SECRET, REF)[3:], "not a v1 reference"),
    ("", "not a v1 reference"),
    ("v1.abc", "damaged"),
    ("v1.ab+c.def", "damaged"),
    ("v1.abc.de=f", "damaged"),
    (make_ref(OTHER_SECRET, REF), "signature does not match"),
    (make_ref(SECRET, REF)[:-2], "signature does not match"),
    (signed(b"{not json"), "not valid JSON"),
    (signed(b"\xff\xfe"), "not valid JSON"),
    (signed(b"[1,2]"), "not a JSON object"),
    (signed(b'{"p":"1"}'), "names no database"),
    (signed(b'{"d":""}'), "names no database"),
    (signed(b'{"d":7}'), "names no database"),
    (signed(b'{"d":"db","p":12}'), "field 'p' is not a string"),
])
def test_read_ref_reasons(value: str, reason: str) -> None:
    with pytest.raises(EspReportError, match=reason):
        read_ref(value, SECRET)


def test_read_ref_bad_base64_payload() -> None:
    # five base64 characters cannot be decoded, however they are signed
    payload = "abcde"
    digest = hmac.new(SECRET, payload.encode(), hashlib.sha256).digest()[:16]
    value = f"v1.{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    with pytest.raises(EspReportError, match="not valid base64url"):
        read_ref(value, SECRET)


def test_read_ref_ignores_unknown_keys() -> None:
    assert read_ref(signed(b'{"d":"db","p":"1","z":[1]}'), SECRET) == ProfileRef("db", "1")


GARBAGE = [
    "", " ", "\n", "v1", "v1.", "v1..", "v1...", ".", "..", "v1.a.b", "v1.a.b.c", "V1.abc.def",
    "v1.\x00.\x00", "v1.é.é", "v1.ä" + "A" * 40 + ".B", "v1.\ud800.x", "v1.\udcff\udcfe.x",
    "v1.===.===", "v1.-_-_.-_", "v1." + "A" * 10_000 + ".A", "💥", "v1.💥.💥",
    "<v1.abc.def>", "v1 . abc . def", "null", "{}", '{"d":"x"}', "v1.e30.AAAAAAAAAAAAAAAAAAAAAA",
    "v1.bnVsbA.AAAAAAAAAAAAAAAAAAAAAA", "\t\r\n\x0b\x0c", "v1.%41.%42", "v1.A.\u00a0",
    "v1." + make_ref(SECRET, REF), make_ref(SECRET, REF) + ".extra",
    make_ref(SECRET, REF).replace(".", ""), make_ref(SECRET, REF).upper(),
]


@pytest.mark.parametrize("value", GARBAGE)
def test_read_ref_raises_only_esp_report_error(value: str) -> None:
    with pytest.raises(EspReportError):
        read_ref(value, SECRET)


def test_read_ref_rejects_every_single_character_change() -> None:
    value = make_ref(SECRET, REF)
    for index in range(3, len(value)):
        for replacement in ("A", "-", "."):
            changed = value[:index] + replacement + value[index + 1:]
            if changed != value:
                with pytest.raises(EspReportError):
                    read_ref(changed, SECRET)


# --- ARF --------------------------------------------------------------------------------------


def test_standard_arf() -> None:
    report = parse(arf_report())
    assert report.kind == "arf"
    assert report.skipped == ()
    assert report.complaints == (Complaint(
        ref_values=(make_ref(SECRET, REF),), original=True, recipient="jane.doe@yahoo.com",
        recipient_source="report", feedback_type="abuse", reporter="fbl.mail.yahoo.com",
        user_agent="Yahoo!-Mail-Feedback/2.0", source_ip="203.0.113.25",
        arrived_at=datetime(2024, 1, 5, 10, 15, 3, tzinfo=UTC),
        reported_at=datetime(2024, 1, 5, 10, 19, 58, tzinfo=UTC), message_id=MESSAGE_ID,
        original_mail_from="bounce-1234@bounces.flmail.example",
        reported_domain=("shop.example",)),)
    assert mapped(report.complaints[0]) == (REF, None)


def test_arf_with_rfc822_headers_original() -> None:
    complaint = only_complaint(arf_report(headers_of(sent_message()),
                                          original_type="text/rfc822-headers"))
    assert mapped(complaint)[0] == REF
    assert complaint.message_id == MESSAGE_ID


@pytest.mark.parametrize("feedback_type", ["abuse", "Fraud", "virus", "other", "not-spam"])
def test_arf_feedback_type_lowercased(feedback_type: str) -> None:
    complaint = only_complaint(arf_report(fields={"Feedback-Type": feedback_type}))
    assert complaint.feedback_type == feedback_type.lower()


@pytest.mark.parametrize(("fields", "reporter"), [
    ({}, "fbl.mail.yahoo.com"),
    ({"Reporting-MTA": None}, "Yahoo!-Mail-Feedback/2.0"),
    ({"Reporting-MTA": None, "User-Agent": None}, "arf.mail.yahoo.com"),
])
def test_arf_reporter_preference(fields: dict[str, str | None], reporter: str) -> None:
    assert only_complaint(arf_report(fields=fields)).reporter == reporter


@pytest.mark.parametrize(("value", "expected"), [
    ("203.0.113.25", "203.0.113.25"),
    ("2001:DB8::1", "2001:db8::1"),
    ("[198.51.100.4]", "198.51.100.4"),
    ("203.0.113.999", None),
    ("mail.example.net", None),
    (None, None),
])
def test_arf_source_ip(value: str | None, expected: str | None) -> None:
    assert only_complaint(arf_report(fields={"Source-IP": value})).source_ip == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"Arrival-Date": "Fri, 05 Jan 2024 11:15:03 +0100"}, datetime(2024, 1, 5, 10, 15, 3)),
    ({"Arrival-Date": "Fri, 05 Jan 2024 10:15:03 -0000"}, datetime(2024, 1, 5, 10, 15, 3)),
    ({"Arrival-Date": None, "Received-Date": "Thu, 04 Jan 2024 23:00:00 +0000"},
     datetime(2024, 1, 4, 23)),
    ({"Arrival-Date": "2024-01-05T10:15:03Z"}, datetime(2024, 1, 5, 10, 15, 3)),
])
def test_arf_arrival_date(fields: dict[str, str | None], expected: datetime) -> None:
    arrived_at = only_complaint(arf_report(fields=fields)).arrived_at
    assert arrived_at == expected.replace(tzinfo=UTC)
    assert arrived_at is not None and arrived_at.tzinfo == UTC


@pytest.mark.parametrize("arrival", [None, "yesterday"])
def test_arf_without_a_usable_arrival_date_is_not_filled_from_the_report_date(
        arrival: str | None) -> None:
    complaint = only_complaint(arf_report(fields={"Arrival-Date": arrival}))
    assert complaint.arrived_at is None
    assert complaint.reported_at == datetime(2024, 1, 5, 10, 19, 58, tzinfo=UTC)


def test_arf_without_date_anywhere() -> None:
    message = arf_report(fields={"Arrival-Date": None}).replace(
        "Date: Fri, 05 Jan 2024 10:19:58 +0000\n", "")
    assert only_complaint(message).arrived_at is None


@pytest.mark.parametrize("rcpt_to", [
    "redacted@example.net", "[REDACTED]@yahoo.com", "xxxxxxx@hotmail.com", "****@gmail.com",
    "XXXX.XXXX@aol.com", "redacted", "@yahoo.com", "", None,
])
def test_redacted_recipient(rcpt_to: str | None) -> None:
    original = sent_message(to="xxxxxxxxx@example.org")
    complaint = only_complaint(arf_report(original, fields={"Original-Rcpt-To": rcpt_to}))
    assert complaint.recipient is None
    assert mapped(complaint)[0] == REF


def test_arf_recipient_is_not_taken_from_the_originals_to() -> None:
    for rcpt_to in (None, "<xxxx@example.org>"):
        complaint = only_complaint(arf_report(fields={"Original-Rcpt-To": rcpt_to}))
        assert (complaint.recipient, complaint.recipient_source) == (None, None)
        assert mapped(complaint)[0] == REF


def test_recipient_in_angle_brackets() -> None:
    complaint = only_complaint(arf_report(fields={"Original-Rcpt-To": "<jane@yahoo.com>"}))
    assert complaint.recipient == "jane@yahoo.com"


def test_arf_with_redacted_original_keeps_the_ref() -> None:
    original = sent_message(to="redacted@yahoo.com").replace(
        "\tfor <jane.doe@example.org>;", "\tfor <redacted@yahoo.com>;")
    complaint = only_complaint(arf_report(original, fields={"Original-Rcpt-To": "redacted"}))
    assert complaint.recipient is None
    assert mapped(complaint)[0] == REF and mapped(complaint)[1] is None


def test_arf_forged_ref() -> None:
    complaint = only_complaint(arf_report(sent_message(make_ref(OTHER_SECRET, REF))))
    assert mapped(complaint)[0] is None
    assert mapped(complaint)[1] is not None and "signature" in mapped(complaint)[1]
    assert complaint.recipient == "jane.doe@yahoo.com"


def test_arf_damaged_ref() -> None:
    complaint = only_complaint(arf_report(sent_message("v1.garbage")))
    assert mapped(complaint)[0] is None and mapped(complaint)[1] is not None
    assert "damaged" in mapped(complaint)[1]


def test_arf_without_ref() -> None:
    complaint = only_complaint(arf_report(sent_message("")))
    assert (mapped(complaint)[0], mapped(complaint)[1]) == (None, NO_REF)
    assert complaint.message_id == MESSAGE_ID


def test_arf_without_original() -> None:
    message = arf_report().split("Content-Type: message/rfc822")[0].rstrip("-\n")
    message = message.rsplit("\n--", 1)[0] + "\n------=_Part_1234_5678.1704450000000--\n"
    complaint = only_complaint(message)
    assert mapped(complaint)[0] is None
    assert mapped(complaint)[1] is not None and "no original message" in mapped(complaint)[1]


def test_second_valid_ref_is_used_when_the_first_is_damaged() -> None:
    original = sent_message(extra=f"{REF_HEADER}: v1.broken.ref\n")
    complaint = only_complaint(arf_report(original))
    assert mapped(complaint)[0] == REF


def test_folded_ref_in_the_original() -> None:
    value = make_ref(SECRET, REF)
    folded = f"{value[:30]}\n\t{value[30:]}"
    complaint = only_complaint(arf_report(sent_message(folded)))
    assert mapped(complaint)[0] == REF
    headers = headers_of(sent_message(f"{value[:25]}\n {value[25:50]}\n {value[50:]}"))
    complaint = only_complaint(arf_report(headers, original_type="text/rfc822-headers"))
    assert mapped(complaint)[0] == REF


def test_original_transfer_encoded_as_base64() -> None:
    encoded = base64.encodebytes(sent_message().encode()).decode()
    message = arf_report(encoded).replace(
        "Content-Type: message/rfc822\n",
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n")
    complaint = only_complaint(message)
    assert mapped(complaint)[0] == REF
    assert complaint.message_id == MESSAGE_ID


def test_feedback_report_part_transfer_encoded() -> None:
    block = "".join(f"{name}: {value}\n" for name, value in ARF_FIELDS.items())
    encoded = base64.encodebytes(block.encode()).decode()
    message = arf_report().replace(
        "Content-Type: message/feedback-report\n\n" + block,
        "Content-Type: message/feedback-report\nContent-Transfer-Encoding: base64\n\n" + encoded)
    assert "base64" in message
    assert parse(message) == parse(arf_report())


# --- line endings -----------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_line_endings(newline: str) -> None:
    value = make_ref(SECRET, REF)
    message = arf_report(sent_message(f"{value[:30]}\n\t{value[30:]}"))
    report = parse_report(message.replace("\n", newline).encode())
    assert report == parse(message)
    assert mapped(report.complaints[0])[0] == REF
    dsn = dsn_report()
    assert parse_report(dsn.replace("\n", newline).encode()) == parse(dsn)


# --- JMRP -------------------------------------------------------------------------------------


def test_jmrp() -> None:
    report = parse(jmrp_report())
    assert report.kind == "jmrp"
    assert report.complaints == (Complaint(
        ref_values=(make_ref(SECRET, REF),), original=True, recipient="jane.doe@hotmail.com",
        recipient_source="report", feedback_type="abuse", reporter="hotmail.com",
        user_agent=None, source_ip=None, arrived_at=None,
        reported_at=datetime(2024, 1, 5, 11, 20, 11, tzinfo=UTC), message_id=MESSAGE_ID),)
    assert mapped(report.complaints[0]) == (REF, None)


def test_jmrp_prefers_microsofts_original_recipient_header() -> None:
    original = sent_message(to="xxxxxxxx@hotmail.com",
                            extra="X-HmXmrOriginalRecipient: <jane.doe@hotmail.com>\n")
    assert only_complaint(jmrp_report(original)).recipient == "jane.doe@hotmail.com"


def test_jmrp_recipient_from_to_and_redacted() -> None:
    complaint = only_complaint(jmrp_report(sent_message(to="<jane@outlook.com>")))
    assert complaint.recipient == "jane@outlook.com"
    complaint = only_complaint(jmrp_report(sent_message(to="xxxxxxxx@outlook.com")))
    assert complaint.recipient is None and mapped(complaint)[0] == REF


def test_jmrp_with_forged_ref_is_still_a_complaint() -> None:
    complaint = only_complaint(jmrp_report(sent_message(make_ref(OTHER_SECRET, REF))))
    assert mapped(complaint)[0] is None
    assert mapped(complaint)[1] is not None and "signature" in mapped(complaint)[1]


def test_jmrp_as_top_level_message_rfc822() -> None:
    message = ("From: staff@hotmail.com\nTo: fbl@bounces.flmail.example\n"
               "Date: Fri, 05 Jan 2024 03:20:11 -0800\nMIME-Version: 1.0\n"
               "Content-Type: message/rfc822\n\n" + sent_message())
    report = parse(message)
    assert report.kind == "jmrp"
    assert mapped(report.complaints[0])[0] == REF
    assert report.complaints[0].reporter == "hotmail.com"


def test_attachment_without_ref_is_no_jmrp() -> None:
    with pytest.raises(EspReportError, match="carry no X-FL-Ref"):
        parse(jmrp_report(sent_message("")))


@pytest.mark.parametrize(("sender", "subject"), [
    ("MAILER-DAEMON@mx.example.org", "Returned mail: see transcript for details"),
    ("postmaster@example.org", "complaint"),
    ("staff@example.org", "Undeliverable: Your weekly update"),
])
def test_non_standard_bounce_is_not_read_as_jmrp(sender: str, subject: str) -> None:
    with pytest.raises(EspReportError, match="looks like a bounce"):
        parse(jmrp_report(sent_message(), sender=sender, subject=subject))


# --- several reports in one message -----------------------------------------------------------


@pytest.mark.parametrize("subtype", ["mixed", "digest"])
def test_several_arf_reports_in_one_message(subtype: str) -> None:
    second = ProfileRef("shop", profile="99", mailing="m-78")
    report = parse(wrapper(
        arf_report(),
        arf_report(sent_message(make_ref(SECRET, second), to="redacted@example.net"),
                   fields={"Original-Rcpt-To": "redacted@example.net", "Feedback-Type": "fraud",
                           "Source-IP": "198.51.100.9"},
                   message_id="fbl.2@arf.mail.yahoo.com"),
        subtype=subtype))
    assert report.kind == "multiple"
    assert report.bounces == ()
    assert [mapped(c)[0] for c in report.complaints] == [REF, second]
    assert [c.recipient for c in report.complaints] == ["jane.doe@yahoo.com", None]
    assert [c.feedback_type for c in report.complaints] == ["abuse", "fraud"]
    assert [c.source_ip for c in report.complaints] == ["203.0.113.25", "198.51.100.9"]


def test_one_report_in_a_wrapper_is_not_multiple() -> None:
    report = parse(wrapper(arf_report()))
    assert report.kind == "arf"
    assert mapped(report.complaints[0])[0] == REF


def test_complaint_and_bounce_in_one_message() -> None:
    report = parse(wrapper(arf_report(), dsn_report()))
    assert report.kind == "multiple"
    assert len(report.complaints) == 1
    assert [b.action for b in report.bounces] == ["failed", "delayed"]
    assert report.bounces[0].mime.startswith("Return-Path: <>\n")
    assert report.bounces[0].envelope == "bounce-1234@bounces.flmail.example"


def test_stray_attachment_next_to_reports_is_noted() -> None:
    report = parse(wrapper(arf_report(), arf_report(), sent_message("", message_id="x@y")))
    assert report.kind == "multiple" and len(report.complaints) == 2
    assert report.skipped == ("ignored an attached message that is not a report "
                              "(Message-ID <x@y>)",)


# --- DSN --------------------------------------------------------------------------------------


def test_dsn_one_failed_one_delayed() -> None:
    message = dsn_report()
    report = parse(message)
    assert report.kind == "dsn"
    assert report.complaints == ()
    assert report.skipped == ()
    bounce, delayed = report.bounces
    assert mapped(bounce)[0] == REF and mapped(bounce)[1] is None
    assert (bounce.bounce_class, bounce.reason, bounce.code) == ("hard", "user-unknown", 550)
    assert (bounce.status_source, bounce.format) == ("status", "dsn")
    assert (delayed.recipient, delayed.action, delayed.status) == (
        "john@example.net", "delayed", "4.4.1")
    assert (delayed.bounce_class, delayed.reason) == ("soft", "network-error")
    assert delayed.remote_mta == "mx.example.net"
    assert bounce.recipient == "jane.doe@example.org"
    assert bounce.action == "failed"
    assert bounce.status == "5.1.1"
    assert bounce.diagnostic == ("550-5.1.1 The email account that you tried to reach does "
                                 "not exist. Please try double-checking the recipient's email "
                                 "address")
    assert bounce.remote_mta == "aspmx.l.google.com"
    assert bounce.arrived_at == datetime(2024, 1, 5, 9, 16, 10, tzinfo=UTC)
    assert bounce.message_id == MESSAGE_ID
    assert bounce.envelope == "bounce-1234@bounces.flmail.example"
    assert bounce.mime == message


def test_dsn_with_rfc822_headers_original() -> None:
    bounce = parse(dsn_report(headers_of(sent_message()),
                              original_type="text/rfc822-headers")).bounces[0]
    assert mapped(bounce)[0] == REF
    assert bounce.message_id == MESSAGE_ID


def test_dsn_all_recipients_fail() -> None:
    second = FAILED_BLOCK.replace("jane.doe@example.org", "joe@example.org").replace(
        "5.1.1", "5.2.2")
    report = parse(dsn_report(recipients=(FAILED_BLOCK, second)))
    assert [(b.recipient, b.status) for b in report.bounces] == [
        ("jane.doe@example.org", "5.1.1"), ("joe@example.org", "5.2.2")]
    assert report.skipped == ()


def test_dsn_delayed_recipient_is_a_soft_bounce() -> None:
    block = DELAYED_BLOCK.replace("Action: delayed", "Action: Delayed")
    (bounce,) = parse(dsn_report(recipients=(block,))).bounces
    assert (bounce.action, bounce.bounce_class) == ("delayed", "soft")


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_dsn_other_actions_are_skipped(action: str) -> None:
    block = DELAYED_BLOCK.replace("Action: delayed", f"Action: {action}")
    report = parse(dsn_report(recipients=(block,)))
    assert report.kind == "dsn" and report.bounces == ()
    assert report.skipped == (f"recipient john@example.net: action {action.lower()} "
                              "(not a bounce)",)


def test_dsn_fallbacks() -> None:
    block = ("Original-Recipient: rfc822;<jane@example.org>\n"
             "Action: failed (permanent)\n"
             "Status: 5.0.0 (permanent failure)\n")
    message = dsn_report(recipients=(block,)).replace(
        "Arrival-Date: Fri,  5 Jan 2024 10:16:10 +0100 (CET)\n", "")
    (bounce,) = parse(message).bounces
    assert bounce.recipient == "jane@example.org"
    assert bounce.action == "failed"
    assert bounce.status == "5.0.0"
    assert (bounce.diagnostic, bounce.remote_mta) == (None, None)
    assert bounce.arrived_at == datetime(2024, 1, 5, 9, 16, 12, tzinfo=UTC)  # the DSN's Date


def test_dsn_block_without_action_takes_the_status_class() -> None:
    block = "Final-Recipient: rfc822; jane@example.org\nStatus: 5.1.1\n"
    (bounce,) = parse(dsn_report(recipients=(block,))).bounces
    assert (bounce.action, bounce.bounce_class) == ("failed", "hard")
    block = "Final-Recipient: rfc822; jane@example.org\nRemote-MTA: dns; mx.example.org\n"
    report = parse(dsn_report(recipients=(block,)))
    assert report.bounces == ()
    assert report.skipped == ("recipient jane@example.org: no Action field",)


@pytest.mark.parametrize(("status_type", "encoding"), [
    ("message/delivery-status", "base64"),
    ("message/global-delivery-status", ""),
])
def test_dsn_status_part_read_as_text(status_type: str, encoding: str) -> None:
    report = parse(dsn_report(status_type=status_type, status_encoding=encoding))
    assert [b.recipient for b in report.bounces] == ["jane.doe@example.org", "john@example.net"]
    assert report.bounces[0].arrived_at == datetime(2024, 1, 5, 9, 16, 10, tzinfo=UTC)
    assert report.skipped == ()


def test_dsn_forged_and_missing_ref() -> None:
    bounce = parse(dsn_report(sent_message(make_ref(OTHER_SECRET, REF)))).bounces[0]
    assert mapped(bounce)[0] is None
    assert mapped(bounce)[1] is not None and "signature" in mapped(bounce)[1]
    bounce = parse(dsn_report(sent_message(""))).bounces[0]
    assert (mapped(bounce)[0], mapped(bounce)[1]) == (None, NO_REF)


def test_dsn_mime_is_truncated_and_lf() -> None:
    big = sent_message() + "x" * 300_000 + "\n"
    message = dsn_report(big)
    bounce = parse_report(message.replace("\n", "\r\n").encode()).bounces[0]
    assert len(bounce.mime) == 200_000
    assert "\r" not in bounce.mime
    assert bounce.mime == message[:200_000]


def test_dsn_original_outside_the_report_part_is_adopted() -> None:
    dsn = dsn_report()
    head, body = dsn.split("\n\n", 1)
    report_part, original = body.split("Content-Description: Undelivered Message\n", 1)
    boundary = "4T5xR02kz8z9sWf.1704446172/mx.example.org"
    inner = report_part.rsplit(f"--{boundary}", 1)[0] + f"--{boundary}--\n"
    original_body = original.split("\n\n", 1)[1].rsplit(f"\n--{boundary}--", 1)[0]
    message = (head.split("Content-Type:")[0]
               + 'Content-Type: multipart/mixed; boundary="outer"\nMIME-Version: 1.0\n\n'
               + "--outer\nContent-Type: multipart/report; report-type=delivery-status;\n"
               + f'\tboundary="{boundary}"\n\n' + inner
               + "--outer\nContent-Type: message/rfc822\n\n" + original_body + "\n--outer--\n")
    report = parse(message)
    assert report.kind == "dsn" and report.skipped == ()
    bounce = report.bounces[0]
    assert mapped(bounce)[0] == REF and bounce.message_id == MESSAGE_ID


def test_dsn_without_recipients() -> None:
    report = parse(dsn_report(recipients=()))
    assert report.kind == "dsn" and report.bounces == ()
    assert report.skipped == ("a delivery-status report without recipients",)


# --- not a report -----------------------------------------------------------------------------


PLAIN_MAIL = ("Date: Fri, 05 Jan 2024 10:00:00 +0000\nFrom: someone@example.org\n"
              "To: fbl@bounces.flmail.example\nSubject: hello\nMessage-ID: <a@b>\n\nHi!\n")
MIXED_MAIL = ("From: someone@example.org\nTo: fbl@bounces.flmail.example\nMIME-Version: 1.0\n"
              'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
              "Hi\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
              "JVBERi0xLjQK\n--b--\n")


@pytest.mark.parametrize(("raw", "reason"), [
    (PLAIN_MAIL.encode(), "a text/plain message with no feedback-report, delivery-status or "
                          "attached message"),
    (MIXED_MAIL.encode(), "a multipart/mixed message with no feedback-report, delivery-status "
                          "or attached message"),
    (b"", "the message is empty"),
    (b"\r\n\r\n  \n", "the message is empty"),
    (bytes(range(256)) * 4, "not an e-mail message"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an e-mail message"),
    (b"From: a@b.example\nSubject: headers only\n", "a text/plain message with no"),
])
def test_not_a_report(raw: bytes, reason: str) -> None:
    with pytest.raises(EspReportError) as caught:
        parse_report(raw)
    assert reason in str(caught.value)


def test_oversize() -> None:
    raw = arf_report().encode()
    assert parse_report(raw, max_bytes=len(raw)).kind == "arf"
    with pytest.raises(EspReportError, match=f"over the limit of {len(raw) - 1} bytes"):
        parse_report(raw, max_bytes=len(raw) - 1)
    with pytest.raises(EspReportError, match="10485760 bytes"):
        parse_report(b"x" * (10 * 2**20 + 1))


def test_deep_nesting_is_a_report_error() -> None:
    raw = b"From: a@b.example\nContent-Type: message/rfc822\n\n" * 5000
    with pytest.raises(EspReportError):
        parse_report(raw)


def test_nesting_deeper_than_followed_is_named() -> None:
    message = arf_report()
    for level in range(20):
        message = wrapper(message, boundary=f"=_level_{level}")
    with pytest.raises(EspReportError, match="nested more than 16 levels deep were not read"):
        parse(message)


def test_damaged_reports_raise_only_esp_report_error() -> None:
    """Truncated and byte-flipped reports: a ParsedReport or EspReportError, nothing else."""
    rng = random.Random(5965)
    samples = [arf_report(), dsn_report(), jmrp_report(), wrapper(arf_report(), dsn_report())]
    for sample in samples:
        parses_or_refuses(sample.encode(), rng, variants=60, flips=8)


def test_non_utf8_bytes_are_tolerated() -> None:
    message = arf_report(fields={"User-Agent": "Feedback/1", "Reporting-MTA": None}).encode()
    message = message.replace(b"Feedback/1", b"Feedback/\xe9\xff")
    assert only_complaint_bytes(message).reporter == "Feedback/\ufffd\ufffd"


def only_complaint_bytes(raw: bytes) -> Complaint:
    (complaint,) = parse_report(raw).complaints
    return complaint


# --- package surface --------------------------------------------------------------------------


def test_exported_from_the_package() -> None:
    for name in ("REF_HEADER", "EspReportError", "ProfileRef", "make_ref", "read_ref",
                 "resolve_ref", "make_unsubscribe_ref", "read_unsubscribe_ref", "Complaint",
                 "Bounce", "ParsedReport", "parse_report", "BounceRules", "DEFAULT_RULES",
                 "REASONS", "message_headers", "feedback_id"):
        assert name in enrichers.__all__
        assert getattr(enrichers, name) is getattr(enrichers.esp, name)
    assert REF_HEADER == "X-FL-Ref"


def test_error_hierarchy() -> None:
    assert issubclass(EspReportError, ValueError)
    assert issubclass(EspReportError, EnrichersError)


def test_values_are_frozen() -> None:
    with pytest.raises(AttributeError):
        REF.database = "other"  # type: ignore[misc]
    assert not hasattr(REF, "__dict__")
