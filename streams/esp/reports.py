"""ESP feedback loops: one ARF/DSN report from ``fl.esp.reports`` in, raw events out.

A spam complaint becomes a ``complaint`` event on ``fl.raw.complaints``; when the database's
unsubscribe behaviour is ``remove`` or ``update``, also an ``unsubscribe`` event and a
``fl.profile-actions`` record telling the platform what to do (a ``not-spam`` report is a
retraction: event only, no action). A DSN recipient whose delivery failed becomes a
``bounce`` event. The raw events then take the normal path (validation, enrichment,
routing), so loops receive them like any other event.

Reports map to profiles through the signed ``X-FL-Ref`` header of the returned message
(:mod:`enrichers.esp`). A report that is not one, or a finding without a valid reference,
goes to ``fl.invalid`` with the original bytes and the reason; the rest of the report is
still used. Ids are derived from the report's bytes, so a report read twice (a crash before
the commit) produces the same events and the same delivery ids.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timezone
from typing import Any, MutableMapping

import orjson

from enrichers.esp import Bounce, Complaint, EspReportError, ProfileRef, parse_report
from schemas.validation import InvalidRecord, validate_raw_event

from streams.kafka.records import OutRecord
from streams.metrics import PipelineMetrics
from streams.kafka.records import invalid_headers
from streams.config.settings import EspConfig
from streams.kafka.topics import Topics

__all__ = ["EspReports", "ESP_NAMESPACE"]

log = logging.getLogger(__name__)

#: uuid5 namespace of every id derived from a report
ESP_NAMESPACE = uuid.UUID("0b9d6c1e-5c8e-4f38-9a55-0d2f8f1f6a42")


class EspReports:
    """``handle()`` has the enrich agent's signature, so the same Faust loop feeds both."""

    def __init__(self, config: EspConfig, topics: Topics, metrics: PipelineMetrics) -> None:
        self.config = config
        self.topics = topics
        self.metrics = metrics
        self._secrets: list[bytes] | None = None
        if config.ref_secret is not None:
            self._secrets = [s.reveal().encode()
                             for s in (config.ref_secret, *config.previous_ref_secrets)]

    def handle(self, topic: str, partition: int, offset: int, timestamp_ms: int,
               key: bytes | None, value: bytes | None,
               profiles: MutableMapping[bytes, bytes] | None = None) -> list[OutRecord]:
        """Never raises: a bad report (or a bug) becomes an ``fl.invalid`` record."""
        self.metrics.events_in.labels(topic).inc()

        def invalid(reason: str) -> OutRecord:
            self.metrics.invalid.labels(topic).inc()
            log.info("invalid ESP report %s[%d]@%d: %s", topic, partition, offset, reason)
            return OutRecord(self.topics.invalid, key, value,
                             invalid_headers(reason, topic, partition, offset))

        if self._secrets is None:
            return [invalid("esp.ref_secret is not configured: reports cannot be mapped to "
                            "profiles")]
        raw = value or b""
        try:
            report = parse_report(raw, self._secrets, max_bytes=self.config.max_report_bytes)
        except EspReportError as exc:
            return [invalid(f"not a usable ESP report: {exc}")]
        except Exception as exc:  # a parser bug must not stop the stream nor lose the report
            log.exception("ESP report parsing failed at %s[%d]@%d", topic, partition, offset)
            return [invalid(f"internal error while parsing: {type(exc).__name__}: {exc}")]
        digest = hashlib.sha256(raw).hexdigest()
        received = datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc)
        out: list[OutRecord] = []
        problems: list[str] = []
        findings: list[Complaint | Bounce] = [*report.complaints, *report.bounces]
        for i, finding in enumerate(findings):
            try:
                out.extend(self._records(finding, f"{digest}|{i}", received))
            except _Unusable as exc:
                problems.append(str(exc))
        for note in report.skipped:
            log.info("ESP report %s[%d]@%d: %s", topic, partition, offset, note)
        if problems:
            out.append(invalid(f"{len(problems)} of {len(findings)} findings unusable: "
                               + "; ".join(problems)))
        if not findings:
            log.info("ESP report %s[%d]@%d (%s) had nothing to act on", topic, partition,
                     offset, report.kind)
        return out

    # -- one finding -------------------------------------------------------------------------
    def _records(self, finding: Complaint | Bounce, seed: str,
                 received: datetime) -> list[OutRecord]:
        kind = "complaint" if isinstance(finding, Complaint) else "bounce"
        ref = finding.ref
        if ref is None:
            raise _Unusable(f"{kind} for {finding.recipient or 'a redacted recipient'}: "
                            f"{finding.ref_problem}")
        occurred = _rfc3339(finding.arrived_at or received)
        event: dict[str, Any] = {"id": _id(seed, kind), "type": kind, "occurred_at": occurred,
                                 **_ref_fields(ref)}
        if finding.recipient:
            event["recipient"] = finding.recipient
        if finding.message_id:
            event["message"] = finding.message_id[:998]
        if isinstance(finding, Complaint):
            event["feedback_type"] = finding.feedback_type[:64]
            if finding.reporter:
                event["reporter"] = finding.reporter[:255]
            if finding.source_ip:
                event["source_ip"] = finding.source_ip
        else:
            if finding.envelope:
                event["envelope"] = finding.envelope[:998]
            event["mime"] = finding.mime[:200000]
        records = [self._raw(kind, event)]
        if isinstance(finding, Complaint) and finding.feedback_type != "not-spam":
            records.extend(self._behaviour(ref, event, seed))
        return records

    def _behaviour(self, ref: ProfileRef, complaint: dict[str, Any],
                   seed: str) -> list[OutRecord]:
        """The database's unsubscribe behaviour: nothing, or an unsubscribe event plus the
        profile action (remove the profile, or update the given fields)."""
        behaviour, fields = self.config.behaviour(ref.database)
        if behaviour == "nothing" or ref.profile is None:
            return []
        unsubscribe = {"id": _id(seed, "unsubscribe"), "type": "unsubscribe",
                       "occurred_at": complaint["occurred_at"], **_ref_fields(ref)}
        action: dict[str, Any] = {
            "id": _id(seed, "action"), "action": behaviour, **_ref_fields(ref),
            "reason": "complaint", "feedback_type": complaint["feedback_type"],
            "event_id": complaint["id"], "occurred_at": complaint["occurred_at"]}
        if behaviour == "update":
            action["fields"] = dict(fields)
        self.metrics.profile_actions.labels(behaviour).inc()
        return [self._raw("unsubscribe", unsubscribe),
                OutRecord(self.topics.profile_actions, ref.profile.encode(), orjson.dumps(action))]

    def _raw(self, kind: str, event: dict[str, Any]) -> OutRecord:
        """The raw event, checked against its schema here: a report must not be able to put
        an event on a raw topic that the enrich stage would then reject."""
        try:
            validate_raw_event(event)
        except InvalidRecord as exc:
            raise _Unusable(f"{kind} event would be invalid: {exc.reason}") from None
        value = orjson.dumps(event)
        self.metrics.esp_events.labels(kind).inc()
        key = event.get("profile") or event.get("recipient")
        assert isinstance(key, str)  # the schema requires one of them
        return OutRecord(self.topics.raw[kind], key.encode(), value)


class _Unusable(Exception):
    """One finding of a report cannot become an event (the others still can)."""


def _ref_fields(ref: ProfileRef) -> dict[str, str]:
    fields = {"database": ref.database, "collection": ref.collection, "profile": ref.profile,
              "subprofile": ref.subprofile, "mailing": ref.mailing}
    return {k: v for k, v in fields.items() if v is not None}


def _id(seed: str, what: str) -> str:
    return str(uuid.uuid5(ESP_NAMESPACE, f"{seed}|{what}"))


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
