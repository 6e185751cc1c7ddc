"""A standby worker (streams.worker.standby): gated until its generation serves, then the
changelog records copied after its recovery go into its tables before anything opens."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, Iterable

from faust.types import TP

from streams.config.loading import parse_config
from streams.kafka.generations import Next, ScaleState
from streams.worker.standby import Handover, _Change

CHANGELOG = TP("fl-g2-profiles-changelog", 0)
EVENTS, SNAPSHOTS = "fl.gen2.events", "fl.gen2.profiles"
SERVING_1 = ScaleState(serving=1, partitions=4,
                       next=Next(generation=2, partitions=8, request_id="r", phase="draining"))
SERVING_2 = ScaleState(serving=2, partitions=8)


class Control:
    def __init__(self) -> None:
        self.current = SERVING_1
        self.readies: list[tuple[int, str]] = []

    def state(self) -> ScaleState:
        return self.current

    def put_ready(self, generation: int, member: str) -> None:
        self.readies.append((generation, member))


class Table:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.applied: list[tuple[int, bytes | None]] = []

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        for change in batch:
            self.applied.append((change.message.offset, change.value))
        self.log.append("applied")


class Consumer:
    def __init__(self) -> None:
        self.gated: set[TP] = set()

    def gate(self, tps: Iterable[TP]) -> None:
        self.gated |= set(tps)


class ScriptedHandover(Handover):
    """Reads scripted changelog records instead of Kafka; ``during_read`` runs inside."""

    def __init__(self, control: Control, on_serving: list[Any]) -> None:
        super().__init__(parse_config({}), control, 2,  # type: ignore[arg-type]
                         [EVENTS, SNAPSHOTS], on_serving)
        self.reads: list[dict[TP, int]] = []
        self.during_read: Any = None

    def _read(self, starts: dict[TP, int]) -> dict[TP, list[_Change]]:
        self.reads.append(dict(starts))
        if self.during_read is not None:
            self.during_read()
        start = starts[CHANGELOG]
        return {CHANGELOG: [_Change(CHANGELOG, o, b"k%d" % o, b"v%d" % o)
                            for o in range(start, 8)]}


def app_with(log: list[str], highwater: int) -> Any:
    table = Table(log)
    recovery = SimpleNamespace(active_highwaters={CHANGELOG: highwater},
                               tp_to_table={CHANGELOG: table})
    return SimpleNamespace(rebalancing=False, consumer=Consumer(),
                           tables=SimpleNamespace(recovery=recovery))


def test_a_standby_reads_nothing_until_it_serves_and_catches_up_before_opening() -> None:
    log: list[str] = []
    control = Control()
    handover = ScriptedHandover(control, [lambda: log.append("serving")])
    app = app_with(log, highwater=4)  # recovery read offsets 0..4
    handover.assigned(app.consumer, [TP(EVENTS, 0), TP(SNAPSHOTS, 0), CHANGELOG])
    assert app.consumer.gated == {TP(EVENTS, 0), TP(SNAPSHOTS, 0)}

    async def open_partitions(tps: set[TP]) -> None:
        log.append("opened")
        assert tps == {TP(EVENTS, 0), TP(SNAPSHOTS, 0)}

    async def scenario() -> None:
        task = asyncio.create_task(handover.run(app, open_partitions))
        await handover.recovered()
        await asyncio.sleep(0.2)
        assert not handover.released and log == [] and handover.reads == []
        control.current = SERVING_2
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert control.readies and control.readies[0][0] == 2
    assert handover.reads == [{CHANGELOG: 5}]
    table = app.tables.recovery.tp_to_table[CHANGELOG]
    assert table.applied == [(5, b"v5"), (6, b"v6"), (7, b"v7")]
    assert log == ["applied", "opened", "serving"] and handover.released


def test_a_rebalance_during_the_catch_up_catches_up_again_from_the_new_recovery() -> None:
    log: list[str] = []
    control = Control()
    control.current = SERVING_2
    handover = ScriptedHandover(control, [])
    app = app_with(log, highwater=2)

    def rebalance() -> None:  # Faust recovered again meanwhile, up to offset 6
        if len(handover.reads) == 1:
            handover.assigned(app.consumer, [CHANGELOG])
            app.tables.recovery.active_highwaters[CHANGELOG] = 6

    handover.during_read = rebalance

    async def open_partitions(tps: set[TP]) -> None:
        log.append("opened")

    asyncio.run(asyncio.wait_for(handover.run(app, open_partitions), 5))
    assert handover.reads == [{CHANGELOG: 3}, {CHANGELOG: 7}]
    assert log[-1] == "opened"


def test_a_standby_knows_when_its_scale_ended_without_it() -> None:
    from streams.worker.standby import scale_ended

    assert not scale_ended(None, 2)  # no state read yet: wait
    assert not scale_ended(SERVING_1, 2)  # generation 2 is being built
    assert not scale_ended(SERVING_2, 2)  # it serves
    assert scale_ended(ScaleState(serving=1, partitions=4), 2)  # cancelled: nothing next
    assert scale_ended(ScaleState(serving=1, partitions=4, next=Next(
        generation=3, partitions=8, request_id="s", phase="copying")), 2)  # another scale
