"""Faust records mirroring the JSON Schema contracts, one class per schema (object) shape.

The schema files are the contract; these classes give Faust agents and tables typed access to
the same documents. ``tests/schemas/test_records_match_schemas.py`` proves that every class has
exactly its schema's properties and that a property is required in the schema exactly when the
field here is neither Optional nor defaulted. Validate with ``schemas.validation`` before building
a record: Faust does not check values.

Records serialize as plain JSON without Faust's ``__faust`` metadata (``include_metadata=False``),
and leave out fields that are ``None``, so a serialized record of a valid document is again a
valid document of its schema (which rejects unknown properties and most ``null`` values).
Nested records are coerced lazily by Faust, on first attribute access.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import faust

__all__ = [
    "Scalar",
    "Contract",
    "RawEvent",
    "OpenEvent",
    "ClickEvent",
    "BounceEvent",
    "FailureEvent",
    "DeliveryEvent",
    "ProfileEditEvent",
    "UnsubscribeEvent",
    "ComplaintEvent",
    "SubprofileSnapshot",
    "ProfileSnapshot",
    "MailingLink",
    "MailingTags",
    "LoopBatch",
    "LoopSecret",
    "LoopValidation",
    "LoopDefinition",
    "RECORD_FOR_EVENT_TYPE",
    "RECORD_FOR_SCHEMA",
]

Scalar = str | int | float | bool | None
"""A (sub)profile field value."""


class Contract(faust.Record, abstract=True, include_metadata=False, serializer="json"):
    """Base of every record here: plain JSON, no Faust metadata, no ``null`` for unset fields."""

    def to_representation(self) -> dict[str, Any]:
        """The record as its schema's document: fields that are ``None`` are left out.

        The schemas reject ``null`` for most optional properties (absent is the way to say
        "unknown"); where a schema allows ``null`` it also treats absent as ``null``.
        """
        return {key: value for key, value in self.asdict().items() if value is not None}


# ---------------------------------------------------------------------------------- raw events

class RawEvent(Contract, abstract=True):
    """Fields every raw event has (``schemas/*.json`` of the raw event families).

    ``profile`` is declared by the subclasses: optional (with ``recipient`` as the alternative)
    everywhere except in profile edits, where it is required.
    """

    id: str
    type: str
    occurred_at: str
    database: str
    collection: str | None = None
    subprofile: str | None = None
    recipient: str | None = None
    mailing: str | None = None
    message: str | None = None


class _AddressedEvent(RawEvent, abstract=True):
    """An event about a profile or a bare recipient: at least one of the two is set."""

    profile: str | None = None


class _TrackedEvent(_AddressedEvent, abstract=True):
    """Fields of a tracked HTTP request (opens and clicks)."""

    ip: str | None = None
    useragent: str | None = None
    referer: str | None = None
    headers: dict[str, str] | None = None


class OpenEvent(_TrackedEvent):
    """``open.json``: a recipient opened a mailing."""


class ClickEvent(_TrackedEvent):
    """``click.json``: a recipient clicked a tracked link; ``url`` is the original URL."""

    url: str
    link: str | None = None


class BounceEvent(_AddressedEvent):
    """``bounce.json``: something came back to the envelope address."""

    envelope: str | None = None
    mime: str | None = None


class FailureEvent(_AddressedEvent):
    """``failure.json``: a synchronous or asynchronous delivery error."""

    action: str | None = None
    state: str | None = None
    code: int | None = None
    extended: str | None = None
    description: str | None = None


class DeliveryEvent(_AddressedEvent):
    """``delivery.json``: the receiving server accepted the message."""

    code: int | None = None
    extended: str | None = None
    description: str | None = None


class ProfileEditEvent(RawEvent):
    """``profile-edit.json``: create, update or delete of a profile or (with ``subprofile``) a
    subprofile. ``fields`` is required by the schema for create and update only."""

    profile: str
    fields: dict[str, Scalar] | None = None
    interests: list[str] | None = None
    parameters: dict[str, Scalar] | None = None
    created: str | None = None
    modified: str | None = None


class UnsubscribeEvent(_AddressedEvent):
    """``unsubscribe.json``: a recipient unsubscribed."""


class ComplaintEvent(_AddressedEvent):
    """``complaint.json``: a spam complaint mapped back to a profile."""

    feedback_type: str | None = None
    reporter: str | None = None
    source_ip: str | None = None


# ---------------------------------------------------------------------------------- profiles

class SubprofileSnapshot(Contract):
    """One subprofile inside a ``ProfileSnapshot``."""

    collection: str
    fields: dict[str, Scalar]
    created: str | None = None
    modified: str | None = None


class ProfileSnapshot(Contract):
    """``profile.json``: a profile as held in ``fl.ref.profiles`` (key = profile id)."""

    id: str
    database: str
    fields: dict[str, Scalar]
    collection: str | None = None
    email: str | None = None
    interests: list[str] | None = None
    created: str | None = None
    modified: str | None = None
    subprofiles: dict[str, SubprofileSnapshot] | None = None


# ---------------------------------------------------------------------------------- tags

class MailingLink(Contract):
    """A tracked link of a mailing: its original URL and tags."""

    url: str
    tags: list[str]


class MailingTags(Contract):
    """``tags.json``: the tags of a mailing and of its links (``fl.ref.tags``, key = mailing id)."""

    id: str
    tags: list[str]
    links: dict[str, MailingLink] | None = None


# ---------------------------------------------------------------------------------- loops

class LoopBatch(Contract):
    """json-batch limits: at most ``max_events`` per call, waiting at most ``max_wait_ms``."""

    max_events: int
    max_wait_ms: int


class LoopSecret(Contract):
    """A signing secret (``whsec_...``); signs until ``expires_at`` (unix seconds, None = never)."""

    secret: str
    expires_at: float | None = None


class LoopValidation(Contract):
    """URL ownership validation state; the loop is validated when ``validated_at`` is set."""

    file_name: str
    content: str
    validated_at: float | None = None
    validated_url: str | None = None
    method: str | None = None


# Shared by every LoopDefinition that does not name its own batch: treat records as immutable.
_DEFAULT_BATCH: Final = LoopBatch(max_events=100, max_wait_ms=1000)


class LoopDefinition(Contract):
    """``loop.json``: a feedback loop (``fl.loops``, key = loop id). Defaults match the schema's."""

    id: str
    url: str
    events: list[str]
    secrets: list[LoopSecret]
    created_at: float
    updated_at: float
    version: int
    database: str | None = None
    collection: str | None = None
    encoding: str = "json"
    fields: list[str] | None = None
    batch: LoopBatch = _DEFAULT_BATCH
    rate_per_s: float = 50.0
    max_in_flight: int = 10
    timeout_s: float = 10.0
    status: str = "enabled"
    disabled_reason: str | None = None
    validation: LoopValidation | None = None


RECORD_FOR_EVENT_TYPE: Final[Mapping[str, type[RawEvent]]] = MappingProxyType({
    "open": OpenEvent,
    "click": ClickEvent,
    "bounce": BounceEvent,
    "failure": FailureEvent,
    "delivery": DeliveryEvent,
    "create": ProfileEditEvent,
    "update": ProfileEditEvent,
    "delete": ProfileEditEvent,
    "unsubscribe": UnsubscribeEvent,
    "complaint": ComplaintEvent,
})
"""Raw event ``type`` -> its record class."""

RECORD_FOR_SCHEMA: Final[Mapping[str, type[Contract]]] = MappingProxyType({
    "open.json": OpenEvent,
    "click.json": ClickEvent,
    "bounce.json": BounceEvent,
    "failure.json": FailureEvent,
    "delivery.json": DeliveryEvent,
    "profile-edit.json": ProfileEditEvent,
    "unsubscribe.json": UnsubscribeEvent,
    "complaint.json": ComplaintEvent,
    "profile.json": ProfileSnapshot,
    "tags.json": MailingTags,
    "loop.json": LoopDefinition,
})
"""Schema file -> the record class mirroring its top-level object."""
