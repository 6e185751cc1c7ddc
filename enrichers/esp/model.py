"""The values of :mod:`enrichers.esp`: what a report yields, what an e-mail was sent for, and the
one exception.

``EspReportError`` is raised for a message that is not a usable report and for an ``X-FL-Ref``
value that is not valid. ``ProfileRef`` is here rather than in :mod:`.refs` because
``Complaint`` and ``Bounce`` hold one, and :mod:`.refs` raises ``EspReportError``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..errors import EnrichersError

__all__ = ["EspReportError", "ProfileRef", "Complaint", "Bounce", "ParsedReport"]

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
    """One spam complaint (ARF or JMRP) about one e-mail we sent.

    ``ref`` is ``None`` when the returned message has no valid ``X-FL-Ref``; ``ref_problem``
    then says why. ``recipient`` is ``None`` when missing or redacted by the provider.
    """

    ref: ProfileRef | None
    ref_problem: str | None
    recipient: str | None
    feedback_type: str
    reporter: str | None
    source_ip: str | None
    arrived_at: datetime | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class Bounce:
    """One failed recipient of a DSN; ``mime`` is the whole DSN (LF line ends, at most
    200,000 characters) so the ``bounce`` event can carry it as Copernica's did."""

    ref: ProfileRef | None
    ref_problem: str | None
    recipient: str | None
    action: str
    status: str | None
    diagnostic: str | None
    remote_mta: str | None
    arrived_at: datetime | None
    message_id: str | None
    envelope: str | None
    mime: str


@dataclass(frozen=True, slots=True)
class ParsedReport:
    """Everything one received message reported.

    ``kind`` is ``"multiple"`` when the message held more than one report (each JMRP attached
    message counts as one). ``skipped`` notes what was read but is not an event (a delayed
    recipient, an attachment that is no report), for logs and the operator.
    """

    kind: Literal["arf", "jmrp", "dsn", "multiple"]
    complaints: tuple[Complaint, ...]
    bounces: tuple[Bounce, ...]
    skipped: tuple[str, ...]
