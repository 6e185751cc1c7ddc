"""Replays on the real broker: the window's events (by event id) to that loop only, marked;
kill -9 of the replayer mid-replay and resume; cancel; --new-ids; dry run; bad input."""
from __future__ import annotations

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
from streams.demo.events import DemoWorld
from streams.kafka.clients import confluent_config
from streams.kafka.generations import generation_topics
from tests.support.api import Api
from tests.support.history import TOKEN, ReplayWorld, header
from tests.support.payloads import events_of
from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]

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


def test_a_replay_redelivers_exactly_the_window_to_that_loop_marked(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    w = ReplayWorld(project_factory, receiver)
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
        assert body["replay"] is True and header(call, "webhook-replay") == rid
        # the original delivery's id: a receiver that has the event can drop it
        assert header(call, "webhook-id") == delivery_id(body["event_id"], "loop-a")
        original = events_of(w.live[header(call, "webhook-id")])[0]
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
    w = ReplayWorld(project_factory, receiver, per_batch=200)
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
        hooks.setdefault(events_of(call)[0]["event_id"], set()).add(header(call, "webhook-id"))
        assert header(call, "webhook-replay") == rid
    assert all(len(v) == 1 for v in hooks.values()), "a duplicate carries the same webhook-id"


def test_cancel_stops_it_and_new_ids_and_dry_run(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    w = ReplayWorld(project_factory, receiver, per_batch=200)
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
        assert header(call, "webhook-id") == replay_delivery_id(event_id, "loop-a", rid)
        assert header(call, "webhook-id") != delivery_id(event_id, "loop-a")
    # two replays of one loop at once
    first = w.start("--types", "click")
    second = w.start("--types", "open")
    clicks = {e["id"] for e in w.window if e["type"] == "click"}
    opens = {e["id"] for e in w.window if e["type"] == "open"}
    for rid_, ids in ((first["id"], clicks), (second["id"], opens)):
        receiver.wait_for(lambda _, r=rid_, i=ids: {
            events_of(c)[0]["event_id"] for c in w.replayed_to("/a")
            if header(c, "webhook-replay") == r} == i, timeout_s=180, what=f"replay {rid_}")


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


@pytest.mark.parametrize("partitioning", ["direct", "repartition"])
def test_replays_wait_while_the_live_pipeline_has_a_backlog(
        project_factory: Callable[..., Project], partitioning: str) -> None:
    """The workers' backlog: their group on the raw topics (direct), the serving generation's
    group on its events topic (repartition)."""
    from confluent_kafka import Consumer

    from streams.kafka.partitioning import ControlView
    from streams.replay.gate import LiveBacklog
    from streams.worker.generation import first_generation

    project = project_factory(replay={"pause_backlog": 100},
                              worker={"partitioning": partitioning})
    topic, group_id = project.topics.raw["open"], project.config.worker.app_id
    if partitioning == "repartition":
        control = ControlView(project.config.kafka, project.topics.partitioning).start()
        serving = generation_topics(project.topics,
                                    first_generation(project.config, project.topics,
                                                     control).serving)
        control.stop()
        topic, group_id = serving.events, serving.group
    for i in range(300):
        project.produce(topic, f"p{i}", {"n": i})
    project.flush()
    group = Consumer(confluent_config(project.config.kafka, **{
        "group.id": group_id, "enable.auto.commit": False}))
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
