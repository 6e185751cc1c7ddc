"""The scenarios of the issue, by name (``python -m bench --scenario NAME``).

==============  ============================================================  ==================
name            what                                                          receiver
==============  ============================================================  ==================
single          (1) open spike, one loop, json, signed, receiver answers now  nginx
slow-receiver   (1b) the same against a receiver that takes 20 ms per call    nginx echo_sleep
batch           (2) json-batch of 100 events                                  aiohttp (reads ids
                                                                              inside the array)
latency         p99 produce->receipt at half the rate ``single`` sustained    nginx
isolation       (3) nine healthy loops alone, then next to one that hangs     nginx + tarpit
backlog         (4) N events waiting in Kafka, worker and sender start cold   nginx
sender          (5) the sender stage alone: fl.deliveries filled at once      nginx
connect         the peer: Kafka Connect + Aiven's HTTP sink on the sender's   nginx (logs the
                work (a topic of request bodies, 8 tasks, one POST each)      body's event_id)
memory          worker peak RSS with P profiles in the RocksDB table          nginx
scale-out       a second worker joins during a spike (not in ``all``)        nginx
scale-partitions  repartition mode: the re-key hop's CPU per event, and        nginx
                `partitions scale 4 -> 8` mid-stream (not in ``all``)
==============  ============================================================  ==================
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from .generator import Workload
from .harness import Options, add_ceilings, make_receiver, slow_receiver
from .measure import CpuSampler
from .peer_runner import run_connect
from .pipeline import Pipeline, loop_decl
from .receivers import Tarpit
from .results import ScenarioResult, Target
from .runner import Setup, execute

__all__ = ["SCENARIOS", "ORDER", "Scenario"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: Callable[[Options], ScenarioResult]


SCENARIOS: dict[str, Scenario] = {}
#: the order of ``all``: ``single`` first, because ``latency`` uses its rate.
#: ``connect`` right before ``sender``: the sender's row is compared with it, minutes apart.
ORDER = ["single", "latency", "slow-receiver", "batch", "isolation", "backlog", "connect",
         "sender", "memory"]


def scenario(name: str, title: str) -> Callable[[Callable[[Options], ScenarioResult]],
                                                 Callable[[Options], ScenarioResult]]:
    def register(fn: Callable[[Options], ScenarioResult]) -> Callable[[Options], ScenarioResult]:
        SCENARIOS[name] = Scenario(name, title, fn)
        return fn
    return register


def _profiles(opts: Options) -> int:
    return opts.pick(opts.profiles, 10_000, 2_000)


def _receiver(opts: Options) -> tuple[str, str]:
    kind = opts.receiver or "nginx"
    return kind, "nginx (return 204)" if kind == "nginx" else "aiohttp (Python, records ids)"


def _single_ceilings(opts: Options, url: str, in_flight: int, per_request: int = 1,
                     clients: tuple[str, ...] = ("aiohttp", "curl")
                     ) -> Callable[[ScenarioResult, Pipeline, Workload], None]:
    def after(result: ScenarioResult, pipeline: Pipeline, workload: Workload) -> None:
        # a real enriched payload, with an event id no scenario counts
        payloads = [{**workload.payload(i), "event_id": f"ceiling-{i}"}
                    for i in range(min(per_request, workload.n))]
        body = orjson.dumps(payloads if per_request > 1 else payloads[0])
        requests = max(20_000 // per_request, 2_000,
                       min(result.deliveries // per_request, 200_000))
        topics = (pipeline.topics.deliveries if result.extra["mode"] == "sender"
                  else workload.topics_used())
        add_ceilings(result, opts, url, body, requests, in_flight,
                     [topics] if isinstance(topics, str) else topics,
                     int(result.produce["records"]), per_request, clients)
    return after


def _one_loop(opts: Options, name: str, events: int, *, profiles: int | None = None,
              ceilings: bool = True, clients: tuple[str, ...] = ("aiohttp", "curl"),
              **setup: Any) -> ScenarioResult:
    """One signed json loop (128 in flight unless told) on the fast receiver; with
    ``ceilings``, the single-event ceilings measured against the same receiver. ``setup``:
    further :class:`Setup` fields (mode, rate, store, hooks)."""
    kind, label = _receiver(opts)
    receiver = make_receiver(kind, opts.out_dir / name / "receiver")
    in_flight = opts.in_flight or 128
    url = receiver.url("/hook")
    return execute(opts, Setup(
        name, SCENARIOS[name].title, receiver, label,
        [loop_decl("bench", url, max_in_flight=in_flight)], events,
        profiles if profiles is not None else _profiles(opts), in_flight,
        after=_single_ceilings(opts, url, in_flight, clients=clients) if ceilings else None,
        **setup))


@scenario("single", "(1) spike, single-event json, signed, receiver answers at once")
def single(opts: Options) -> ScenarioResult:
    result = _one_loop(opts, "single", opts.pick(opts.events, 100_000, 20_000))
    result.targets.append(Target("end to end, single-event signed", 6000, ">=", result.per_s,
                                 " ev/s"))
    return result


@scenario("slow-receiver", "(1b) spike, single-event json, receiver takes 20 ms per call")
def slow(opts: Options) -> ScenarioResult:
    receiver, path = slow_receiver(opts, opts.out_dir / "slow-receiver" / "receiver")
    label = (f"nginx echo_sleep {opts.delay_ms:g} ms" if receiver.kind == "nginx"
             else f"aiohttp, answers after {opts.delay_ms:g} ms")
    in_flight = opts.in_flight or 512
    url = receiver.url(path)
    result = execute(opts, Setup(
        "slow-receiver", SCENARIOS["slow-receiver"].title, receiver, label,
        [loop_decl("bench", url, max_in_flight=in_flight)],
        opts.pick(opts.events, 100_000, 20_000), _profiles(opts), in_flight,
        after=_single_ceilings(opts, url, in_flight)))
    result.targets.append(Target(f"end to end against a {opts.delay_ms:g} ms receiver", 5000,
                                 ">=", result.per_s, " ev/s"))
    return result


@scenario("batch", "(2) spike, json-batch of up to 100 events per call")
def batch(opts: Options) -> ScenarioResult:
    kind = opts.receiver or "aiohttp"
    receiver = make_receiver(kind, opts.out_dir / "batch" / "receiver")
    label = ("aiohttp (Python; nginx cannot see the events inside a batch)" if kind == "aiohttp"
             else "nginx (return 204)")
    in_flight = opts.in_flight or 16
    url = receiver.url("/hook")
    result = execute(opts, Setup(
        "batch", SCENARIOS["batch"].title, receiver, label,
        [loop_decl("bench", url, encoding="json-batch", max_in_flight=in_flight,
                   batch_max_events=opts.batch_size, batch_max_wait_ms=opts.batch_wait_ms)],
        opts.pick(opts.events, 200_000, 20_000), _profiles(opts), in_flight,
        after=_single_ceilings(opts, url, in_flight, opts.batch_size)))
    result.extra.update(batch_max_events=opts.batch_size, batch_max_wait_ms=opts.batch_wait_ms)
    result.targets.append(Target("end to end, batched", 20000, ">=", result.per_s, " ev/s"))
    return result


def latency_pace(opts: Options) -> tuple[float, str, float]:
    """The latency scenario's rate (events/s), where it came from, and its duration (s)."""
    earlier = opts.earlier.get("single")
    if opts.rate is not None:
        rate, source = opts.rate, "--rate"
    elif earlier is not None and earlier.per_s == earlier.per_s:
        rate, source = earlier.per_s / 2, f"half of single's {earlier.per_s:,.0f} ev/s"
    else:
        rate, source = 3000.0, "default 3000/s (run `single` first, or pass --rate)"
    duration_s = opts.duration_s if opts.duration_s is not None else (5.0 if opts.smoke else 30.0)
    return rate, source, duration_s


@scenario("latency", "p99 produce->receipt at half the maximum sustained rate")
def latency(opts: Options) -> ScenarioResult:
    rate, source, duration_s = latency_pace(opts)
    result = _one_loop(opts, "latency", int(rate * duration_s), ceilings=False, mode="paced",
                       rate_per_s=rate)
    result.extra.update(rate_per_s=round(rate, 1), rate_source=source, duration_s=duration_s)
    result.targets.append(Target("p99 produce->receipt at half the max rate", 250, "<=",
                                 result.latency_ms.get("p99", float("nan")), " ms"))
    return result


def _isolation_run(opts: Options, hanging: bool, n: int) -> ScenarioResult:
    tag = "hanging" if hanging else "baseline"
    base = opts.out_dir / "isolation" / tag
    receiver = make_receiver("nginx", base / "receiver")
    tarpit = Tarpit(base / "tarpit") if hanging else None
    in_flight = opts.in_flight or 32
    loops = [loop_decl(f"ok{i}", receiver.url(f"/ok{i}"), max_in_flight=in_flight)
             for i in range(9)]
    if tarpit is not None:
        loops.append(loop_decl("hang", tarpit.url("/hang"), max_in_flight=in_flight,
                               timeout_s=opts.hang_timeout_s))
    try:
        return execute(opts, Setup(
            f"isolation-{tag}", SCENARIOS["isolation"].title, receiver, "nginx + tarpit",
            loops, n, _profiles(opts), in_flight, counted=list(range(9))))
    finally:
        if tarpit is not None:
            tarpit.stop()


@scenario("isolation", "(3) nine healthy loops alone, then next to a tenth that hangs")
def isolation(opts: Options) -> ScenarioResult:
    n = opts.pick(opts.events, 20_000, 3_000)
    baseline = _isolation_run(opts, hanging=False, n=n)
    hanging = _isolation_run(opts, hanging=True, n=n)
    ratio = hanging.per_s / baseline.per_s if baseline.per_s else float("nan")
    hanging.name = "isolation"
    hanging.extra.update(
        baseline_healthy_per_s=round(baseline.per_s, 1), hanging_healthy_per_s=round(hanging.per_s, 1),
        ratio=round(ratio, 3), baseline_latency_ms=baseline.latency_ms,
        baseline_cpu_s_per_10k=baseline.cpu_s_per_10k, hang_timeout_s=opts.hang_timeout_s)
    hanging.notes.append(f"rates are deliveries/s to the nine healthy loops (9 per event): "
                         f"{baseline.per_s:,.0f}/s alone, {hanging.per_s:,.0f}/s next to a "
                         f"tenth loop that hangs ({opts.hang_timeout_s:g} s timeout)")
    hanging.targets.append(Target("isolation: healthy loops keep their throughput", 0.8, ">=",
                                  ratio))
    return hanging


@scenario("backlog", "(4) backlog drain: N events waiting, worker and sender start cold")
def backlog(opts: Options) -> ScenarioResult:
    result = _one_loop(opts, "backlog", opts.pick(opts.events, 300_000, 20_000), mode="backlog")
    result.notes.append("latency here includes the time an event waited in the backlog")
    return result


@scenario("sender", "(5) the sender stage alone: fl.deliveries filled at once, no worker")
def sender(opts: Options) -> ScenarioResult:
    result = _one_loop(opts, "sender", opts.pick(opts.events, 100_000, 20_000), mode="sender",
                       clients=("aiohttp", "curl", "reqwest"))
    result.notes.append("the ceiling runs as many processes as there are senders, with the "
                        "same requests in flight per process")
    result.targets.append(Target("sender stage / bare aiohttp ceiling", 0.6, ">=",
                                 result.ceilings.get("ratio_to_http", float("nan"))))
    result.targets.append(Target("sender stage / bare libcurl ceiling", 0.6, ">=",
                                 result.ceilings.get("ratio_to_curl_http", float("nan"))))
    peer = opts.earlier.get("connect")
    if peer is not None and peer.per_s > 0:  # NaN (the peer did not run) compares False
        result.targets.append(Target("sender stage / Kafka Connect's HTTP sink (same run)", 1.0,
                                     ">=", result.per_s / peer.per_s))
        mine = _per_delivery_us(result, "sender")
        theirs = _per_delivery_us(peer, "connect")
        result.notes.append(f"CPU per delivery: sender {mine:,.0f} µs, Kafka Connect JVM "
                            f"{theirs:,.0f} µs (same run)")
    else:  # the figure of the peer, measured on a quiet machine
        result.targets.append(Target(
            "sender CPU per delivery below Kafka Connect's HTTP sink (152 µs, issue 10)", 152,
            "<=", _per_delivery_us(result, "sender"), " µs"))
    return result


def _per_delivery_us(result: ScenarioResult, prefix: str) -> float:
    cpu = sum(v for k, v in result.cpu_s.items() if k.startswith(prefix))
    return 1e6 * cpu / max(result.deliveries, 1)


@scenario("connect", "peer: Kafka Connect 3.9.1 + Aiven's HTTP sink 0.9.0 on the sender's work")
def connect(opts: Options) -> ScenarioResult:
    """What platform engineers would run instead of the sender (bench/peer_runner.py): the
    same ~800-byte JSON bodies, one POST per record, the same nginx, 8 tasks; after a
    discarded warm-up run of 60,000 records (10,000 with ``smoke``)."""
    return run_connect(opts, "connect", SCENARIOS["connect"].title,
                       opts.pick(opts.events, 100_000, 20_000), _profiles(opts),
                       opts.pick(None, 60_000, 10_000))


@scenario("scale-out", "a second worker joins while a spike is being enriched")
def scale_out(opts: Options) -> ScenarioResult:
    """Not part of ``all``: what an SRE does during a spike. It checks completeness across the
    rebalance more than speed (on two cores a second worker adds no CPU)."""
    kind, label = _receiver(opts)
    receiver = make_receiver(kind, opts.out_dir / "scale-out" / "receiver")
    in_flight = opts.in_flight or 128
    joined: list[float] = []

    def add_worker(pipeline: Pipeline, sampler: CpuSampler) -> None:
        proc = pipeline.start_worker()
        sampler.watch(proc.name, proc.pid)
        joined.append(time.time())
        # a worker process needs ~2-4 s to import, start and join its group: the spike
        # starts meanwhile, so the rebalance lands in the middle of it
        time.sleep(opts.join_lead_s)

    result = execute(opts, Setup(
        "scale-out", SCENARIOS["scale-out"].title, receiver, label,
        [loop_decl("bench", receiver.url("/hook"), max_in_flight=in_flight)],
        opts.pick(opts.events, 100_000, 30_000), _profiles(opts), in_flight,
        during=add_worker))
    if joined:
        result.extra["worker_started_before_s"] = round(result.extra["t0"] - joined[0], 2)
    result.targets.append(Target("events lost across the rebalance", 0, "<=",
                                 float(result.completeness.get("missing", float("nan")))))
    return result


def _wait_for_table(profiles: int) -> Callable[[Pipeline, ScenarioResult], None]:
    def before(pipeline: Pipeline, result: ScenarioResult) -> None:
        started = time.monotonic()
        deadline = started + max(600.0, profiles / 500)
        loaded = 0.0
        while time.monotonic() < deadline:
            pipeline.check_alive()
            loaded = sum(pipeline.metric(w, "fl_profile_writes_total", 'source="ref"')
                         for w in pipeline.workers)
            if loaded >= profiles:
                break
            time.sleep(1.0)
        seconds = time.monotonic() - started
        result.extra.update(table_loaded=int(loaded), table_load_s=round(seconds, 1),
                            table_load_per_s=round(loaded / max(seconds, 1e-9), 1))
        if loaded < profiles:
            result.notes.append(f"the profile table held {loaded:,.0f} of {profiles:,} profiles "
                                "when the wait ended")
    return before


@scenario("memory", "worker peak RSS with P profiles in the RocksDB profile table")
def memory(opts: Options) -> ScenarioResult:
    profiles = opts.pick(opts.profiles, 1_000_000, 50_000)
    result = _one_loop(opts, "memory", opts.pick(opts.events, 20_000, 5_000), profiles=profiles,
                       ceilings=False, store="rocksdb", before=_wait_for_table(profiles))
    peak = max((v for k, v in result.peak_rss_mib.items() if k.startswith("worker")),
               default=float("nan"))
    note = "" if profiles >= 1_000_000 else f"measured with {profiles:,} profiles, not 1,000,000"
    result.targets.append(Target("worker peak RSS, profiles in RocksDB", 400, "<=", peak, " MiB",
                                 note))
    return result


# the analysts' scenarios register themselves (they use the helpers above)
from . import analysts as _analysts  # noqa: E402,F401
from . import partitions as _partitions  # noqa: E402,F401
