"""ESP feedback loops: one report from ``fl.esp.reports`` in, raw events out. Parse, then map.

Every report is parsed and classified first (:func:`enrichers.esp.parse_report`); each finding
is then mapped to a profile through the signed ``X-FL-Ref`` header of the returned message
(:func:`enrichers.esp.resolve_ref`). An operator may let bounces without a valid reference map
by recipient address to a database (``esp.databases[].map_bounces_by_recipient``): the bounce
event then names the database and the recipient, no profile, and causes no profile action.
Complaints never map by address: an unsigned complaint could unsubscribe anyone.

What a mapped finding becomes (see docs/decisions.md, ESP feedback loops):

- a complaint: a ``complaint`` event (every feedback type but ``opt-out``); when its type is
  in ``esp.unsubscribe_feedback_types`` (default abuse, fraud; never auth-failure or
  not-spam) and the database's unsubscribe behaviour is ``remove``/``update``, also an
  ``unsubscribe`` event and a ``fl.profile-actions`` record; once per profile and report;
- an ``opt-out`` report: an ``unsubscribe`` event (not a complaint) and, with a behaviour, the
  profile action;
- a bounce: a ``bounce`` event (failed or delayed, with ``bounce_class`` and ``reason``); a
  failed hard bounce also the database's ``esp.on_hard_bounce`` action. Soft bounces count
  towards ``esp.soft_bounce_limit`` in the enrich stage (:mod:`streams.esp.softbounces`).

A message that is no report goes to ``fl.invalid`` with the reason; findings that cannot be
mapped are parked on ``fl.esp.unmapped`` with the parsed result (:mod:`streams.esp.parked`).
Ids derive from the report's bytes, so a report read twice gives the same events.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from typing import Any, MutableMapping

import orjson

from enrichers.esp import (Bounce, Complaint, EspReportError, ParsedReport, ProfileRef,
                           parse_report, resolve_ref)
from schemas.validation import InvalidRecord, validate_raw_event
from streams.config.esp import EspConfig
from streams.config.limits import LimitsConfig
from streams.esp.events import (bounce_event, complaint_event, profile_action,
                                unsubscribe_event)
from streams.esp.parked import finding_summary, park
from streams.kafka.records import OutRecord, invalid_headers
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics
from streams.errors import StreamsError

__all__ = ["EspReports", "EventWriter"]

log = logging.getLogger(__name__)


class EventWriter:
    """Raw events and profile actions as records, each event checked against its schema
    first: nothing we make may be refused by the enrich stage. Shared with the one-click
    unsubscribe endpoint."""

    def __init__(self, config: EspConfig, topics: Topics, metrics: PipelineMetrics) -> None:
        self.config = config
        self.topics = topics
        self.metrics = metrics

    def raw(self, event: dict[str, Any]) -> OutRecord:
        """The raw event as a record; raises ``Unusable`` when the schema refuses it."""
        try:
            validate_raw_event(event)
        except InvalidRecord as exc:
            raise Unusable(f"{event['type']} event would be invalid: {exc.reason}") from None
        self.metrics.esp_events.labels(event["type"]).inc()
        key = event.get("profile") or event.get("recipient")
        assert isinstance(key, str)  # the schema requires one of them
        return OutRecord(self.topics.raw[event["type"]], key.encode(), orjson.dumps(event))

    def action(self, ref: ProfileRef, behaviour: str, fields: dict[str, str], reason: str,
               seed: str, event: dict[str, Any]) -> list[OutRecord]:
        """The profile action for ``behaviour`` (none for ``nothing`` or without a profile)."""
        if behaviour == "nothing" or ref.profile is None:
            return []
        self.metrics.profile_actions.labels(behaviour).inc()
        doc = profile_action(ref, behaviour, fields, reason, seed, event)
        return [OutRecord(self.topics.profile_actions, ref.profile.encode(), orjson.dumps(doc))]

    def unsubscribe(self, ref: ProfileRef, seed: str, occurred_at: str, source: str,
                    always: bool, recipient: str | None = None,
                    message: str | None = None, cause: dict[str, Any] | None = None,
                    ) -> list[OutRecord]:
        """The database's unsubscribe behaviour: an ``unsubscribe`` event (``always``, or when
        the behaviour is not ``nothing``) and the profile action."""
        behaviour, fields = self.config.behaviour(ref.database)
        if behaviour == "nothing" and not always:
            return []
        event = unsubscribe_event(ref, seed, occurred_at, source, recipient, message)
        return [self.raw(event), *self.action(ref, behaviour, fields, source, seed,
                                              cause or event)]


class Unusable(StreamsError):
    """One finding cannot become an event (the others still can)."""


class EspReports:
    """``handle()`` has the enrich agent's signature, so the same Faust loop feeds both."""

    def __init__(self, config: EspConfig, topics: Topics, metrics: PipelineMetrics,
                 max_report_bytes: int = LimitsConfig.esp_report_bytes) -> None:
        self.config = config
        self.max_report_bytes = max_report_bytes
        self.topics = topics
        self.metrics = metrics
        self.writer = EventWriter(config, topics, metrics)
        self._secrets = config.secrets()

    def handle(self, topic: str, partition: int, offset: int, timestamp_ms: int,
               key: bytes | None, value: bytes | None,
               profiles: MutableMapping[bytes, bytes] | None = None,
               soft_bounces: MutableMapping[bytes, bytes] | None = None) -> list[OutRecord]:
        """Never raises: a bad report (or a bug) becomes an ``fl.invalid`` record. (The
        tables are the enrich agent's; reports need none.)"""
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
        if len(raw) > self.max_report_bytes:
            self.metrics.oversize.labels("esp_report").inc()
            return [invalid(f"the report is {len(raw)} bytes, over the {self.max_report_bytes}"
                            "-byte limit (limits.esp_report_bytes)")]
        try:
            report = parse_report(raw, max_bytes=self.max_report_bytes, rules=self.config.rules)
        except EspReportError as exc:
            return [invalid(f"not a usable ESP report: {exc}")]
        except Exception as exc:  # a parser bug must not stop the stream nor lose the report
            log.exception("ESP report parsing failed at %s[%d]@%d", topic, partition, offset)
            return [invalid(f"internal error while parsing: {type(exc).__name__}: {exc}")]
        for note in report.skipped:
            log.info("ESP report %s[%d]@%d: %s", topic, partition, offset, note)
        out, parked = self._mapped(report, hashlib.sha256(raw).hexdigest(),
                                   datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc))
        if parked:
            for summary in parked:
                self.metrics.esp_unmapped.labels(summary["type"]).inc()
            log.info("ESP report %s[%d]@%d: %d finding(s) parked unmapped", topic, partition,
                     offset, len(parked))
            out.append(park(self.topics.esp_unmapped, key, value, report.kind, parked,
                            (topic, partition, offset)))
        return out

    def _mapped(self, report: ParsedReport, digest: str,
                received: datetime) -> tuple[list[OutRecord], list[dict[str, Any]]]:
        """The records of every finding that maps, and a summary of every one that does not."""
        assert self._secrets is not None
        out: list[OutRecord] = []
        parked: list[dict[str, Any]] = []
        acted: set[tuple[str, str | None, str]] = set()
        findings: list[Complaint | Bounce] = [*report.complaints, *report.bounces]
        for i, finding in enumerate(findings):
            ref, problem = resolve_ref(finding, self._secrets)
            mapped_by = "ref"
            if ref is None and isinstance(finding, Bounce) and finding.recipient:
                database = self.config.recipient_database(finding.envelope)
                if database is not None:
                    ref, mapped_by = ProfileRef(database), "recipient"
            if ref is None:
                parked.append(finding_summary(finding, problem or "not mapped"))
                continue
            try:
                out += self._records(finding, ref, mapped_by, f"{digest}|{i}", received, acted)
            except Unusable as exc:
                parked.append(finding_summary(finding, str(exc)))
        return out, parked

    def _records(self, finding: Complaint | Bounce, ref: ProfileRef, mapped_by: str, seed: str,
                 received: datetime, acted: set[tuple[str, str | None, str]]) -> list[OutRecord]:
        """The records of one mapped finding; an action at most once per profile and report."""
        once = (ref.database, ref.profile, type(finding).__name__)
        if isinstance(finding, Bounce):
            event = bounce_event(finding, ref, seed, received, mapped_by)
            records = [self.writer.raw(event)]
            if (finding.bounce_class == "hard" and finding.action == "failed"
                    and mapped_by == "ref" and once not in acted):
                acted.add(once)
                behaviour, fields = self.config.hard_bounce_behaviour(ref.database)
                records += self.writer.action(ref, behaviour, fields, "hard-bounce", seed, event)
            return records
        event = complaint_event(finding, ref, seed, received)
        if finding.feedback_type == "opt-out":
            if once in acted:
                return []
            acted.add(once)
            return self.writer.unsubscribe(ref, seed, event["occurred_at"], "opt-out", True,
                                           event.get("recipient"), event.get("message"))
        records = [self.writer.raw(event)]
        if finding.feedback_type in self.config.unsubscribe_feedback_types and once not in acted:
            acted.add(once)
            records += self.writer.unsubscribe(ref, seed, event["occurred_at"], "complaint",
                                               False, cause=event)
        return records
from streams.errors import StreamsError
