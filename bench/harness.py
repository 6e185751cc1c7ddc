"""Shared steps of the scenarios: options, receivers, id resolution, warm-up, waiting for
every delivery, profiling, ceilings and cost accounting."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import yaml

from enrichers.routing import delivery_id

from .ceilings import http_ceiling, kafka_ceiling
from .generator import EventIds, Workload, produce
from .measure import MACHINE, Arrivals, CpuSampler, Resolver, children
from .pipeline import Pipeline, Proc
from .profiling import Recording, record
from .receivers import BODY_PATH, AiohttpReceiver, NginxReceiver, ReceiverProcess, echo_module
from .results import ScenarioResult

__all__ = ["Monitored", "Options", "Tracker", "account", "add_ceilings", "body_receiver",
           "event_resolver", "parse_settings", "idle_cpu", "make_receiver", "measured_arrivals", "ratios",
           "slow_receiver", "start_profiles", "start_processes", "start_sampler", "stats_tail",
           "stragglers", "warm_up", "watch_stats", "webhook_resolver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """Everything a scenario may be told from the command line (None: the scenario's own
    default, smaller with ``smoke``)."""

    bootstrap: str
    out_dir: Path
    broker_pid: int | None = None
    events: int | None = None
    profiles: int | None = None
    workers: int = 1
    senders: int = 1
    partitions: int = 8
    in_flight: int | None = None
    rate: float | None = None
    duration_s: float | None = None
    #: replay scenario: the replay's rate (None: unlimited)
    replay_rate: float | None = None
    receiver: str | None = None
    delay_ms: float = 20.0
    batch_size: int = 100
    batch_wait_ms: int = 200
    hang_timeout_s: float = 60.0
    #: scale-out: seconds between starting the extra worker and the spike
    join_lead_s: float = 2.5
    profile: bool = False
    profile_s: float = 10.0
    keep_topics: bool = False
    smoke: bool = False
    stall_s: float = 30.0
    #: results of scenarios run earlier in the same invocation (the half-rate scenario reads
    #: the single-event rate from here)
    earlier: dict[str, ScenarioResult] = field(default_factory=dict)
    #: where the peers' builds are (``<dir>/aiven-http-connector-0.9.0``); None: the default
    #: (``bench.kafka_connect.default_peers_dir``)
    peers_dir: Path | None = None
    #: ``--set`` pipeline settings, ``{section: {key: value}}``, over each scenario's own
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pick(self, given: float | int | None, full: float | int, smoke: float | int) -> int:
        return int(given if given is not None else (smoke if self.smoke else full))


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set`` items (``section.key=value``, the value in YAML) as ``{section: {key: value}}``.
    Raises ValueError naming the item when it is not of that form."""
    settings: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or not section or not key:
            raise ValueError(f"--set {item!r}: expected section.key=value")
        settings.setdefault(section, {})[key] = yaml.safe_load(text)
    return settings


def make_receiver(kind: str, directory: Path, delay_ms: float = 20.0) -> ReceiverProcess:
    if kind == "nginx":
        return NginxReceiver(directory, delay_ms=delay_ms)
    if kind == "aiohttp":
        return AiohttpReceiver(directory)
    if kind == "aiohttp-slow":
        return AiohttpReceiver(directory, delay_ms=delay_ms)
    raise ValueError(f"unknown receiver {kind!r} (nginx, aiohttp)")


def slow_receiver(opts: Options, directory: Path) -> tuple[ReceiverProcess, str]:
    """The 20 ms receiver: nginx's echo_sleep when the module exists (it costs no CPU to
    speak of), else the aiohttp receiver with a delay. Returns it and its URL path."""
    if opts.receiver != "aiohttp" and echo_module() is not None:
        return NginxReceiver(directory, delay_ms=opts.delay_ms), "/slow/hook"
    return AiohttpReceiver(directory, delay_ms=opts.delay_ms), "/hook"


def body_receiver(opts: Options, directory: Path) -> tuple[ReceiverProcess, str]:
    """A receiver that logs the ``event_id`` inside each body, for clients that send no
    per-call id header: nginx's ``/body/`` location when the echo module exists (it reads the
    body, answers 204 and logs the id), else the aiohttp receiver. Returns it and its URL
    path."""
    if opts.receiver != "aiohttp" and echo_module() is not None:
        return NginxReceiver(directory), BODY_PATH
    return AiohttpReceiver(directory), "/hook"


def webhook_resolver(ids: EventIds, n: int, loop_ids: Sequence[str]) -> Resolver:
    """For receivers that log the webhook-id: delivery id -> (event index, slot), where slot
    ``i * len(loop_ids) + j`` is event ``i`` to loop ``j``."""
    table: dict[str, tuple[int, int]] = {}
    per = len(loop_ids)
    for i in range(n):
        event_id = ids.id(i)
        for j, loop_id in enumerate(loop_ids):
            table[delivery_id(event_id, loop_id)] = (i, i * per + j)
    return table.get


def event_resolver(ids: EventIds, n: int) -> Resolver:
    """For receivers that log the event id (one loop): event id -> (index, index)."""

    def resolve(ident: str) -> tuple[int, int] | None:
        i = ids.index_of(ident)
        return (i, i) if i is not None and i < n else None

    return resolve


class Monitored(Protocol):
    """What a run watches while it waits: raises when one of its processes died."""

    def check_alive(self) -> None: ...


class Tracker:
    """Counts distinct expected deliveries as they arrive (incrementally)."""

    def __init__(self, receiver: ReceiverProcess, resolve: Resolver,
                 wanted: Callable[[int], bool] | None, expected: int) -> None:
        self.receiver = receiver
        self.resolve = resolve
        self.wanted = wanted
        self.expected = expected
        self.seen: set[int] = set()
        self._done = 0

    def poll(self) -> int:
        arrivals = self.receiver.arrivals()
        ids = arrivals.ids
        for k in range(self._done, len(ids)):
            hit = self.resolve(ids[k])
            if hit is not None and (self.wanted is None or self.wanted(hit[1])):
                self.seen.add(hit[1])
        self._done = len(ids)
        return len(self.seen)

    def wait(self, pipeline: Monitored, stall_s: float, max_s: float,
             on_first: Callable[[], None] | None = None) -> bool:
        """Until every expected delivery arrived (True), nothing new came for ``stall_s``, or
        ``max_s`` passed (False). Raises when a process of ``pipeline`` died."""
        deadline = time.monotonic() + max_s
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = self.poll()
            if count and on_first is not None:
                on_first()
                on_first = None
            if count >= self.expected:
                return True
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                log.warning("no progress for %.0fs at %d of %d", stall_s, count, self.expected)
                return False
            pipeline.check_alive()
            time.sleep(0.5)
        log.warning("gave up after %.0fs at %d of %d", max_s, self.poll(), self.expected)
        return False


def start_sampler(receiver: ReceiverProcess, broker_pid: int | None) -> CpuSampler:
    """A running :class:`CpuSampler` of the receiver, the benchmark's own process (the
    generator and the polling) and the broker; the tested processes are added as they
    start."""
    sampler = CpuSampler()
    sampler.watch("receiver", receiver.pid)
    sampler.watch("bench", os.getpid(), descendants=False)
    if broker_pid:
        sampler.watch("broker", broker_pid)
    return sampler.start()


def idle_cpu(result: ScenarioResult, sampler: CpuSampler, processes: Sequence[Proc],
             seconds: float = 3.0) -> None:
    """CPU (cores) each process burns with no traffic at all: the floor under every rate.
    The broker's too, when it is watched: idle consumers' fetches are its work as well."""
    t0 = time.time()
    time.sleep(seconds)
    sampler.sample()
    t1 = time.time()
    names = [p.name for p in processes] + (["broker"] if "broker" in sampler.pids else [])
    result.extra["idle_cores"] = {name: round(sampler.cpu_between(name, t0, t1) / (t1 - t0), 3)
                                  for name in names}


def measured_arrivals(receiver: ReceiverProcess) -> tuple[Arrivals, float]:
    """A copy of what arrived so far (the ceilings' calls come later and are not counted) and
    the time of the last receipt (now, when nothing arrived)."""
    arrivals = receiver.arrivals()
    measured = Arrivals(list(arrivals.times), list(arrivals.ids))
    return measured, max(arrivals.times) if arrivals.times else time.time()


def stragglers(receiver: ReceiverProcess, measured: Arrivals) -> Arrivals:
    """``measured`` plus what arrived after it was taken, once the receiver stopped (late
    duplicates, say), leaving out the ceilings' and warm-up calls."""
    late = receiver.arrivals()
    for t, ident in zip(late.times[len(measured):], late.ids[len(measured):]):
        if not ident.startswith(("ceiling-", "warm-up")):
            measured.add(t, ident)
    return measured


def start_processes(pipeline: Pipeline, opts: Options, sampler: CpuSampler,
                    workers: bool = True) -> None:
    for _ in range(opts.workers if workers else 0):
        p = pipeline.start_worker()
        sampler.watch(p.name, p.pid)
    for _ in range(opts.senders):
        p = pipeline.start_sender()
        sampler.watch(p.name, p.pid)


def warm_up(pipeline: Pipeline, workload: Workload, receiver: ReceiverProcess, n: int = 300,
            per_event: int = 1, timeout_s: float = 180.0, deliveries: bool = False) -> None:
    """Produce ``n`` events (other ids; with ``deliveries``, delivery records to every loop)
    and wait until ``n * per_event`` calls arrived: every process is ready, in its group,
    connected and warm before the clock starts."""
    loop_ids = [loop.id for loop in pipeline.config.loops] if deliveries else None
    records = workload.warm_up_records(pipeline.topics, n, loop_ids)
    deadline = time.monotonic() + timeout_s
    _settle(pipeline, deadline)
    before = len(receiver.arrivals())
    produce(pipeline.config.kafka, records)
    while len(receiver.arrivals()) - before < n * per_event:
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up: {len(receiver.arrivals()) - before} of {n * per_event}"
                               f" calls arrived within {timeout_s:g}s; logs in {pipeline.dir}")
        pipeline.check_alive()
        time.sleep(0.25)
    _settle(pipeline, deadline)
    time.sleep(1.0)  # let the tail of the warm-up settle (commits, batches)


def _settle(pipeline: Pipeline, deadline: float) -> None:
    """Until every process is ready and in its group with no rebalance pending: a process
    joining mid-run would move partitions inside the measurement."""
    while not (pipeline.ready() and pipeline.groups_stable()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up: the processes or their consumer groups did not "
                               f"settle in time; logs in {pipeline.dir}")
        pipeline.check_alive()
        time.sleep(0.5)


def watch_stats(pipeline: Pipeline, sampler: CpuSampler) -> None:
    """Each worker's statistics process (a child of the worker, streams/stats/process.py) as
    ``stats.<worker>``: its CPU is in the worker's figure too, and shown on its own."""
    tree = children()
    for proc in pipeline.workers:
        for pid in tree.get(proc.pid, ()):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    spawned = b"spawn_main" in fh.read()  # not multiprocessing's resource tracker
            except OSError:
                continue
            if spawned:
                sampler.watch(f"stats.{proc.name}", pid, nested=True)


def stats_tail(result: ScenarioResult, pipeline: Pipeline, sampler: CpuSampler, t1: float,
               timeout_s: float = 60.0) -> None:
    """After the last receipt: until the statistics have counted every record (they run a few
    seconds behind), and the statistics processes' CPU in that tail, which the measured window
    leaves out (``stats_tail_s``, ``stats_tail_cpu_s``)."""
    if not pipeline.config.stats.enabled or not pipeline.workers:
        return
    deadline = time.monotonic() + timeout_s
    while pipeline.stats_behind() != 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    sampler.sample()
    t2 = time.time()
    result.extra["stats_tail_s"] = round(t2 - t1, 2)
    result.extra["stats_tail_cpu_s"] = round(sum(
        sampler.cpu_between(name, t1, t2) for name in sampler.pids if name.startswith("stats.")), 2)


def start_profiles(opts: Options, pipeline: Pipeline, directory: Path,
                   more: dict[str, int] | None = None) -> list[Recording]:
    """py-spy recordings of every worker and sender and of ``more`` (name -> pid)."""
    if not opts.profile:
        return []
    named = {**{p.name: p.pid for p in pipeline.processes}, **(more or {})}
    return [record(name, pid, opts.profile_s, directory / f"pyspy-{name}.txt")
            for name, pid in named.items()]


def finish_profiles(recordings: list[Recording], result: ScenarioResult) -> None:
    for rec in recordings:
        prof = rec.finish()
        if prof is not None:
            result.profiles.append({"process": prof.process, "samples": prof.samples,
                                    "top_self": prof.top_self,
                                    "top_inclusive": prof.top_inclusive, "raw": prof.raw_path})


def account(result: ScenarioResult, sampler: CpuSampler, processes: Sequence[Proc], t0: float,
            t1: float, per: int) -> None:
    """CPU seconds in [t0, t1] per process (and per 10k of ``per``), peak RSS per process.
    ``pipeline`` (and CPU s/10k) is the CPU of ``processes``: the system under test (workers
    and senders, or a peer), not the broker, receiver or generator."""
    names = list(sampler.pids)
    cpu = {n: round(sampler.cpu_between(n, t0, t1), 2) for n in names}
    result.cpu_s.update(cpu)
    tested = {p.name for p in processes}
    pipeline_cpu = sum(v for n, v in cpu.items() if n in tested)
    result.cpu_s["pipeline"] = round(pipeline_cpu, 2)
    result.cpu_s["window_s"] = round(t1 - t0, 2)
    # busy CPU of the whole machine in the window, and the part no process of ours used: a
    # test suite or another benchmark on the same two cores shows up here
    machine = sampler.cpu_between(MACHINE, t0, t1)
    result.cpu_s["machine"] = round(machine, 2)
    known = sum(v for n, v in cpu.items() if n not in sampler.nested)
    result.cpu_s["others"] = round(max(0.0, machine - known), 2)
    result.cpu_s_per_10k = round(pipeline_cpu / max(per, 1) * 10_000, 3)
    for p in processes:
        result.peak_rss_mib[p.name] = round(max(p.peak_rss_mib, sampler.peak_rss(p.name)), 1)


def add_ceilings(result: ScenarioResult, opts: Options, url: str, body: bytes,
                 requests: int, concurrency: int, topics: Sequence[str] | None,
                 records: int, events_per_request: int = 1,
                 clients: Sequence[str] = ("aiohttp", "curl")) -> None:
    """The bare-HTTP ceilings (same receiver, same number of processes as senders; one per
    client in ``clients``: aiohttp's keys are ``http_*``, the others ``<client>_http_*``) and
    the bare Kafka ceiling (the scenario's input topics); ratios of the scenario's rate to
    each."""
    for client in clients:
        prefix = "http" if client == "aiohttp" else f"{client}_http"
        try:
            h = http_ceiling(url, body, requests, concurrency, processes=opts.senders,
                             client=client)
            result.ceilings.update({
                f"{prefix}_requests_per_s": round(h.per_s, 1),
                f"{prefix}_events_per_s": round(h.per_s * events_per_request, 1),
                f"{prefix}_cpu_us_per_request": round(h.cpu_us_per_request, 1),
                f"{prefix}_concurrency": concurrency, f"{prefix}_processes": h.processes,
                f"{prefix}_errors": h.errors})
        except RuntimeError as exc:
            result.notes.append(f"HTTP ceiling ({client}) failed: {exc}")
    if topics:
        try:
            k = kafka_ceiling(opts.bootstrap, topics, records)
            result.ceilings.update(kafka_per_s=round(k.per_s, 1),
                                   kafka_parse_per_s=round(k.parse_per_s, 1))
        except RuntimeError as exc:
            result.notes.append(f"Kafka ceiling failed: {exc}")


def ratios(result: ScenarioResult) -> None:
    """The scenario's rate over its ceilings (drain rate for cold scenarios: their start-up is
    not throughput)."""
    rate = result.drain_per_s if result.extra.get("cold") else result.per_s
    if result.ceilings.get("http_events_per_s"):
        result.ceilings["ratio_to_http"] = round(rate / result.ceilings["http_events_per_s"], 3)
    for client in ("curl", "reqwest"):
        if result.ceilings.get(f"{client}_http_events_per_s"):
            result.ceilings[f"ratio_to_{client}_http"] = round(
                rate / result.ceilings[f"{client}_http_events_per_s"], 3)
    if result.ceilings.get("kafka_per_s"):
        result.ceilings["ratio_to_kafka"] = round(rate / result.ceilings["kafka_per_s"], 4)
