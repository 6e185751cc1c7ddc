"""Runs the peer — Kafka Connect's HTTP sink (:mod:`bench.kafka_connect`) — on the ``sender``
scenario's work and measures it the same way (:mod:`bench.runner`).

The work: an N-record topic with one partition per Connect task (8), each record the request
body the sender POSTs to a ``json`` loop (the enriched payload, ~800 bytes), keyed as the
delivery record; one POST per record to nginx answering 204. Connect can add no per-call
header, so the receiver logs the ``event_id`` inside each body (nginx's ``/body/`` location),
which maps every call back to its record: completeness and duplicates as for the sender.

The flow: start the Connect JVM, then a discarded warm-up run of ``warm_up`` records of other
ids through the same connector (a fresh JVM costs several times the CPU per record until its JIT
has compiled the hot paths), wait until the connector and every task are RUNNING and the tasks'
consumer group is stable, measure 3 s idle, then produce the N records as fast as the generator
goes; the clock runs from the first produce to the last receipt and CPU (utime + stime of the
JVM from /proc) is counted over the same window.
"""
from __future__ import annotations

import logging
import time

import numpy as np
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from streams.config.settings import KafkaConfig
from streams.kafka.clients import confluent_config
from streams.kafka.provision import create_topics
from streams.kafka.topics import TopicSpec

from .generator import Record, Workload, body_records, produce
from .harness import (Options, Tracker, account, body_receiver, event_resolver, idle_cpu,
                      measured_arrivals, start_sampler, stragglers)
from .kafka_connect import (KAFKA_VERSION, PEER, ConnectStandalone, PeerUnavailable,
                            default_peers_dir, install)
from .measure import analyse
from .pipeline import Pipeline, loop_decl
from .receivers import ReceiverProcess
from .results import ScenarioResult

__all__ = ["run_connect"]

log = logging.getLogger(__name__)


def run_connect(opts: Options, name: str, title: str, events: int, profiles: int,
                warm_up: int) -> ScenarioResult:
    """The peer's row: ``events`` records, after a discarded run of ``warm_up`` records. When
    the peer cannot run here (its jar, Java or Maven missing) the result says why in a note
    and has no figures; nothing is raised."""
    tasks = opts.partitions
    result = ScenarioResult(name, title, "-", events, events, workers=0, senders=0,
                            partitions=opts.partitions, in_flight=tasks)
    result.extra.update(mode="peer", peer=f"Kafka Connect {KAFKA_VERSION} standalone + {PEER}",
                        tasks=tasks, warm_up_records=warm_up, profiles=profiles)
    try:
        plugin_path = install(opts.peers_dir or default_peers_dir())
    except PeerUnavailable as exc:
        log.warning("%s: %s", name, exc)
        result.notes.append(str(exc))
        return result
    directory = opts.out_dir / name
    receiver, path = body_receiver(opts, directory / "receiver")
    result.receiver = ("nginx (return 204, logs the body's event_id)" if receiver.kind == "nginx"
                       else "aiohttp (Python, records ids)")
    url = receiver.url(path)
    # a Pipeline for its topic prefix, Kafka settings and clean-up; its processes never start
    pipeline = Pipeline(opts.bootstrap, directory, [loop_decl("bench", url)], opts.partitions)
    kafka = pipeline.config.kafka
    topic = f"{kafka.topic_prefix}connect-http"
    connect = ConnectStandalone(directory / "connect", opts.bootstrap, topic, url, tasks,
                                plugin_path)
    sampler = start_sampler(receiver, opts.broker_pid)
    try:
        create_topics(kafka, [TopicSpec(topic, opts.partitions, {})])
        workload = Workload(pipeline.topics, events, profiles)
        records = body_records(workload, topic, "bench")
        warm = body_records(Workload(pipeline.topics, warm_up, profiles, seed=8), topic, "bench")
        tracker = Tracker(receiver, event_resolver(workload.ids, events), None, events)
        proc = connect.start()
        sampler.watch(proc.name, proc.pid)
        started = time.monotonic()
        _warm_up(connect, receiver, kafka, warm)
        result.extra["warm_up_s"] = round(time.monotonic() - started, 1)
        idle_cpu(result, sampler, connect.processes)
        t0 = time.time()
        times, stats = produce(kafka, records)
        result.produce = {"records": stats.records, "seconds": round(stats.seconds, 3),
                          "per_s": round(stats.per_s, 1)}
        max_s = max(180.0, events / 300)
        if not tracker.wait(connect, opts.stall_s, max_s):
            result.notes.append(f"incomplete: waited until no delivery came for "
                                f"{opts.stall_s:g}s (or {max_s:.0f}s in all)")
            result.notes.extend(connect.failures())
        measured, t1 = measured_arrivals(receiver)
        time.sleep(0.5)
        sampler.sample()
        connect.stop()
        account(result, sampler, connect.processes, t0, t1, events)
    finally:
        connect.stop()
        sampler.stop()
        receiver.stop()
        if not opts.keep_topics:
            pipeline.delete_topics_after(name)
    delivered = analyse(stragglers(receiver, measured), tracker.resolve, np.asarray(times),
                        events)
    result.record_delivered(delivered)
    result.per_s = delivered.rate_from(t0)
    rss = result.peak_rss_mib.get("connect")
    if rss:
        result.notes.append(f"Connect JVM peak RSS {rss:,.0f} MiB (heap -Xmx2G, as "
                            "connect-standalone.sh sets it)")
    return result


def _warm_up(connect: ConnectStandalone, receiver: ReceiverProcess, kafka: KafkaConfig,
             records: list[Record], timeout_s: float = 600.0) -> None:
    """Produce the warm-up records, wait until every one arrived and until the connector, its
    tasks and their consumer group have settled."""
    deadline = time.monotonic() + max(timeout_s, len(records) / 100)
    before = len(receiver.arrivals())
    produce(kafka, records)
    while len(receiver.arrivals()) - before < len(records):
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up: {len(receiver.arrivals()) - before} of {len(records)}"
                               f" calls arrived; {connect.failures() or 'no task failed'}; "
                               f"log in {connect.dir}")
        connect.check_alive()
        time.sleep(0.25)
    while not (connect.running() and _group_stable(kafka, connect.group, connect.tasks)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up: the connector or its consumer group did not settle; "
                               f"log in {connect.dir}")
        connect.check_alive()
        time.sleep(0.5)
    time.sleep(1.0)  # let the tail of the warm-up settle (offset commits)


def _group_stable(kafka: KafkaConfig, group: str, members: int) -> bool:
    admin = AdminClient(confluent_config(kafka))
    try:
        desc = admin.describe_consumer_groups([group])[group].result(10)
    except Exception:  # not there yet, or the broker is slow to answer: not stable
        return False
    return bool(desc.state == ConsumerGroupState.STABLE and len(desc.members) == members)
