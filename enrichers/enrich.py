"""Raw event + profile snapshot + mailing tags -> the payload a loop receives.

Field names are Copernica's (``notes/copernica-payloads.md``) so existing receiving scripts keep
working: ``id`` is the message id (our event id when the event has no message), ``timestamp`` is
``YYYY-MM-DD HH:MM:SS`` in UTC, ``time`` unix seconds, a click's URL is ``original``. Profile
events' ``created``/``modified`` use the ``timestamp`` format too. On top of those, every payload
carries ``event_id`` (our raw event id), ``email``, ``fields``, ``interests``, ``tags``,
``database``, ``profile`` and ``mailing`` where known, and ``profile_known``. Keys whose value
would be ``None`` are left out.

Which profile the payload describes:

- ``profile`` is the snapshot as the table held it *before* the event (``None`` = unknown). For
  profile edits the edit is applied here (``apply_edit``), so ``fields``/``interests``/``email``
  are the edited state; passing the snapshot *after* the edit gives the same payload, except for
  a delete, whose ``fields`` are the ones the profile had (which only the earlier snapshot knows).
- ``profile_known`` is False when the event names a profile the table does not have (an update
  or delete of an unknown profile, an event for a profile not yet seen). The event is delivered
  anyway with what is known; the caller counts it.

Subprofile fields (decision): ``fields`` always holds the fields of the thing the event is
about. For a subprofile create/update/delete that is the *subprofile's* fields (as Copernica
sent them), while ``email`` and ``interests`` still come from the parent profile. Every other
event carries the *profile's* fields, even when it names a subprofile: a subprofile's fields are
never mixed into a profile's, so a loop's ``fields`` selection means one namespace per payload.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final, NamedTuple

from schemas.formats import parse_rfc3339

from .errors import UnsupportedEvent
from .profiles import PROFILE_EDIT_TYPES, apply_edit
from .tags import tags_for

__all__ = ["EVENT_FIELDS", "enrich", "copernica_time"]

EVENT_FIELDS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "open": (("ip", "ip"), ("useragent", "useragent"), ("referer", "referer"),
             ("headers", "headers")),
    "click": (("ip", "ip"), ("url", "original"), ("link", "link"), ("useragent", "useragent"),
              ("referer", "referer"), ("headers", "headers")),
    "bounce": (("envelope", "envelope"), ("mime", "mime"), ("action", "action"),
               ("status", "status"), ("code", "code"), ("diagnostic", "diagnostic"),
               ("bounce_class", "bounce_class"), ("reason", "reason"),
               ("remote_mta", "remote_mta"), ("reporting_mta", "reporting_mta"),
               ("format", "format"), ("mapped_by", "mapped_by")),
    "failure": (("action", "action"), ("state", "state"), ("code", "code"),
                ("extended", "extended"), ("description", "description")),
    "delivery": (("code", "code"), ("extended", "extended"), ("description", "description")),
    "create": (("parameters", "parameters"),),
    "update": (("parameters", "parameters"),),
    "delete": (),
    "unsubscribe": (("source", "source"),),
    "complaint": tuple((name, name) for name in (
        "feedback_type", "reporter", "source_ip", "recipient_source", "occurred_at_source",
        "user_agent", "original_mail_from", "original_envelope_id", "reported_domain",
        "reported_uri", "incidents", "auth_failure", "authentication_results",
        "delivery_result", "dkim_domain", "dkim_identity", "dkim_selector",
        "identity_alignment")),
}
"""Per event type: (raw event key, payload key) copied from the raw event."""

# Events about one sent message: their ``recipient`` falls back to the profile's address.
_MESSAGE_TYPES: Final = frozenset({"open", "click", "bounce", "failure", "delivery", "complaint"})


def copernica_time(value: str) -> str:
    """An RFC 3339 date-time as Copernica's ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return _utc_text(parse_rfc3339(value).astimezone(timezone.utc))


def enrich(event: Mapping[str, Any], profile: Mapping[str, Any] | None,
           mailing_tags: Mapping[str, Any] | None) -> dict[str, Any]:
    """The outgoing payload for a validated raw ``event``.

    ``profile`` is the event's profile snapshot before the event (``None`` when the table has
    none), ``mailing_tags`` the ``tags.json`` record of its mailing (``None`` when unknown). The
    result shares nothing mutable with the arguments. Raises ``UnsupportedEvent`` for a type that
    is not a raw event type.
    """
    etype = event["type"]
    copied = EVENT_FIELDS.get(etype)
    if copied is None:
        raise UnsupportedEvent(f"enrich() got an event of unknown type {etype!r}")
    occurred = parse_rfc3339(event["occurred_at"]).astimezone(timezone.utc)
    about = _edited(event, profile) if etype in PROFILE_EDIT_TYPES else _Subject(
        profile, profile.get("fields") if profile is not None else None, None, None,
        profile is not None or not event.get("profile"))
    view = about.view if about.view is not None else {}
    email = view.get("email") or event.get("recipient")
    recipient = event.get("recipient")
    if recipient is None and etype in _MESSAGE_TYPES:
        recipient = email
    interests = view.get("interests")

    payload: dict[str, Any] = {
        "id": event.get("message") or event["id"],
        "event_id": event["id"],
        "type": etype,
        "timestamp": _utc_text(occurred),
        "time": int(occurred.timestamp()),
        "recipient": recipient,
    }
    for source, target in copied:
        value = event.get(source)
        payload[target] = (dict(value) if isinstance(value, dict)
                           else list(value) if isinstance(value, list) else value)
    payload.update(
        created=about.created,
        modified=about.modified,
        database=event["database"],
        collection=event.get("collection"),
        profile=event.get("profile") or view.get("id"),
        subprofile=event.get("subprofile"),
        mailing=event.get("mailing"),
        email=email,
        fields=dict(about.fields) if about.fields is not None else None,
        interests=list(interests) if interests is not None else None,
        tags=tags_for(event, mailing_tags),
        profile_known=about.known,
    )
    return {key: value for key, value in payload.items() if value is not None}


class _Subject(NamedTuple):
    """What the payload says about the profile: snapshot view, fields, stamps, known."""

    view: Mapping[str, Any] | None
    fields: Mapping[str, Any] | None
    created: str | None
    modified: str | None
    known: bool


def _edited(event: Mapping[str, Any], before: Mapping[str, Any] | None) -> _Subject:
    subprofile = event.get("subprofile")
    if event["type"] == "delete":
        # The fields as they were: the snapshot's (or the subprofile's), overlaid with any the
        # producer sent along. Copernica's delete payload has no created/modified.
        target = before
        if before is not None and subprofile is not None:
            target = (before.get("subprofiles") or {}).get(subprofile)
        kept = target.get("fields") if target is not None else None
        fields = {**(kept or {}), **(event.get("fields") or {})}
        return _Subject(before, fields, None, None, before is not None)
    view = apply_edit(before, event)
    if view is None:  # pragma: no cover - apply_edit always returns a snapshot for create/update
        raise UnsupportedEvent(f"{event['type']} of {event.get('profile')!r} left no profile")
    target = view if subprofile is None else view["subprofiles"][subprofile]
    known = before is not None or (event["type"] == "create" and subprofile is None)
    return _Subject(view, target["fields"], _optional_time(target.get("created")),
                    _optional_time(target.get("modified")), known)


def _optional_time(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            return copernica_time(value)
        except ValueError:
            pass
    return None


def _utc_text(moment: datetime) -> str:
    # isoformat pads the year to 4 digits, as Copernica's format does; one C call per event
    return moment.isoformat(" ", "seconds")[:19]
