"""JSON Schema contracts for raw events, profiles, tags and loops, and the records mirroring
them. Imports nothing of ours.

The ``*.json`` files in this package are the contract with producers; ``schemas.validation``
parses and validates against them, ``schemas.records`` mirrors them as Faust records.

``schemas.records`` (and so Faust) is imported on first use of a record name, so that
``enrichers`` can use this package without pulling Faust in.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contracts import (RAW_EVENT_SCHEMAS, REFERENCE_SCHEMAS, SCHEMA_FILES, inline_refs,
                        load_schema)
from .errors import InvalidRecord, InvalidSecret, SchemasError
from .formats import is_rfc3339, parse_rfc3339
from .secrets import check_secret, secret_kind
from .validation import (MAX_EVENT_BYTES, MAX_REFERENCE_BYTES, RAW_EVENT_TYPES, parse_profile,
                         parse_raw_event, parse_tags, validate_loop, validate_profile,
                         validate_raw_event, validate_tags)

if TYPE_CHECKING:
    from .records import (RECORD_FOR_EVENT_TYPE, RECORD_FOR_SCHEMA, BounceEvent, ClickEvent,
                          ComplaintEvent, Contract, DeliveryEvent, FailureEvent, LoopBatch,
                          LoopDefinition, LoopSecret, LoopValidation, MailingLink, MailingTags,
                          OpenEvent, ProfileEditEvent, ProfileSnapshot, RawEvent, Scalar,
                          SubprofileSnapshot, UnsubscribeEvent)

_RECORD_NAMES = frozenset({
    "Scalar", "Contract", "RawEvent", "OpenEvent", "ClickEvent", "BounceEvent", "FailureEvent",
    "DeliveryEvent", "ProfileEditEvent", "UnsubscribeEvent", "ComplaintEvent",
    "SubprofileSnapshot", "ProfileSnapshot", "MailingLink", "MailingTags", "LoopBatch",
    "LoopSecret", "LoopValidation", "LoopDefinition", "RECORD_FOR_EVENT_TYPE", "RECORD_FOR_SCHEMA",
})


def __getattr__(name: str) -> Any:
    if name in _RECORD_NAMES:
        from . import records
        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    # errors
    "SchemasError",
    "InvalidRecord",
    "InvalidSecret",
    # signing secrets
    "check_secret",
    "secret_kind",
    # contracts
    "RAW_EVENT_TYPES",
    "RAW_EVENT_SCHEMAS",
    "REFERENCE_SCHEMAS",
    "SCHEMA_FILES",
    "load_schema",
    "inline_refs",
    # validation
    "MAX_EVENT_BYTES",
    "MAX_REFERENCE_BYTES",
    "parse_raw_event",
    "validate_raw_event",
    "parse_profile",
    "validate_profile",
    "parse_tags",
    "validate_tags",
    "validate_loop",
    "is_rfc3339",
    "parse_rfc3339",
    # records
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
