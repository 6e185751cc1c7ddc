"""enrichers.esp.taxonomy and .status: one test per rule of the taxonomy, the order the rules
are tried in, the class rules, the operator's overrides, and status refinement."""
from __future__ import annotations

import pytest

from enrichers.esp import DEFAULT_RULES, REASONS, BounceRules
from enrichers.esp.status import enhanced_status, refined_status, reply_code

R = DEFAULT_RULES


def reason_and_class(diagnostic: str, status: str | None = None,
                     delayed: bool = False) -> tuple[str, str]:
    status = status or refined_status(None, diagnostic)[0]
    code = reply_code(diagnostic)
    reason = R.reason(status, code, diagnostic)
    return reason, R.bounce_class(reason, status, code, delayed)


@pytest.mark.parametrize(("diagnostic", "reason", "klass"), [
    ("550 5.1.1 <a@example.org>: Recipient address rejected: User unknown", "user-unknown", "hard"),
    ("550 No such user here", "user-unknown", "hard"),
    ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found", "user-unknown", "hard"),
    ("Host or domain name not found. Name service error for name=x.example", "host-unknown", "hard"),
    ("550 5.1.2 Host unknown", "host-unknown", "hard"),
    ("551 5.1.6 User has moved; no forwarding address", "has-moved", "hard"),
    ("550 5.2.1 The email account that you tried to reach is disabled", "suspended", "soft"),
    ("554 This account has been suspended", "suspended", "soft"),
    ("552 5.2.2 Mailbox full", "mailbox-full", "soft"),
    ("452 user is over quota", "mailbox-full", "soft"),
    ("552 5.3.4 Message size exceeds fixed maximum message size", "message-too-big", "soft"),
    ("550 Message refused by the recipient's filter rules", "filtered", "soft"),
    ("550 5.7.1 Message rejected as spam", "spam-blocked", "soft"),
    ("554 5.7.1 Rejected by local policy", "spam-blocked", "soft"),
    ("554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocked-by-reputation",
     "soft"),
    ("421 4.7.28 unusual rate of unsolicited mail", "rate-limited", "soft"),
    ("421 Too many concurrent SMTP connections", "rate-limited", "soft"),
    ("retry timeout exceeded", "expired", "soft"),
    ("550 5.7.26 Unauthenticated email is not accepted", "auth-failure", "soft"),
    ("550 5.7.1 Email rejected per DMARC policy", "auth-failure", "soft"),
    ("554 5.7.1 Message rejected: virus found", "content-rejected", "soft"),
    ("451 4.7.1 Greylisting in action, please come back later", "on-hold", "soft"),
    ("554 5.4.6 Too many hops", "system-error", "soft"),
    ("451 4.3.0 Temporary system failure", "system-error", "soft"),
    ("connect to mx.example.net[192.0.2.7]:25: Connection timed out", "network-error", "soft"),
    ("TLS handshake failure", "network-error", "soft"),
    ("550 Requested action not taken", "unknown", "unknown"),
    # provider quirks
    ("550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "user-unknown",
     "hard"),
    ("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)", "user-unknown",
     "hard"),
    ("550 5.7.1 Mailbox unavailable, your IP is on our block list", "blocked-by-reputation",
     "soft"),
    ("Name service error for name=x.example type=MX: Host not found, try again",
     "network-error", "soft"),
    ("552 1 Requested mail action aborted, mailbox not found", "user-unknown", "hard"),
    ("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred", "rate-limited", "soft"),
    ("554 5.7.9 Message not accepted for policy reasons", "spam-blocked", "soft"),
    ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]", "blocked-by-reputation",
     "soft"),
    ("451 Requested action aborted", "system-error", "soft"),
])
def test_each_reason(diagnostic: str, reason: str, klass: str) -> None:
    assert reason_and_class(diagnostic) == (reason, klass)


def test_every_reason_of_the_issue_is_in_the_taxonomy() -> None:
    assert {"user-unknown", "host-unknown", "mailbox-full", "message-too-big", "filtered",
            "spam-blocked", "blocked-by-reputation", "rate-limited", "expired", "auth-failure",
            "content-rejected", "on-hold", "system-error", "network-error", "has-moved",
            "suspended"} <= set(REASONS)


def test_a_5xx_status_is_not_hard_by_itself() -> None:
    assert reason_and_class("552 5.2.2 over quota", "5.2.2") == ("mailbox-full", "soft")
    assert reason_and_class("550 5.7.1 go away", "5.7.1") == ("spam-blocked", "soft")
    assert reason_and_class("something happened", "5.0.0") == ("unknown", "unknown")


def test_unknown_reason_is_soft_for_4xx_and_for_delays() -> None:
    assert reason_and_class("something happened", "4.0.0") == ("unknown", "soft")
    assert reason_and_class("something happened", "5.0.0", delayed=True) == ("unknown", "soft")
    assert reason_and_class("user unknown", "5.1.1", delayed=True)[1] == "soft"


def test_a_specific_status_wins_over_the_text_a_generic_one_does_not() -> None:
    assert R.reason("5.1.1", 550, "blocked by policy") == "user-unknown"
    assert R.reason("5.0.0", 550, "blocked by policy") == "spam-blocked"
    assert R.reason("4.4.7", None, "mailbox full") == "mailbox-full"


def test_status_subject_and_reply_code_are_the_last_resort() -> None:
    assert R.reason("5.1.9", None, "") == "user-unknown"
    assert R.reason("4.4.9", None, "") == "network-error"
    assert R.reason(None, 552, "") == "mailbox-full"
    assert R.reason(None, 550, "") == "unknown"


def test_overrides_come_first_and_change_classes() -> None:
    rules = R.with_overrides(statuses={"5.7.1": "blocked-by-reputation"},
                             patterns=[("user-unknown", r"no such luser")],
                             codes={550: "user-unknown"}, classes={"suspended": "hard"})
    assert rules.reason("5.7.1", 550, "spam") == "blocked-by-reputation"
    assert rules.reason("5.0.0", None, "550 mailbox full, no such luser") == "user-unknown"
    assert rules.reason(None, 550, "") == "user-unknown"
    assert rules.bounce_class("suspended", "5.2.1", 550, False) == "hard"
    assert R.bounce_class("suspended", "5.2.1", 550, False) == "soft", "defaults unchanged"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"statuses": {"5.1": "nonsense"}}, "statuses.5.1: 'nonsense' is not a reason"),
    ({"statuses": {"5-1-1": "user-unknown"}}, "'5-1-1' is not a status"),
    ({"patterns": [("user-unknown", "(")]}, "patterns[0].pattern: '(' does not compile"),
    ({"codes": {999: "user-unknown"}}, "999 is not an SMTP reply code"),
    ({"classes": {"user-unknown": "firm"}}, "classes.user-unknown: 'firm'"),
])
def test_bad_overrides_name_the_entry(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        R.with_overrides(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_rules_are_data() -> None:
    custom = BounceRules.build({"5.1.1": "user-unknown"}, [("filtered", "nope")], {})
    assert custom.reason("5.9.9", None, "nope") == "filtered"
    assert custom.reason("5.9.9", None, "user unknown") == "unknown"


@pytest.mark.parametrize(("text", "status"), [
    ("550 5.1.1 user unknown", "5.1.1"),
    ("550-5.7.26 unauthenticated", "5.7.26"),
    ("vpopmail (#5.1.1)", "5.1.1"),
    ("host 10.4.2.5 said hello", None),
    ("version 4.2.5.1 of the server", None),
    ("554.30 mailbox disabled", None),
    (None, None),
])
def test_enhanced_status(text: str | None, status: str | None) -> None:
    assert enhanced_status(text) == status


@pytest.mark.parametrize(("text", "code"), [
    ("550 5.1.1 user unknown", 550), ("550-5.1.1 user", 550), ("said: 452 4.2.2 full", 452),
    ("Remote Server returned '554 5.2.2 full'", 554), ("no code here 12345", None), (None, None),
])
def test_reply_code(text: str | None, code: int | None) -> None:
    assert reply_code(text) == code


@pytest.mark.parametrize(("field", "diagnostic", "expected"), [
    ("5.1.1", "550 5.2.2 full", ("5.1.1", "status")),
    ("5.0.0", "550 5.1.1 user unknown", ("5.1.1", "diagnostic")),
    ("4.4.7", "552 5.2.2 mailbox full", ("5.2.2", "diagnostic")),
    ("5.0.0", "550 no such user", ("5.0.0", "status")),
    (None, "550 5.1.1 x", ("5.1.1", "diagnostic")),
    (None, "no status", (None, None)),
])
def test_generic_status_is_refined_from_the_diagnostic(
        field: str | None, diagnostic: str, expected: tuple[str | None, str | None]) -> None:
    assert refined_status(field, diagnostic) == expected
