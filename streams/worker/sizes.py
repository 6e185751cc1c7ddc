"""The enrich stage's size checks (``limits.*``), each counted in ``fl_oversize_records_total``.

Each check runs before the record could reach Kafka or the profile table:

- a raw event over ``raw_event_bytes`` and a profile snapshot over ``profile_bytes`` raise
  ``InvalidRecord``, so they go to ``fl.invalid`` with the reason (the output cuts a copy
  over ``record_bytes``, :mod:`streams.kafka.parking`); the table never sees the snapshot;
- a profile edit that would make the stored profile larger than ``profile_bytes`` raises
  before the table is written;
- a delivery whose payload is over ``payload_bytes`` loses its largest profile fields
  (:func:`enrichers.trimming.omit_largest_fields`); when even that is not enough the event is
  refused (``InvalidRecord``), so it lands on ``fl.invalid`` whole and can be replayed after
  the limit is raised.
"""
from __future__ import annotations

import logging

from enrichers.trimming import omit_largest_fields, payload_bytes
from schemas.validation import InvalidRecord

from streams.config.settings import LimitsConfig
from streams.kafka.limits import check_size
from streams.kafka.records import Delivery, encode
from streams.metrics import PipelineMetrics

__all__ = ["SizeChecks"]

log = logging.getLogger(__name__)


class SizeChecks:
    """``limits`` applied to the records of the enrich stage."""

    def __init__(self, limits: LimitsConfig, metrics: PipelineMetrics) -> None:
        self.limits = limits
        self.metrics = metrics

    def raw_event(self, value: bytes) -> None:
        """Raise ``InvalidRecord`` when the raw event is over ``raw_event_bytes``."""
        self._check(value, self.limits.raw_event_bytes, "raw_event", "the raw event",
                    "limits.raw_event_bytes")

    def snapshot(self, value: bytes) -> None:
        """Raise ``InvalidRecord`` when a profile snapshot is over ``profile_bytes``."""
        self._check(value, self.limits.profile_bytes, "profile", "the profile snapshot",
                    "limits.profile_bytes")

    def edited_profile(self, stored: bytes, event_type: str) -> None:
        """Raise ``InvalidRecord`` when the profile after an edit would be over
        ``profile_bytes`` (the table keeps the profile as it was)."""
        self._check(stored, self.limits.profile_bytes, "profile_edit",
                    f"the profile after this {event_type}", "limits.profile_bytes", "fields")

    def delivery(self, delivery: Delivery, encoded: bytes) -> bytes:
        """The delivery record to produce: ``encoded`` when its payload fits ``payload_bytes``,
        else re-encoded without the payload's largest profile fields. Raises ``InvalidRecord``
        when the payload is over the limit even without any profile field."""
        limit = self.limits.payload_bytes
        if len(encoded) <= limit:  # the record holds the payload: it fits
            return encoded
        payload = delivery["payload"]
        size = payload_bytes(payload)
        if size <= limit:
            return encoded
        self.metrics.oversize.labels("payload").inc()
        trimmed = omit_largest_fields(payload, limit)
        if trimmed is None:
            raise InvalidRecord(
                f"the payload for loop {delivery['loop_id']} is {size} bytes and over the "
                f"{limit}-byte limit (limits.payload_bytes) even without its profile fields",
                "fields")
        log.info("payload of %s for loop %s is %d bytes: omitted %d profile fields",
                 delivery["event_id"], delivery["loop_id"], size, len(trimmed["fields_omitted"]))
        return encode({**delivery, "payload": trimmed})

    def _check(self, value: bytes, max_bytes: int, kind: str, what: str, setting: str,
               field: str | None = None) -> None:
        if len(value) > max_bytes:
            self.metrics.oversize.labels(kind).inc()
            check_size(value, max_bytes, what, setting, field)
