"""Live traffic first, measured: a replay takes only the CPU the live pipeline leaves.

The replayer runs at nice 19 (``replay.nice``), so the kernel runs the live worker and sender
before it. But most of what a replay costs is paid by processes of normal priority: the
broker serves its reads and writes, the receiver its calls. On shared cores an unlimited
replay made the broker's CPU per live event triple and the live p99 grow 2.6-3.9x
(docs/benchmarks.md), while the backlog gate (:mod:`streams.replay.gate`) stayed open: a
saturated live path that keeps up has no backlog.

So the replay's pace follows a signal of the whole machine: the share of time this niced
process's runnable threads wait for a CPU (the run-queue delay the kernel keeps per thread in
``/proc/<pid>/task/<tid>/schedstat``, its sched-stats: time on a CPU, time waiting on a run
queue, timeslices). A nice-19 thread waits when threads of normal priority -- the live
pipeline, the broker, the receiver -- keep every core busy, and runs at once while a core is
free. Every ``replay.pace_interval_s`` the share of the last interval is compared with
``replay.yield_wait``: above it the pace is cut (x ``DECREASE``, never below
``replay.min_rate_per_s``), below it the pace grows (x ``INCREASE``, up to
``replay.max_rate_per_s``), as TCP's congestion control probes for bandwidth; it starts at
the minimum. The replays of the process share the pace through one token bucket (a replay's
own ``--rate`` can only lower it). Where ``/proc`` has no schedstat the pace is the maximum.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

__all__ = ["CpuWait", "Pace", "TokenBucket"]

log = logging.getLogger(__name__)

#: the pace's factor after an interval with too much waiting, and after one without
DECREASE = 0.5
INCREASE = 1.25
#: how often a replayer that routed anything logs its pace, seconds
LOG_EVERY_S = 30.0
#: the share of an interval's tokens the replays must have taken for the pace to grow
USED_TO_GROW = 0.5


class CpuWait:
    """The share of a process's runnable time its threads spent waiting for a CPU, between
    two calls of :meth:`sample` (0.0 .. 1.0; None where the kernel keeps no schedstat)."""

    def __init__(self, pid: int | None = None) -> None:
        self.root = f"/proc/{pid or os.getpid()}/task"
        self._last: dict[str, tuple[int, int]] = {}
        self.available = os.path.exists(f"/proc/{pid or os.getpid()}/schedstat")
        if self.available:
            self._last = self._read()

    def _read(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        try:
            tids = os.listdir(self.root)
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"{self.root}/{tid}/schedstat", "rb") as f:
                    on_cpu_ns, waiting_ns, _slices = f.read().split()
            except (OSError, ValueError):  # the thread ended between listing and reading
                continue
            out[tid] = (int(on_cpu_ns), int(waiting_ns))
        return out

    def sample(self) -> float | None:
        if not self.available:
            return None
        now = self._read()
        ran = waited = 0
        for tid, (on_cpu, waiting) in now.items():
            before = self._last.get(tid, (0, 0))  # a new thread: all of its time is new
            ran += on_cpu - before[0]
            waited += waiting - before[1]
        self._last = now
        total = ran + waited
        return waited / total if total > 0 else 0.0


class TokenBucket:
    """Hands out one token per delivery at ``rate_per_s`` (changed at will), to any thread;
    holds up to ``burst_s`` of the rate, so a paused reader does not come back in a burst."""

    def __init__(self, rate_per_s: float, burst_s: float = 0.1) -> None:
        self.rate_per_s = rate_per_s
        self.burst_s = burst_s
        self._tokens = 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()
        #: tokens handed out since the last :meth:`taken_since` call
        self._taken = 0

    def taken_since(self) -> int:
        """Tokens handed out since the last call (the pace's use of its rate)."""
        with self._lock:
            taken, self._taken = self._taken, 0
        return taken

    def take(self, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a token; False if ``stopping()`` became true first."""
        while True:
            with self._lock:
                now = time.monotonic()
                rate = self.rate_per_s
                self._tokens = min(max(1.0, rate * self.burst_s),
                                   self._tokens + (now - self._at) * rate)
                self._at = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self._taken += 1
                    return True
                wait_s = (1.0 - self._tokens) / rate
            if stopping():
                return False
            time.sleep(min(0.2, wait_s))


class Pace:
    """The replays' pace: a :class:`TokenBucket` whose rate a thread adjusts to the CPU wait
    of this process (see the module docstring). ``on_change(rate_per_s, wait)`` sees every
    interval's verdict (metrics)."""

    def __init__(self, min_rate_per_s: float, max_rate_per_s: float, yield_wait: float,
                 interval_s: float = 0.5, cpu: CpuWait | None = None,
                 on_change: Callable[[float, float], None] | None = None) -> None:
        self.min_rate_per_s = min_rate_per_s
        self.max_rate_per_s = max_rate_per_s
        self.yield_wait = yield_wait
        self.interval_s = interval_s
        self.cpu = cpu or CpuWait()
        self.on_change = on_change
        start = min_rate_per_s if self.cpu.available else max_rate_per_s
        self.bucket = TokenBucket(start)
        self.wait = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay-pace", daemon=True)

    @property
    def rate_per_s(self) -> float:
        return self.bucket.rate_per_s

    def take(self, stopping: Callable[[], bool] = lambda: False) -> bool:
        return self.bucket.take(stopping)

    def start(self) -> "Pace":
        if self.cpu.available:
            self._thread.start()
        else:
            log.warning("no schedstat in /proc: replays run at replay.max_rate_per_s (%g/s)",
                        self.max_rate_per_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def adjust(self, wait: float, used: float = 1.0) -> float:
        """The next rate after an interval with ``wait`` (the share of time spent waiting)
        in which the replays took ``used`` of the rate's tokens: the pace grows only while
        it is what holds them (else an idle process's pace would grow without a test, as
        TCP's window must not, RFC 7661)."""
        rate = self.bucket.rate_per_s
        if wait > self.yield_wait:
            rate *= DECREASE
        elif used >= USED_TO_GROW:
            rate *= INCREASE
        rate = min(self.max_rate_per_s, max(self.min_rate_per_s, rate))
        self.wait, self.bucket.rate_per_s = wait, rate
        if self.on_change is not None:
            self.on_change(rate, wait)
        return rate

    def _run(self) -> None:
        at = logged = time.monotonic()
        taken = 0
        while not self._stop.wait(self.interval_s):
            wait = self.cpu.sample()
            now = time.monotonic()
            took = self.bucket.taken_since()
            used = took / max(1.0, self.rate_per_s * (now - at))
            at, taken = now, taken + took
            if wait is not None:
                self.adjust(wait, used)
            if now - logged >= LOG_EVERY_S:
                if taken:  # replays ran: say how fast they were let go
                    log.info("replay pace %.0f/s, cpu wait %.0f%%, %d routed in %.0f s",
                             self.rate_per_s, self.wait * 100, taken, now - logged)
                logged, taken = now, 0
