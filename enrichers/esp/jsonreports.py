"""JSON notifications of bounces and complaints (Amazon SES style, optionally inside an SNS
envelope) as ``Bounce`` and ``Complaint`` values.

Shapes read (field names as SES documents them):

- ``{"notificationType": "Bounce" | "Complaint" | "Delivery", "bounce"|"complaint": {...},
  "mail": {...}}`` and the event-publishing form with ``"eventType"``;
- an SNS envelope ``{"Type": "Notification", "Message": "<one of the above as a string>"}``;
- a JSON array of any of these.

``mail.headers`` (when the sender asked for original headers) gives the ``X-FL-Ref`` values and
``mail.commonHeaders.messageId`` the Message-ID. A bounce's reason comes from the rule table
(status, diagnostic), else from SES's ``bounceSubType``; when neither gives one, SES's
``bounceType`` decides the class (``Permanent`` hard, ``Transient`` soft).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import orjson

from .arf import recipients_of
from .dsn import classified
from .mime import _collapsed, _date, _untyped
from .model import Bounce, Complaint, EspReportError
from .original import Original
from .refs import REF_HEADER
from .status import refined_status
from .taxonomy import BounceRules

__all__ = ["json_findings", "looks_like_json"]

_SUBTYPES: Final[Mapping[str, str]] = {
    "noemail": "user-unknown", "suppressed": "user-unknown",
    "onaccountsuppressionlist": "user-unknown", "mailboxfull": "mailbox-full",
    "messagetoolarge": "message-too-big", "contentrejected": "content-rejected",
    "attachmentrejected": "content-rejected",
}
_MAX_DEPTH: Final = 3


def looks_like_json(text: bytes) -> bool:
    """Whether ``text`` (stripped) is a JSON object or array."""
    stripped = text.strip()
    return stripped[:1] in (b"{", b"[")


def json_findings(text: bytes, rules: BounceRules) -> tuple[list[Complaint], list[Bounce],
                                                             list[str]]:
    """The complaints, bounces and notes of a JSON notification; raises ``EspReportError``
    when ``text`` is not JSON or holds no notification."""
    try:
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise EspReportError(f"the JSON notification does not parse: {exc}") from None
    complaints: list[Complaint] = []
    bounces: list[Bounce] = []
    notes: list[str] = []
    for item in _notifications(data, 0):
        kind = str(item.get("notificationType") or item.get("eventType") or "").lower()
        mail = _mapping(item.get("mail"))
        original = _original(mail)
        mime = text.decode("utf-8", "replace")[:200_000]
        if kind == "bounce":
            bounces += _bounces(_mapping(item.get("bounce")), original, rules, mime)
        elif kind == "complaint":
            complaints += _complaints(_mapping(item.get("complaint")), original)
        else:
            notes.append(f"a {kind or 'untyped'} notification (not a bounce or complaint)")
    if not (complaints or bounces or notes):
        raise EspReportError("a JSON document that holds no bounce or complaint notification "
                             "(notificationType / eventType)")
    return complaints, bounces, notes


def _notifications(data: Any, depth: int) -> list[Mapping[str, Any]]:
    """The notifications in ``data``: itself, an SNS envelope's message, an array's items."""
    if depth > _MAX_DEPTH:
        return []
    if isinstance(data, list):
        return [n for item in data for n in _notifications(item, depth + 1)]
    if not isinstance(data, dict):
        return []
    message = data.get("Message")
    if isinstance(message, str) and data.get("Type") == "Notification":
        try:
            return _notifications(orjson.loads(message), depth + 1)
        except orjson.JSONDecodeError:
            return []
    if "notificationType" in data or "eventType" in data:
        return [data]
    return []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _original(mail: Mapping[str, Any]) -> Original:
    """What ``mail`` tells of the message we sent: its X-FL-Ref and Message-ID headers."""
    headers = [h for h in mail.get("headers") or () if isinstance(h, dict)]
    refs = tuple(str(h.get("value", "")) for h in headers
                 if str(h.get("name", "")).lower() == REF_HEADER.lower())
    common = _mapping(mail.get("commonHeaders"))
    message_id = common.get("messageId") or next(
        (h.get("value") for h in headers if str(h.get("name", "")).lower() == "message-id"), None)
    if isinstance(message_id, str):
        message_id = message_id.strip().strip("<>") or None
    else:
        message_id = None
    return Original(bool(headers or common), refs, message_id)


def _when(value: Any) -> datetime | None:
    return _date(value) if isinstance(value, str) else None


def _bounces(bounce: Mapping[str, Any], original: Original, rules: BounceRules,
             mime: str) -> list[Bounce]:
    """One ``Bounce`` per ``bouncedRecipients`` entry."""
    bounce_type = str(bounce.get("bounceType") or "").lower()
    subtype = _SUBTYPES.get(str(bounce.get("bounceSubType") or "").lower())
    reporting = str(bounce.get("reportingMTA") or "").partition(";")[2].strip() or None
    found = []
    for entry in bounce.get("bouncedRecipients") or ():
        if not isinstance(entry, dict):
            continue
        address = next(iter(recipients_of([str(entry.get("emailAddress") or "")])), None)
        diagnostic = _collapsed(_untyped(str(entry.get("diagnosticCode") or "")))
        status, source = refined_status(str(entry.get("status") or ""), diagnostic)
        delayed = str(entry.get("action") or "").lower().startswith("delay") or (
            bounce_type == "transient" and str(entry.get("action") or "").lower() == "delayed")
        result = classified(
            rules, original=original, recipient=address,
            action="delayed" if delayed else "failed", status=status, status_source=source,
            diagnostic=diagnostic, context=None, remote_mta=None, reporting_mta=reporting,
            arrived_at=_when(bounce.get("timestamp")), envelope=None, fmt="ses-json",
            mime=mime)
        if result.reason == "unknown" and subtype:
            result = replace(result, reason=subtype,
                             bounce_class=rules.bounce_class(subtype, status, result.code,
                                                             delayed))
        if result.bounce_class == "unknown" and bounce_type in ("permanent", "transient"):
            result = replace(result,
                             bounce_class="hard" if bounce_type == "permanent" else "soft")
        found.append(result)
    return found


def _complaints(complaint: Mapping[str, Any], original: Original) -> list[Complaint]:
    """One ``Complaint`` per ``complainedRecipients`` entry (one without a recipient when the
    list is empty)."""
    addresses = recipients_of([str(e.get("emailAddress") or "")
                               for e in complaint.get("complainedRecipients") or ()
                               if isinstance(e, dict)])
    feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()[:64]
    base = Complaint(
        ref_values=original.ref_values, original=original.found, recipient=None,
        recipient_source=None, feedback_type=feedback_type, reporter="amazonses.com",
        user_agent=str(complaint.get("userAgent") or "") or None, source_ip=None,
        arrived_at=_when(complaint.get("arrivalDate")),
        reported_at=_when(complaint.get("timestamp")), message_id=original.message_id)
    return [replace(base, recipient=a, recipient_source="report") for a in addresses] or [base]
