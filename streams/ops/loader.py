"""Bulk-load profile snapshots or mailing tags from JSON lines into their compacted topics."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from confluent_kafka import Producer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from schemas.validation import InvalidRecord

from streams.kafka.clients import producer_config
from streams.config.settings import KafkaConfig
from streams.errors import NotAcknowledged

__all__ = ["LoadReport", "load_jsonl"]

MAX_ERRORS_KEPT = 20


@dataclass
class LoadReport:
    """What a load did: records written, lines rejected (with the first reasons)."""

    loaded: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def load_jsonl(kafka: KafkaConfig, topic: str, path: str, parse: Callable[[bytes], dict[str, Any]],
               show_progress: bool = True) -> LoadReport:
    """Validate each line with ``parse`` and produce it keyed by its ``id``.

    Invalid lines are skipped and reported by line number; valid ones are all written (the
    call returns after Kafka acknowledged every record).
    """
    report = LoadReport()
    producer = Producer(producer_config(kafka, **{
        "linger.ms": 20, "batch.num.messages": 10000, "compression.type": "lz4",
        "queue.buffering.max.messages": 1000000}))
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    size = os.path.getsize(path)
    with open(path, "rb") as fh, _progress(show_progress) as progress:
        task = progress.add_task(f"loading {os.path.basename(path)}", total=size)
        for lineno, line in enumerate(fh, 1):
            progress.advance(task, len(line))
            line = line.strip()
            if not line:
                continue
            try:
                doc = parse(line)
            except InvalidRecord as exc:
                _reject(report, f"line {lineno}: {exc.reason}")
                continue
            while True:
                try:
                    producer.produce(topic, line, str(doc["id"]).encode(), on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            report.loaded += 1
        remaining = producer.flush(60)
    if remaining or failures:
        raise NotAcknowledged(f"{remaining + len(failures)} records were not acknowledged by Kafka "
                              f"(first error: {failures[0] if failures else 'timeout'})")
    return report


def _reject(report: LoadReport, message: str) -> None:
    report.rejected += 1
    if len(report.errors) < MAX_ERRORS_KEPT:
        report.errors.append(message)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeRemainingColumn(), disable=not enabled, transient=False)


