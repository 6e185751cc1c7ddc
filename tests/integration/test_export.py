"""Export round trip on the real broker: what the live loop received, read back from Parquet
(pyarrow and DuckDB), CSV and JSON lines written by ``feedbackloops export``."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, Callable

import orjson
import pyarrow.parquet as pq
import pytest

from streams.demo.events import DemoWorld, topic_key
from tests.support.history import export_window
from tests.support.payloads import events_of
from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]

MIX = ["open", "open", "click", "bounce", "failure", "delivery", "unsubscribe", "complaint"]


def _live_run(project_factory: Callable[..., Project], receiver: Receiver,
              fields: list[str] | None) -> tuple[Project, DemoWorld, list[dict[str, Any]],
                                                 dict[str, dict[str, Any]], int, int]:
    """A worker and sender deliver ~400 events (of two databases) to a loop of one database;
    returns what the loop received by event id, and the window's bounds (ms)."""
    loop: dict[str, Any] = {"id": "analytics", "url": receiver.url("/live"), "trusted": True,
                            "events": ["open", "click", "bounce", "failure", "delivery",
                                       "unsubscribe", "complaint"], "database": "db-a",
                            "rate_per_s": 100000, "max_in_flight": 64}
    if fields is not None:
        loop["fields"] = fields
    project = project_factory(loops=[loop])
    world = DemoWorld(profiles=60, databases=("db-a", "db-b"), mailings=4, seed=5)
    for profile in world.profiles:
        project.produce(project.topics.ref_profiles, profile["id"], profile)
    for mailing in world.mailings:
        project.produce(project.topics.ref_tags, mailing["id"], mailing)
    project.flush()
    project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    time.sleep(1.0)
    since_ms = int(time.time() * 1000)
    events = [world.event(MIX[i % len(MIX)]) for i in range(400)]
    for event in events:
        project.produce(project.topics.raw[topic_key(event)], event["profile"], event)
    project.produce(project.topics.raw["open"], "p1", b"{not json")  # refused live and here
    project.flush()
    until_ms = int(time.time() * 1000) + 1
    wanted = {e["id"] for e in events if e["database"] == "db-a"}
    receiver.wait_for(lambda cs: len({ev["event_id"] for c in cs for ev in events_of(c)})
                      >= len(wanted), timeout_s=120, what=f"{len(wanted)} live deliveries")
    live = {ev["event_id"]: ev for c in receiver.calls_to("/live") for ev in events_of(c)}
    assert set(live) == wanted
    return project, world, events, live, since_ms, until_ms


def test_parquet_export_equals_what_the_live_loop_received(
        project_factory: Callable[..., Project], receiver: Receiver, tmp_path: Path) -> None:
    project, _world, events, live, since_ms, until_ms = _live_run(
        project_factory, receiver, fields=["firstname", "city"])
    out = tmp_path / "history"
    out.mkdir()
    report = export_window(project, "--since", str(since_ms), "--until", str(until_ms),
                     "--scope", "analytics", "--format", "parquet", "--out", str(out))
    assert report["rows"] == len(live)
    assert report["counts"]["invalid"] == 1
    # date partitions, read back without any hint
    assert all(Path(f).parent.name.startswith("date=") for f in report["files"])
    table = pq.read_table(out)
    assert table.num_rows == len(live)
    types = {f.name: str(f.type) for f in table.schema}
    assert types["timestamp"] == "timestamp[ms, tz=UTC]"
    assert types["time"] == "int64" and types["code"] == "int64"
    assert types["profile_known"] == "bool"
    assert types["fields"] == "struct<firstname: string, city: string>"
    assert types["tags"] == "list<element: string>"
    assert types["headers"].startswith("map<string, string")
    rows = {r["event_id"]: r for r in table.to_pylist()}
    assert set(rows) == set(live)
    for event_id, sent in live.items():
        row = rows[event_id]
        for key, value in sent.items():
            if key == "timestamp":
                assert row[key].strftime("%Y-%m-%d %H:%M:%S") == value
            elif key == "headers":
                assert dict(row[key]) == value
            else:
                assert row[key] == value, (key, row[key], value)
        # nothing the live payload lacked, except nulls of other event types' columns
        extra = {k for k, v in row.items() if v is not None} - set(sent) - {"date"}
        assert not extra, extra
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    glob = str(out / "**" / "*.parquet")
    count, cities = con.execute(
        f"select count(*), count(distinct fields.city) from read_parquet('{glob}')").fetchone()
    assert count == len(live) and cities >= 2
    assert con.execute(f"select typeof(timestamp) from read_parquet('{glob}') limit 1"
                       ).fetchone()[0].startswith("TIMESTAMP")
    by_type = dict(con.execute(f"select type, count(*) from read_parquet('{glob}') group by 1"
                               ).fetchall())
    assert by_type == {t: sum(1 for e in events if e["type"] == t and e["database"] == "db-a")
                       for t in by_type}


def test_csv_and_jsonl_exports_with_filters(
        project_factory: Callable[..., Project], receiver: Receiver, tmp_path: Path) -> None:
    project, world, events, live, since_ms, until_ms = _live_run(project_factory, receiver,
                                                                 fields=None)
    window = ("--since", str(since_ms), "--until", str(until_ms))
    report = export_window(project, *window, "--types", "open,click", "--database", "db-b",
                     "--format", "jsonl", "--out", str(tmp_path / "b.jsonl"))
    lines = [orjson.loads(line) for line in (tmp_path / "b.jsonl").read_bytes().splitlines()]
    expected = {e["id"] for e in events if e["type"] in ("open", "click")
                and e["database"] == "db-b"}
    assert {p["event_id"] for p in lines} == expected and report["rows"] == len(expected)
    assert all(p["email"] == world.by_id[p["profile"]]["email"] for p in lines)
    export_window(project, *window, "--format", "csv", "--out", str(tmp_path / "all.csv"))
    with open(tmp_path / "all.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(events)
    assert {"fields.city", "fields.firstname", "fields.email"} <= set(rows[0])
    by_id = {r["event_id"]: r for r in rows}
    for event_id, sent in live.items():  # db-a events: what the loop (all fields) received
        row = by_id[event_id]
        assert row["timestamp"] == sent["timestamp"] and row["email"] == sent["email"]
        assert {k: row[f"fields.{k}"] for k in sent["fields"]} == sent["fields"]
        assert json.loads(row["tags"]) == sent["tags"]
        assert row["profile_known"] == "true"
