"""Raw events and profile actions made from ESP findings and one-click unsubscribes, as dicts.

Ids are uuid5 of a seed that identifies the source (a report's bytes and the finding's index,
or an unsubscribe reference), so the same input always gives the same ids and the same
delivery ids downstream (receivers de-duplicate by ``webhook-id``).

A profile action (``fl.profile-actions``, keyed by profile id) tells the platform to apply a
database's behaviour: ``{"id", "action": "remove"|"update", "database", "profile", ...,
"fields"?, "reason", "event_id", "occurred_at"}``; ``reason`` is ``complaint``, ``opt-out``,
``one-click``, ``hard-bounce`` or ``soft-bounce-limit``.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from enrichers.esp import Bounce, Complaint, ProfileRef

__all__ = ["ESP_NAMESPACE", "event_id", "rfc3339", "ref_fields", "complaint_event",
           "bounce_event", "unsubscribe_event", "profile_action"]

#: uuid5 namespace of every id derived from a report or an unsubscribe reference
ESP_NAMESPACE = uuid.UUID("0b9d6c1e-5c8e-4f38-9a55-0d2f8f1f6a42")

_COMPLAINT_TEXT = ("user_agent", "original_mail_from", "original_envelope_id", "auth_failure",
                   "authentication_results", "delivery_result", "dkim_domain",
                   "dkim_identity", "dkim_selector", "identity_alignment")


def event_id(seed: str, what: str) -> str:
    return str(uuid.uuid5(ESP_NAMESPACE, f"{seed}|{what}"))


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"))


def ref_fields(ref: ProfileRef) -> dict[str, str]:
    fields = {"database": ref.database, "collection": ref.collection, "profile": ref.profile,
              "subprofile": ref.subprofile, "mailing": ref.mailing}
    return {k: v for k, v in fields.items() if v is not None}


def _base(kind: str, seed: str, occurred: datetime, ref: ProfileRef,
          finding: Complaint | Bounce) -> dict[str, Any]:
    event: dict[str, Any] = {"id": event_id(seed, kind), "type": kind,
                             "occurred_at": rfc3339(occurred), **ref_fields(ref)}
    if finding.recipient:
        event["recipient"] = finding.recipient
    if finding.message_id:
        event["message"] = finding.message_id[:998]
    return event


def complaint_event(finding: Complaint, ref: ProfileRef, seed: str,
                    received: datetime) -> dict[str, Any]:
    """The ``complaint`` event of one reported recipient; ``occurred_at`` is the report's
    Arrival-Date, else its Date, else ``received`` (``occurred_at_source`` says which)."""
    occurred, source = ((finding.arrived_at, "arrival-date") if finding.arrived_at
                        else (finding.reported_at, "report-date") if finding.reported_at
                        else (received, "received"))
    event = _base("complaint", seed, occurred, ref, finding)
    event["feedback_type"] = finding.feedback_type[:64]
    event["occurred_at_source"] = source
    if finding.reporter:
        event["reporter"] = finding.reporter[:255]
    if finding.source_ip:
        event["source_ip"] = finding.source_ip
    if finding.recipient and finding.recipient_source:
        event["recipient_source"] = finding.recipient_source
    for name in _COMPLAINT_TEXT:
        value = getattr(finding, name)
        if value:
            event[name] = value[:255 if name == "user_agent" else 998]
    if finding.reported_domain:
        event["reported_domain"] = [d[:255] for d in finding.reported_domain[:20]]
    if finding.reported_uri:
        event["reported_uri"] = [u[:998] for u in finding.reported_uri[:20]]
    if finding.incidents is not None:
        event["incidents"] = finding.incidents
    return event


def bounce_event(finding: Bounce, ref: ProfileRef, seed: str, received: datetime,
                 mapped_by: str) -> dict[str, Any]:
    """The ``bounce`` event of one failed or delayed recipient."""
    event = _base("bounce", seed, finding.arrived_at or received, ref, finding)
    event.update(action=finding.action, bounce_class=finding.bounce_class,
                 reason=finding.reason[:64], format=finding.format[:32], mapped_by=mapped_by,
                 mime=finding.mime[:200_000])
    optional = {"status": finding.status, "code": finding.code,
                "diagnostic": finding.diagnostic[:2000] if finding.diagnostic else None,
                "remote_mta": (finding.remote_mta or "")[:255] or None,
                "reporting_mta": (finding.reporting_mta or "")[:255] or None,
                "envelope": (finding.envelope or "")[:998] or None}
    event.update({k: v for k, v in optional.items() if v is not None})
    return event


def unsubscribe_event(ref: ProfileRef, seed: str, occurred_at: str, source: str,
                      recipient: str | None = None,
                      message: str | None = None) -> dict[str, Any]:
    """An ``unsubscribe`` event we make (``source``: complaint, opt-out, one-click)."""
    event: dict[str, Any] = {"id": event_id(seed, "unsubscribe"), "type": "unsubscribe",
                             "occurred_at": occurred_at, "source": source, **ref_fields(ref)}
    if recipient:
        event["recipient"] = recipient
    if message:
        event["message"] = message[:998]
    return event


def profile_action(ref: ProfileRef, behaviour: str, fields: dict[str, str], reason: str,
                   seed: str, event: dict[str, Any]) -> dict[str, Any]:
    """The ``fl.profile-actions`` document for ``behaviour`` (remove or update), caused by
    ``event``."""
    action: dict[str, Any] = {"id": event_id(seed, "action"), "action": behaviour,
                              **ref_fields(ref), "reason": reason, "event_id": event["id"],
                              "occurred_at": event["occurred_at"]}
    if "feedback_type" in event:
        action["feedback_type"] = event["feedback_type"]
    if behaviour == "update":
        action["fields"] = dict(fields)
    return action
