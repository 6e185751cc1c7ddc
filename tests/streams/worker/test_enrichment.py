"""The enrich stage without Faust: a dict as the profile table, static views for loops/tags."""
from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.config.loading import parse_config
from streams.demo.events import DemoWorld
from streams.worker.enrichment import Enricher
from streams.metrics import PipelineMetrics
from schemas.loop import Loop
from streams.kafka.registry import StaticView
from streams.kafka.topics import Topics


def loop_def(loop_id: str, events: list[str], validated: bool = True, **extra: Any) -> Loop:
    return Loop.from_doc({"id": loop_id, "url": f"https://hooks.example.com/{loop_id}", "events": events,
            "database": None, "collection": None, "encoding": "json", "fields": None,
            "secrets": [{"secret": "whsec_" + "A" * 32, "expires_at": None}], "status": "enabled",
            "validation": {"file_name": "f.txt", "content": "c", "method": "file",
                           "validated_at": time.time() if validated else None,
                           "validated_url": f"https://hooks.example.com/{loop_id}"},
            "created_at": 1.0, "updated_at": 1.0, "version": 1, **extra})


@pytest.fixture
def world() -> DemoWorld:
    return DemoWorld(profiles=10, databases=("a", "b"), seed=1)


@pytest.fixture
def setup(world: DemoWorld) -> tuple[Enricher, StaticView[dict[str, Any]], dict[bytes, bytes]]:
    topics = Topics(parse_config({}).kafka)
    loops: StaticView[Loop] = StaticView()
    tags: StaticView[dict[str, Any]] = StaticView({m["id"]: m for m in world.mailings})
    enricher = Enricher(topics, loops, tags, PipelineMetrics(CollectorRegistry()))  # type: ignore[arg-type]
    table = {p["id"].encode(): orjson.dumps(p) for p in world.profiles}
    return enricher, loops, table


def handle(enricher: Enricher, table: dict[bytes, bytes], event: dict[str, Any], topic: str | None = None,
           key: bytes | None = None) -> list[Any]:
    etype = event["type"]
    family = "profile" if etype in ("create", "update", "delete") else etype
    topic = topic or enricher.topics.raw[family]
    key = key if key is not None else event["profile"].encode()
    return enricher.handle(topic, 0, 5, 1000, key, orjson.dumps(event), table)


def test_routes_to_matching_validated_loops_only(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    loops.put("a", loop_def("a", ["open"]))
    loops.put("b", loop_def("b", ["open"], validated=False))
    loops.put("c", loop_def("c", ["click"]))
    out = handle(enricher, table, world.event("open"))
    assert [orjson.loads(r.value)["loop_id"] for r in out] == ["a"]
    assert out[0].topic == enricher.topics.deliveries
    delivery = orjson.loads(out[0].value)
    assert delivery["payload"]["email"] and delivery["payload"]["profile_known"] is True


def test_new_loop_is_seen_without_restart(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    assert handle(enricher, table, world.event("open")) == []
    loops.put("a", loop_def("a", ["open"]))
    assert len(handle(enricher, table, world.event("open"))) == 1


def test_invalid_input_goes_to_fl_invalid_with_source(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    out = enricher.handle(enricher.topics.raw["open"], 2, 77, 1000, b"p1", b"{nope", table)
    [record] = out
    headers = dict(record.headers)
    assert record.topic == enricher.topics.invalid and record.value == b"{nope"
    assert b"JSON" in headers["fl-reason"] and headers["fl-source-offset"] == b"77"
    assert headers["fl-source-partition"] == b"2"


def test_wrong_topic_and_wrong_key_are_invalid(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    click = world.event("click")
    [r] = handle(enricher, table, click, topic=enricher.topics.raw["open"])
    assert b"does not belong" in dict(r.headers)["fl-reason"]
    [r] = handle(enricher, table, world.event("open"), key=b"someone-else")
    assert b"keyed" in dict(r.headers)["fl-reason"]


def test_unknown_profile_is_delivered_flagged(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    loops.put("a", loop_def("a", ["open"]))
    event = world.event("open")
    table.pop(event["profile"].encode())
    [r] = handle(enricher, table, event)
    payload = orjson.loads(r.value)["payload"]
    assert payload["profile_known"] is False and payload["email"] == event["recipient"]


def test_profile_edits_update_the_table(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    loops.put("a", loop_def("a", ["open", "update"]))
    profile = world.profiles[0]
    update = world.event("update", profile)
    update["fields"] = {"city": "Zwolle"}
    [r] = handle(enricher, table, update)
    assert orjson.loads(r.value)["payload"]["fields"]["city"] == "Zwolle"
    assert orjson.loads(table[profile["id"].encode()])["fields"]["city"] == "Zwolle"
    [r] = handle(enricher, table, world.event("open", profile))
    assert orjson.loads(r.value)["payload"]["fields"]["city"] == "Zwolle"
    delete = {"id": "6f1c3a4e-8f61-4b6a-9e0e-3f7d1c2b9a10", "type": "delete",
              "occurred_at": "2026-11-26T10:00:00Z", "database": profile["database"],
              "profile": profile["id"]}
    handle(enricher, table, delete)
    assert profile["id"].encode() not in table


def test_snapshots_and_tombstones(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    topic = enricher.topics.ref_profiles
    snap = dict(world.profiles[1], fields={"email": "x@example.org"}, email="x@example.org")
    assert enricher.handle(topic, 0, 1, 1, b"p1", orjson.dumps(snap), table) == []
    assert orjson.loads(table[b"p1"])["email"] == "x@example.org"
    assert enricher.handle(topic, 0, 2, 1, b"p1", None, table) == []
    assert b"p1" not in table
    [bad] = enricher.handle(topic, 0, 3, 1, b"p2", orjson.dumps(snap), table)
    assert b"differs from the record key" in dict(bad.headers)["fl-reason"]


def test_delivery_ids_are_stable_per_event_and_loop(setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    loops.put("a", loop_def("a", ["open"]))
    event = world.event("open")
    first = orjson.loads(handle(enricher, table, event)[0].value)["delivery_id"]
    again = orjson.loads(handle(enricher, table, event)[0].value)["delivery_id"]
    assert first == again


def test_soft_bounces_are_counted_in_the_enrich_stage_even_when_unrouted(world: DemoWorld) -> None:
    from streams.esp.softbounces import SoftBounces

    config = parse_config({"esp": {"soft_bounce_limit": {"count": 2, "days": 7},
                                   "on_hard_bounce": "remove"}})
    topics = Topics.for_config(config)
    metrics = PipelineMetrics(CollectorRegistry())
    enricher = Enricher(topics, StaticView(), StaticView(), metrics,  # type: ignore[arg-type]
                        SoftBounces(config.esp, topics, metrics))
    profile = world.profiles[0]
    table = {profile["id"].encode(): orjson.dumps(profile)}
    counters: dict[bytes, bytes] = {}
    out = []
    for n in (1, 2):
        event = {"id": f"00000000-0000-4000-8000-00000000000{n}", "type": "bounce",
                 "occurred_at": "2026-11-26T10:00:00Z", "database": profile["database"],
                 "profile": profile["id"], "bounce_class": "soft", "action": "failed",
                 "reason": "mailbox-full"}
        out = enricher.handle(topics.raw["bounce"], 0, n, 1000, profile["id"].encode(),
                              orjson.dumps(event), table, counters)
    [action] = out
    assert action.topic == topics.profile_actions
    assert orjson.loads(action.value)["reason"] == "soft-bounce-limit"


def test_loops_sharing_a_field_selection_share_one_encoding_and_get_the_same_payload(
        setup: Any, world: DemoWorld) -> None:
    enricher, loops, table = setup
    loops.put("all-1", loop_def("all-1", ["open"]))
    loops.put("some", loop_def("some", ["open"], fields=["firstname"]))
    loops.put("all-2", loop_def("all-2", ["open"]))
    event = world.event("open")
    alone = handle(enricher, table, event)  # three deliveries, payloads serialised twice
    by_loop = {orjson.loads(r.value)["loop_id"]: orjson.loads(r.value)["payload"] for r in alone}
    assert by_loop["all-1"] == by_loop["all-2"]
    assert set(by_loop["all-1"]["fields"]) > {"firstname"}
    assert by_loop["some"]["fields"] == {"firstname": by_loop["all-1"]["fields"]["firstname"]}
    assert {k: v for k, v in by_loop["some"].items() if k != "fields"} == \
        {k: v for k, v in by_loop["all-1"].items() if k != "fields"}
    loops.put("some", loop_def("some", ["click"]))  # now only the two full ones
    one = {orjson.loads(r.value)["loop_id"]: r.value for r in handle(enricher, table, event)}
    assert orjson.loads(one["all-1"])["payload"] == by_loop["all-1"]
