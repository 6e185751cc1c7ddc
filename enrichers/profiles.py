"""Profile snapshots follow the profile edit events (create, update, delete).

``apply_edit`` is the whole state machine of ``fl.ref.profiles``: given the snapshot the table
holds (or ``None``) and one validated ``profile-edit`` event, it returns the next snapshot, or
``None`` to write a tombstone. It never mutates its arguments, so a table value can be passed in
directly.

Rules (all documented on ``apply_edit``):

- create/update merges ``fields`` (keys in the event win, other keys stay) and replaces
  ``interests`` when the event carries them; ``email`` follows ``fields["email"]``.
- ``created`` is the event's ``created``, else kept, else (on create) the event time;
  ``modified`` is the event's ``modified``, else the event time.
- an event with ``subprofile`` edits only ``subprofiles[<id>]`` of its parent profile.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .errors import UnsupportedEvent

__all__ = ["PROFILE_EDIT_TYPES", "apply_edit"]

PROFILE_EDIT_TYPES: Final = frozenset({"create", "update", "delete"})
"""Raw event types that edit a profile or subprofile."""


def apply_edit(snapshot: Mapping[str, Any] | None,
               event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The profile snapshot after ``event``; ``None`` means "no profile" (write a tombstone).

    ``snapshot`` is the current value (``profile.json`` shape) or ``None`` when unknown;
    ``event`` is a validated ``create``/``update``/``delete`` raw event.

    - profile create/update: from ``None`` a new snapshot ``{id, database, fields}`` is started.
      ``fields`` are merged, ``interests`` replaced if given. If the event's fields contain
      ``email``, the snapshot's ``email`` becomes that value; an empty or null value removes it.
    - profile delete: ``None``.
    - subprofile create/update (event has ``subprofile``): only ``subprofiles[<id>]`` changes
      (``collection``, merged ``fields``, ``created``/``modified``). An unknown parent starts as
      ``{id, database, fields: {}}`` so the subprofile is not lost.
    - subprofile delete: that subprofile is removed; with no snapshot the result stays ``None``.

    Raises ``UnsupportedEvent`` for any other event type, or a subprofile edit without
    ``collection``.
    """
    etype = event.get("type")
    if etype not in PROFILE_EDIT_TYPES:
        raise UnsupportedEvent(f"apply_edit() takes create, update or delete events, got {etype!r}")
    subprofile = event.get("subprofile")
    if subprofile is not None:
        return _edit_subprofile(snapshot, event, str(subprofile))
    if etype == "delete":
        return None
    profile = dict(snapshot) if snapshot is not None else _new_profile(event)
    edited = event.get("fields")
    if edited:
        profile["fields"] = {**profile.get("fields", {}), **edited}
        if "email" in edited:
            email = edited["email"]
            if isinstance(email, str) and email:
                profile["email"] = email
            else:
                profile.pop("email", None)
    if "interests" in event:
        profile["interests"] = list(event["interests"])
    _stamp(profile, event)
    return profile


def _edit_subprofile(snapshot: Mapping[str, Any] | None, event: Mapping[str, Any],
                     subprofile: str) -> dict[str, Any] | None:
    deleting = event["type"] == "delete"
    if snapshot is None:
        if deleting:
            return None
        profile = _new_profile(event)
    else:
        profile = dict(snapshot)
    subprofiles: dict[str, Any] = dict(profile.get("subprofiles") or {})
    if deleting:
        subprofiles.pop(subprofile, None)
    else:
        current: Mapping[str, Any] = subprofiles.get(subprofile) or {}
        collection = event.get("collection") or current.get("collection")
        if not collection:
            raise UnsupportedEvent(
                f"subprofile edit of {subprofile!r} has no 'collection' (the contract requires it)")
        updated = dict(current)
        updated["collection"] = collection
        updated["fields"] = {**current.get("fields", {}), **(event.get("fields") or {})}
        _stamp(updated, event)
        subprofiles[subprofile] = updated
    profile["subprofiles"] = subprofiles
    return profile


def _new_profile(event: Mapping[str, Any]) -> dict[str, Any]:
    profile_id = event.get("profile")
    if not profile_id:
        raise UnsupportedEvent("profile edit event has no 'profile' (the contract requires it)")
    return {"id": profile_id, "database": event["database"], "fields": {}}


def _stamp(target: dict[str, Any], event: Mapping[str, Any]) -> None:
    created = event.get("created")
    if created is not None:
        target["created"] = created
    elif "created" not in target and event["type"] == "create":
        target["created"] = event["occurred_at"]
    target["modified"] = event.get("modified") or event["occurred_at"]
