"""The next generation's worker, started ahead of the switch (docs/decisions.md, "Why a
standby at the switch").

While a scale builds generation ``G+1``, each worker of ``G`` starts a *standby*
(:func:`spawn`): the same command line with ``FEEDBACKLOOPS_STANDBY=G+1``. It imports, builds
``G+1``'s Faust app, joins ``G+1``'s group and recovers its tables from ``G+1``'s changelogs
while the table copy fills them; every source partition it is assigned stays gated, so it
reads no event, snapshot or ESP report, and it serves no API. Faust reads an active table's
changelog only during recovery, but the copy goes on until the old generation is drained; so
when ``G+1`` serves, :class:`Handover` first reads what was copied since into the tables, then
opens the snapshot and ESP partitions (events open after the profile gate,
:mod:`streams.worker.bootstrap`) and starts the rest of a worker (re-key stage, coordinator,
API, statistics) at its parent's CPU priority (until then it runs ``STANDBY_NICE`` lower, so
its start-up takes CPU the serving generation leaves). The worker of ``G`` then replaces itself with a shell that waits for the
standby (:mod:`streams.worker.shell`): the process a supervisor started keeps running.

A standby ends itself when its parent is gone (:func:`watch_parent`) or when the scale ends
without ``G+1`` serving (cancelled).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any, Callable, Iterable, cast

from confluent_kafka import TopicPartition
from faust.types import TP

from streams.config.settings import Config
from streams.kafka.generations import ScaleState
from streams.kafka.partitioning import ControlView
from streams.kafka.window import Span, read_spans, reader

__all__ = ["Handover", "STANDBY", "restore_priority", "scale_ended", "spawn",
           "standby_generation", "watch_parent"]

log = logging.getLogger(__name__)

#: the generation a standby waits to serve
STANDBY = "FEEDBACKLOOPS_STANDBY"
#: the PID of the worker that started it
PARENT = "FEEDBACKLOOPS_PARENT"
#: the parent's CPU priority (nice), restored when the standby serves
PARENT_NICE = "FEEDBACKLOOPS_PARENT_NICE"
#: how much lower a standby's CPU priority is until it serves
STANDBY_NICE = 10
#: how long the catch-up may go without a record before the standby gives up (the worker
#: restarts)
CATCH_UP_TIMEOUT_S = 120.0


def scale_ended(state: ScaleState | None, generation: int) -> bool:
    """Whether the scale that was to make ``generation`` serve ended without it (cancelled):
    its standby then exits (logged here)."""
    if state is None or state.serving == generation:
        return False
    if state.next is not None and state.next.generation == generation:
        return False
    log.info("generation %d will not serve (the scale ended); standby exits", generation)
    return True


def standby_generation() -> int | None:
    """The generation this process stands by for (None: a serving worker)."""
    value = os.environ.get(STANDBY)
    return int(value) if value and value.isdigit() else None


def spawn(generation: int) -> subprocess.Popen[bytes]:
    """Start a standby for ``generation``: this process's command line, output and group, at
    a lower CPU priority (``STANDBY_NICE`` more) until it serves: its start-up must not slow
    the generation that serves meanwhile."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    env = {**os.environ, STANDBY: str(generation), PARENT: str(os.getpid()),
           PARENT_NICE: str(nice)}
    log.info("starting a standby worker for generation %d", generation)
    child = subprocess.Popen([sys.executable, *sys.orig_argv[1:]], env=env)
    try:  # before the interpreter has started a thread: every thread inherits it
        os.setpriority(os.PRIO_PROCESS, child.pid, min(19, nice + STANDBY_NICE))
    except OSError:
        pass
    return child


def restore_priority() -> None:
    """Back to the parent's CPU priority, on every thread (Linux: a thread attribute); a
    process without CAP_SYS_NICE cannot, and keeps the lower one (with a warning)."""
    nice = os.environ.get(PARENT_NICE)
    if nice is None:
        return
    try:
        for tid in os.listdir("/proc/self/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), int(nice))
    except (OSError, ValueError) as exc:
        log.warning("the standby keeps its lower CPU priority (%s)", exc)


def watch_parent() -> None:
    """End this process when the worker that started it is gone (killed: a supervisor starts
    that one again, and two workers must not share a data dir)."""
    parent = os.environ.get(PARENT)
    if not parent or not parent.isdigit():
        return

    def run() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.2)
        log.error("the worker that started this one (pid %s) is gone; exiting", parent)
        os._exit(1)

    threading.Thread(target=run, name="parent-watch", daemon=True).start()


class _Change:
    """A changelog record in the shape Faust's stores apply (``Store.apply_changelog_batch``)."""

    __slots__ = ("key", "value", "message")

    def __init__(self, tp: TP, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.key, self.value = key, value
        self.message = SimpleNamespace(tp=tp, topic=tp.topic, partition=tp.partition,
                                       offset=offset, key=key, value=value)


class Handover:
    """A standby's wait for its generation to serve, and what it does then (:meth:`run`)."""

    def __init__(self, config: Config, control: ControlView, generation: int,
                 sources: Iterable[str], on_serving: list[Callable[[], None]]) -> None:
        self.config = config
        self.control = control
        self.generation = generation
        #: source topics held closed until then (events, snapshots, ESP reports)
        self.sources = frozenset(sources)
        self.on_serving = on_serving
        self.released = False
        self._assignments = 0
        self._ready_told = False

    async def recovered(self) -> None:
        """Faust recovered the tables: tell the coordinator (it cuts over once every worker's
        standby is ready, or after a while without)."""
        if self.released or self._ready_told:
            return
        self._ready_told = True
        member = f"{socket.gethostname()}:{os.environ.get(PARENT, os.getpid())}"
        await asyncio.to_thread(self.control.put_ready, self.generation, member)
        log.info("standby of generation %d recovered its tables", self.generation)

    def assigned(self, consumer: Any, tps: Iterable[TP]) -> None:
        """Gate every source partition of an assignment made before the release."""
        self._assignments += 1
        if not self.released:
            consumer.gate(tp for tp in tps if tp.topic in self.sources)

    async def run(self, app: Any, open_partitions: Callable[[set[TP]], Any],
                  before_release: Callable[[], None] = lambda: None) -> None:
        """Wait until the generation serves (or exit when the scale ended without it); then
        read the changelogs' new records into the tables, open the partitions and start the
        rest of the worker. ``open_partitions`` opens gated snapshot and ESP partitions;
        ``before_release`` runs just before the profile gate may open events."""
        while True:
            state = self.control.state()
            if state is not None and state.serving == self.generation:
                break
            if scale_ended(state, self.generation):
                os._exit(0)
            await asyncio.sleep(0.05)
        began = time.monotonic()
        restore_priority()
        while True:
            while app.rebalancing:
                await asyncio.sleep(0.02)
            round_ = self._assignments
            copied = await self._catch_up(app)
            if not app.rebalancing and round_ == self._assignments:
                break  # else a rebalance recovered the tables again meanwhile: once more
        before_release()
        self.released = True
        log.info("generation %d serves: standby caught up %d changelog records in %.2fs",
                 self.generation, copied, time.monotonic() - began)
        consumer = app.consumer
        await open_partitions({tp for tp in consumer.gated if tp.topic in self.sources})
        for start in self.on_serving:
            start()

    async def _catch_up(self, app: Any) -> int:
        recovery = app.tables.recovery
        starts = {tp: hw + 1 for tp, hw in recovery.active_highwaters.items()}
        tables = recovery.tp_to_table
        records = await asyncio.to_thread(self._read, starts)
        for tp, changes in records.items():
            if changes:
                tables[tp].apply_changelog_batch(changes)
        return sum(map(len, records.values()))

    def _read(self, starts: dict[TP, int]) -> dict[TP, list[_Change]]:
        """The records of each changelog partition from ``starts`` to its end now (the
        window reader's :func:`~streams.kafka.window.read_spans`: a compacted-away end is
        noticed at the partition's end; no record for ``CATCH_UP_TIMEOUT_S`` fails)."""
        found: dict[TP, list[_Change]] = {tp: [] for tp in starts}
        if not starts:
            return found
        consumer = reader(self.config.kafka)
        try:
            spans = [Span(tp.topic, tp.partition, start, consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=10)[1])
                for tp, start in starts.items()]
            for msg in read_spans(consumer, spans, CATCH_UP_TIMEOUT_S):
                # a message read_spans yields has all three (the stubs say Optional)
                tp = TP(cast(str, msg.topic()), cast(int, msg.partition()))
                found[tp].append(_Change(tp, cast(int, msg.offset()), msg.key(), msg.value()))
            return found
        finally:
            consumer.close()
