"""Pure joins and routing: raw event + profile + tags -> enriched event -> matching loops.

No Kafka, no HTTP, no Faust: every function here is unit-testable with plain data. Inputs are
validated documents (``schemas``); nothing here mutates its arguments.
"""
from .enrich import EVENT_FIELDS, copernica_time, enrich
from .errors import EnrichersError, UnsupportedEvent
from . import esp
from .esp import (DEFAULT_RULES, REASONS, REF_HEADER, Bounce, BounceRules, Complaint,
                  EspReportError, ParsedReport, ProfileRef, feedback_id, make_ref,
                  make_unsubscribe_ref, message_headers, parse_report, read_ref,
                  read_unsubscribe_ref, resolve_ref)
from .fields import select_fields
from .profiles import PROFILE_EDIT_TYPES, apply_edit
from .routing import DELIVERY_NAMESPACE, LoopIndex, delivery_id, route
from .tags import tags_for
from .trimming import OMITTED, omit_largest_fields, payload_bytes

__all__ = [
    "EnrichersError",
    "UnsupportedEvent",
    "PROFILE_EDIT_TYPES",
    "apply_edit",
    "tags_for",
    "EVENT_FIELDS",
    "enrich",
    "copernica_time",
    "select_fields",
    "LoopIndex",
    "DELIVERY_NAMESPACE",
    "delivery_id",
    "route",
    "OMITTED",
    "omit_largest_fields",
    "payload_bytes",
    *esp.__all__,
]
