"""The worker process of repartition mode: the serving generation's Faust app and its helpers.

At start the worker reads ``fl.partitioning`` (writing the first generation, with
``kafka.partitions``, if there is none yet), builds the Faust app of the serving generation
(:class:`streams.worker.sources.Sources`) and starts, beside it, the re-key stage
(:mod:`streams.worker.repartition`) and a scaling-coordinator candidate
(:mod:`streams.ops.partitions`). A watcher thread keeps the scaling metrics current and, when
another generation starts serving (the old one is drained by then: everything it read is
committed), re-executes the process with its own command line, so it comes back as a worker
of the new generation with the same PID. A re-key stage that fails ends the process (status
70), for its supervisor to restart it, rather than leave events unread.
"""
from __future__ import annotations

import logging
import os
import shutil
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
from streams.worker.reexec import restart_in_place
from streams.worker.runtime import WorkerRuntime
from streams.worker.sources import Sources
from streams.worker.timeline import milestone

__all__ = ["first_generation", "generation_app"]

log = logging.getLogger(__name__)

#: exit status when the re-key stage failed (EX_SOFTWARE)
REKEY_FAILED = 70


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
    the watcher started."""
    milestone("imports done")
    topics = Topics.for_config(config)
    metrics = PipelineMetrics.shared()
    control = ControlView(config.kafka, topics.partitioning).start()
    state = first_generation(config, topics, control)
    sources = Sources.of_generation(config, topics, state.serving, state.partitions)
    _remove_other_generations(Path(config.worker.data_dir), state.serving)
    runtime = WorkerRuntime(config, topics, metrics, sources)
    rekeyer = Rekeyer(config, topics, control, metrics)
    coordinator = Coordinator(config, topics, control, metrics)
    rekeyer.start()
    coordinator.start()
    runtime.on_stop += [rekeyer.stop, coordinator.stop, control.stop]
    runtime.control = control
    log.info("worker of generation %d (%d partitions)", state.serving, state.partitions)
    watcher = _Watcher(state.serving, control, metrics, rekeyer,
                       [rekeyer.stop, coordinator.stop])
    threading.Thread(target=watcher.run, name="generation-watcher", daemon=True).start()
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
            if state.serving != self.generation:
                self._switch(state)

    def _report(self, state: ScaleState) -> None:
        m = self.metrics
        m.partitions.set(state.partitions)
        m.generation.set(state.serving)
        nxt = state.next
        m.scale_progress.set(nxt.progress if nxt is not None else 0)
        m.scale_phase.set(PHASE_NUMBERS.get(nxt.phase, 0) if nxt is not None else 0)

    def _switch(self, state: ScaleState) -> None:
        log.info("generation %d (%d partitions) serves now (cut-over %ss); this worker of "
                 "generation %d restarts into it", state.serving, state.partitions,
                 state.last.get("cut_over_s", "?"), self.generation)
        began = time.monotonic()
        for stop in self.stops:  # the re-key stage commits what it forwarded
            stop()
        log.info("re-key stage and coordinator stopped in %.2fs", time.monotonic() - began)
        # the generation this process served is drained and committed: nothing is lost here
        restart_in_place()


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
