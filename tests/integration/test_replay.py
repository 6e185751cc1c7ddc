"""Replays on the real broker: the window's events (by event id) to that loop only, marked;
kill -9 of the replayer mid-replay and resume; cancel; --new-ids; dry run; bad input."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
import yaml
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from enrichers.routing import delivery_id, replay_delivery_id
from streams.demo.events import DemoWorld, topic_key
from streams.kafka.clients import confluent_config
from tests.support.api import Api
from tests.support.payloads import events_of
from tests.support.processes import Project
from tests.support.receiver import Call, Receiver

pytestmark = [pytest.mark.kafka]

TOKEN = "replay-test-token-0123456789"
OPENAPI = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def conforms(method: str, path: str, answer: Any) -> Any:
    """The answer, after checking it against docs/openapi.yaml (status and body)."""
    spec = OPENAPI["paths"][path][method]["responses"].get(str(answer.status))
    assert spec is not None, (method, path, answer.status, answer.body)
    if "$ref" in spec:
        spec = OPENAPI["components"]["responses"][spec["$ref"].split("/")[-1]]
    schema = spec["content"]["application/json"]["schema"]
    jsonschema.validate(answer.body, {**schema, "components": OPENAPI["components"]})
    return answer


def _replayed(calls: list[Call]) -> list[Call]:
    return [c for c in calls if "webhook-replay" in {k.lower() for k in c.headers}]


def _header(call: Call, name: str) -> str:
    return next(v for k, v in call.headers.items() if k.lower() == name)


class World:
    """Two trusted loops (A: opens and clicks, B: opens), a worker, a sender, a replayer and
    three batches of events: before, inside and after the replay window."""

    def __init__(self, project_factory: Callable[..., Project], receiver: Receiver,
                 per_batch: int = 60) -> None:
        self.receiver = receiver
        self.project = project_factory(
            loops=[{"id": "loop-a", "url": receiver.url("/a"), "events": ["open", "click"],
                    "trusted": True, "rate_per_s": 100000, "max_in_flight": 64},
                   {"id": "loop-b", "url": receiver.url("/b"), "events": ["open"],
                    "trusted": True, "rate_per_s": 100000, "max_in_flight": 64}],
            api={"tokens": [TOKEN]},
            replay={"metrics_port": 0, "max_ahead": 100})
        p = self.project
        world = DemoWorld(profiles=30, seed=9)
        for profile in world.profiles:
            p.produce(p.topics.ref_profiles, profile["id"], profile)
        for mailing in world.mailings:
            p.produce(p.topics.ref_tags, mailing["id"], mailing)
        p.flush()
        self.worker = p.start("worker", "-l", "info")
        p.start("sender", name="sender")
        self.api = Api.of(self.worker, TOKEN, timeout_s=120)
        batches = []
        marks = []
        for _ in range(3):
            marks.append(int(time.time() * 1000))
            events = [world.event("open" if i % 3 else "click") for i in range(per_batch)]
            for event in events:
                p.produce(p.topics.raw[topic_key(event)], event["profile"], event)
            p.flush()
            batches.append(events)
            time.sleep(1.0)
        self.since_ms, self.until_ms = marks[1], marks[2]
        self.window = batches[1]
        total = sum(len(b) for b in batches)
        opens = sum(1 for b in batches for e in b if e["type"] == "open")
        receiver.wait_for(lambda cs: len(cs) >= total + opens, timeout_s=120,
                          what="the live deliveries")
        self.live = {_header(c, "webhook-id"): c for c in receiver.calls_to("/a")}
        self.replayer = p.start("replayer", name="replayer")

    def start(self, *options: str, loop: str = "loop-a") -> dict[str, Any]:
        proc = self.project.start("replay", "start", loop, "--since", str(self.since_ms),
                                  "--until", str(self.until_ms), *options, name="cli")
        assert proc.proc.wait(120) == 0, proc.log()
        text = proc.log()
        return json.loads(text[text.index("{"):])

    def replayed_to(self, path: str) -> list[Call]:
        return _replayed(self.receiver.calls_to(path))


def test_a_replay_redelivers_exactly_the_window_to_that_loop_marked(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    w = World(project_factory, receiver)
    # the first replayed calls fail: they wait in a retry tier, the live sender hands them
    # back, and the replay lane sends them again (marked, same webhook-id)
    receiver.behave("/a", statuses=[503, 503, 503])
    started = w.start()
    rid = started["id"]
    assert started["loop_id"] == "loop-a" and started["records"] == len(w.window)
    expected = {e["id"] for e in w.window}
    # every event, and the three failed ones again (a failed call is recorded too)
    receiver.wait_for(lambda _: len(w.replayed_to("/a")) >= len(expected) + 3, timeout_s=120,
                      what="the replayed window and the three retries")
    time.sleep(2.0)  # anything beyond the window would arrive now
    calls = w.replayed_to("/a")
    assert {events_of(c)[0]["event_id"] for c in calls} == expected
    assert len(calls) == len(expected) + 3, "three retried, nothing else twice"
    twice = [i for i, n in Counter(events_of(c)[0]["event_id"] for c in calls).items() if n == 2]
    assert len(twice) == 3
    assert not w.replayed_to("/b"), "a replay goes to its loop only"
    for call in calls:
        body = events_of(call)[0]
        assert body["replay"] is True and _header(call, "webhook-replay") == rid
        # the original delivery's id: a receiver that has the event can drop it
        assert _header(call, "webhook-id") == delivery_id(body["event_id"], "loop-a")
        original = events_of(w.live[_header(call, "webhook-id")])[0]
        assert {k: v for k, v in body.items() if k != "replay"} == original
    # visible over the API, finished, counted
    deadline = time.monotonic() + 60
    while (answer := conforms("get", "/replays/{id}", w.api.call("GET", f"/replays/{rid}"))
           ).body["state"] != "done":
        assert time.monotonic() < deadline, answer.body
        time.sleep(0.5)
    assert answer.body["delivered"] >= len(expected) and answer.body["routed"] == len(expected)
    listed = conforms("get", "/replays", w.api.call("GET", "/replays")).body["replays"]
    assert [r["id"] for r in listed] == [rid]
    status = w.project.start("replay", "status", rid, "--quiet", name="cli")
    assert status.proc.wait(60) == 0 and '"state": "done"' in status.log()


def test_kill_9_mid_replay_resumes_with_nothing_missing(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    w = World(project_factory, receiver, per_batch=200)
    rid = w.start("--rate", "25")["id"]
    receiver.wait_for(lambda _: len(w.replayed_to("/a")) >= 40, timeout_s=120,
                      what="the first replayed calls")
    w.replayer.kill()
    time.sleep(1.0)
    w.replayer = w.project.start("replayer", name="replayer")
    expected = {e["id"] for e in w.window}
    receiver.wait_for(lambda _: {events_of(c)[0]["event_id"] for c in w.replayed_to("/a")}
                      >= expected, timeout_s=240, what="every event of the window")
    calls = w.replayed_to("/a")
    ids = {events_of(c)[0]["event_id"] for c in calls}
    assert ids == expected, f"missing {len(expected - ids)}, extra {len(ids - expected)}"
    hooks: dict[str, set[str]] = {}
    for call in calls:
        hooks.setdefault(events_of(call)[0]["event_id"], set()).add(_header(call, "webhook-id"))
        assert _header(call, "webhook-replay") == rid
    assert all(len(v) == 1 for v in hooks.values()), "a duplicate carries the same webhook-id"


def test_cancel_stops_it_and_new_ids_and_dry_run(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    w = World(project_factory, receiver, per_batch=200)
    dry = w.start("--dry-run")
    assert dry["state"] == "done" and dry["selected"] == len(w.window) and dry["routed"] == 0
    time.sleep(1.0)
    assert not w.replayed_to("/a"), "a dry run sends nothing"
    answer = w.api.call("POST", "/replays", {"loop": "loop-a", "since": w.since_ms,
                                             "until": w.until_ms, "rate_per_s": 20,
                                             "new_ids": True})
    assert answer.status == 201, answer.body
    rid = conforms("post", "/replays", answer).body["id"]
    receiver.wait_for(lambda _: len(w.replayed_to("/a")) >= 15, timeout_s=120,
                      what="the first replayed calls")
    listed = w.project.start("replay", "list", name="cli")  # started over the API, seen here
    assert listed.proc.wait(60) == 0 and rid in listed.log()
    assert conforms("delete", "/replays/{id}", w.api.call("DELETE", f"/replays/{rid}")
                    ).status == 202
    deadline = time.monotonic() + 30
    while w.api.call("GET", f"/replays/{rid}").body["state"] != "cancelled":
        assert time.monotonic() < deadline, "not cancelled within 30 s"
        time.sleep(0.2)
    time.sleep(2.0)  # calls on the wire when the cancel landed
    settled = len(w.replayed_to("/a"))
    time.sleep(4.0)
    assert len(w.replayed_to("/a")) == settled, "calls went on after the cancel"
    assert settled < len(w.window)
    for call in w.replayed_to("/a"):
        event_id = events_of(call)[0]["event_id"]
        assert _header(call, "webhook-id") == replay_delivery_id(event_id, "loop-a", rid)
        assert _header(call, "webhook-id") != delivery_id(event_id, "loop-a")
    # two replays of one loop at once
    first = w.start("--types", "click")
    second = w.start("--types", "open")
    clicks = {e["id"] for e in w.window if e["type"] == "click"}
    opens = {e["id"] for e in w.window if e["type"] == "open"}
    for rid_, ids in ((first["id"], clicks), (second["id"], opens)):
        receiver.wait_for(lambda _, r=rid_, i=ids: {
            events_of(c)[0]["event_id"] for c in w.replayed_to("/a")
            if _header(c, "webhook-replay") == r} == i, timeout_s=180, what=f"replay {rid_}")


def test_bad_input_is_refused_naming_the_field(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(
        loops=[{"id": "ok", "url": receiver.url("/ok"), "events": ["open"], "trusted": True},
               {"id": "unvalidated", "url": receiver.url("/u"), "events": ["open"]}],
        api={"tokens": [TOKEN]})
    world = DemoWorld(profiles=5, seed=1)
    worker = project.start("worker", "-l", "info")
    api = Api.of(worker, TOKEN, timeout_s=120)
    t0 = int(time.time() * 1000)
    for _ in range(20):
        event = world.event("open")
        project.produce(project.topics.raw["open"], event["profile"], event)
    project.flush()
    t1 = int(time.time() * 1000) + 1

    def refused(body: dict[str, Any], field: str, text: str) -> None:
        answer = conforms("post", "/replays", api.call("POST", "/replays", body))
        assert answer.status == 400, answer.body
        assert answer.body["field"] == field and text in answer.body["error"], answer.body

    refused({"loop": "ok", "since": t1, "until": t0}, "until", "later than since")
    refused({"loop": "nope", "since": t0, "until": t1}, "loop", "no loop")
    refused({"loop": "unvalidated", "since": t0, "until": t1}, "loop", "validated")
    refused({"loop": "ok", "since": "yesterday-ish"}, "since", "ISO 8601")
    refused({"loop": "ok", "since": t0, "types": ["click"]}, "types", "does not receive")
    refused({"loop": "ok", "since": t0 - 3_600_000, "until": t0 - 1_800_000}, "since",
            "no events")
    # retention took the first records of partition 0 and more: say how much is gone
    admin = AdminClient(confluent_config(project.config.kafka))
    topic = project.topics.raw["open"]
    parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
    from confluent_kafka import Consumer

    consumer = Consumer(confluent_config(project.config.kafka, **{"group.id": "probe"}))
    highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
             for p in parts}
    consumer.close()
    busy = max(highs, key=lambda p: highs[p])
    for future in admin.delete_records([TopicPartition(topic, busy, highs[busy] - 1)]).values():
        future.result(30)
    refused({"loop": "ok", "since": t0 - 7_200_000, "until": t1}, "since", "gone")
    assert api.call("GET", "/replays").body == {"replays": []}, "nothing was started"
    assert conforms("get", "/replays/{id}", api.call("GET", "/replays/rp_nothing")).status == 404
    cli = project.start("replay", "start", "ok", "--since", str(t1), "--until", str(t0),
                        name="cli")
    assert cli.proc.wait(60) == 1 and "until: must be later than since" in cli.log()
    assert "Traceback" not in cli.log()


def test_replays_wait_while_the_live_pipeline_has_a_backlog(
        project_factory: Callable[..., Project]) -> None:
    from confluent_kafka import Consumer

    from streams.replay.gate import LiveBacklog

    project = project_factory(replay={"pause_backlog": 100})
    topic = project.topics.raw["open"]
    for i in range(300):
        project.produce(topic, f"p{i}", {"n": i})
    project.flush()
    group = Consumer(confluent_config(project.config.kafka, **{
        "group.id": project.config.worker.app_id, "enable.auto.commit": False}))
    parts = list(group.list_topics(topic, timeout=10).topics[topic].partitions)

    def commit(at_end: bool) -> None:
        group.commit(offsets=[TopicPartition(topic, p, group.get_watermark_offsets(
            TopicPartition(topic, p), timeout=10)[1] if at_end else 0) for p in parts],
            asynchronous=False)

    gate = LiveBacklog(project.config, project.topics, every_s=0.2).start()
    try:
        commit(at_end=False)  # the workers are 300 records behind
        deadline = time.monotonic() + 30
        while not gate.paused:
            assert time.monotonic() < deadline, f"not paused at a backlog of {gate.backlog}"
            time.sleep(0.1)
        assert gate.backlog == 300
        commit(at_end=True)  # caught up
        while gate.paused:
            assert time.monotonic() < deadline + 30, "still paused after live caught up"
            time.sleep(0.1)
    finally:
        gate.stop()
        group.close()
