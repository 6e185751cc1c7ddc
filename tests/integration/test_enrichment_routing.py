"""Issue 3 end to end on the real broker: mixed events for 1,000 profiles, three loops with
different filters and encodings, malformed input, a profile update before an open."""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from streams.demo.events import DemoWorld, topic_key
from tests.support.payloads import events_of
from tests.support.processes import Project
from tests.support.receiver import Receiver
from tests.support.topics import read_topic

pytestmark = [pytest.mark.kafka]

MIX = ["open"] * 40 + ["click"] * 25 + ["bounce"] * 5 + ["failure"] * 5 + ["delivery"] * 10 + \
      ["update"] * 5 + ["unsubscribe"] * 5 + ["complaint"] * 5


def loop(id_: str, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": id_, "url": url, "events": events, "trusted": True, "rate_per_s": 100000,
            "max_in_flight": 64, **extra}


def test_mixed_events_reach_exactly_the_loops_that_asked(
        project_factory: Callable[..., Project], receiver: Receiver, tmp_path: Path) -> None:
    project = project_factory(loops=[
        loop("engagement-a", receiver.url("/a"), ["open", "click"], database="db-a",
             fields=["firstname", "city"]),
        loop("problems", receiver.url("/b"), ["bounce", "failure", "complaint", "unsubscribe"],
             encoding="form"),
        loop("b-batch", receiver.url("/c"), ["open", "delivery", "update"], database="db-b",
             encoding="json-batch", batch={"max_events": 50, "max_wait_ms": 200}),
    ])
    world = DemoWorld(profiles=1000, databases=("db-a", "db-b"), mailings=10, seed=3)
    # Profiles through the bulk loader (the CLI), tags straight to the topic.
    profiles_file = tmp_path / "profiles.jsonl"
    profiles_file.write_bytes(b"\n".join(orjson.dumps(p) for p in world.profiles))
    loader = project.start("profiles", "load", "--quiet", str(profiles_file), name="loader")
    assert loader.proc.wait(120) == 0, loader.log()
    assert "loaded 1000 profiles" in loader.log()
    for mailing in world.mailings:
        project.produce(project.topics.ref_tags, mailing["id"], mailing)
    project.flush()
    # Updates only touch profiles p0..p49, so every other profile's fields are known exactly.
    updated = {f"p{i}" for i in range(50)}
    stable = [p for p in world.profiles if p["id"] not in updated]
    events: list[dict[str, Any]] = []
    for i in range(10_000):
        etype = MIX[i % len(MIX)]
        profile = world.by_id[f"p{i % 50}"] if etype == "update" else world.rng.choice(stable)
        events.append(world.event(etype, profile))
    worker = project.start("worker", "-l", "info")
    sender = project.start("sender", name="sender")
    for event in events:
        project.produce(project.topics.raw[topic_key(event)], event["profile"], event)
    raw_topics = list(project.topics.raw.values())
    for i in range(200):
        project.produce(raw_topics[i % len(raw_topics)], f"p{i}", world.malformed(i))
    project.flush()

    def wanted(pred: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {e["id"] for e in events if pred(e)}

    expect = {
        "/a": wanted(lambda e: e["type"] in ("open", "click") and e["database"] == "db-a"),
        "/b": wanted(lambda e: e["type"] in ("bounce", "failure", "complaint", "unsubscribe")),
        "/c": wanted(lambda e: e["type"] in ("open", "delivery", "update") and e["database"] == "db-b"),
    }
    total = sum(len(v) for v in expect.values())

    def got(path: str) -> list[dict[str, Any]]:
        return [ev for c in receiver.calls_to(path) for ev in events_of(c)]

    receiver.wait_for(lambda _: sum(len(got(p)) for p in expect) >= total, timeout_s=180,
                      what=f"{total} deliveries")
    time.sleep(1.0)  # anything extra would arrive now
    by_id = {e["id"]: e for e in events}
    for path, ids in expect.items():
        received = got(path)
        counts = Counter(ev["event_id"] for ev in received)
        assert set(counts) == ids, f"{path}: wrong set of events"
        assert max(counts.values()) == 1, f"{path}: duplicates without any crash"
        for ev in received:
            raw = by_id[ev["event_id"]]
            profile = world.by_id[raw["profile"]]
            assert ev["type"] == raw["type"]
            assert ev["email"] == profile["email"]
            if raw["type"] == "update":
                assert ev["fields"]["city"] == raw["fields"]["city"]
                continue
            if path == "/a":  # field selection: only the two fields the loop asked for
                assert ev["fields"] == {k: profile["fields"][k] for k in ("firstname", "city")}
            else:
                assert ev["fields"] == profile["fields"]
            if "mailing" in raw:
                mailing = next(m for m in world.mailings if m["id"] == raw["mailing"])
                expected_tags = list(mailing["tags"])
                if raw["type"] == "click":
                    expected_tags += mailing["links"][raw["link"]]["tags"]
                assert ev["tags"] == expected_tags
            if raw["type"] in ("open", "click"):
                assert ev["ip"] == raw["ip"] and ev["headers"] == raw["headers"]
    # 200 malformed records: all in fl.invalid, each with a reason and its source.
    invalid = read_topic(project, project.topics.invalid, 200)
    assert len(invalid) == 200
    for msg in invalid:
        headers = dict(msg.headers())
        assert headers["fl-reason"] and headers["fl-source-topic"].decode() in raw_topics
        assert int(headers["fl-source-offset"]) >= 0
    reasons = {dict(m.headers())["fl-reason"].decode() for m in invalid}
    assert any("JSON" in r for r in reasons) and any("UTF-8" in r for r in reasons)
    assert any("occurred_at" in r for r in reasons) and any("opne" in r for r in reasons)
    # No restarts: both processes are the ones we started, alive.
    assert worker.proc.poll() is None and sender.proc.poll() is None
    assert "Traceback" not in worker.log() and "Traceback" not in sender.log()


def test_profile_update_then_open_carries_updated_fields(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(loops=[loop("opens", receiver.url("/o"), ["open"])])
    world = DemoWorld(profiles=5, seed=11)
    profile = world.profiles[0]
    project.produce(project.topics.ref_profiles, profile["id"], profile)
    project.flush()
    project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    update = world.event("update", profile)
    update["fields"] = {"city": "Zwolle", "firstname": "Änne"}
    opened = world.event("open", profile)
    project.produce(project.topics.raw["profile"], profile["id"], update)
    project.produce(project.topics.raw["open"], profile["id"], opened)
    project.flush()
    calls = receiver.wait_for(lambda cs: len(cs) >= 1, timeout_s=60, what="the open")
    payload = events_of(calls[0])[0]
    assert payload["event_id"] == opened["id"]
    assert payload["fields"]["city"] == "Zwolle" and payload["fields"]["firstname"] == "Änne"
    assert payload["fields"]["lastname"] == profile["fields"]["lastname"]
