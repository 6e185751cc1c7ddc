"""The pipeline on a real 3-node KRaft cluster (replication factor 3, min.insync.replicas 2,
producers acks=all): a broker that crashes (kill -9) or restarts mid-run loses no event.

The real ``feedbackloops worker`` and ``feedbackloops sender`` deliver a steady stream of opens
to an aiohttp receiver while one broker goes away and comes back; every event must arrive, and
an event that arrives twice must carry the same webhook-id both times.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
import time
from typing import Any, Callable

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.kafka.clients import confluent_config
from streams.demo.events import DemoWorld
from tests.support.cluster import LocalCluster
from tests.support.diagnose import where_are
from tests.support.payloads import duplicates_of, events_of
from tests.support.processes import Project
from tests.support.receiver import Receiver
from tests.support.reports import report

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: events per run, fed at RATE_PER_S: ~30 s of traffic around the broker's outage.
EVENTS = int(os.environ.get("FLTEST_CLUSTER_EVENTS", "9000"))
RATE_PER_S = 300.0
#: how long the killed broker stays down: past its session timeout (9 s), so the controller
#: fences it and moves its leaderships.
DOWN_S = 12.0


class Feed(threading.Thread):
    """Produces ``events`` to the opens topic at ``rate_per_s`` (acks=all, idempotent)."""

    def __init__(self, project: Project, events: list[dict[str, Any]], rate_per_s: float) -> None:
        super().__init__(daemon=True)
        self.project, self.events, self.rate_per_s = project, events, rate_per_s
        self.error: BaseException | None = None
        #: how long producing and flushing took
        self.took_s = 0.0

    def run(self) -> None:
        try:
            start, sent = time.monotonic(), 0
            while sent < len(self.events):
                # what is due, in one go every 50 ms (not a wake-up per event)
                due = min(len(self.events), int((time.monotonic() - start) * self.rate_per_s) + 1)
                for event in self.events[sent:due]:
                    self.project.produce(self.project.topics.raw["open"], event["profile"], event)
                sent = max(sent, due)
                time.sleep(0.05)
            self.project.flush()
            self.took_s = time.monotonic() - start
        except BaseException as exc:  # handed to the test by finish()
            self.error = exc

    def finish(self, timeout_s: float) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "the feed did not finish"
        if self.error is not None:
            raise self.error


def partition_sizes(project: Project, topic: str) -> dict[int, int]:
    """Records so far in each partition of ``topic`` (its end offsets)."""
    consumer = Consumer(confluent_config(project.config.kafka, **{"group.id": "fl-test-peek"}))
    try:
        parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in parts}
    finally:
        consumer.close()


def coordinators(cluster: LocalCluster, project: Project) -> dict[int, list[str]]:
    """Node -> which of our consumer groups (worker, sender) it coordinates."""
    app_id = project.config.worker.app_id
    out: dict[int, list[str]] = {}
    for name, group in (("worker", app_id), ("sender", f"{app_id}-sender")):
        node = cluster.coordinator_of(group)
        if node is not None:
            out.setdefault(node, []).append(name)
    return out


def described(cluster: LocalCluster, project: Project, topic: str, partition: int,
              records: int) -> tuple[int, str]:
    """(leader of ``topic[partition]``, a line for the report naming its roles)."""
    leader = cluster.leader_of(topic, partition)
    groups = coordinators(cluster, project).get(leader, [])
    roles = f", coordinator of the {' and '.join(groups)} group" if groups else ""
    return leader, (f"node {leader} (leader of {topic.split('fl.', 1)[-1]}[{partition}], "
                    f"{records} records in{roles})")


def per_10_s(calls: list[Any], since: float) -> str:
    """Calls per 10 s from ``since`` (a time.time()), e.g. ``"2900 3000 1200 ..."``."""
    counts = Counter(int((call.at - since) // 10) for call in calls)
    return " ".join(str(counts[i]) for i in range(max(counts, default=-1) + 1))


def longest_gap_s(calls: list[Any], since: float) -> float:
    """The longest pause between two deliveries after ``since`` (a time.time())."""
    times = sorted(c.at for c in calls if c.at >= since)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def deliver_through(cluster: LocalCluster, project_factory: Callable[..., Project],
                    receiver: Receiver, name: str,
                    disrupt: Callable[[Project], str]) -> str:
    """Run the stream, call ``disrupt`` once deliveries flow, check every event arrived."""
    project = project_factory(
        loops=[{"id": "cl", "url": receiver.url("/cl"), "events": ["open"], "trusted": True,
                "rate_per_s": 100000, "max_in_flight": 128}],
        # a call that fails for another reason (a receiver starved of CPU) is retried within
        # the test's window, not in 5 minutes
        sender={"retry_schedule_s": [1, 2, 4, 8, 15, 30]})
    cluster.wait_fully_replicated(project.config.kafka.topic_prefix)
    world = DemoWorld(profiles=500, seed=11)
    for p in world.profiles:
        project.produce(project.topics.ref_profiles, p["id"], p)
    project.flush()
    events = [world.event("open") for _ in range(EVENTS)]
    project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    feed = Feed(project, events, RATE_PER_S)
    fed_from, fed_from_wall = time.monotonic(), time.time()
    feed.start()
    receiver.wait_for(lambda cs: len(cs) >= 300, timeout_s=120, what="deliveries flowing",
                      poll_s=0.2)
    disrupted_at = time.time()
    what = disrupt(project)
    disrupt_s = time.time() - disrupted_at
    feed.finish(timeout_s=300)
    wanted = {e["id"] for e in events}
    received: set[str] = set()
    parsed = 0

    def all_arrived(calls: list[Any]) -> bool:
        nonlocal parsed  # incremental: the receiver shares this process's GIL
        received.update(ev["event_id"] for c in calls[parsed:] for ev in events_of(c))
        parsed = len(calls)
        return wanted <= received

    try:
        receiver.wait_for(all_arrived, timeout_s=300, what="every event", poll_s=0.5)
    except AssertionError as exc:
        all_arrived(receiver.calls_to("/cl"))
        raise AssertionError(f"{exc} ({what})\n" + where_are(
            project, project.topics.raw["open"], wanted - received,
            [p.log() for p in project.processes])) from None
    project.assert_alive()
    done_s = time.monotonic() - fed_from
    time.sleep(1)  # a late duplicate counts too
    calls = receiver.calls_to("/cl")
    duplicates = duplicates_of(calls, wanted)
    text = (f"{what}: {len(events)} events, 0 missing, {duplicates} duplicates "
            f"({100 * duplicates / len(events):.2f} %, each with its original webhook-id); "
            f"longest pause in deliveries after the disruption "
            f"{longest_gap_s(calls, disrupted_at):.1f} s; fed in {feed.took_s:.0f} s, disruption "
            f"{disrupt_s:.0f} s from {disrupted_at - fed_from_wall:.0f} s, all delivered "
            f"{done_s:.0f} s after the feed began (per 10 s: {per_10_s(calls, fed_from_wall)}); "
            f"broker RSS MiB "
            f"{', '.join(f'{n}: {m:.0f}' for n, m in sorted(cluster.rss_mib().items()))}")
    report(name, text)
    return text


def config_of(admin: AdminClient, resource: ConfigResource,
              timeout_s: float = 30) -> dict[str, str]:
    """``resource``'s settings; asked again while a broker does not know a new topic yet
    (one failed run on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while True:
        [future] = admin.describe_configs([resource]).values()
        try:
            return {name: entry.value for name, entry in future.result().items()}
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_topics_have_three_replicas_and_min_insync_two(
        cluster_project_factory: Callable[..., Project], kafka_cluster: LocalCluster) -> None:
    project = cluster_project_factory()
    admin = kafka_cluster.admin()
    names = [s.name for s in project.topics.specs()]
    deadline = time.monotonic() + 30  # a new client's first metadata may come from a broker
    while True:                       # that has not caught up with the controller yet
        meta = admin.list_topics(timeout=30).topics
        if all(n in meta for n in names) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(len(part.replicas) == 3 for n in names for part in meta[n].partitions.values())
    for name in names:
        assert config_of(admin, ConfigResource("topic", name))["min.insync.replicas"] == "2", name
    # where the consumer groups commit: created on first use, with the broker's settings
    for node in (1, 2, 3):
        settings = config_of(admin, ConfigResource("broker", str(node)))
        assert settings["offsets.topic.replication.factor"] == "3"
        assert settings["min.insync.replicas"] == "2"


def test_cluster_start_is_idempotent(kafka_cluster: LocalCluster) -> None:
    again = kafka_cluster.ctl("start")
    assert again.count("already running") == 3 and kafka_cluster.bootstrap in again
    assert kafka_cluster.running()


def test_kill_9_of_a_partition_leader_loses_nothing(
        kafka_cluster: LocalCluster, cluster_project_factory: Callable[..., Project],
        receiver: Receiver) -> None:
    """kill -9 the leader of a busy raw partition mid-run — one that also coordinates the
    worker's or the sender's group when there is one — and restart it 12 s later (and check
    kafkactl's handling of the crashed node's stale pid file on the way)."""

    def kill_the_leader(project: Project) -> str:
        topic = project.topics.raw["open"]
        sizes = partition_sizes(project, topic)
        ranked = sorted(sizes, key=lambda p: -sizes[p])
        # every partition is busy (500 profiles over 4); the first led by a node that also
        # coordinates one of our groups makes the harder failure: both move at once
        busy = coordinators(kafka_cluster, project)
        partition = next((p for p in ranked if kafka_cluster.leader_of(topic, p) in busy),
                         ranked[0])
        leader, who = described(kafka_cluster, project, topic, partition, sizes[partition])
        kafka_cluster.kill(leader)
        killed_at = time.monotonic()
        # kafkactl after a crash: the pid file names a dead process; status and a second
        # kill say so, and the start below goes past it
        assert (kafka_cluster.data_dir / f"node-{leader}" / "broker.pid").exists()
        assert f"node {leader}: stopped" in kafka_cluster.ctl("status", check=False)
        assert f"node {leader}: already stopped" in kafka_cluster.ctl("kill", str(leader))
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - killed_at)))  # two brokers carry on
        kafka_cluster.start(leader)
        return f"kill -9 of {who} for {DOWN_S:g} s"

    deliver_through(kafka_cluster, cluster_project_factory, receiver, "cluster-kill-leader",
                    kill_the_leader)


def test_restarting_a_broker_loses_nothing(
        kafka_cluster: LocalCluster, cluster_project_factory: Callable[..., Project],
        receiver: Receiver) -> None:
    """A graceful restart (SIGTERM, start) of the leader of the busiest fl.deliveries
    partition mid-run."""

    def restart_a_broker(project: Project) -> str:
        topic = project.topics.deliveries
        sizes = partition_sizes(project, topic)
        partition = max(sizes, key=lambda p: sizes[p])
        leader, who = described(kafka_cluster, project, topic, partition, sizes[partition])
        kafka_cluster.stop(leader)
        kafka_cluster.start(leader)
        return f"restart of {who}"

    deliver_through(kafka_cluster, cluster_project_factory, receiver, "cluster-restart-broker",
                    restart_a_broker)
