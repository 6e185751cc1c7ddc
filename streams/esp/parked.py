"""Unmapped ESP findings, parked on ``fl.esp.unmapped`` with what was parsed: never lost.

A report is parsed and classified first; a finding that cannot be mapped to a profile (no
returned original, no ``X-FL-Ref`` in it, a forged or damaged reference, an event the schema
would refuse) is parked. One record per report: key and value are the report's own (so it can
be written back to ``fl.esp.reports`` after a fix, e.g. a secret configured late or recipient
mapping turned on), headers name the reason, the source coordinates and, in ``fl-parsed``, the
parsed findings as JSON (at most 16 KiB). ``recent`` lists the newest for the API and the CLI.
"""
from __future__ import annotations

from typing import Any

import orjson
from confluent_kafka import Message

from enrichers.esp import Bounce, Complaint
from streams.config.settings import KafkaConfig
from streams.kafka.clients import read_window
from streams.kafka.records import OutRecord, header_pairs, invalid_headers

__all__ = ["finding_summary", "park", "describe", "recent"]

PARSED_HEADER = "fl-parsed"
MAX_PARSED_BYTES = 16 * 1024
SHOWN_VALUE_CHARS = 2048


def finding_summary(finding: Complaint | Bounce, problem: str) -> dict[str, Any]:
    """What was parsed of one finding, and why it is parked."""
    if isinstance(finding, Complaint):
        summary: dict[str, Any] = {"type": "complaint", "feedback_type": finding.feedback_type,
                                   "reporter": finding.reporter, "source_ip": finding.source_ip}
    else:
        summary = {"type": "bounce", "action": finding.action, "status": finding.status,
                   "bounce_class": finding.bounce_class, "reason": finding.reason,
                   "format": finding.format, "diagnostic": (finding.diagnostic or "")[:300],
                   "envelope": finding.envelope}
    summary.update(recipient=finding.recipient, message=finding.message_id,
                   original_returned=finding.original, problem=problem)
    return summary


def park(topic: str, key: bytes | None, value: bytes | None, kind: str,
         summaries: list[dict[str, Any]], source: tuple[str, int, int]) -> OutRecord:
    """The ``fl.esp.unmapped`` record for a report's unmapped findings."""
    problems = "; ".join(dict.fromkeys(s["problem"] for s in summaries))
    reason = f"{len(summaries)} finding(s) of a {kind} report not mapped: {problems}"[:2000]
    parsed = orjson.dumps({"kind": kind, "findings": summaries})
    while len(parsed) > MAX_PARSED_BYTES and summaries:
        summaries = summaries[:len(summaries) // 2]
        parsed = orjson.dumps({"kind": kind, "findings": summaries, "truncated": True})
    headers = [*invalid_headers(reason, *source), (PARSED_HEADER, parsed)]
    return OutRecord(topic, key, value, headers)


def describe(msg: Message) -> dict[str, Any]:
    """One parked record as the API and the CLI show it."""
    headers: dict[str, bytes] = {}
    for name, raw in header_pairs(msg.headers()):
        headers[name] = raw
    text = {k: v.decode("utf-8", "replace") for k, v in headers.items()}
    try:
        parsed = orjson.loads(headers.get(PARSED_HEADER, b"{}"))
    except orjson.JSONDecodeError:
        parsed = {}
    value = msg.value()
    key = msg.key()
    offset = text.get("fl-source-offset", "")
    partition = text.get("fl-source-partition", "")
    return {
        "reason": text.get("fl-reason", ""),
        "parsed": parsed,
        "source": {"topic": text.get("fl-source-topic"),
                   "partition": int(partition) if partition.isdigit() else None,
                   "offset": int(offset) if offset.isdigit() else None},
        "parked_ms": msg.timestamp()[1],
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value": (value or b"").decode("utf-8", "replace")[:SHOWN_VALUE_CHARS],
        "value_bytes": len(value or b""),
        "at": {"partition": msg.partition(), "offset": msg.offset()},
    }


def recent(kafka: KafkaConfig, topic: str, finding_type: str | None, limit: int,
           scan: int = 20000) -> list[dict[str, Any]]:
    """Up to ``limit`` newest parked reports, newest first; with ``finding_type``
    (``bounce``/``complaint``) only those that hold one."""
    found = []
    for msg in read_window(kafka, topic, last=scan):
        doc = describe(msg)
        types = {f.get("type") for f in doc["parsed"].get("findings", ())}
        if finding_type is None or finding_type in types:
            found.append(doc)
    found.sort(key=lambda d: d["parked_ms"], reverse=True)
    return found[:limit]
