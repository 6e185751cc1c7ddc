"""Export and replay in repartition mode, on the real broker, after a ``partitions scale``.

In repartition mode the raw topics are not co-partitioned with the profile table: export and
replay read every partition of the *serving* generation's profile changelog
(:func:`streams.kafka.partitioning.serving_changelog`). One live run serves both tests: a
worker in repartition mode, two loops, a window of opens and clicks (a few of them naming
profiles never loaded) enriched live by generation 1 (4 partitions), then `partitions scale
6`: generation 2's table (6 partitions, a copy of generation 1's) serves the export and the
replay.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from enrichers.routing import delivery_id
from tests.support.history import ReplayWorld, export_window, header
from tests.support.payloads import events_of
from tests.support.processes import projects
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]

GHOSTS = 3


@pytest.fixture(scope="module")
def scaled(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ReplayWorld]:
    """The live run; generation 2 (6 partitions) serves after it."""
    receiver = Receiver().start()
    factory = projects(kafka_bootstrap, tmp_path_factory.mktemp("repartition"), receiver, {})
    try:
        yield ReplayWorld(next(factory), receiver,
                          worker={"partitioning": "repartition", "session_timeout_s": 6},
                          scale_to=6, ghosts=GHOSTS)
    finally:
        next(factory, None)  # stops the processes, deletes the topics
        receiver.stop()


def _live_window(w: ReplayWorld) -> dict[str, dict[str, Any]]:
    """What loop A received live for the window's events, by event id."""
    wanted = {e["id"] for e in w.window}
    return {ev["event_id"]: ev for c in w.receiver.calls_to("/a") for ev in events_of(c)
            if ev["event_id"] in wanted}


def test_export_in_repartition_mode_equals_what_the_live_loop_received(
        scaled: ReplayWorld, tmp_path: Path) -> None:
    w = scaled
    log = w.worker.log()
    assert log.index("worker of generation 1 (4 partitions)") < log.index(
        "worker of generation 2 (6 partitions)")
    live = _live_window(w)
    assert len(live) == len(w.window)
    assert sum(not ev["profile_known"] for ev in live.values()) == GHOSTS
    out = tmp_path / "window.jsonl"
    report = export_window(w.project, "--since", str(w.since_ms), "--until", str(w.until_ms),
                           "--scope", "loop-a", "--format", "jsonl", "--out", str(out))
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert report["rows"] == len(rows) == len(w.window)
    by_id = {row["event_id"]: row for row in rows}
    assert set(by_id) == set(live)
    for event_id, sent in live.items():  # e-mail, fields, tags, profile_known: all of it
        assert by_id[event_id] == sent, event_id
    known = [row for row in rows if not row["profile"].startswith("ghost")]
    assert all(row["profile_known"] and row["email"] == w.world.by_id[row["profile"]]["email"]
               for row in known)


def test_replay_in_repartition_mode_redelivers_the_window_to_that_loop_marked(
        scaled: ReplayWorld) -> None:
    w = scaled
    live = _live_window(w)
    started = w.start()
    rid = started["id"]
    assert started["records"] == len(w.window)
    w.receiver.wait_for(lambda _: len(w.replayed_to("/a")) >= len(w.window), timeout_s=120,
                        what="the replayed window")
    # a replay's state is done once its lane delivered everything: later calls would be extra
    status = w.project.start("replay", "status", rid, "--quiet", name="cli")
    assert status.proc.wait(120) == 0 and '"state": "done"' in status.log(), status.log()
    calls = w.replayed_to("/a")
    counts = Counter(events_of(c)[0]["event_id"] for c in calls)
    assert set(counts) == set(live) and set(counts.values()) == {1}, counts
    assert not w.replayed_to("/b"), "a replay goes to its loop only"
    for call in calls:
        body = events_of(call)[0]
        assert body["replay"] is True and header(call, "webhook-replay") == rid
        assert header(call, "webhook-id") == delivery_id(body["event_id"], "loop-a")
        assert {k: v for k, v in body.items() if k != "replay"} == live[body["event_id"]]
    assert sum(not events_of(c)[0]["profile_known"] for c in calls) == GHOSTS
