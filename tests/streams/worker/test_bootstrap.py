"""The profile bootstrap gate opens partitions in the right order and survives a busy broker
(broker queries are replaced by scripted answers; the real broker path runs in the
integration tests)."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable, Mapping

from faust.types import TP

from streams.worker.bootstrap import GatedConsumer, ProfileBootstrap
from streams.config.settings import KafkaConfig

SNAP, RAW = "fl.ref.profiles", "fl.raw.opens"


class FakeConsumer:
    """What ProfileBootstrap uses of GatedConsumer: ``gated``, ``gate``, ``ungate``."""

    def __init__(self) -> None:
        self.gated: set[TP] = set()
        self.opened: list[tuple[TP, int]] = []

    def gate(self, tps: Iterable[TP]) -> None:
        self.gated |= set(tps)

    async def ungate(self, tps: Iterable[TP], committed: Mapping[str, int],
                     still: Any = lambda: True) -> bool:
        for tp in tps:
            self.opened.append((tp, committed[tp.topic]))
            self.gated.discard(tp)
        return True


class ScriptedBootstrap(ProfileBootstrap):
    def __init__(self, end: int, failures: int) -> None:
        super().__init__(KafkaConfig(), SNAP, [RAW], "group", timeout_s=300)
        self.end = end
        self.failures = failures
        self.calls = 0

    def _answer(self) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("KafkaError{code=_TIMED_OUT}")

    def _end_unless_committed(self, partition: int) -> int:
        self._answer()
        return self.end

    def _committed(self, topics: Iterable[str], partition: int) -> dict[str, Any]:
        self._answer()
        # the group committed nothing of the snapshots; 42 of the raw topic
        return {t: -1001 if t == SNAP else 42 for t in topics}


async def run_for(bootstrap: ProfileBootstrap, consumer: FakeConsumer, seconds: float,
                  settled: Any = lambda: True) -> None:
    task = asyncio.create_task(bootstrap.run(consumer, settled))  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    task.cancel()


def assign(bootstrap: ProfileBootstrap, consumer: FakeConsumer) -> None:
    bootstrap.assigned(consumer, [TP(SNAP, 0), TP(RAW, 0), TP(SNAP, 1), TP(RAW, 1)])  # type: ignore[arg-type]


def test_a_partition_opens_only_after_its_snapshots_are_read() -> None:
    bootstrap, consumer = ScriptedBootstrap(end=10, failures=0), FakeConsumer()
    assign(bootstrap, consumer)
    assert consumer.gated == {TP(RAW, 0), TP(RAW, 1)}
    bootstrap.read(0, 9)  # partition 0: the last snapshot (offset 9 of 10) is read
    bootstrap.read(1, 5)
    asyncio.run(run_for(bootstrap, consumer, 0.3))
    assert consumer.opened == [(TP(RAW, 0), 42)], "partition 1 has snapshots left to read"
    assert consumer.gated == {TP(RAW, 1)}


def test_a_failing_broker_query_is_retried_and_the_gate_keeps_working() -> None:
    bootstrap, consumer = ScriptedBootstrap(end=10, failures=3), FakeConsumer()
    assign(bootstrap, consumer)
    bootstrap.read(0, 9)
    bootstrap.read(1, 9)
    asyncio.run(run_for(bootstrap, consumer, 0.5))
    assert sorted(consumer.opened) == [(TP(RAW, 0), 42), (TP(RAW, 1), 42)]
    assert bootstrap.calls >= 7, "three failed queries, then two per partition"


def test_nothing_opens_while_faust_is_still_rebalancing() -> None:
    """Faust seeks every partition to its committed offset at the end of a rebalance; a
    partition opened before that would be read from two positions at once."""
    bootstrap, consumer = ScriptedBootstrap(end=10, failures=0), FakeConsumer()
    assign(bootstrap, consumer)
    bootstrap.read(0, 9)
    bootstrap.read(1, 9)
    rebalancing = [True]

    async def scenario() -> None:
        task = asyncio.create_task(bootstrap.run(consumer, lambda: not rebalancing[0]))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        assert consumer.opened == [], "opened during the rebalance"
        rebalancing[0] = False
        await asyncio.sleep(0.3)
        task.cancel()

    asyncio.run(scenario())
    assert sorted(consumer.opened) == [(TP(RAW, 0), 42), (TP(RAW, 1), 42)]


class FreshBootstrap(ScriptedBootstrap):
    """Nothing committed anywhere yet: a partition opens at the earliest offset (0), asked of
    the broker, during which ``during`` happens."""

    during: Any = None

    def _committed(self, topics: Iterable[str], partition: int) -> dict[str, Any]:
        return {t: -1001 for t in topics}

    def _earliest(self, topic: str, partition: int) -> int:
        time.sleep(0.01)
        if self.during is not None:
            self.during()
        return 0


def gated_consumer(during_offsets_query: Any) -> tuple[GatedConsumer, list[dict[TP, int]]]:
    """A GatedConsumer without Faust or a broker: the earliest-offsets query runs
    ``during_offsets_query`` (what happens while it waits), seeks are recorded."""
    consumer = GatedConsumer.__new__(GatedConsumer)
    consumer.gated = set()
    consumer._active_partitions = set()
    consumer._paused_partitions = set()
    seeks: list[dict[TP, int]] = []

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        await asyncio.sleep(0.01)
        during_offsets_query()
        return {tp: 0 for tp in tps}

    async def seek_wait(positions: Mapping[TP, int]) -> None:
        seeks.append(dict(positions))

    consumer.earliest_offsets = earliest_offsets  # type: ignore[method-assign]
    consumer.seek_wait = seek_wait  # type: ignore[method-assign]
    return consumer, seeks


def test_an_opening_overtaken_by_a_rebalance_neither_seeks_nor_resumes() -> None:
    """The gate's offset queries wait; a rebalance that hands partition 0 to another worker
    meanwhile made them stale. Seeking and resuming it anyway (seen after every rebalance of
    the kill test: 'No current assignment for partition') would read a partition from a
    position Faust's post-rebalance seek does not know about."""
    bootstrap = FreshBootstrap(end=-1, failures=0)
    rebalancing = [False]
    done = [False]

    def rebalance() -> None:  # partition 0 moves away, 1 stays: both are gated again
        if done[0]:
            return
        done[0] = rebalancing[0] = True
        bootstrap.assigned(consumer, [TP(SNAP, 1), TP(RAW, 1)])  # type: ignore[arg-type]

    bootstrap.during = rebalance
    consumer, seeks = gated_consumer(lambda: None)
    bootstrap.assigned(consumer, [TP(SNAP, 0), TP(RAW, 0), TP(SNAP, 1), TP(RAW, 1)])  # type: ignore[arg-type]

    async def scenario() -> None:
        task = asyncio.create_task(bootstrap.run(consumer, lambda: not rebalancing[0]))
        await asyncio.sleep(0.3)
        assert seeks == [], "sought with offsets read before the rebalance"
        assert consumer._active_partitions == set(), "resumed during the rebalance"
        assert consumer.gated == {TP(RAW, 1)}
        rebalancing[0] = False  # Faust's recovery is done: partition 1 opens, 0 never here
        await asyncio.sleep(0.3)
        task.cancel()

    asyncio.run(scenario())
    assert seeks == [{TP(RAW, 1): 0}]
    assert consumer._active_partitions == {TP(RAW, 1)} and not consumer.gated


class ScriptedUpstream:
    """The re-key stage's progress on fl.ref.profiles, as RekeyCatchUp reports it."""

    topic = "fl.ref.profiles"

    def __init__(self) -> None:
        self.forwarded = False

    def reached(self) -> bool:
        return self.forwarded


def test_repartition_mode_opens_only_after_the_rekey_stage_forwarded_the_profiles() -> None:
    """A cold start: the generation's snapshot topic is still empty (its end, 0, is "read")
    because the re-key stage has not copied fl.ref.profiles yet. Opening then enriched events
    without their profiles (profile_known false); the gate waits for the re-key stage first."""
    upstream = ScriptedUpstream()
    bootstrap, consumer = ScriptedBootstrap(end=-1, failures=0), FakeConsumer()
    bootstrap.upstream = upstream  # type: ignore[assignment]

    async def scenario() -> None:
        assign(bootstrap, consumer)
        task = asyncio.create_task(bootstrap.run(consumer))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        assert consumer.opened == [], "opened before the re-key stage forwarded the profiles"
        upstream.forwarded = True
        await asyncio.sleep(0.3)
        task.cancel()

    asyncio.run(scenario())
    assert sorted(consumer.opened) == [(TP(RAW, 0), 42), (TP(RAW, 1), 42)]


def test_a_stuck_rekey_stage_delays_the_opening_no_longer_than_the_timeout() -> None:
    bootstrap, consumer = ScriptedBootstrap(end=-1, failures=0), FakeConsumer()
    bootstrap.upstream = ScriptedUpstream()  # type: ignore[assignment]
    bootstrap.timeout_s = 0.2
    assign(bootstrap, consumer)
    asyncio.run(run_for(bootstrap, consumer, 0.6))
    assert sorted(consumer.opened) == [(TP(RAW, 0), 42), (TP(RAW, 1), 42)]


def test_a_fresh_partition_opens_without_waiting_on_the_consumer_thread() -> None:
    """Nothing committed (a new generation's group): the start offset comes from the
    bootstrap's own query client. The consumer's earliest-offsets query runs on its thread
    behind a fetch that long-polls while every partition is gated (a second per partition at
    a cut-over); here it would never answer."""
    bootstrap = FreshBootstrap(end=-1, failures=0)
    consumer, seeks = gated_consumer(lambda: None)

    async def never(*tps: TP) -> dict[TP, int]:
        await asyncio.Event().wait()
        return {}

    consumer.earliest_offsets = never  # type: ignore[method-assign]
    bootstrap.assigned(consumer, [TP(SNAP, 0), TP(RAW, 0)])  # type: ignore[arg-type]

    async def scenario() -> None:
        task = asyncio.create_task(bootstrap.run(consumer))  # type: ignore[arg-type]
        for _ in range(100):
            await asyncio.sleep(0.02)
            if not consumer.gated:
                break
        task.cancel()

    asyncio.run(scenario())
    assert seeks == [{TP(RAW, 0): 0}]
    assert consumer._active_partitions == {TP(RAW, 0)} and not consumer.gated


def test_a_standbys_wait_to_serve_does_not_count_towards_the_timeout() -> None:
    """A standby's partitions are assigned long before its generation serves; counted from
    the assignment, the timeout would open events before their snapshots were read."""
    bootstrap, consumer = ScriptedBootstrap(end=10, failures=0), FakeConsumer()
    bootstrap.timeout_s = 0.3
    assign(bootstrap, consumer)
    time.sleep(0.4)  # the build: the standby waits (not settled) past the timeout
    bootstrap.restart_clocks()  # its generation serves
    asyncio.run(run_for(bootstrap, consumer, 0.15))
    assert consumer.opened == [], "opened as late before any snapshot was read"
