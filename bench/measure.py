"""What a run measured: CPU and memory of processes (from ``/proc``), arrivals matched to the
events produced (completeness, duplicates, latency percentiles), throughput over time.

CPU is ``utime + stime`` of a process and all its descendants (``/proc/<pid>/stat``), in
seconds; peak memory is ``VmHWM`` (``/proc/<pid>/status``), the high-water mark of the resident
set, in MiB. Latency is receipt time minus the time the generator called ``produce()`` for the
event (which is also the Kafka record's CreateTime, the pipeline's ``source_ts_ms``); both clocks
are this machine's wall clock.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = ["MACHINE", "Arrivals", "CpuSampler", "Delivered", "Timeline", "analyse", "children",
           "cpu_seconds", "descendants", "peak_rss_mib", "percentiles", "rss_mib"]

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def children() -> dict[int, list[int]]:
    """pid -> the pids of its children, for every process (from ``/proc``)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _own_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """``pid`` and every live descendant of it (``tree`` from :func:`children`)."""
    tree = children() if tree is None else tree
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        stack.extend(tree.get(p, ()))
    return found


def cpu_seconds(pid: int, tree: dict[int, list[int]] | None = None) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and every live descendant."""
    return sum(_own_cpu_seconds(p) for p in descendants(pid, tree))


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """``VmHWM`` of ``pid`` in MiB (0 when the process is gone)."""
    return _status_kib(pid, "VmHWM:") / 1024


def rss_mib(pid: int) -> float:
    """``VmRSS`` of ``pid`` in MiB (0 when the process is gone)."""
    return _status_kib(pid, "VmRSS:") / 1024


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) * _TICK_S


#: the name under which :class:`CpuSampler` records the whole machine's busy CPU seconds
MACHINE = "machine"


class CpuSampler:
    """Samples CPU seconds and RSS of named processes every ``interval_s`` on a thread, so a
    window's CPU can be read after the fact (:meth:`cpu_between`). The whole machine's busy
    seconds are sampled too (as ``"machine"``), so a run can tell how much CPU went to
    processes it does not know (another job on the same box)."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.pids: dict[str, int] = {}
        #: names counted without their descendants (the benchmark's own process)
        self.alone: set[str] = set()
        #: names whose CPU is also in another name's (a worker's statistics child): shown on
        #: their own, left out of sums over every name
        self.nested: set[str] = set()
        self.samples: list[tuple[float, dict[str, float], dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def watch(self, name: str, pid: int, descendants: bool = True, nested: bool = False) -> None:
        with self._lock:
            self.pids[name] = pid
            if not descendants:
                self.alone.add(name)
            if nested:
                self.nested.add(name)

    def start(self) -> "CpuSampler":
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()

    def sample(self) -> None:
        tree = children()
        with self._lock:
            pids = dict(self.pids)
        cpu = {name: _own_cpu_seconds(pid) if name in self.alone else cpu_seconds(pid, tree)
               for name, pid in pids.items()}
        cpu[MACHINE] = machine_busy_seconds()
        rss = {name: rss_mib(pid) for name, pid in pids.items()}
        self.samples.append((time.time(), cpu, rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def cpu_at(self, name: str, t: float) -> float:
        """CPU seconds of ``name`` at the first sample at or after ``t`` (else the last)."""
        value = 0.0
        for at, cpu, _ in self.samples:
            value = cpu.get(name, value)
            if at >= t:
                break
        return value

    def cpu_between(self, name: str, t0: float, t1: float) -> float:
        return max(0.0, self.cpu_at(name, t1) - self.cpu_at(name, t0))

    def peak_rss(self, name: str) -> float:
        return max((rss.get(name, 0.0) for _, _, rss in self.samples), default=0.0)


def percentiles(values: Sequence[float] | np.ndarray, qs: Iterable[float] = (50, 95, 99)
                ) -> dict[str, float]:
    """``{"p50": ..., ...}`` (nearest rank on the sorted values); NaN for no values."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return {f"p{q:g}": float("nan") for q in qs}
    return {f"p{q:g}": float(np.percentile(arr, q, method="inverted_cdf")) for q in qs}


@dataclass
class Arrivals:
    """Receipts as the receiver wrote them: ``(unix seconds, id)`` per event (or call)."""

    times: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def add(self, t: float, ident: str) -> None:
        self.times.append(t)
        self.ids.append(ident)

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class Timeline:
    """Per ``bucket_s`` from the first produce: receipts/s, produced/s, latency percentiles
    (seconds) of the events received in the bucket, and (when sampled) enriched/s."""

    bucket_s: float
    start: float
    received_per_s: list[float]
    produced_per_s: list[float]
    p50_s: list[float]
    p95_s: list[float]
    p99_s: list[float]
    #: events enriched per second (fl.deliveries records written / loops), when sampled
    enriched_per_s: list[float] = field(default_factory=list)


@dataclass
class Delivered:
    """Arrivals matched to the deliveries expected."""

    expected: int
    received: int          # distinct expected deliveries that arrived
    duplicates: int        # arrivals of a delivery beyond its first
    unknown: int           # arrivals that match nothing expected (warm-up, other loops)
    first_produce: float
    last_produce: float
    first_receipt: float
    last_receipt: float
    latency_s: dict[str, float]
    max_latency_s: float
    timeline: Timeline | None
    #: a few slots that never arrived (event index * loops + loop), for diagnosis
    missing_sample: list[int] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def complete(self) -> bool:
        return self.received == self.expected

    def rate_from(self, t0: float) -> float:
        """Deliveries/s from ``t0`` to the last receipt."""
        return self.received / max(self.last_receipt - t0, 1e-9)

    @property
    def end_to_end_per_s(self) -> float:
        """Deliveries/s from the first produce to the last receipt."""
        return self.rate_from(self.first_produce)

    @property
    def drain_per_s(self) -> float:
        """Deliveries/s from the first receipt to the last (start-up excluded)."""
        if self.received < 2:
            return float("nan")
        return (self.received - 1) / max(self.last_receipt - self.first_receipt, 1e-9)


#: maps a received id to (event index, delivery slot) or None when it is not ours.
Resolver = Callable[[str], "tuple[int, int] | None"]


def bucket_for(window_s: float) -> float:
    """A timeline bucket giving roughly 40-100 points over ``window_s``."""
    for bucket in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0):
        if window_s / bucket <= 100:
            return bucket
    return 30.0


def analyse(arrivals: Arrivals, resolve: Resolver, produce_times: np.ndarray, slots: int,
            wanted: Callable[[int], bool] | None = None, bucket_s: float | None = None) -> Delivered:
    """Match arrivals to events: ``resolve(id)`` gives ``(event index, slot)`` where a slot is
    one (event, loop) pair, ``slots`` of them in all; ``wanted(slot)`` says which slots count
    (default all). Latency uses the first arrival of each slot."""
    n_events = len(produce_times)
    seen = np.zeros(slots, dtype=bool)
    keep = np.ones(slots, dtype=bool)
    if wanted is not None:
        keep = np.fromiter((wanted(s) for s in range(slots)), dtype=bool, count=slots)
    expected = int(keep.sum())
    lat: list[float] = []
    recv_t: list[float] = []
    duplicates = unknown = 0
    for t, ident in zip(arrivals.times, arrivals.ids):
        hit = resolve(ident)
        if hit is None:
            unknown += 1
            continue
        index, slot = hit
        if not keep[slot]:
            unknown += 1
            continue
        if seen[slot]:
            duplicates += 1
            continue
        seen[slot] = True
        lat.append(t - produce_times[index])
        recv_t.append(t)
    lat_arr = np.asarray(lat)
    recv_arr = np.asarray(recv_t)
    first_produce = float(produce_times.min()) if n_events else 0.0
    last_produce = float(produce_times.max()) if n_events else 0.0
    timeline = None
    if recv_arr.size:
        bucket_s = bucket_s or bucket_for(float(recv_arr.max()) - first_produce)
        timeline = _timeline(bucket_s, first_produce, produce_times, recv_arr, lat_arr)
    return Delivered(
        expected=expected, received=int(seen.sum()), duplicates=duplicates, unknown=unknown,
        first_produce=first_produce, last_produce=last_produce,
        first_receipt=float(recv_arr.min()) if recv_arr.size else 0.0,
        last_receipt=float(recv_arr.max()) if recv_arr.size else 0.0,
        latency_s=percentiles(lat_arr), max_latency_s=float(lat_arr.max()) if lat_arr.size else 0.0,
        timeline=timeline, missing_sample=np.flatnonzero(keep & ~seen)[:20].tolist())


def _timeline(bucket_s: float, start: float, produced: np.ndarray, received: np.ndarray,
              latency: np.ndarray) -> Timeline:
    end = max(float(received.max()), float(produced.max()))
    n = int((end - start) / bucket_s) + 1
    rb = np.clip(((received - start) / bucket_s).astype(int), 0, n - 1)
    pb = np.clip(((produced - start) / bucket_s).astype(int), 0, n - 1)
    recv_counts = np.bincount(rb, minlength=n) / bucket_s
    prod_counts = np.bincount(pb, minlength=n) / bucket_s
    order = np.argsort(rb, kind="stable")
    rb_sorted, lat_sorted = rb[order], latency[order]
    bounds = np.searchsorted(rb_sorted, np.arange(n + 1))
    p50, p95, p99 = [], [], []
    for b in range(n):
        chunk = lat_sorted[bounds[b]:bounds[b + 1]]
        if chunk.size:
            q = np.percentile(chunk, (50, 95, 99), method="inverted_cdf")
            p50.append(float(q[0]))
            p95.append(float(q[1]))
            p99.append(float(q[2]))
        else:
            p50.append(float("nan"))
            p95.append(float("nan"))
            p99.append(float("nan"))
    return Timeline(bucket_s, start, recv_counts.tolist(), prod_counts.tolist(), p50, p95, p99)
