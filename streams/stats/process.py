"""The statistics aggregator in a child process of the worker.

In the worker's own process the aggregator's Python work (parsing and counting three records
per event) competed with the enrich agent for the interpreter lock: the benchmark measured
the worker's CPU per event 30 % higher. As a child process it runs on another core when one
is free and never pauses the worker's event loop. It ends with its parent: on SIGTERM (it
flushes first) and when the parent is gone (checked every second), so a killed worker does
not leave it counting.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from streams.config.settings import Config

__all__ = ["AggregatorProcess"]

log = logging.getLogger(__name__)


def _main(config: Config, leads: Any, parent_pid: int) -> None:
    from streams.config.logs import setup
    from streams.kafka.topics import Topics
    from streams.stats.aggregator import Aggregator

    setup(config.worker.log_level, config.worker.json_logs)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    aggregator = Aggregator(config, Topics.for_config(config), config.stats.flush_s)
    aggregator.start()
    while not done.wait(0.5):
        leads.value = 1 if aggregator.leads() else 0
        if os.getppid() != parent_pid:
            log.warning("stats aggregator: the worker is gone; stopping")
            break
    leads.value = 0
    aggregator.stop()


class AggregatorProcess:
    """Start with :meth:`start`; :meth:`leads` as :meth:`Aggregator.leads`; :meth:`stop`."""

    def __init__(self, config: Config) -> None:
        ctx = multiprocessing.get_context("spawn")  # no copy of the worker's threads or loop
        self._leads = ctx.Value("b", 0)
        self._proc = ctx.Process(target=_main, args=(config, self._leads, os.getpid()),
                                 name="stats-aggregator", daemon=True)

    def start(self) -> None:
        self._proc.start()
        log.info("stats aggregator started (pid %s)", self._proc.pid)

    def leads(self) -> bool:
        return bool(self._leads.value)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._proc.is_alive():
            self._proc.terminate()  # SIGTERM: it commits what it counted, then exits
            self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
