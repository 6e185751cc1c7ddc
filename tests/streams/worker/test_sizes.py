"""The enrich stage's size limits (streams.worker.sizes through the Enricher): every oversize
input ends on fl.invalid with a reason naming its setting, or is delivered trimmed and marked;
the profile table never holds what is over its limit."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from schemas.loop import Loop
from streams.config.loading import parse_config
from streams.config.settings import LimitsConfig
from streams.demo.events import DemoWorld
from streams.kafka.records import new_delivery
from streams.kafka.registry import StaticView
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics
from streams.worker.enrichment import Enricher
from streams.worker.sizes import SizeChecks
from tests.streams.worker.test_enrichment import handle, loop_def

LIMITS = LimitsConfig(raw_event_bytes=20_000, profile_bytes=30_000, payload_bytes=40_000)


class World:
    def __init__(self, limits: LimitsConfig = LIMITS) -> None:
        self.demo = DemoWorld(profiles=5, seed=2)
        self.metrics = PipelineMetrics(CollectorRegistry())
        self.loops: StaticView[Loop] = StaticView()
        tags: StaticView[dict[str, Any]] = StaticView({m["id"]: m for m in self.demo.mailings})
        self.enricher = Enricher(Topics(parse_config({}).kafka), self.loops, tags,  # type: ignore[arg-type]
                                 self.metrics, limits=limits)
        self.table = {p["id"].encode(): orjson.dumps(p) for p in self.demo.profiles}

    def oversize(self, kind: str) -> float:
        return float(self.metrics.oversize.labels(kind)._value.get())


@pytest.fixture
def w() -> World:
    return World()


def reason(record: Any) -> str:
    return str(dict(record.headers)["fl-reason"].decode())


def test_a_raw_event_over_its_limit_is_invalid_with_the_setting_named(w: World) -> None:
    w.loops.put("a", loop_def("a", ["open"]))
    event = w.demo.event("open")
    event["headers"] = {f"X-{i}": "v" * 1000 for i in range(25)}  # ~26 kB, schema-valid
    value = orjson.dumps(event)
    [record] = w.enricher.handle(w.enricher.topics.raw["open"], 3, 99, 1000,
                                 event["profile"].encode(), value, w.table)
    assert record.topic == w.enricher.topics.invalid and record.value == value
    assert reason(record) == (f"the raw event is {len(value)} bytes, over the 20000-byte limit "
                              "(limits.raw_event_bytes)")
    assert dict(record.headers)["fl-source-offset"] == b"99"
    assert w.oversize("raw_event") == 1


def test_a_snapshot_over_its_limit_is_refused_and_the_table_keeps_what_it_had(w: World) -> None:
    profile = dict(w.demo.profiles[0])
    before = w.table[profile["id"].encode()]
    profile["fields"] = {f"f{i}": "x" * 1000 for i in range(40)}
    value = orjson.dumps(profile)
    [record] = w.enricher.handle(w.enricher.topics.ref_profiles, 0, 7, 1000,
                                 profile["id"].encode(), value, w.table)
    assert record.topic == w.enricher.topics.invalid and record.value == value
    assert reason(record).startswith(f"the profile snapshot is {len(value)} bytes, over the "
                                     "30000-byte limit (limits.profile_bytes)")
    assert w.table[profile["id"].encode()] == before
    assert w.oversize("profile") == 1
    # a snapshot under the limit still goes in: the table keeps working
    profile["fields"] = {"city": "Delft"}
    assert w.enricher.handle(w.enricher.topics.ref_profiles, 0, 8, 1000, profile["id"].encode(),
                             orjson.dumps(profile), w.table) == []
    assert orjson.loads(w.table[profile["id"].encode()])["fields"] == {"city": "Delft"}


def test_an_edit_that_would_make_the_profile_too_large_is_refused(w: World) -> None:
    w.loops.put("a", loop_def("a", ["update"]))
    profile = w.demo.profiles[1]
    before = w.table[profile["id"].encode()]
    update = w.demo.event("update", profile)
    update["fields"] = {"g0": "y" * 15_000}
    first = handle(w.enricher, w.table, update)
    assert first[0].topic == w.enricher.topics.deliveries  # 15 kB more still fits
    grown = w.table[profile["id"].encode()]
    update = w.demo.event("update", profile)
    update["fields"] = {"g1": "z" * 15_000}
    [record] = handle(w.enricher, w.table, update)
    assert record.topic == w.enricher.topics.invalid
    assert dict(record.headers)["fl-field"] == b"fields"
    assert "the profile after this update is" in reason(record)
    assert "(limits.profile_bytes)" in reason(record)
    assert w.table[profile["id"].encode()] == grown != before
    assert w.oversize("profile_edit") == 1


def test_an_oversize_payload_loses_its_largest_fields_and_says_which(w: World) -> None:
    w.loops.put("a", loop_def("a", ["open"]))
    profile = dict(w.demo.profiles[2])
    profile["fields"] = {**profile["fields"], "bio": "b" * 16_000, "notes": "n" * 13_000,
                         "cv": "c" * 12_000, "small": "s"}
    w.table[profile["id"].encode()] = orjson.dumps(profile)  # 41 kB, put in directly
    event = w.demo.event("open", profile)
    [record] = handle(w.enricher, w.table, event)
    assert record.topic == w.enricher.topics.deliveries
    payload = orjson.loads(record.value)["payload"]
    assert len(orjson.dumps(payload)) <= 40_000
    assert payload["fields_omitted"] == ["bio"]
    assert payload["fields"]["notes"] == "n" * 13_000 and payload["fields"]["small"] == "s"
    assert payload["email"] == profile["email"] and payload["event_id"] == event["id"]
    assert w.oversize("payload") == 1


def test_a_payload_that_cannot_fit_sends_the_event_to_fl_invalid() -> None:
    w = World(LimitsConfig(payload_bytes=4096))
    w.loops.put("a", loop_def("a", ["open"]))
    event = w.demo.event("open")
    event["headers"] = {f"X-{i}": "v" * 1000 for i in range(5)}  # the event alone is over
    [record] = handle(w.enricher, w.table, event)
    assert record.topic == w.enricher.topics.invalid and record.value == orjson.dumps(event)
    assert "payload for loop a is" in reason(record)
    assert "even without its profile fields" in reason(record)


def test_a_small_payload_is_not_re_encoded() -> None:
    checks = SizeChecks(LIMITS, PipelineMetrics(CollectorRegistry()))
    delivery = new_delivery("d1", "a", {"id": "e1", "type": "open"}, {"fields": {"a": "b"}}, 1)
    encoded = orjson.dumps(delivery)
    assert checks.delivery(delivery, encoded) is encoded


def test_a_tags_record_over_its_limit_is_skipped_and_the_mailing_keeps_its_tags() -> None:
    from streams.worker.runtime import WorkerRuntime

    config = parse_config({"limits": {"tags_bytes": 2048}})
    metrics = PipelineMetrics(CollectorRegistry())
    runtime = WorkerRuntime(config, Topics.for_config(config), metrics)
    view = runtime.tags
    small = {"id": "m1", "tags": ["spring"]}
    view._apply(0, 0, b"m1", orjson.dumps(small))  # what the follower thread does per record
    big = {"id": "m1", "tags": [f"tag-{i}-" + "t" * 200 for i in range(20)]}
    view._apply(0, 1, b"m1", orjson.dumps(big))
    assert view.get("m1") == small and view.rejected == 1
    assert metrics.oversize.labels("tags")._value.get() == 1


def test_fausts_producer_takes_the_same_record_limit(tmp_path: Any) -> None:
    from streams.worker.app import build_app

    config = parse_config({"worker": {"data_dir": str(tmp_path), "store": "memory"},
                           "limits": {"record_bytes": 2_000_000}})
    app = build_app(config)
    # the profile table's changelog records are refused by aiokafka above this
    assert app.conf.producer_max_request_size == 2_000_000
