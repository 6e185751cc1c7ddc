"""The worker stage alone: raw events in, delivery records out, no sender and no receiver.

``python -m bench.worker_stage --rate 300 --events 6000`` (paced) or ``--events 30000``
(without ``--rate``: a burst, produced as fast as the generator goes). One worker process, one
``json`` loop (its URL is never called: no sender runs), the benchmark's broker. After a
300-event warm-up and an idle window, it measures over the run:

- CPU µs per event of the worker and of the broker (the broker's whole work: raw records in,
  fetches, delivery records, commits), and the idle cores of each before the run;
- the worker's latency, ``routed_ms - source_ts_ms`` of each delivery record (enriched minus
  produced, or due when paced), p50/p99/max;
- for a burst, the stage's rate and the longest pause in enrichment (the stall at the start of
  a spike), and ``others``: cores used by processes this run does not know.

It answers in seconds what the full scenarios need minutes for, so each change to the worker
can be measured on its own (docs/benchmarks.md, "Worker CPU at steady rates"). ``--set
worker.fetch_interval_ms=0`` style overrides change the worker's configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, TopicPartition

from streams.kafka.clients import confluent_config

from .environment import DEFAULT_PORT, BenchBroker
from .generator import Workload, produce
from .harness import _settle, parse_settings
from .measure import MACHINE, CpuSampler
from .pipeline import Pipeline, loop_decl

__all__ = ["main"]

WARM_UP = 300


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.worker_stage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, help="events/s (default: a burst)")
    p.add_argument("--events", type=int, default=6000, help="events (6,000)")
    p.add_argument("--profiles", type=int, default=10_000, help="profiles (10,000)")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--idle-s", type=float, default=5.0, help="idle window before the run (5 s)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="a configuration override (repeatable)")
    p.add_argument("--kafka-port", type=int, default=DEFAULT_PORT)
    p.add_argument("--bootstrap", help="use this broker instead of the benchmark's own")
    p.add_argument("--out", type=Path, default=Path("var/bench/worker-stage"))
    return p.parse_args(argv)


class Deliveries:
    """Reads ``fl.deliveries`` from the start: ``(routed_ms, source_ts_ms)`` per record."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.consumer = Consumer(confluent_config(pipeline.config.kafka, **{
            "group.id": f"worker-stage-{pipeline.id}", "enable.auto.commit": False}))
        self.consumer.assign([TopicPartition(pipeline.topics.deliveries, p, 0)
                              for p in range(pipeline.config.kafka.partitions)])
        self.seen: list[tuple[int, int]] = []

    def wait_for(self, n: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < n and time.monotonic() < deadline:
            for m in self.consumer.consume(1000, 0.2):
                value = m.value()
                if m.error() is None and value is not None:
                    doc = orjson.loads(value)
                    self.seen.append((doc["routed_ms"], doc["source_ts_ms"]))
        return len(self.seen)


def summarise(records: list[tuple[int, int]], rate: float | None) -> dict[str, Any]:
    lat = np.array([routed - source for routed, source in records], dtype=float)
    out: dict[str, Any] = {"p50_ms": float(np.percentile(lat, 50)),
                           "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max())}
    if rate is None:
        routed = np.sort(np.array([r for r, _ in records], dtype=float))
        first = min(source for _, source in records)
        out["stage_per_s"] = len(records) / max((routed[-1] - first) / 1000, 1e-3)
        out["first_ms"] = float(routed[0] - first)
        body = routed[: max(2, int(len(routed) * 0.95))]  # the tail thins out: not a stall
        out["longest_pause_ms"] = float(np.diff(body).max())
    return out


def run(opts: argparse.Namespace) -> dict[str, Any]:
    broker = BenchBroker(opts.kafka_port, opts.bootstrap)
    broker.start()
    directory = opts.out / time.strftime("%Y%m%d-%H%M%S")
    pipeline = Pipeline(broker.bootstrap, directory,
                        [loop_decl("stage", "http://127.0.0.1:9/never-called")], opts.partitions,
                        settings=opts.settings)
    try:
        pipeline.create_topics()
        workload = Workload(pipeline.topics, opts.events, opts.profiles)
        pipeline.load_reference(*workload.write_reference(directory / "data"))
        worker = pipeline.start_worker()
        _settle(pipeline, time.monotonic() + 180)
        deliveries = Deliveries(pipeline)
        produce(pipeline.config.kafka, workload.warm_up_records(pipeline.topics, WARM_UP))
        if deliveries.wait_for(WARM_UP, 120) < WARM_UP:
            raise RuntimeError(f"warm-up did not come through; logs in {directory}")
        time.sleep(2.0)
        sampler = CpuSampler()
        sampler.watch("worker", worker.pid)
        sampler.watch("bench", os.getpid(), descendants=False)  # the generator
        if broker.pid:
            sampler.watch("broker", broker.pid)
        sampler.start()
        idle_from = time.time()
        time.sleep(opts.idle_s)
        t0 = time.time()
        produce(pipeline.config.kafka, workload.records, opts.rate)
        got = deliveries.wait_for(WARM_UP + opts.events, 300) - WARM_UP
        t1 = time.time()
        sampler.stop()
        result: dict[str, Any] = {"rate": opts.rate, "events": opts.events, "received": got,
                                  "overrides": opts.set, "window_s": round(t1 - t0, 2)}
        for name in ("worker", "broker", "bench"):
            if name in sampler.pids:
                result[f"{name}_us_per_event"] = \
                    1e6 * sampler.cpu_between(name, t0, t1) / opts.events
                result[f"{name}_idle_cores"] = \
                    sampler.cpu_between(name, idle_from, t0) / opts.idle_s
        known = sum(sampler.cpu_between(n, t0, t1) for n in sampler.pids)
        result["others_cores"] = \
            max(0.0, sampler.cpu_between(MACHINE, t0, t1) - known) / (t1 - t0)
        result.update(summarise(deliveries.seen[WARM_UP:], opts.rate))
        deliveries.consumer.close()
        return result
    finally:
        pipeline.stop()
        pipeline.delete_topics()
        broker.stop()


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    try:
        opts.settings = parse_settings(opts.set)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    result = run(opts)
    def show(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.0f}" if abs(v) >= 10 else f"{v:.3f}"
        return str(v)

    print(" ".join(f"{k}={show(v)}" for k, v in result.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
