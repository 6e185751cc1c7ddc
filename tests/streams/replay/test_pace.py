"""The replays' pace: the CPU-wait signal read from the kernel, the rate it steers, the bucket."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from streams.replay.pace import DECREASE, INCREASE, CpuWait, Pace, TokenBucket


def _spin(seconds: float, nice: int = 0) -> None:
    if nice:
        os.nice(nice)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


class Scripted(CpuWait):
    """A CpuWait that returns the shares it is given (the kernel's part is tested below)."""

    def __init__(self, *shares: float) -> None:
        self.available = True
        self.shares = list(shares)

    def sample(self) -> float | None:
        return self.shares.pop(0)


@pytest.mark.skipif(not os.path.exists("/proc/self/schedstat"), reason="no schedstat here")
def test_a_niced_process_waits_when_normal_priority_work_fills_every_core() -> None:
    ctx = multiprocessing.get_context("spawn")
    niced = ctx.Process(target=_spin, args=(6.0, 19), daemon=True)
    niced.start()
    burners = []
    try:
        wait = CpuWait(niced.pid)
        assert wait.available
        time.sleep(0.5)
        wait.sample()  # the start-up is not part of it
        burners = [ctx.Process(target=_spin, args=(4.0,), daemon=True)
                   for _ in range(os.cpu_count() or 1)]
        for b in burners:
            b.start()
        time.sleep(2.0)
        share = wait.sample()
        assert share is not None and share > 0.5, share
    finally:
        for p in [niced, *burners]:
            p.terminate()
            p.join(5)


def test_the_share_counts_only_runnable_time_a_sleeping_process_waits_for_nothing() -> None:
    wait = CpuWait()
    if not wait.available:
        pytest.skip("no schedstat here")
    _spin(0.2)
    share = wait.sample()
    assert share is not None and 0.0 <= share <= 1.0
    ctx = multiprocessing.get_context("spawn")
    sleeper = ctx.Process(target=time.sleep, args=(3.0,), daemon=True)
    sleeper.start()
    try:
        time.sleep(1.0)
        of_sleeper = CpuWait(sleeper.pid)
        time.sleep(1.0)
        assert of_sleeper.sample() == 0.0
    finally:
        sleeper.terminate()
        sleeper.join(5)


def test_the_pace_starts_at_the_floor_is_cut_when_waiting_and_grows_only_when_used() -> None:
    pace = Pace(50.0, 1000.0, yield_wait=0.2, cpu=Scripted())
    assert pace.rate_per_s == 50.0
    assert pace.adjust(0.0, used=1.0) == pytest.approx(50.0 * INCREASE)
    assert pace.adjust(0.0, used=0.1) == pytest.approx(50.0 * INCREASE), "unused: no growth"
    for _ in range(40):
        pace.adjust(0.05, used=0.9)
    assert pace.rate_per_s == 1000.0, "bounded by the ceiling"
    assert pace.adjust(0.6, used=1.0) == pytest.approx(1000.0 * DECREASE)
    for _ in range(40):
        pace.adjust(0.9, used=1.0)
    assert pace.rate_per_s == 50.0, "bounded by the floor: a replay always moves"


def test_without_schedstat_the_pace_is_the_ceiling() -> None:
    cpu = Scripted()
    cpu.available = False
    assert Pace(50.0, 700.0, 0.2, cpu=cpu).start().rate_per_s == 700.0


def test_the_pace_thread_follows_the_signal_and_reports_each_verdict() -> None:
    seen: list[tuple[float, float]] = []
    pace = Pace(100.0, 10_000.0, 0.2, interval_s=0.05, cpu=Scripted(0.9, 0.9, *[0.0] * 500),
                on_change=lambda rate, wait: seen.append((rate, wait)))
    stop = threading.Event()

    def take_all() -> None:
        while not stop.is_set():
            pace.take(stop.is_set)

    taker = threading.Thread(target=take_all, daemon=True)
    taker.start()  # takes every token: the pace is what holds the replays
    pace.start()
    try:
        deadline = time.monotonic() + 10
        while len(seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        pace.stop()
        taker.join(5)
    assert seen[0] == (100.0, 0.9) and seen[1] == (100.0, 0.9), "cut to the floor, no lower"
    assert seen[5][0] > seen[2][0] > 100.0, "then grown while used and not waiting"


def test_the_bucket_never_hands_out_more_than_its_rate_and_a_stop_ends_the_wait() -> None:
    bucket = TokenBucket(1000.0, burst_s=0.1)
    started = time.monotonic()
    assert all(bucket.take() for _ in range(300))
    # at most one burst (100 tokens) ahead of the rate: 300 tokens need >= 0.2 s
    assert time.monotonic() - started >= 0.19
    assert bucket.taken_since() == 300 and bucket.taken_since() == 0
    slow = TokenBucket(0.5)
    assert slow.take(lambda: True) is False
