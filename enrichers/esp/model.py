"""The values of :mod:`enrichers.esp`: what a report yields, what an e-mail was sent for, and the
one exception.

``EspReportError`` is raised for a message that is not a usable report and for an ``X-FL-Ref``
value that is not valid. ``ProfileRef`` is here rather than in :mod:`.refs` because mapping
uses it and :mod:`.refs` raises ``EspReportError``.

Findings are parsed first and mapped second: a ``Complaint`` or ``Bounce`` carries the
``X-FL-Ref`` values found in the returned original (``ref_values``, unchecked) and whether an
original was returned at all (``original``); :func:`.refs.resolve_ref` turns them into a
``ProfileRef`` or a reason why not.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..errors import EnrichersError
from .taxonomy import BounceClass

__all__ = ["EspReportError", "ProfileRef", "Complaint", "Bounce", "ParsedReport", "ReportKind"]

ReportKind = Literal["arf", "jmrp", "dsn", "text", "json", "multiple"]


class EspReportError(EnrichersError, ValueError):
    """The message is not a usable report, or an ``X-FL-Ref`` value is not valid.

    ``str(exc)`` says why, in words a person can act on. A ``ValueError`` (as specified) and
    an ``EnrichersError`` (the package's root), so either ``except`` catches it.
    """


@dataclass(frozen=True, slots=True)
class ProfileRef:
    """What an e-mail was sent for: always a database, the rest when known."""

    database: str
    profile: str | None = None
    mailing: str | None = None
    collection: str | None = None
    subprofile: str | None = None


@dataclass(frozen=True, slots=True)
class Complaint:
    """One reported recipient of a feedback report (ARF, JMRP, or a JSON notification).

    ``recipient`` comes from the report (``Original-Rcpt-To``, Microsoft's
    ``X-HmXmrOriginalRecipient``, a JSON ``complainedRecipients`` entry); only a JMRP report,
    which has no such field, falls back to the returned message's ``To``, and then
    ``recipient_source`` says ``"original-to"``. ``None`` when missing or redacted.
    ``arrived_at`` is the report's ``Arrival-Date`` (or ``Received-Date``) only; the report's
    own ``Date`` is ``reported_at``. ``feedback_type`` is lowercased (``abuse``, ``fraud``,
    ``virus``, ``other``, ``not-spam``, ``auth-failure``, ``opt-out``...). The remaining fields
    are the RFC 5965 / 6591 / 7489 fields of the same name, ``None`` (or empty) when absent.
    """

    ref_values: tuple[str, ...]
    original: bool
    recipient: str | None
    recipient_source: Literal["report", "original-to"] | None
    feedback_type: str
    reporter: str | None
    user_agent: str | None
    source_ip: str | None
    arrived_at: datetime | None
    reported_at: datetime | None
    message_id: str | None
    original_mail_from: str | None = None
    original_envelope_id: str | None = None
    reported_domain: tuple[str, ...] = ()
    reported_uri: tuple[str, ...] = ()
    incidents: int | None = None
    auth_failure: str | None = None
    authentication_results: str | None = None
    delivery_result: str | None = None
    dkim_domain: str | None = None
    dkim_identity: str | None = None
    dkim_selector: str | None = None
    identity_alignment: str | None = None


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient a delivery report names as failed or delayed.

    ``action`` is ``failed`` or ``delayed``. ``status`` is the enhanced status code
    (``5.1.1``), refined from the diagnostic when the report's is generic (``status_source``
    says which); ``code`` the SMTP reply code. ``bounce_class`` and ``reason`` are
    :mod:`.taxonomy`'s. ``format`` names how the bounce was read (``dsn``, ``postfix``,
    ``qmail``, ``exim``, ``sendmail``, ``courier``, ``exchange``, ``gmail``, ``ses-json``...).
    ``mime`` is the whole report (LF line ends, at most 200,000 characters) so the ``bounce``
    event can carry it as Copernica's did.
    """

    ref_values: tuple[str, ...]
    original: bool
    recipient: str | None
    action: Literal["failed", "delayed"]
    status: str | None
    status_source: Literal["status", "diagnostic", "text"] | None
    code: int | None
    diagnostic: str | None
    bounce_class: BounceClass
    reason: str
    remote_mta: str | None
    reporting_mta: str | None
    arrived_at: datetime | None
    message_id: str | None
    envelope: str | None
    format: str
    mime: str


@dataclass(frozen=True, slots=True)
class ParsedReport:
    """Everything one received message reported.

    ``kind`` is ``"multiple"`` when the message held more than one report. ``skipped`` notes
    what was read but is not a finding (a recipient that was delivered, an attachment that is
    no report), for logs and the operator.
    """

    kind: ReportKind
    complaints: tuple[Complaint, ...]
    bounces: tuple[Bounce, ...]
    skipped: tuple[str, ...]
