"""Repartition mode on the real broker: `partitions scale 4 -> 8` in the middle of a stream.

Two real workers (``worker.partitioning: repartition``), a sender and an aiohttp receiver. The
raw topics and ``fl.ref.profiles`` have 3 partitions and are written with librdkafka's CRC32
partitioner (not murmur2), which the direct path could not enrich. Profiles are loaded first;
events stream at a steady rate; halfway, ``feedbackloops partitions scale 8`` runs as a real
command. Every event must arrive, every copy of an event with the same webhook-id, and
``profile_known`` must be true for every event whose profile existed (false for the few that
name no profile). Duplicates are counted and reported (``var/test-reports``).

The kill variant kills (``kill -9``) the coordinating worker once while the table is being
copied and once during the cut-over, restarting each a moment later, with the same checks.
The CI-sized runs use a few thousand events; ``make soak`` runs the issue's 50,000.
"""
from __future__ import annotations

import os
import re
import threading
from collections import Counter
from pathlib import Path
import time
from typing import Any, Callable

import jsonschema
import pytest
import yaml
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams.demo.events import DemoWorld
from streams.kafka.clients import confluent_config
from streams.kafka.partitioning import ControlView
from tests.support.api import Api
from tests.support.diagnose import where_are
from tests.support.payloads import Arrivals, duplicates_of, events_of
from tests.support.processes import Project, WorkerProcess
from tests.support.receiver import Receiver
from tests.support.reports import report

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
TOKEN = "test-token-0123456789abcdef"
PROFILES = 3000
RATE_PER_S = 250.0
#: events naming a profile that was never loaded: delivered with profile_known false
GHOSTS = 40


class Feed(threading.Thread):
    """Produces the events to their raw topics at ``rate_per_s`` with librdkafka's CRC32
    partitioner; ``half`` is set when half of them are out."""

    def __init__(self, project: Project, events: list[dict[str, Any]], rate_per_s: float) -> None:
        super().__init__(daemon=True)
        self.project, self.events, self.rate_per_s = project, events, rate_per_s
        self.half = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from confluent_kafka import Producer

        try:
            producer = Producer(confluent_config(self.project.config.kafka, **{
                "linger.ms": 5, "partitioner": "consistent_random", "acks": "all",
                "enable.idempotence": True}))
            topics = self.project.topics
            start, sent = time.monotonic(), 0
            while sent < len(self.events):
                due = min(len(self.events), int((time.monotonic() - start) * self.rate_per_s) + 1)
                for event in self.events[sent:due]:
                    topic = (topics.raw["profile"] if event["type"] == "update"
                             else topics.raw[event["type"]])
                    producer.produce(topic, orjson_dumps(event), event["profile"])
                producer.poll(0)
                sent = max(sent, due)
                if sent >= len(self.events) // 2:
                    self.half.set()
                time.sleep(0.05)
            assert producer.flush(60) == 0
        except BaseException as exc:
            self.error = exc
            self.half.set()

    def finish(self, timeout_s: float) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "the feed did not finish"
        if self.error is not None:
            raise self.error


def by_topic(events: list[dict[str, Any]], ids: set[str]) -> list[str]:
    return [e["type"] for e in events if e["id"] in ids]


def orjson_dumps(doc: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(doc)


def recreate_raw_with(project: Project, partitions: int) -> None:
    """The platform's topics with another count than the pipeline's."""
    admin = AdminClient(confluent_config(project.config.kafka))
    names = [*project.topics.raw.values(), project.topics.ref_profiles]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()
    deadline = time.monotonic() + 30
    while any(n in admin.list_topics(timeout=10).topics for n in names):
        assert time.monotonic() < deadline, "raw topics not deleted"
        time.sleep(0.2)
    specs = {s.name: s for s in project.topics.specs()}
    while True:
        futures = admin.create_topics([NewTopic(n, partitions, 1, config=specs[n].configs)
                                       for n in names])
        try:
            for future in futures.values():
                future.result()
            break
        except Exception:  # still marked for deletion on a busy broker
            assert time.monotonic() < deadline, "raw topics not recreated"
            time.sleep(0.5)


class Killer(threading.Thread):
    """Kills (-9) the coordinating worker when the scale reaches each phase in ``phases``
    (``building`` once some of the table is copied), restarting it 2 s later."""

    def __init__(self, project: Project, control: ControlView, phases: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.project, self.control, self.phases = project, control, list(phases)
        self.done: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while self.phases and not self.stop.is_set():
            state = self.control.state()
            nxt = state.next if state is not None else None
            if nxt is not None and nxt.phase == self.phases[0] and (
                    nxt.phase != "building" or 0 < nxt.copied < nxt.copy_total):
                victim = coordinator(self.project)
                if victim is not None:
                    victim.kill()
                    self.done.append(f"{self.phases.pop(0)} ({nxt.copied}/{nxt.copy_total} "
                                     f"copied)")
                    time.sleep(2)
                    self.project.start("worker", "-l", "info")
            time.sleep(0.02)


def scale_through_the_api(project: Project) -> None:
    """POST /partitions/scale, then GET /partitions until it is done; every answer must be
    what docs/openapi.yaml says."""
    api = api_of(workers(project)[0])
    schema = {**OPENAPI["components"]["schemas"]["Partitions"], "components": OPENAPI["components"]}
    asked = api.call("POST", "/partitions/scale", {"partitions": 8})
    assert asked.status == 202, asked.body
    jsonschema.validate(asked.body, schema)
    again = api.call("POST", "/partitions/scale", {"partitions": 8})
    assert again.status == 400 and again.body["field"] == "partitions"  # one at a time
    phases = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:  # a worker restarting into the new generation serves on a new port
            answer = api_of(workers(project)[0]).call("GET", "/partitions")
        except OSError:
            time.sleep(0.2)
            continue
        if answer.status == 200:
            jsonschema.validate(answer.body, schema)
            scaling = answer.body.get("scaling")
            if scaling and scaling["phase"] not in phases:
                phases.append(scaling["phase"])
            if (answer.body.get("last") or {}).get("request") == asked.body["request"]:
                assert answer.body["last"]["outcome"] == "done", answer.body
                assert answer.body["partitions"] == 8 and answer.body["generation"] == 2
                assert phases and phases[0] == "building", phases
                return
        time.sleep(0.2)
    raise AssertionError(f"the scale did not finish; phases seen: {phases}")


def api_of(worker: WorkerProcess) -> Api:
    """The worker's API where it listens now (its last start: port 0 picks a new one)."""
    worker.wait_for_log("worker api listening on", 60)
    ports = re.findall(r"worker api listening on http://127\.0\.0\.1:(\d+)", worker.log())
    return Api(f"http://127.0.0.1:{ports[-1]}", TOKEN)


def workers(project: Project) -> list[WorkerProcess]:
    return [p for p in project.processes if p.proc.poll() is None and "worker" in p.log_path.name]


def coordinator(project: Project) -> WorkerProcess | None:
    """The live worker whose last word about the role is that it has it."""
    for proc in workers(project):
        log = proc.log()
        gained = log.rfind("this worker coordinates partition scaling")
        if gained >= 0 and gained > log.rfind("no longer coordinates partition scaling"):
            return proc
    return None


def scale_in_the_middle(project_factory: Callable[..., Project], receiver: Receiver,
                        name: str, events_n: int, kill_in: tuple[str, ...] = (),
                        via_api: bool = False) -> str:
    project = project_factory(
        api={"port": 0, "tokens": [TOKEN]},
        worker={"partitioning": "repartition", "session_timeout_s": 6,
                # a few seconds of table copy, so a kill can land in it
                "scale_copy_rate_per_s": 1000},
        loops=[{"id": "sc", "url": receiver.url("/sc"), "events": ["open", "click", "update"],
                "trusted": True, "rate_per_s": 100000, "max_in_flight": 128}],
        sender={"retry_schedule_s": [1, 2, 4, 8, 15, 30]})
    recreate_raw_with(project, 3)
    world = DemoWorld(profiles=PROFILES, seed=15)
    from confluent_kafka import Producer

    loader = Producer(confluent_config(project.config.kafka, **{
        "partitioner": "consistent_random", "linger.ms": 20}))
    for p in world.profiles:
        loader.produce(project.topics.ref_profiles, orjson_dumps(p), p["id"])
    assert loader.flush(60) == 0
    ghosts = [{**world.profiles[i], "id": f"ghost{i}", "email": f"ghost{i}@example.org"}
              for i in range(GHOSTS)]
    events = [world.event() for _ in range(events_n - GHOSTS)]
    step = max(1, len(events) // GHOSTS)
    for i, ghost in enumerate(ghosts):
        events.insert(i * step, world.event("open", profile=ghost))
    known = {p["id"] for p in world.profiles}
    for _ in range(2):
        project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    control = ControlView(project.config.kafka, project.topics.partitioning).start()
    feed = Feed(project, events, RATE_PER_S)
    fed_from = time.time()
    feed.start()
    receiver.wait_for(lambda cs: len(cs) >= 200, timeout_s=180, what="deliveries flowing",
                      poll_s=0.2)
    assert feed.half.wait(300)
    killer = Killer(project, control, kill_in)
    killer.start()
    scaled_at = time.time()
    if via_api:
        scale_through_the_api(project)
    else:
        scale = project.start("partitions", "scale", "8", name="scale")
        assert scale.proc.wait(600) == 0, scale.log()
        assert '"outcome": "done"' in scale.log()
    scaled_s = time.time() - scaled_at
    killer.stop.set()
    killer.join(10)
    assert len(killer.done) == len(kill_in), f"kills done: {killer.done}, wanted {kill_in}"
    feed.finish(timeout_s=600)
    state = control.state()
    assert state is not None and state.serving == 2 and state.partitions == 8, state
    assert state.last["outcome"] == "done", state.last
    wanted = {e["id"] for e in events}
    all_arrived = Arrivals(wanted)
    try:
        receiver.wait_for(all_arrived, timeout_s=300, what="every event", poll_s=0.5)
    except AssertionError as exc:
        all_arrived(receiver.calls_to("/sc"))
        missing = all_arrived.missing
        by_type = Counter(by_topic(events, missing))
        raise AssertionError(f"{exc}; missing by raw topic {dict(by_type)}\n" + where_are(
            project, project.topics.raw["open"], missing,
            [p.log() for p in project.processes])) from None
    project.assert_alive()
    time.sleep(1)  # a late duplicate counts too
    calls = receiver.calls_to("/sc")
    duplicates = duplicates_of(calls, wanted)
    by_id = {e["id"]: e for e in events}
    unknown = sorted({ev["event_id"] for c in calls for ev in events_of(c)
                      if by_id[ev["event_id"]]["profile"] in known and not ev["profile_known"]})
    assert not unknown, f"{len(unknown)} events of loaded profiles without their profile"
    ghostly = [ev for c in calls for ev in events_of(c)
               if by_id[ev["event_id"]]["profile"].startswith("ghost")]
    assert ghostly and not any(ev["profile_known"] for ev in ghostly)
    grown = AdminClient(confluent_config(project.config.kafka)).list_topics(timeout=30).topics
    assert len(grown[project.topics.deliveries].partitions) == 8
    # the sender took the new partitions on (its share of each loop's limits: owned / all)
    sender = next(p for p in project.processes if "sender" in p.log_path.name)
    assert f"{project.topics.deliveries}[0,1,2,3,4,5,6,7]" in sender.log()
    text = (f"{name}: {len(events)} events ({PROFILES} profiles, raw topics 3 partitions, "
            f"CRC32), scale 4 -> 8 after {scaled_at - fed_from:.0f} s took {scaled_s:.1f} s "
            f"(cut-over {state.last.get('cut_over_s')} s, {state.last.get('copied')} "
            f"changelog records copied); kills: {', '.join(killer.done) or 'none'}; 0 missing, "
            f"0 of {len(wanted) - GHOSTS} events of loaded profiles without profile_known, "
            f"{duplicates} duplicates ({100 * duplicates / len(events):.2f} %, each with its "
            f"original webhook-id)")
    control.stop()
    report(name, text)
    return text


def test_scale_4_to_8_mid_stream_delivers_everything_once_known(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    scale_in_the_middle(project_factory, receiver, "partitions-scale",
                        int(os.environ.get("FLTEST_SCALE_EVENTS", "5000")), via_api=True)


def test_scale_survives_kill_9_during_build_and_cut_over(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    scale_in_the_middle(project_factory, receiver, "partitions-scale-kills",
                        int(os.environ.get("FLTEST_SCALE_EVENTS", "5000")),
                        kill_in=("building", "cutting"))


@pytest.mark.soak
@pytest.mark.parametrize("kill_in", [(), ("building",), ("cutting",)],
                         ids=["no-kill", "kill-in-build", "kill-in-cut-over"])
def test_soak_scale_50000_events(project_factory: Callable[..., Project], receiver: Receiver,
                                 kill_in: tuple[str, ...]) -> None:
    scale_in_the_middle(project_factory, receiver,
                        f"partitions-soak-{'-'.join(kill_in) or 'plain'}", 50000, kill_in)


def test_direct_mode_grows_4_to_8_while_the_producers_pause(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    """Direct mode: `partitions scale 8` waits for the pause, stops the workers, grows the raw
    topics, fl.ref.profiles, fl.deliveries and the tiers, publishes the snapshots again and lets
    the workers start; events before and after all arrive, each with its profile."""
    project = project_factory(
        worker={"session_timeout_s": 6},
        loops=[{"id": "gr", "url": receiver.url("/gr"), "events": ["open", "click", "update"],
                "trusted": True, "rate_per_s": 100000, "max_in_flight": 128}],
        sender={"retry_schedule_s": [1, 2, 4, 8, 15, 30]})
    world = DemoWorld(profiles=1000, seed=21)
    for p in world.profiles:
        project.produce(project.topics.ref_profiles, p["id"], p)
    project.flush()
    for _ in range(2):
        project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    topics = project.topics

    def feed(events: list[dict[str, Any]]) -> None:
        for event in events:
            topic = topics.raw["profile"] if event["type"] == "update" else topics.raw[event["type"]]
            project.produce(topic, event["profile"], event)
        project.flush()

    def arrived(events: list[dict[str, Any]]) -> None:
        receiver.wait_for(Arrivals({e["id"] for e in events}), timeout_s=300,
                          what="every event", poll_s=0.5)

    before = [world.event() for _ in range(1500)]
    feed(before)
    arrived(before)
    scale = project.start("partitions", "scale", "8", "--quiet", "3", name="scale")
    assert scale.proc.wait(600) == 0, scale.log()
    assert "Pause the platform's producers" in scale.log() and '"outcome": "done"' in scale.log()
    meta = AdminClient(confluent_config(project.config.kafka)).list_topics(timeout=30).topics
    for name in (*topics.raw.values(), topics.ref_profiles, topics.deliveries,
                 *topics.retry.values(), topics.profiles_changelog):
        assert len(meta[name].partitions) == 8, name
    # the producers resume, restarted: a new client sees the new partitions
    project._producer = None
    after = [world.event() for _ in range(1500)]
    feed(after)
    arrived(before + after)
    project.assert_alive()
    assert all("stops and waits" in w.log() for w in workers(project))
    calls = receiver.calls_to("/gr")
    duplicates = duplicates_of(calls, {e["id"] for e in before + after})
    unknown = {ev["event_id"] for c in calls for ev in events_of(c) if not ev["profile_known"]}
    assert not unknown, (f"{len(unknown)} events without their profile: "
                         f"{len(unknown & {e['id'] for e in before})} sent before the change")
    report("partitions-direct-grow", f"direct mode 4 -> 8 with the producers paused: "
           f"{len(before)} + {len(after)} events, 0 missing, 0 without profile_known, "
           f"{duplicates} duplicates")
