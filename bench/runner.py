"""Runs one pipeline against one receiver and measures it (the flow every scenario shares).

Modes:

- ``burst``: worker(s) and sender(s) run and are warm (warm-up events delivered); then all
  events are produced as fast as the generator goes — an open spike.
- ``paced``: the same, but events are produced at a fixed rate.
- ``backlog``: all events are produced first; then worker(s) and sender(s) start cold.
- ``sender``: no worker; the sender(s) run and are warm, then delivery records (as the enrich
  stage writes them) are written straight to ``fl.deliveries`` as fast as the generator goes
  (~400k/s, so the topic is full long before the sender is done) — the sender stage alone.

The clock runs from the first produce (backlog: from starting the processes) to the last
receipt. CPU is counted over the same window.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from .generator import Workload, delivery_records, produce
from .harness import (Options, Tracker, account, event_resolver, finish_profiles,
                      idle_cpu, measured_arrivals, ratios, start_processes, start_profiles,
                      start_sampler, stats_tail, stragglers, warm_up, watch_stats,
                      webhook_resolver)
from .measure import CpuSampler, Timeline, analyse
from .pipeline import Pipeline
from .profiling import Recording
from .receivers import ReceiverProcess
from .results import ScenarioResult
from .stages import TopicEnds

__all__ = ["Mode", "Setup", "execute"]


Mode = Literal["burst", "paced", "backlog", "sender"]
#: called with the running pipeline before the warm-up (memory: wait for the table)
Before = Callable[[Pipeline, ScenarioResult], None]
#: called after the pipeline stopped, while the receiver still runs (the ceilings)
After = Callable[[ScenarioResult, Pipeline, Workload], None]


@dataclass
class Setup:
    """What a scenario runs: its loops (``loops:`` entries), which of them count, the receiver
    (already started) and how many events over how many profiles."""

    name: str
    title: str
    receiver: ReceiverProcess
    receiver_label: str
    loops: list[dict[str, Any]]
    events: int
    profiles: int
    in_flight: int
    mode: Mode = "burst"
    rate_per_s: float | None = None
    #: indexes into ``loops`` whose deliveries count (default: all)
    counted: list[int] | None = None
    store: str = "memory"
    sender: dict[str, Any] = field(default_factory=dict)
    #: worker settings (``partitioning: repartition``)
    worker: dict[str, Any] = field(default_factory=dict)
    before: Before | None = None
    #: called after the reference data is loaded, before any process starts (replay: the
    #: history the replay reads)
    prepare: Before | None = None
    #: called right before the events are produced, the pipeline running (scale-out)
    during: Callable[[Pipeline, CpuSampler], None] | None = None
    after: After | None = None


def execute(opts: Options, s: Setup) -> ScenarioResult:
    directory = opts.out_dir / s.name
    pipeline = Pipeline(opts.bootstrap, directory, s.loops, opts.partitions, s.store, s.sender,
                        s.worker, opts.settings)
    loop_ids = [loop["id"] for loop in s.loops]
    counted = s.counted if s.counted is not None else list(range(len(loop_ids)))
    cold = s.mode == "backlog"
    result = ScenarioResult(
        s.name, s.title, s.receiver_label, s.events, s.events * len(counted),
        workers=0 if s.mode == "sender" else opts.workers, senders=opts.senders,
        partitions=opts.partitions, in_flight=s.in_flight)
    result.extra.update(mode=s.mode, cold=cold, loops=len(loop_ids), profiles=s.profiles)
    sampler = start_sampler(s.receiver, opts.broker_pid)
    recordings: list[Recording] = []
    try:
        pipeline.create_topics()
        workload = Workload(pipeline.topics, s.events, s.profiles)
        if s.receiver.ids == "webhook":
            resolve = webhook_resolver(workload.ids, s.events, loop_ids)
        else:
            if len(loop_ids) != 1:
                raise ValueError(f"{s.name}: a receiver that logs event ids serves one loop only")
            resolve = event_resolver(workload.ids, s.events)
        per = len(loop_ids)
        wanted = None if len(counted) == per else (lambda slot: slot % per in counted)
        tracker = Tracker(s.receiver, resolve, wanted, s.events * len(counted))

        if s.mode == "sender":
            pipeline.publish_loops()
            records = delivery_records(workload, pipeline.topics, loop_ids)
        else:
            profiles_path, tags_path = workload.write_reference(directory / "data")
            result.extra["reference_load_s"] = round(pipeline.load_reference(profiles_path,
                                                                             tags_path), 2)
            records = workload.records

        def profile_now() -> None:
            stats = {n: pid for n, pid in sampler.pids.items() if n.startswith("stats.")}
            for rec in start_profiles(opts, pipeline, directory, stats):
                recordings.append(rec)
                sampler.watch(f"py-spy:{rec.process}", rec.popen.pid)

        on_first: Callable[[], None] | None = None
        if s.prepare is not None:
            s.prepare(pipeline, result)
        if not cold:
            start_processes(pipeline, opts, sampler, workers=s.mode != "sender")
            if s.before is not None:
                s.before(pipeline, result)
            warm_up(pipeline, workload, s.receiver, per_event=len(counted),
                    deliveries=s.mode == "sender")
            watch_stats(pipeline, sampler)
            idle_cpu(result, sampler, pipeline.processes)
            ends = TopicEnds(pipeline.config.kafka, pipeline.topics.deliveries,
                             opts.partitions).start()
            if s.during is not None:  # e.g. a worker starting: it joins during the burst
                s.during(pipeline, sampler)
            t0 = time.time()
            profile_now()
            times, stats = produce(pipeline.config.kafka, records, s.rate_per_s)
        else:
            times, stats = produce(pipeline.config.kafka, records)
            ends = TopicEnds(pipeline.config.kafka, pipeline.topics.deliveries,
                             opts.partitions).start()
            t0 = time.time()
            start_processes(pipeline, opts, sampler)
            on_first = profile_now
        event_times = times[::per] if s.mode == "sender" else times
        result.produce = {"records": stats.records, "seconds": round(stats.seconds, 3),
                          "per_s": round(stats.per_s, 1)}
        if stats.target_per_s:
            result.produce["target_per_s"] = round(stats.target_per_s, 1)
        max_s = max(180.0, s.events * len(counted) / 300)
        try:
            complete = tracker.wait(pipeline, opts.stall_s, max_s, on_first)
        finally:
            ends.stop()
        if not complete:
            result.notes.append(f"incomplete: waited until no delivery came for {opts.stall_s:g}s "
                                f"(or {max_s:.0f}s in all)")
        measured, t1 = measured_arrivals(s.receiver)
        time.sleep(0.5)
        sampler.sample()
        stats_tail(result, pipeline, sampler, t1)
        _sender_outcomes(result, pipeline)
        pipeline.stop()
        finish_profiles(recordings, result)
        account(result, sampler, pipeline.processes, t0, t1, s.events)
        if s.after is not None:
            s.after(result, pipeline, workload)
    finally:
        pipeline.stop()
        sampler.stop()
        s.receiver.stop()
        if not opts.keep_topics:
            pipeline.delete_topics_after(s.name)
    delivered = analyse(stragglers(s.receiver, measured), resolve, np.asarray(event_times),
                        s.events * per, wanted)
    result.record_delivered(delivered)
    if delivered.missing_sample:
        result.extra["missing_event_ids"] = [workload.ids.id(slot // per)
                                             for slot in delivered.missing_sample]
    if s.mode != "sender":
        _worker_stage(result, ends, delivered.timeline, t0, s.events * per, per)
    result.per_s = delivered.rate_from(t0)
    ratios(result)
    result.extra["t0"] = t0
    return result


def _worker_stage(result: ScenarioResult, ends: TopicEnds, timeline: Timeline | None, t0: float,
                  deliveries: int, per_event: int) -> None:
    """The worker's own pace in the same run: when fl.deliveries held every delivery, and
    enriched events per timeline bucket."""
    done = next((t for t, n in ends.samples if n >= deliveries), None)
    if done is not None:
        result.extra["worker_done_s"] = round(done - t0, 2)
        result.extra["worker_per_s"] = round(deliveries / per_event / max(done - t0, 1e-9), 1)
    if timeline is not None:
        timeline.enriched_per_s = [v / per_event for v in ends.per_bucket(
            timeline.start, timeline.bucket_s, len(timeline.received_per_s))]


def _sender_outcomes(result: ScenarioResult, pipeline: Pipeline) -> None:
    """What the senders did, from their own counters: attempts per loop and outcome
    (delivered, retry, dead, deferred...) and retries scheduled per tier."""
    outcomes: dict[str, float] = {}
    for proc in pipeline.senders:
        for name in ("fl_deliveries_total", "fl_retry_scheduled_total"):
            for labels, value in pipeline.samples(proc, name).items():
                key = f"{name.removeprefix('fl_').removesuffix('_total')}{{{labels}}}"
                outcomes[key] = outcomes.get(key, 0.0) + value
    if outcomes:
        result.extra["sender_counters"] = outcomes
