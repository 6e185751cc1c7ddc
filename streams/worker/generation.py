"""The worker process of repartition mode: the serving generation's Faust app and its helpers.

At start the worker reads ``fl.partitioning`` (writing the first generation, with
``kafka.partitions``, if there is none yet), builds the Faust app of the serving generation
(:class:`streams.worker.sources.Sources`) and starts, beside it, the re-key stage
(:mod:`streams.worker.repartition`) and a scaling-coordinator candidate
(:mod:`streams.ops.partitions`). A watcher thread keeps the scaling metrics current, starts a
standby worker of the generation a scale builds (:mod:`streams.worker.standby`) and, when
another generation starts serving (the old one is drained by then: everything it read is
committed), hands over to that standby and becomes a shell waiting for it
(:mod:`streams.worker.shell`), or, without a live standby, re-executes the process with its
own command line, so it comes back as a worker of the new generation with the same PID.
Started as a standby (``FEEDBACKLOOPS_STANDBY``), the process builds the next generation's
app and starts the rest once that generation serves. A re-key stage that fails ends the
process (status 70), for its supervisor to restart it, rather than leave events unread.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import faust

from streams.config.settings import Config
from streams.kafka.generations import ScaleState, generation_topics
from streams.kafka.partitioning import ControlView
from streams.kafka.provision import create_topics
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics
from streams.ops.partitions import PHASE_NUMBERS, Coordinator
from streams.worker.app import build_app
from streams.worker.repartition import Rekeyer
from streams.worker.reexec import hand_over, restart_in_place
from streams.worker import shell
from streams.worker.standby import (STANDBY, Handover, scale_ended, spawn, standby_generation,
                                    watch_parent)
from streams.worker.runtime import WorkerRuntime
from streams.worker.sources import Sources
from streams.worker.timeline import milestone

__all__ = ["first_generation", "generation_app", "remove_after_hand_over"]

log = logging.getLogger(__name__)

#: exit status when the re-key stage failed (EX_SOFTWARE)
REKEY_FAILED = 70
#: the least time between starting standby workers (one exited)
RESPAWN_S = 10.0


def first_generation(config: Config, topics: Topics, control: ControlView) -> ScaleState:
    """The state, after writing generation 1 (``kafka.partitions``) if there is none yet.
    Two workers starting together both write the same first state: harmless."""
    state = control.state()
    if state is None:
        names = generation_topics(topics, 1)
        create_topics(config.kafka,
                      names.specs(config.kafka.partitions, config.kafka.raw_retention_hours,
                                  topics.max_message_bytes))
        control.put_state(ScaleState(serving=1, partitions=config.kafka.partitions, highest=1))
        state = control.state()
        assert state is not None
        log.info("repartition mode: generation 1 with %d partitions", state.partitions)
    return state


def generation_app(config: Config) -> faust.App:
    """The Faust app of the serving generation, with the re-key stage, the coordinator and
    the watcher started; in a standby (:mod:`streams.worker.standby`), the next generation's
    app, which starts them once its generation serves."""
    milestone("imports done")
    topics = Topics.for_config(config)
    metrics = PipelineMetrics.shared()
    control = ControlView(config.kafka, topics.partitioning).start()
    standby = standby_generation()
    if standby is not None:
        watch_parent()
    state = first_generation(config, topics, control)
    number, partitions = state.serving, state.partitions
    if standby is not None and standby != state.serving:
        if scale_ended(state, standby) or state.next is None:
            sys.exit(0)
        number, partitions = standby, state.next.partitions
    sources = Sources.of_generation(config, topics, number, partitions)
    runtime = WorkerRuntime(config, topics, metrics, sources)
    rekeyer = Rekeyer(config, topics, control, metrics)
    coordinator = Coordinator(config, topics, control, metrics)
    runtime.on_stop += [rekeyer.stop, coordinator.stop, control.stop]
    runtime.control = control
    watcher = _Watcher(number, control, metrics, rekeyer, [rekeyer.stop, coordinator.stop])

    def serve() -> None:
        was_standby = os.environ.pop(STANDBY, None) is not None  # a later restart serves
        if was_standby:
            threading.Thread(target=remove_after_hand_over,
                             args=(Path(config.worker.data_dir), number), name="old-tables",
                             daemon=True).start()
        else:
            _remove_other_generations(Path(config.worker.data_dir), number)
        rekeyer.start()
        coordinator.start()
        threading.Thread(target=watcher.run, name="generation-watcher", daemon=True).start()
        runtime.released.set()
        log.info("worker of generation %d (%d partitions)", number, partitions)

    if standby is None:
        serve()
    else:
        runtime.released.clear()
        runtime.handover = Handover(config, control, number,
                                    [*sources.events, sources.profiles, topics.esp_reports],
                                    [serve])
        log.info("standby worker of generation %d (%d partitions)", number, partitions)
    app = build_app(config, sources, runtime)
    milestone("app built")
    return app


class _Watcher:
    """Metrics of the scaling state; the switch to another generation; a failed re-key stage."""

    def __init__(self, generation: int, control: ControlView, metrics: PipelineMetrics,
                 rekeyer: Rekeyer, stops: list[Callable[[], None]]) -> None:
        self.generation = generation
        self.control = control
        self.metrics = metrics
        self.rekeyer = rekeyer
        self.stops = stops
        self.standby: subprocess.Popen[bytes] | None = None
        self.standby_for = 0
        self._next_spawn = 0.0

    def run(self) -> None:
        while True:
            time.sleep(0.1)
            if self.rekeyer.failed is not None:
                log.error("the re-key stage failed (%s); exiting so the worker is restarted",
                          self.rekeyer.failed)
                _flush_streams()
                os._exit(REKEY_FAILED)
            state = self.control.state()
            if state is None:
                continue
            self._report(state)
            self._keep_standby(state)
            if state.serving != self.generation:
                self._switch(state)

    def _report(self, state: ScaleState) -> None:
        m = self.metrics
        m.partitions.set(state.partitions)
        m.generation.set(state.serving)
        nxt = state.next
        m.scale_progress.set(nxt.progress if nxt is not None else 0)
        m.scale_phase.set(PHASE_NUMBERS.get(nxt.phase, 0) if nxt is not None else 0)

    def _keep_standby(self, state: ScaleState) -> None:
        """A standby for the generation being built, once its topics exist (again if one
        exited: at most every ``RESPAWN_S``)."""
        if self.standby is not None and self.standby.poll() is not None:
            log.warning("the standby worker of generation %d exited (status %s)",
                        self.standby_for, self.standby.returncode)
            self.standby = None
        nxt = state.next
        if (self.standby is not None or nxt is None or not nxt.copy_targets
                or nxt.generation <= self.generation or time.monotonic() < self._next_spawn):
            return
        self.standby, self.standby_for = spawn(nxt.generation), nxt.generation
        self._next_spawn = time.monotonic() + RESPAWN_S

    def _switch(self, state: ScaleState) -> None:
        log.info("generation %d (%d partitions) serves now (cut-over %ss); this worker of "
                 "generation %d restarts into it", state.serving, state.partitions,
                 state.last.get("cut_over_s", "?"), self.generation)
        began = time.monotonic()
        for stop in self.stops:  # the re-key stage commits what it forwarded
            stop()
        log.info("re-key stage and coordinator stopped in %.2fs", time.monotonic() - began)
        # the generation this process served is drained and committed: nothing is lost here
        standby = self.standby
        if standby is not None and standby.poll() is None and self.standby_for == state.serving:
            log.info("handing generation %d over to the standby worker (pid %d)",
                     state.serving, standby.pid)
            hand_over(standby.pid)
        restart_in_place()


#: the longest a former standby waits for the worker it takes over from to become a shell
#: before it removes that worker's tables anyway
HAND_OVER_WAIT_S = 120.0


def remove_after_hand_over(data_dir: Path, serving: int) -> None:
    """Remove the other generations' tables once the parent (the worker this standby takes
    over from) has replaced itself with the shell (:mod:`streams.worker.shell`) or is gone:
    until then it still has its generation's tables open, and RocksDB's last writes would
    fail in a removed directory."""
    parent = os.getppid()
    deadline = time.monotonic() + HAND_OVER_WAIT_S
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            if shell.__name__.encode() in Path(f"/proc/{parent}/cmdline").read_bytes():
                break
        except OSError:  # gone
            break
        time.sleep(0.2)
    _remove_other_generations(data_dir, serving)


def _remove_other_generations(data_dir: Path, serving: int) -> None:
    """Tables of generations that no longer serve (their changelogs are gone or going)."""
    if not data_dir.is_dir():
        return
    for child in data_dir.iterdir():
        if child.is_dir() and child.name.startswith("g") and child.name[1:].isdigit() \
                and int(child.name[1:]) != serving:
            shutil.rmtree(child, ignore_errors=True)


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
