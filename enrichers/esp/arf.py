"""Feedback reports as ``Complaint`` values: ARF (RFC 5965, with RFC 6591 authentication
failure and RFC 7489 DMARC fields) and Microsoft's JMRP.

Decisions:

- One ``Complaint`` per distinct reported recipient (each ``Original-Rcpt-To``); a report
  whose recipients are all missing or redacted gives one complaint without a recipient.
- An ARF report's recipient comes only from ``Original-Rcpt-To``: the returned message's
  ``To`` may be a list or another person, and the profile is mapped by ``X-FL-Ref`` anyway.
  A JMRP report has no report fields, so its recipient is Microsoft's
  ``X-HmXmrOriginalRecipient`` or, marked ``recipient_source="original-to"``, the ``To``.
- ``arrived_at`` is ``Arrival-Date`` (or the older ``Received-Date``), else ``None``; the
  report's own ``Date`` is kept apart as ``reported_at``.
- ``Source-IP`` may carry a comment (``192.0.2.1 (mail.example.com)``): the first address-
  shaped word is taken.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import replace
from email.utils import getaddresses
from typing import Final, Literal

from .fieldblocks import first, values
from .mime import Fields, _date, _first, _from_domain, _untyped
from .model import Complaint
from .original import Original

__all__ = ["arf_complaints", "jmrp_complaint", "recipients_of"]

_REDACTED_LOCAL_PART: Final = re.compile(r"[xX*#._-]+")
_IP_WORD: Final = re.compile(r"[\[(]?([0-9A-Fa-f:.]+)[\])]?")


def arf_complaints(fields: Fields, carrier: Fields, original: Original) -> list[Complaint]:
    """The complaints of one feedback report: ``fields`` its report fields, ``carrier`` the
    header of the message that carries it."""
    feedback_type = ((first(fields, "feedback-type") or "other").split() or ["other"])[0]
    incidents = first(fields, "incidents")
    base = Complaint(
        ref_values=original.ref_values, original=original.found, recipient=None,
        recipient_source=None,
        feedback_type=feedback_type.lower()[:64], reporter=_reporter(fields, carrier),
        user_agent=first(fields, "user-agent"), source_ip=source_ip(first(fields, "source-ip")),
        arrived_at=_date(first(fields, "arrival-date")) or _date(first(fields, "received-date")),
        reported_at=_date(_first(carrier, "date")), message_id=original.message_id,
        original_mail_from=_address(first(fields, "original-mail-from")),
        original_envelope_id=first(fields, "original-envelope-id"),
        reported_domain=tuple(dict.fromkeys(v.lower() for v in values(fields, "reported-domain"))),
        reported_uri=tuple(dict.fromkeys(values(fields, "reported-uri"))),
        incidents=int(incidents) if incidents and incidents.strip().isdigit() else None,
        auth_failure=first(fields, "auth-failure"),
        authentication_results=first(fields, "authentication-results"),
        delivery_result=first(fields, "delivery-result"),
        dkim_domain=first(fields, "dkim-domain"), dkim_identity=first(fields, "dkim-identity"),
        dkim_selector=first(fields, "dkim-selector"),
        identity_alignment=first(fields, "identity-alignment"))
    found = recipients_of(values(fields, "original-rcpt-to", "removal-recipient"))
    return [replace(base, recipient=address, recipient_source="report")
            for address in found] or [base]


def jmrp_complaint(carrier: Fields, original_fields: Fields, original: Original) -> Complaint:
    """The complaint of one JMRP attached message (see the module docstring)."""
    reported = recipients_of(original_fields.get("x-hmxmroriginalrecipient", ()))
    to = recipients_of(original_fields.get("to", ()))
    recipient = next(iter(reported or to), None)
    source: Literal["report", "original-to"] | None = (
        "report" if reported else ("original-to" if to else None))
    return Complaint(ref_values=original.ref_values, original=original.found,
                     recipient=recipient, recipient_source=source,
                     feedback_type="abuse", reporter=_from_domain(carrier), user_agent=None,
                     source_ip=None, arrived_at=None, reported_at=_date(_first(carrier, "date")),
                     message_id=original.message_id)


def _reporter(fields: Fields, carrier: Fields) -> str | None:
    """Who reported: Reporting-MTA's host, else User-Agent, else the report's From domain."""
    mta = _untyped(first(fields, "reporting-mta"))
    if mta:
        return mta.split()[0][:255]
    return first(fields, "user-agent") or _from_domain(carrier)


def recipients_of(raw: Sequence[str]) -> list[str]:
    """The distinct unredacted addresses in ``raw`` field values, in order."""
    found: dict[str, str] = {}
    for value in raw:
        for _, address in getaddresses([_untyped(value) or ""]):
            if _unredacted(address):
                found.setdefault(address.lower(), address)
    return list(found.values())


def _address(value: str | None) -> str | None:
    """The bare address of a field value such as ``<bounce@example.com>``."""
    addresses = [a for _, a in getaddresses([_untyped(value) or ""]) if a]
    return addresses[0] if addresses else None


def _unredacted(address: str) -> bool:
    """False for a provider's stand-in: no ``@``, "redacted", or a local part all x/*."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not domain or "redacted" in address.lower():
        return False
    return bool(local) and not _REDACTED_LOCAL_PART.fullmatch(local)


def source_ip(value: str | None) -> str | None:
    """``value``'s first IP address (a comment or brackets around it are allowed),
    normalised; ``None`` when there is none."""
    for word in (value or "").split():
        match = _IP_WORD.fullmatch(word.strip(",;"))
        if match is None:
            continue
        try:
            return str(ipaddress.ip_address(match.group(1)))
        except ValueError:
            continue
    return None
