"""Putting ESP reports on ``fl.esp.reports``: from files, mbox, maildir (CLI) or one API call.

A report is an RFC 822 message as received (a complaint, a bounce of any format) or a JSON
notification (Amazon SES style), keyed by its reporting domain (the ``From`` domain; ``json``
for a JSON document), unchanged: parsing happens in the worker, so a report that fails to
parse still lands on ``fl.invalid`` with its bytes. Here only what would make the record
useless is refused: an empty or oversized message, or one that is neither a header block nor a
JSON object or array.
"""
from __future__ import annotations

import asyncio
import mailbox
import os
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

from confluent_kafka import Producer

from streams.kafka.clients import producer_config
from streams.kafka.output import Output
from streams.config.settings import KafkaConfig
from streams.errors import NotAcknowledged, ReportRefused

__all__ = ["IngestReport", "ReportRefused", "api_ingest", "check_report", "publish_reports",
           "read_messages", "reporting_domain"]

MAX_ERRORS_KEPT = 20
#: an RFC 5322 header field name and its colon
_FIELD = re.compile(rb"[!-9;-~]+:")


def reporting_domain(raw: bytes) -> str:
    """The ``From`` domain of a report (lower case), ``json`` for a JSON notification,
    ``unknown`` without one."""
    if _is_json(raw):
        return "json"
    headers = BytesHeaderParser().parsebytes(raw[:65536])
    _name, address = parseaddr(str(headers.get("From", "")))
    domain = address.rpartition("@")[2].strip().lower()
    return domain or "unknown"


def check_report(raw: bytes, max_bytes: int) -> str | None:
    """Why ``raw`` cannot be a report (``None``: it may be one)."""
    if not raw.strip():
        return "the message is empty"
    if len(raw) > max_bytes:
        return f"the message has {len(raw)} bytes; at most {max_bytes} (limits.esp_report_bytes)"
    first_line = raw.lstrip()[:2048].splitlines()[0]
    if not _FIELD.match(first_line) and not first_line.startswith(b"From ") and not (
            _is_json(raw)):
        return ("the message does not start with a header block (e.g. 'From: ...') and is "
                "no JSON notification")
    return None


def _is_json(raw: bytes) -> bool:
    """Whether ``raw`` starts like a JSON object or array (a JSON notification)."""
    return raw.lstrip()[:1] in (b"{", b"[")


def read_messages(path: str | os.PathLike[str]) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of every message at ``path``: a maildir (``cur``/``new``), a
    directory of ``.eml`` files, an mbox file (first line ``From ``) or one message file."""
    p = Path(path)
    if p.is_dir():
        if (p / "cur").is_dir() or (p / "new").is_dir():
            box = mailbox.Maildir(str(p), create=False)
            for key in sorted(box.keys()):
                yield f"{p.name}/{key}", box.get_bytes(key)
            return
        for child in sorted(p.iterdir()):
            if child.is_file() and not child.name.startswith("."):
                yield from read_messages(child)
        return
    with open(p, "rb") as fh:
        first = fh.read(5)
    if first == b"From ":
        mbox = mailbox.mbox(str(p), create=False)
        try:
            for i, key in enumerate(mbox.keys()):
                yield f"{p.name}#{i + 1}", mbox.get_bytes(key)
        finally:
            mbox.close()
        return
    yield p.name, p.read_bytes()


@dataclass
class IngestReport:
    """What a load did: reports written, messages refused (with the first reasons)."""

    sent: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def publish_reports(kafka: KafkaConfig, topic: str, paths: list[str], max_bytes: int) -> IngestReport:
    """Write every message found at ``paths`` to ``topic``; returns once Kafka has them all."""
    report = IngestReport()
    producer = Producer(producer_config(kafka, **{"compression.type": "lz4", "linger.ms": 20}))
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for path in paths:
        for name, raw in read_messages(path):
            problem = check_report(raw, max_bytes)
            if problem is not None:
                report.refused += 1
                if len(report.errors) < MAX_ERRORS_KEPT:
                    report.errors.append(f"{name}: {problem}")
                continue
            producer.produce(topic, raw, reporting_domain(raw).encode(), on_delivery=on_delivery)
            producer.poll(0)
            report.sent += 1
    if producer.flush(60) or failures:
        raise NotAcknowledged(f"Kafka did not take every report: "
                              f"{failures[:3] or 'flush timed out'}")
    return report


def api_ingest(output: Output, topic: str, max_bytes: int) -> Callable[[bytes], Awaitable[dict[str, Any]]]:
    """One report per call, returned once Kafka has it (the API answers 202 then)."""

    async def ingest(raw: bytes) -> dict[str, Any]:
        problem = check_report(raw, max_bytes)
        if problem is not None:
            raise ReportRefused(problem, 413 if len(raw) > max_bytes else 400)
        key = reporting_domain(raw)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not written.done():
                written.set_result(None)

        output.send(topic, key.encode(), raw, done)
        await asyncio.wait_for(written, 30)
        return {"topic": topic, "key": key, "bytes": len(raw)}

    return ingest
