"""Enriched payloads as files for analysis tools: JSON lines, CSV and typed Parquet.

Columns are the delivered payload's keys (:data:`COLUMNS`, derived from
:data:`enrichers.enrich.EVENT_FIELDS`, so a new payload key becomes a column). Types:

- ``timestamp``, ``created``, ``modified``: Parquet ``timestamp[ms, UTC]`` (Parquet has no
  seconds unit; the values are whole seconds); in CSV and JSON
  lines the payload's own text (``YYYY-MM-DD HH:MM:SS``, UTC).
- ``time`` and ``code``: 64-bit integers; ``profile_known``: boolean.
- ``interests``, ``tags``: lists of strings (CSV: a JSON array).
- ``headers``, ``parameters``: maps of string to string (non-string parameter values as JSON
  text; CSV: a JSON object).
- ``fields``: a **struct** with one child per profile field name (Parquet; queryable as
  ``fields.city`` in DuckDB and Spark, a dict per row in pandas); in CSV one ``fields.<name>``
  column each. Names and types come from a scan before writing (:class:`FieldColumns`): a
  field whose values are all booleans, all integers or all numbers is typed so; any other is a
  string, with non-string values as JSON text.
- everything else: strings. A key a payload lacks is null (empty in CSV).

Layout: ``--out`` naming a file gets one file; naming a folder (existing, or ending in ``/``)
gets Hive-style partitions by the event's UTC date, ``date=YYYY-MM-DD/part-<n>.<ext>`` (one
part per export process),
which pandas, pyarrow, DuckDB and Spark read as a ``date`` column without being told.
"""
from __future__ import annotations

import calendar
import csv
import time
from pathlib import Path
from typing import Any, Callable, Final, Iterable, Mapping

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from enrichers.enrich import EVENT_FIELDS

from streams.errors import InputError

__all__ = ["COLUMNS", "FORMATS", "FieldColumns", "TableSink", "is_folder", "open_sink"]

FORMATS: Final = ("jsonl", "csv", "parquet")
_TIMES: Final = frozenset({"timestamp", "created", "modified"})
_INTS: Final = frozenset({"time", "code"})
_MAPS: Final = frozenset({"headers", "parameters"})
_LISTS: Final = frozenset({"interests", "tags"})

_BASE = ["event_id", "type", "id", "timestamp", "time", "database", "collection", "profile",
         "subprofile", "mailing", "email", "recipient", "profile_known", "fields", "interests",
         "tags"]
COLUMNS: Final[tuple[str, ...]] = tuple(dict.fromkeys(
    [*_BASE, *(target for pairs in EVENT_FIELDS.values() for _, target in pairs),
     "created", "modified"]))
"""Every key an enriched payload can have, in file order."""

CHUNK_ROWS = 4096
"""Payloads buffered per file before they are written (CSV, JSON lines) or converted to Arrow
(Parquet)."""
ROWS_PER_GROUP = 16384
"""Converted Parquet rows pending over all files before the biggest file's are written as a
row group: with :data:`CHUNK_ROWS`, this bounds memory."""


class FieldColumns:
    """The ``fields`` struct: names in order, each with a type from the values seen."""

    def __init__(self, types: Mapping[str, set[type]], names: Iterable[str] | None = None) -> None:
        chosen = list(names) if names is not None else list(types)
        self.names = chosen
        self.types = {name: _field_type(types.get(name, set())) for name in chosen}

    def arrow(self) -> pa.StructType:
        return pa.struct([(name, self.types[name]) for name in self.names])


def _field_type(seen: set[type]) -> pa.DataType:
    if seen and seen <= {bool}:
        return pa.bool_()
    if seen and seen <= {int}:
        return pa.int64()
    if seen and seen <= {int, float}:
        return pa.float64()
    return pa.string()


def schema(fields: FieldColumns) -> pa.Schema:
    """The Parquet schema of an export with these ``fields``."""
    def typ(name: str) -> pa.DataType:
        if name == "fields":
            return fields.arrow()
        if name in _TIMES:
            return pa.timestamp("ms", tz="UTC")
        if name in _INTS:
            return pa.int64()
        if name in _MAPS:
            return pa.map_(pa.string(), pa.string())
        if name in _LISTS:
            return pa.list_(pa.string())
        if name == "profile_known":
            return pa.bool_()
        return pa.string()
    return pa.schema([(name, typ(name)) for name in COLUMNS])


def _millis(text: Any) -> int | None:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) -> Unix milliseconds."""
    if not isinstance(text, str) or len(text) != 19:
        return None
    return 1000 * calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]),
                                   int(text[11:13]), int(text[14:16]), int(text[17:19]),
                                   0, 0, 0))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class _Sink:
    """One output file. ``pending`` rows are converted but not yet written (Parquet)."""

    pending = 0

    def write(self, payloads: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Write what is pending (a Parquet row group)."""

    def close(self) -> None:
        raise NotImplementedError


class _Jsonl(_Sink):
    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb", buffering=1 << 20)

    def write(self, payloads: list[dict[str, Any]]) -> None:
        self._file.write(b"".join(orjson.dumps(p) + b"\n" for p in payloads))

    def close(self) -> None:
        self._file.close()


class _Csv(_Sink):
    def __init__(self, path: Path, fields: FieldColumns) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8", buffering=1 << 20)
        self._writer = csv.writer(self._file)
        self._fields = fields.names
        header: list[str] = []
        for name in COLUMNS:
            header += [f"fields.{f}" for f in self._fields] if name == "fields" else [name]
        self._writer.writerow(header)

    def _cells(self, p: Mapping[str, Any]) -> list[Any]:
        row: list[Any] = []
        for name in COLUMNS:
            value = p.get(name)
            if name == "fields":
                given = value or {}
                row += [_cell(given.get(f)) for f in self._fields]
            else:
                row.append(_cell(value))
        return row

    def write(self, payloads: list[dict[str, Any]]) -> None:
        self._writer.writerows(self._cells(p) for p in payloads)

    def close(self) -> None:
        self._file.close()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


class _Parquet(_Sink):
    """Payloads become Arrow columns directly: a column no payload of the chunk has is an
    all-null array, without looking at each row for it (most payload keys belong to one event
    type, so most columns of a chunk are empty)."""

    def __init__(self, path: Path, fields: FieldColumns) -> None:
        self._schema = schema(fields)
        self._fields = fields
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._batches: list[pa.RecordBatch] = []
        self.pending = 0
        self.coerced = 0

    def write(self, payloads: list[dict[str, Any]]) -> None:
        present: set[str] = set().union(*payloads)
        arrays = [self._column(f.name, f.type, payloads, present) for f in self._schema]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        # Arrow holds a row in a fraction of a payload dict's memory: convert now, write
        # the row group later
        self._batches.append(batch)
        self.pending += batch.num_rows

    def _column(self, name: str, typ: pa.DataType, payloads: list[dict[str, Any]],
                present: set[str]) -> pa.Array:
        if name == "timestamp":  # the payload's text, to the second: ``time`` says the same
            return pa.array([p["time"] * 1000 for p in payloads], typ)
        if name not in present:
            return pa.nulls(len(payloads), typ)
        values = [p.get(name) for p in payloads]
        if name in _TIMES:
            values = [_millis(v) for v in values]
        elif name == "parameters":
            values = [{k: _text(v) for k, v in given.items() if v is not None}
                      if given is not None else None for given in values]
        elif name == "fields":
            try:
                return pa.array(values, typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # a fields value of another type
                values = [self._coerce(given) for given in values]
        return pa.array(values, typ)

    def flush(self) -> None:
        if self._batches:
            self._writer.write_table(pa.Table.from_batches(self._batches),
                                     row_group_size=self.pending)
            self._batches, self.pending = [], 0

    def _coerce(self, given: dict[str, Any] | None) -> dict[str, Any] | None:
        """Values that do not fit their field's type: strings become JSON text where the
        column is a string; otherwise null (counted in ``coerced``)."""
        if given is None:
            return None
        out: dict[str, Any] = {}
        for name, value in given.items():
            typ = self._fields.types.get(name)
            if typ is None or value is None:
                continue
            if typ == pa.string():
                out[name] = _text(value)
            elif (typ == pa.bool_() and isinstance(value, bool)) or (
                    typ == pa.int64() and isinstance(value, int) and not isinstance(value, bool)) or (
                    typ == pa.float64() and isinstance(value, (int, float))
                    and not isinstance(value, bool)):
                out[name] = value
            else:
                self.coerced += 1
        return out

    def close(self) -> None:
        self.flush()
        self._writer.close()


class TableSink:
    """Writes payloads to one file or to date partitions, buffering at most
    :data:`ROWS_PER_GROUP` rows; :meth:`close` writes the rest. ``files`` lists what it
    wrote. The payloads given to :meth:`add` are held until their chunk is written (JSON
    lines, CSV) or converted (Parquet); the sink does not change them."""

    def __init__(self, out: Path, fmt: str, fields: FieldColumns, by_date: bool,
                 part: int = 0) -> None:
        if fmt not in FORMATS:
            raise InputError("format", f"one of {', '.join(FORMATS)}, got {fmt!r}")
        self.out = out
        self.fmt = fmt
        self.fields = fields
        self.by_date = by_date
        self.part = part
        self.files: list[Path] = []
        self.rows = 0
        self._sinks: dict[str, _Sink] = {}
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._pending = 0
        self._dates: dict[int, str] = {}

    def _date(self, payload: Mapping[str, Any]) -> str:
        day = int(payload.get("time", 0)) // 86400
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
        return text

    def add(self, payload: dict[str, Any]) -> None:
        part = self._date(payload) if self.by_date else ""
        buffer = self._buffers.get(part)
        if buffer is None:
            buffer = self._buffers[part] = []
        buffer.append(payload)
        if len(buffer) >= CHUNK_ROWS:
            self._write(part)

    def _write(self, part: str) -> None:
        rows = self._buffers.pop(part, [])
        if not rows:
            return
        self._sink(part).write(rows)
        self.rows += len(rows)
        self._pending += len(rows) if self.fmt == "parquet" else 0
        if self._pending >= ROWS_PER_GROUP:
            biggest = max(self._sinks.values(), key=lambda sink: sink.pending)
            self._pending -= biggest.pending
            biggest.flush()

    def _sink(self, part: str) -> _Sink:
        sink = self._sinks.get(part)
        if sink is None:
            if self.by_date:
                folder = self.out / f"date={part}"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"part-{self.part:05d}.{self.fmt}"
            else:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                path = self.out
            sink = self._sinks[part] = _open(path, self.fmt, self.fields)
            self.files.append(path)
        return sink

    @property
    def coerced(self) -> int:
        return sum(getattr(s, "coerced", 0) for s in self._sinks.values())

    def close(self) -> None:
        for part in list(self._buffers):
            self._write(part)
        if not self._sinks and not self.by_date:
            self._sink("")  # an empty window still leaves a readable (empty) file
        for sink in self._sinks.values():
            sink.close()


def _open(path: Path, fmt: str, fields: FieldColumns) -> _Sink:
    opener: dict[str, Callable[[], _Sink]] = {
        "jsonl": lambda: _Jsonl(path), "csv": lambda: _Csv(path, fields),
        "parquet": lambda: _Parquet(path, fields)}
    return opener[fmt]()


def is_folder(out: str | Path) -> bool:
    """Whether ``out`` names a folder (existing, or written with a trailing ``/``)."""
    text = str(out)
    return text.endswith(("/", "\\")) or Path(text).is_dir()


def open_sink(out: str | Path, fmt: str, fields: FieldColumns, part: int = 0) -> TableSink:
    """A sink for ``out``: a folder is partitioned by date (files ``part-<part>``), anything
    else is one file."""
    return TableSink(Path(str(out)), fmt, fields, is_folder(out), part)
