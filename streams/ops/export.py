"""Export the enriched events of a time window to JSON lines, CSV or Parquet.

``feedbackloops export --since 2d --until 1d --format parquet --out history/`` reads the raw
topics' window (offsets by record timestamp, :mod:`streams.kafka.window`), enriches every event
as the live path does with today's profile and tag state (:mod:`streams.ops.history`), applies
the selection (types, database, collection, a loop's scope and field selection) and writes the
payloads (:mod:`streams.ops.tables`).

Memory does not grow with the window: events stream through a bounded buffer of rows, and one
changelog partition of profiles is held at a time (about its share of the profile table: a
few hundred bytes per profile). Before writing CSV or Parquet, the field names and types of the
``fields`` columns are collected from the changelog partitions and the window's profile edits
(a second, value-free read of the changelog), so every file of an export has one schema.

``jobs`` > 1 (folders only) splits the window's partitions over that many processes (spawned,
each with its own consumers and its own ``part-<n>`` files; shares of about equal records):
the work is CPU-bound Python, so this is how an export uses more than one core. Each process
holds its own buffers.

While a share is exported, Python's cyclic garbage collector runs rarely
(:data:`GC_YOUNG_OBJECTS`): the per-event dicts die by reference counting, and the default
threshold (700) made it walk the buffered payloads hundreds of times per 100,000 events
(~6% of the CPU).
"""
from __future__ import annotations

import gc
import multiprocessing
import queue
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from streams.config.settings import KafkaConfig
from streams.errors import ExportFailed
from streams.kafka.partitioning import serving_changelog
from streams.kafka.changelog import FieldTypes, scan_field_types
from streams.kafka.topics import Topics
from streams.kafka.window import Window, plan_window, read_spans, reader
from streams.ops.history import History, Selection
from streams.ops.tables import FieldColumns, is_folder, open_sink
from streams.worker.enrichment import TagLookup

__all__ = ["ExportReport", "export", "field_columns"]

#: called with the number of records read so far (every few thousand, and at the end)
Progress = Callable[[int], None]
PROGRESS_EVERY = 5000
#: the cyclic GC's first-generation threshold while exporting (Python's default: 700)
GC_YOUNG_OBJECTS = 100_000


@dataclass
class ExportReport:
    """What an export read and wrote."""

    format: str
    since_ms: int
    until_ms: int
    #: records in the window's offset ranges of the selected topics
    window_records: int = 0
    rows: int = 0
    files: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    #: fields values that fit no column type and were left out (see streams.ops.tables)
    coerced: int = 0
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.counts.get("read", 0) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "since_ms": self.since_ms, "until_ms": self.until_ms,
                "window_records": self.window_records, "rows": self.rows, "files": self.files,
                "counts": self.counts, "coerced": self.coerced,
                "seconds": round(self.seconds, 2), "records_per_s": round(self.per_s, 1)}


def field_columns(kafka: KafkaConfig, topics: Topics, window: Window,
                  selection: Selection, timeout_s: float = 60.0) -> FieldColumns:
    """The ``fields`` columns of an export of ``window``: every name (with its value types) of
    the changelog partitions it covers and of the profile edits inside it; with a loop that
    selects fields, that selection."""
    generation = serving_changelog(kafka, topics)  # repartition mode: that changelog, whole
    types = (scan_field_types(kafka, generation[0], range(generation[1]), None, timeout_s)
             if generation is not None else
             scan_field_types(kafka, topics.profiles_changelog, window.by_partition(), None,
                              timeout_s))
    edits = [s for s in window.spans if s.topic == topics.raw["profile"]]
    if edits:
        consumer = reader(kafka)
        try:
            for msg in read_spans(consumer, edits, timeout_s):
                _add_edit_fields(types, msg.value())
        finally:
            consumer.close()
    loop = selection.loop
    return FieldColumns(types.types, loop.fields if loop is not None else None)


def _add_edit_fields(types: FieldTypes, value: bytes | None) -> None:
    try:
        event = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return
    if isinstance(event, dict):
        types.add(event.get("fields"))


def export(kafka: KafkaConfig, topics: Topics, tags: TagLookup, selection: Selection,
           since_ms: int, until_ms: int, fmt: str, out: str | Path,
           progress: Progress | None = None, on_plan: Callable[[Window], None] | None = None,
           timeout_s: float = 60.0, jobs: int = 1) -> ExportReport:
    """Write the window's selected, enriched events to ``out`` (see the module docstring).
    ``on_plan`` sees the window before reading starts (for a progress bar's total)."""
    started = time.monotonic()
    window = plan_window(kafka, selection.raw_topics(topics), since_ms, until_ms, timeout_s)
    if on_plan is not None:
        on_plan(window)
    columns = (field_columns(kafka, topics, window, selection, timeout_s) if fmt != "jsonl"
               else FieldColumns({}))
    partitions = sorted(window.by_partition())
    jobs = max(1, min(jobs, len(partitions))) if is_folder(out) else 1
    if jobs == 1:
        parts = [_export_part(kafka, topics, tags, selection, window, None, fmt, out, columns,
                              0, progress, timeout_s)]
    else:
        shares = _shares(window, jobs)
        parts = _in_processes(kafka, topics, {k: v for k, v in _items(tags)}, selection,
                              window, shares, fmt, out, columns, progress, timeout_s)
    report = ExportReport(fmt, since_ms, until_ms, window_records=window.records)
    for part in parts:
        report.rows += part["rows"]
        report.files += part["files"]
        report.coerced += part["coerced"]
        for key, value in part["counts"].items():
            if isinstance(value, dict):
                merged = report.counts.setdefault(key, {})
                for k, v in value.items():
                    merged[k] = merged.get(k, 0) + v
            else:
                report.counts[key] = report.counts.get(key, 0) + value
    if progress is not None:
        progress(report.counts.get("read", 0))
    report.seconds = time.monotonic() - started
    return report


def _shares(window: Window, jobs: int) -> list[set[int]]:
    """The window's partitions in ``jobs`` shares of about equal records (largest first, each
    to the share with the fewest so far), so no process is left working alone at the end."""
    sizes = {p: sum(s.records for s in spans) for p, spans in window.by_partition().items()}
    shares: list[set[int]] = [set() for _ in range(jobs)]
    loads = [0] * jobs
    for partition in sorted(sizes, key=lambda p: (-sizes[p], p)):
        least = loads.index(min(loads))
        shares[least].add(partition)
        loads[least] += sizes[partition]
    return shares


def _items(tags: TagLookup) -> list[tuple[str, Any]]:
    items = getattr(tags, "items", None)
    return list(items()) if callable(items) else []


def _export_part(kafka: KafkaConfig, topics: Topics, tags: TagLookup, selection: Selection,
                 window: Window, partitions: set[int] | None, fmt: str, out: str | Path,
                 columns: FieldColumns, part: int, progress: Progress | None,
                 timeout_s: float) -> dict[str, Any]:
    """One process's share of an export (``partitions``; None: all) into ``part-<part>``."""
    sink = open_sink(out, fmt, columns, part)
    history = History(kafka, topics, tags, selection, timeout_s=timeout_s)
    try:
        with _rare_collections():
            for n, item in enumerate(history.read(window, partitions=partitions), 1):
                if item.payload is not None:
                    sink.add(item.payload)
                if progress is not None and n % PROGRESS_EVERY == 0:
                    progress(n)
    finally:
        sink.close()
    return {"rows": sink.rows, "files": [str(p) for p in sink.files],
            "counts": history.counts.as_dict(), "coerced": sink.coerced}


@contextmanager
def _rare_collections() -> Iterator[None]:
    """The cyclic GC at :data:`GC_YOUNG_OBJECTS`, with what exists before frozen out of its
    walks (module objects, tables, the tag view); Python's settings again afterwards."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _child(results: Any, kafka: KafkaConfig, topics: Topics, tags: dict[str, Any],
           selection: Selection, window: Window, partitions: set[int], fmt: str,
           out: str | Path, columns: FieldColumns, part: int, timeout_s: float) -> None:
    try:
        done = _export_part(kafka, topics, tags, selection, window, partitions, fmt, out,
                            columns, part, lambda n: results.put(("read", part, n)), timeout_s)
        results.put(("done", part, done))
    except BaseException as exc:  # the parent reports it and fails the export
        results.put(("error", part, f"{type(exc).__name__}: {exc}"))


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """A spawned child imports its parent's ``__main__`` again; ours may be ``python -m
    streams``, which runs the command line when imported. Without a spec or file to find it
    by, multiprocessing leaves the child's ``__main__`` alone."""
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__spec__", "__file__")
                             if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _in_processes(kafka: KafkaConfig, topics: Topics, tags: dict[str, Any],
                  selection: Selection, window: Window, shares: list[set[int]], fmt: str,
                  out: str | Path, columns: FieldColumns, progress: Progress | None,
                  timeout_s: float) -> list[dict[str, Any]]:
    # spawn, not fork: the parent runs librdkafka threads, which do not survive a fork
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_child, name=f"export-{i}", daemon=True,
                         args=(results, kafka, topics, tags, selection, window, share, fmt, out,
                               columns, i, timeout_s))
             for i, share in enumerate(shares)]
    with _main_module_hidden():
        for proc in procs:
            proc.start()
    read = [0] * len(procs)
    done: dict[int, dict[str, Any]] = {}
    try:
        while len(done) < len(procs):
            try:
                kind, part, value = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.name for i, p in enumerate(procs) if i not in done and not p.is_alive()]
                if dead and results.empty():
                    raise ExportFailed(f"export process {dead[0]} ended without a result")
                continue
            if kind == "error":
                raise ExportFailed(f"export process {part}: {value}")
            if kind == "read":
                read[part] = value
                if progress is not None:
                    progress(sum(read))
            else:
                done[part] = value
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(10)
    return [done[i] for i in range(len(procs))]
