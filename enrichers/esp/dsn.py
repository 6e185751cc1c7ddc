"""Delivery status notifications (RFC 3464) as ``Bounce`` values, and the classification every
bounce shares (:func:`classified`).

Decisions:

- A recipient whose ``Action`` is ``failed`` or ``delayed`` is a bounce (a delay is a soft
  bounce; it never counts as hard); ``delivered``, ``relayed`` and ``expanded`` are notes.
  A recipient without an ``Action`` is a failure when its status is 5.x.x, a delay when 4.x.x,
  and a note otherwise.
- The status is the ``Status`` field's unless that is missing or generic and the
  ``Diagnostic-Code`` names a specific one (:func:`.status.refined_status`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from .fieldblocks import first
from .mime import Fields, _collapsed, _date, _first, _first_address, _untyped
from .model import Bounce
from .original import Original
from .status import StatusSource, enhanced_status, refined_status, reply_code
from .taxonomy import BounceRules

__all__ = ["dsn_bounces", "classified"]

_DIAGNOSTIC_LIMIT = 2000


def dsn_bounces(per_message: Fields, recipients: list[Fields], carrier: Fields,
                original: Original, rules: BounceRules, mime: str,
                fmt: str = "dsn") -> tuple[list[Bounce], list[str]]:
    """A ``Bounce`` per failed or delayed recipient of a DSN, and a note per other one."""
    arrived_at = _date(first(per_message, "arrival-date")) or _date(_first(carrier, "date"))
    envelope = _first_address(carrier.get("to", ()))
    reporting_mta = _host(first(per_message, "reporting-mta"))
    bounces: list[Bounce] = []
    notes: list[str] = [] if recipients else ["a delivery-status report without recipients"]
    for block in recipients:
        recipient = (_first_address(block.get("final-recipient", ()))
                     or _first_address(block.get("original-recipient", ()))
                     or _first_address(block.get("x-actual-recipient", ())))
        action = _action(block)
        if action is None:
            what = first(block, "action")
            notes.append(f"recipient {recipient or '(unnamed)'}: "
                         + (f"action {what.split()[0].lower()} (not a bounce)" if what
                            else "no Action field"))
            continue
        diagnostic = _collapsed(_untyped(first(block, "diagnostic-code")))
        status, source = refined_status(first(block, "status"), diagnostic)
        bounces.append(classified(
            rules, original=original, recipient=recipient, action=action, status=status,
            status_source=source, diagnostic=diagnostic, context=None,
            remote_mta=_host(first(block, "remote-mta")), reporting_mta=reporting_mta,
            arrived_at=arrived_at, envelope=envelope, fmt=fmt, mime=mime))
    return bounces, notes


def classified(rules: BounceRules, *, original: Original, recipient: str | None,
               action: Literal["failed", "delayed"], status: str | None,
               status_source: StatusSource | None, diagnostic: str | None,
               context: str | None, remote_mta: str | None, reporting_mta: str | None,
               arrived_at: datetime | None, envelope: str | None, fmt: str,
               mime: str) -> Bounce:
    """A ``Bounce`` with its reason and class decided by ``rules`` from the status, the reply
    code and the diagnostic; ``context`` (a whole notice's text) is consulted when the
    diagnostic alone gives no reason."""
    diagnostic = diagnostic[:_DIAGNOSTIC_LIMIT] if diagnostic else None
    code = reply_code(diagnostic)
    reason = rules.reason(status, code, diagnostic or "")
    if reason == "unknown" and context:
        reason = rules.reason(status, code, context)
    delayed = action == "delayed"
    return Bounce(
        ref_values=original.ref_values, original=original.found, recipient=recipient,
        action=action, status=status, status_source=status_source, code=code,
        diagnostic=diagnostic, bounce_class=rules.bounce_class(reason, status, code, delayed),
        reason=reason, remote_mta=remote_mta, reporting_mta=reporting_mta,
        arrived_at=arrived_at, message_id=original.message_id, envelope=envelope,
        format=fmt, mime=mime)


def _action(block: Fields) -> Literal["failed", "delayed"] | None:
    """The block's action as a bounce action, ``None`` when it is not a bounce."""
    words = (first(block, "action") or "").split()
    if words:
        word = words[0].lower()
        if word.startswith("fail"):
            return "failed"
        if word.startswith("delay"):
            return "delayed"
        return None
    status = enhanced_status(first(block, "status"))
    if status is None:
        return None
    return "failed" if status.startswith("5") else ("delayed" if status.startswith("4") else None)


def _host(value: str | None) -> str | None:
    """The host of a ``dns; host`` field (first word), ``None`` when empty."""
    untyped = _untyped(value)
    return untyped.split()[0][:255] if untyped else None
