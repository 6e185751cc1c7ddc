"""Export files: every payload key is a column, types as documented, one schema per export."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enrichers.enrich import enrich
from streams.demo.events import DemoWorld
from streams.kafka.changelog import FieldTypes
from streams.ops import tables
from streams.ops.tables import COLUMNS, FieldColumns, open_sink


def payloads() -> list[dict[str, Any]]:
    world = DemoWorld(profiles=8, seed=2)
    out = []
    for etype in ("open", "click", "bounce", "failure", "delivery", "update", "unsubscribe",
                  "complaint", "create", "delete"):
        event = world.event(etype) if etype not in ("create", "delete") else \
            {**world.event("update"), "type": etype}
        if etype == "update":
            event["parameters"] = {"source": "form", "step": 2}
        mailing = next((m for m in world.mailings if m["id"] == event.get("mailing")), None)
        out.append(enrich(event, world.by_id.get(event["profile"]), mailing))
    return out


def test_every_key_of_every_payload_is_a_column() -> None:
    keys = {k for p in payloads() for k in p}
    assert keys <= set(COLUMNS), keys - set(COLUMNS)


def test_field_types_from_the_values_seen() -> None:
    seen = FieldTypes()
    seen.add({"n": 1, "x": 1.5, "b": True, "s": "a", "mixed": 1, "none": None})
    seen.add({"n": 2, "x": 2, "mixed": "text"})
    seen.add_profile({"fields": {}, "subprofiles": {"s1": {"fields": {"sub": "v"}}}})
    cols = FieldColumns(seen.types)
    assert {n: str(t) for n, t in cols.types.items()} == {
        "n": "int64", "x": "double", "b": "bool", "s": "string", "mixed": "string",
        "none": "string", "sub": "string"}
    assert FieldColumns(seen.types, ["s", "unknown"]).names == ["s", "unknown"]


def test_parquet_types_and_date_partitions(tmp_path: Path) -> None:
    rows = payloads()
    seen = FieldTypes()
    for p in rows:
        seen.add(p.get("fields"))
    sink = open_sink(f"{tmp_path}/out/", "parquet", FieldColumns(seen.types))
    for p in rows:
        sink.add(dict(p))
    sink.close()
    assert all(f.parent.name.startswith("date=") for f in sink.files)
    table = pq.read_table(tmp_path / "out")
    assert table.num_rows == len(rows)
    schema = table.schema
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("created").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("code").type == pa.int64()
    assert pa.types.is_struct(schema.field("fields").type)
    back = {r["event_id"]: r for r in table.to_pylist()}
    for p in rows:
        r = back[p["event_id"]]
        assert r["time"] == p["time"] and r["tags"] == p["tags"]
        assert r["timestamp"].strftime("%Y-%m-%d %H:%M:%S") == p["timestamp"]
        assert {k: v for k, v in r["fields"].items() if v is not None} == p["fields"]
        if "parameters" in p:  # non-string values as JSON text
            assert dict(r["parameters"]) == {"source": "form", "step": "2"}


def test_a_field_value_of_another_type_is_not_fatal(tmp_path: Path) -> None:
    cols = FieldColumns({"age": {int}})
    sink = open_sink(tmp_path / "x.parquet", "parquet", cols)
    base = payloads()[0]
    sink.add({**base, "fields": {"age": 40}})
    sink.add({**base, "event_id": "other", "fields": {"age": "forty"}})
    sink.close()
    rows = pq.read_table(tmp_path / "x.parquet").to_pylist()
    assert [r["fields"]["age"] for r in rows] == [40, None] and sink.coerced == 1


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats(tmp_path: Path, fmt: str) -> None:
    rows = payloads()
    cols = FieldColumns({"city": {str}, "firstname": {str}})
    sink = open_sink(tmp_path / f"x.{fmt}", fmt, cols)
    for p in rows:
        sink.add(dict(p))
    sink.close()
    if fmt == "jsonl":
        back = [orjson.loads(line) for line in (tmp_path / "x.jsonl").read_bytes().splitlines()]
        assert back == rows
        return
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    first = table[0]
    assert "fields.city" in first and "fields" not in first
    assert first["profile_known"] == "true" and orjson.loads(first["tags"]) == rows[0]["tags"]


def test_chunks_with_different_keys_write_one_table(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # a column no payload of a chunk has is written as nulls; the next chunk may fill it
    monkeypatch.setattr(tables, "CHUNK_ROWS", 3)
    rows = payloads()
    opens = [p for p in rows if p["type"] == "open"] * 3
    failures = [p for p in rows if p["type"] == "failure"] * 3
    updates = [p for p in rows if p["type"] == "update"] * 3
    seen = FieldTypes()
    for p in rows:
        seen.add(p.get("fields"))
    sink = open_sink(tmp_path / "x.parquet", "parquet", FieldColumns(seen.types))
    for p in opens + failures + updates:
        sink.add(dict(p))
    sink.close()
    back = pq.read_table(tmp_path / "x.parquet").to_pylist()
    assert [r["type"] for r in back] == ["open"] * 3 + ["failure"] * 3 + ["update"] * 3
    assert [r["code"] for r in back] == [None] * 3 + [failures[0]["code"]] * 3 + [None] * 3
    assert [r["headers"] is None for r in back] == [False] * 3 + [True] * 6
    assert all(r["created"] is not None for r in back[6:]) and \
        all(r["created"] is None for r in back[:6])
    assert [dict(r["parameters"]) for r in back[6:]] == [{"source": "form", "step": "2"}] * 3
