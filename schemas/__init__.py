"""JSON Schema contracts for raw events, profiles, tags and loops, and the loop model. Imports
nothing of ours (and no Faust, Kafka or HTTP library).

The ``*.json`` files in this package are the contract with producers; ``schemas.validation``
parses and validates against them; ``schemas.loop`` is the one typed model of a feedback loop,
its limits and defaults read from ``loop.json``; ``schemas.secrets`` the one rule for signing
secrets.
"""
from __future__ import annotations

from .contracts import (RAW_EVENT_SCHEMAS, REFERENCE_SCHEMAS, SCHEMA_FILES, inline_refs,
                        load_schema)
from .errors import InvalidRecord, InvalidSecret, SchemasError
from .formats import is_rfc3339, parse_rfc3339
from .loop import DEFAULTS, ENCODINGS, Batch, Encoding, Loop, Status, Validation, limit
from .secrets import SigningSecret, check_secret, secret_kind
from .validation import (MAX_EVENT_BYTES, MAX_REFERENCE_BYTES, RAW_EVENT_TYPES, parse_profile,
                         parse_raw_event, parse_tags, validate_loop, validate_profile,
                         validate_raw_event, validate_tags)

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
    # the loop model
    "DEFAULTS",
    "ENCODINGS",
    "Batch",
    "Encoding",
    "Loop",
    "Status",
    "Validation",
    "limit",
    "SigningSecret",
]
