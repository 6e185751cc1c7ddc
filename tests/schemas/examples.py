"""Valid documents of every contract, as factories returning fresh dicts (also used by the
enrichers' tests). Overrides replace keys; ``None`` as an override removes the key."""
from __future__ import annotations

from typing import Any

EVENT_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
OCCURRED_AT = "2026-11-26T10:00:00.123Z"
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"


def _with(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _envelope(etype: str) -> dict[str, Any]:
    return {"id": EVENT_ID, "type": etype, "occurred_at": OCCURRED_AT, "database": "newsletter",
            "profile": "p3", "recipient": "daan.visser3@example.org", "mailing": "m1",
            "message": "<m1.p3@mail.example.com>"}


def raw_event(etype: str, **overrides: Any) -> dict[str, Any]:
    """A complete, valid raw event of ``etype`` (profile-edit types are profile edits)."""
    doc = _envelope(etype)
    if etype in ("open", "click"):
        doc.update(ip="198.51.100.7", useragent=USER_AGENT, referer="https://mail.example.net/",
                   headers={"User-Agent": USER_AGENT, "Accept-Language": "nl-NL,nl;q=0.9"})
    if etype == "click":
        doc.update(url="https://shop.example.com/item/10?utm_source=mail", link="l10")
    if etype == "bounce":
        doc.update(envelope="bounces+m1.p3@mail.example.com",
                   mime="From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\n\r\nSorry.")
    if etype == "failure":
        doc.update(action="failed", state="rcpt", code=550, extended="5.1.1",
                   description="550 5.1.1 <daan.visser3@example.org>: user unknown")
    if etype == "delivery":
        doc.update(code=250, extended="2.0.0", description="250 2.0.0 OK queued as 4Zx1")
    if etype in ("create", "update", "delete"):
        for key in ("recipient", "mailing", "message"):
            doc.pop(key)
    if etype in ("create", "update"):
        doc.update(fields={"email": "daan.visser3@example.org", "firstname": "Daan",
                           "city": "Köln", "age": 41, "vip": True, "notes": None},
                   interests=["golf", "cycling"], parameters={"source": "signup-form"},
                   created="2026-11-26T09:00:00Z", modified="2026-11-26T10:00:00Z")
    if etype == "complaint":
        doc.update(feedback_type="abuse", reporter="feedback.example.net",
                   source_ip="2001:db8::25")
    return _with(doc, overrides)


def subprofile_edit(etype: str, **overrides: Any) -> dict[str, Any]:
    """A valid subprofile create/update/delete (subprofile s7 of p3 in collection orders)."""
    doc = raw_event(etype, subprofile="s7", collection="orders",
                    interests=None, parameters=None, created=None, modified=None)
    if etype != "delete":
        doc["fields"] = {"order": "A-1001", "amount": 12.5}
    return _with(doc, overrides)


def profile_snapshot(**overrides: Any) -> dict[str, Any]:
    """A valid ``profile.json`` document with one subprofile."""
    doc = {
        "id": "p3", "database": "newsletter", "email": "daan.visser3@example.org",
        "fields": {"email": "daan.visser3@example.org", "firstname": "Daan",
                   "lastname": "Visser", "city": "Utrecht", "newsletter": "yes"},
        "interests": ["golf", "tennis"],
        "created": "2025-01-02T03:04:05Z", "modified": "2026-11-01T00:00:00+01:00",
        "subprofiles": {"s7": {"collection": "orders", "fields": {"order": "A-1000"},
                               "created": "2026-01-01T00:00:00Z"}},
    }
    return _with(doc, overrides)


def mailing_tags(**overrides: Any) -> dict[str, Any]:
    """A valid ``tags.json`` document for mailing m1."""
    doc = {"id": "m1", "tags": ["newsletter", "campaign-1"],
           "links": {"l10": {"url": "https://shop.example.com/item/10?utm_source=mail",
                             "tags": ["product-10", "newsletter"]},
                     "l11": {"url": "https://shop.example.com/item/11", "tags": ["product-11"]}}}
    return _with(doc, overrides)


def loop_definition(**overrides: Any) -> dict[str, Any]:
    """A complete, valid, enabled and validated ``loop.json`` document."""
    doc = {
        "id": "loop-1", "url": "https://hooks.example.com/receive.php",
        "events": ["open", "click"], "database": "newsletter", "collection": None,
        "encoding": "json", "fields": ["email", "firstname"],
        "batch": {"max_events": 100, "max_wait_ms": 1000},
        "rate_per_s": 20.0, "max_in_flight": 4, "timeout_s": 5.0,
        "delivery": "events", "summary_every": "1h",
        "secrets": [{"secret": "whsec_ZXhhbXBsZS1zZWNyZXQtb25lLTMyLWJ5dGVzLWxvbmc=", "expires_at": None},
                    {"secret": "whsec_ZXhhbXBsZS1zZWNyZXQtdHdvLTMyLWJ5dGVzLWxvbmc=", "expires_at": 1795687200.0}],
        "status": "enabled", "disabled_reason": None,
        "validation": {"file_name": "feedbackloop-3f9a.txt", "content": "fl-3f9a-7c21",
                       "validated_at": 1795600000.0,
                       "validated_url": "https://hooks.example.com/receive.php",
                       "method": "file"},
        "created_at": 1795500000.0, "updated_at": 1795600000.0, "version": 3,
    }
    return {**doc, **overrides}


def valid_raw_events() -> dict[str, dict[str, Any]]:
    """Name -> a valid raw event, covering every type and the optional-field edge cases."""
    return {
        **{etype: raw_event(etype) for etype in
           ("open", "click", "bounce", "failure", "delivery", "create", "update", "delete",
            "unsubscribe", "complaint")},
        "open-minimal": {"id": EVENT_ID, "type": "open", "occurred_at": "2026-11-26T10:00:00Z",
                         "database": "db", "profile": "p1"},
        "open-recipient-only": raw_event("open", profile=None, ip="2001:db8::1"),
        "click-minimal": {"id": EVENT_ID, "type": "click", "occurred_at": OCCURRED_AT,
                          "database": "db", "recipient": "a@b.example", "url": "x"},
        "update-offset-time": raw_event("update", occurred_at="2026-11-26T11:00:00.5+01:00",
                                        fields={"city": "Gent"}),
        "update-unicode": raw_event("update", fields={"naam": "Chloé Ünal 👋", "city": "Köln"}),
        "delete-with-fields": raw_event("delete", fields={"email": "old@example.org"}),
        "subprofile-create": subprofile_edit("create"),
        "subprofile-update": subprofile_edit("update"),
        "subprofile-delete": subprofile_edit("delete"),
        "failure-async": raw_event("failure", code=None, extended=None, state="async"),
        "complaint-redacted": raw_event("complaint", recipient=None, source_ip="192.0.2.1"),
    }
