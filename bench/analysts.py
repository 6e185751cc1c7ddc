"""The analysts' scenarios: ``export`` (a window to Parquet) and ``replay`` (a replay during
the ``latency`` scenario). Registered in :data:`bench.scenarios.SCENARIOS`; not part of ``all``.

``replay``: the ``latency`` scenario twice — alone (or its result from earlier in the same
invocation), then with a replay of H history events (default 1,000,000) to the same loop
running through the whole measurement. The history is produced before the pipeline starts and
the worker's group begins after it (it is history, not live traffic); a replayer process
(``feedbackloops replayer``) reads, enriches and sends it in the replay lane. Target: the live
p99 with the replay within 1.5x of the p99 without.

``export``: a worker loads P profiles into its table (so the changelog holds them, as in
production) and stops; N events are produced to the raw topics; then ``feedbackloops export
--format parquet --out DIR/`` runs as its own process (``--jobs``: its default, one process per
core up to 4). Measured: wall time (start-up included) and the export's own time, CPU (``wait4``:
its processes together), peak RSS of each of its processes and of all together (sampled every
0.2 s: ``ru_maxrss`` would count the benchmark's own memory from before ``exec``), and that the
files hold N rows.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from .generator import EventIds, Workload, produce
from .harness import Options
from .measure import MACHINE, CpuSampler, descendants, rss_mib
from .pipeline import ROOT, Pipeline, Proc
from .receivers import free_port
from .results import ScenarioResult, Target
from .scenarios import SCENARIOS, _one_loop, _profiles, _wait_for_table, latency_pace, scenario

__all__ = ["export_scenario", "replay_scenario"]



def _changelog_filled(pipeline: Pipeline, profiles: int, timeout_s: float = 600.0) -> None:
    """Until the profile table's changelog holds a record per profile (Faust writes it
    shortly after the table)."""
    from confluent_kafka import Consumer, TopicPartition

    from streams.kafka.clients import confluent_config

    topic = pipeline.topics.profiles_changelog
    consumer = Consumer(confluent_config(pipeline.config.kafka, **{"group.id": "bench-probe"}))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            total = sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        for p in parts)
            if total >= profiles:
                return
            time.sleep(1.0)
    finally:
        consumer.close()
    raise RuntimeError(f"the changelog did not reach {profiles} records in {timeout_s:g}s")


@scenario("export", "feedbackloops export of N events to Parquet (date partitions)")
def export_scenario(opts: Options) -> ScenarioResult:
    n = opts.pick(opts.events, 1_000_000, 50_000)
    profiles = _profiles(opts)
    directory = opts.out_dir / "export"
    pipeline = Pipeline(opts.bootstrap, directory, [], opts.partitions)
    result = ScenarioResult("export", "export to Parquet", "-", n, n, 0, 0, opts.partitions, 0)
    sampler = CpuSampler()
    if opts.broker_pid:
        sampler.watch("broker", opts.broker_pid)
    sampler.start()
    try:
        pipeline.create_topics()
        workload = Workload(pipeline.topics, n, profiles)
        profiles_path, tags_path = workload.write_reference(directory / "data")
        pipeline.start_worker()
        pipeline.load_reference(profiles_path, tags_path)
        _wait_for_table(profiles)(pipeline, result)
        _changelog_filled(pipeline, profiles)
        pipeline.stop()
        since_ms = int(time.time() * 1000)
        _times, stats = produce(pipeline.config.kafka, workload.records)
        result.produce = {"records": stats.records, "seconds": round(stats.seconds, 3)}
        until_ms = int(time.time() * 1000) + 1
        del workload
        out = directory / "parquet"
        out.mkdir(parents=True, exist_ok=True)
        log_path = directory / "export.log"
        t0 = time.time()
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                pipeline._argv("export", "--since", str(since_ms), "--until", str(until_ms),
                               "--format", "parquet", "--out", f"{out}/", "--quiet"),
                cwd=ROOT, env=pipeline._env(), stdout=log_file, stderr=subprocess.STDOUT)
            sampler.watch("export", proc.pid)
            rss = _RssPeaks(proc.pid).start()
            _pid, status, usage = os.wait4(proc.pid, 0)
            rss.stop()
        t1 = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.sample()
        text = log_path.read_text(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"export exited with {proc.returncode}:\n{text[-3000:]}")
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in Path(out).rglob("*.parquet"))
        wall_s = t1 - t0
        own_s = _own_seconds(text)
        result.per_s = n / wall_s
        result.drain_per_s = n / own_s if own_s else float("nan")
        result.completeness = {"expected": n, "received": rows, "missing": max(0, n - rows),
                               "duplicates": max(0, rows - n), "unknown": 0}
        cpu = usage.ru_utime + usage.ru_stime
        result.cpu_s.update(export=round(cpu, 2), window_s=round(wall_s, 2))
        machine = sampler.cpu_between(MACHINE, t0, t1)
        broker = sampler.cpu_between("broker", t0, t1) if opts.broker_pid else 0.0
        result.cpu_s.update(broker=round(broker, 2), machine=round(machine, 2),
                            others=round(max(0.0, machine - cpu - broker), 2))
        result.cpu_s_per_10k = round(cpu / n * 10_000, 3)
        peak = rss.peak_one
        result.peak_rss_mib["export"] = round(peak, 1)
        result.peak_rss_mib["export (all processes)"] = round(rss.peak_sum, 1)
        result.extra["jobs"] = max(1, rss.processes - 1) if rss.processes > 1 else 1
        result.extra.update(profiles=profiles, wall_s=round(wall_s, 2),
                            export_own_s=round(own_s, 2), files=len(list(out.rglob("*.parquet"))),
                            bytes=sum(p.stat().st_size for p in out.rglob("*.parquet")),
                            per_cpu_s=round(n / cpu, 1) if cpu else None)
        result.notes.append("ev/s = events / wall time of the export process (start-up "
                            "included); drain/s = events / the export's own time")
        result.targets.append(Target("export to Parquet", 50_000, ">=", result.per_s, " ev/s"))
        result.targets.append(Target("export peak RSS (largest process)", 300, "<=",
                                     peak * 1.048576, " MB",
                                     f"all {result.extra.get('jobs', 1)} together: "
                                     f"{rss.peak_sum * 1.048576:,.0f} MB"))
    finally:
        pipeline.stop()
        sampler.stop()
        if not opts.keep_topics:
            pipeline.delete_topics_after("export")
    return result


class _RssPeaks:
    """Peak RSS (MiB) of a process and its descendants, each and summed, sampled."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_one = 0.0
        self.peak_sum = 0.0
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "_RssPeaks":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            sizes = [rss_mib(p) for p in descendants(self.pid)]
            # the spawn helper (multiprocessing's resource tracker) is small; count workers
            self.processes = max(self.processes, sum(1 for size in sizes if size > 50))
            self.peak_one = max(self.peak_one, *sizes)
            self.peak_sum = max(self.peak_sum, sum(sizes))


def _own_seconds(text: str) -> float:
    import json

    try:
        return float(json.loads(text[text.index("{"):])["seconds"])
    except (ValueError, KeyError):
        return float("nan")


def _skip_history(pipeline: Pipeline) -> None:
    """Commit the worker group's offsets at the raw topics' ends: the worker starts after the
    history (as if it had delivered it live long ago)."""
    from confluent_kafka import Consumer, TopicPartition

    from streams.kafka.clients import confluent_config

    consumer = Consumer(confluent_config(pipeline.config.kafka, **{
        "group.id": pipeline.config.worker.app_id, "enable.auto.commit": False}))
    try:
        ends = []
        for topic in pipeline.topics.raw.values():
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for p in parts:
                high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                ends.append(TopicPartition(topic, p, high))
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


@scenario("replay", "latency with a replay of H history events to the same loop running")
def replay_scenario(opts: Options) -> ScenarioResult:
    from schemas.loop import Loop
    from streams.kafka.loopstore import parse_loop
    from streams.kafka.registry import CompactedView
    from streams.replay.book import ReplayBook
    from streams.replay.operations import Replays

    baseline = opts.earlier.get("latency") or SCENARIOS["latency"].run(opts)
    history = opts.pick(opts.events, 1_000_000, 50_000)
    rate, source, duration_s = latency_pace(opts)
    state: dict[str, object] = {}

    def prepare(pipeline: Pipeline, result: ScenarioResult) -> None:
        past = Workload(pipeline.topics, history, _profiles(opts), seed=11, ids=EventIds())
        state["since_ms"] = int(time.time() * 1000)
        produce(pipeline.config.kafka, past.records)
        state["until_ms"] = int(time.time() * 1000) + 1
        _skip_history(pipeline)

    def before(pipeline: Pipeline, result: ScenarioResult) -> None:
        port = free_port()
        state["proc"] = pipeline._start("replayer0", ["replayer"],
                                         FL_REPLAY_METRICS_PORT=str(port))

    def during(pipeline: Pipeline, sampler: CpuSampler) -> None:
        proc = state["proc"]
        assert isinstance(proc, Proc)
        sampler.watch("replayer", proc.pid)
        book = ReplayBook(pipeline.config.kafka, pipeline.topics.replays).start(60)
        state["book"] = book
        loops: CompactedView[Loop] = CompactedView(pipeline.config.kafka, pipeline.topics.loops,
                                                   parse_loop).start(60)
        replays = Replays(pipeline.config.kafka, pipeline.topics, book, loops.get)
        body: dict[str, object] = {"loop": "bench", "since": state["since_ms"],
                                   "until": state["until_ms"]}
        if opts.replay_rate is not None:
            body["rate_per_s"] = opts.replay_rate
        started = replays.start(body)
        loops.stop()
        state["id"] = started["id"]
        deadline = time.monotonic() + 120
        while book.status(started["id"])["delivered"] == 0:  # the lane is sending
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replay did not start sending within 120 s; see "
                                   f"{pipeline.dir}/replayer0.log")
            time.sleep(0.5)

    try:
        result = _one_loop(opts, "replay", int(rate * duration_s), ceilings=False,
                           mode="paced", rate_per_s=rate, prepare=prepare, before=before,
                           during=during)
    finally:
        proc = state.get("proc")
        if isinstance(proc, Proc):
            proc.stop()
    book = state.get("book")
    if isinstance(book, ReplayBook):
        status = book.status(str(state["id"]))
        book.stop()
        result.extra["replay"] = {k: status[k] for k in ("id", "state", "records", "read",
                                                         "routed", "delivered", "failed")}
        result.notes.append(f"replay of {history:,} history events: {status['delivered']:,} "
                            f"delivered, {status['read']:,} read when the live run ended")
    base_p99 = baseline.latency_ms.get("p99", float("nan"))
    result.extra.update(rate_per_s=round(rate, 1), rate_source=source, duration_s=duration_s,
                        baseline_p99_ms=base_p99, history=history,
                        replay_rate_per_s=opts.replay_rate)
    result.targets.append(Target("live p99 with a replay running / without", 1.5, "<=",
                                 result.latency_ms.get("p99", float("nan")) / base_p99))
    return result
