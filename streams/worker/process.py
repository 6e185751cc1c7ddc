"""The worker process: Faust's ``Worker`` service, without its terminal spinner.

For its start-up spinner, Faust's worker sets the *root logger* to DEBUG whenever the log level
is WARN or above (``faust.worker.Worker._setup_spinner_handler``: the spinner turns once per
log record; the console handler stays at the chosen level) and never sets it back. Every
``log.debug`` of aiokafka, Faust and mode then builds a ``LogRecord`` that no handler prints:
aiokafka logs one per assigned partition per fetch request, so at a steady 300 events/s
(80 partitions, ~200 fetches/s) a sixth of the worker's CPU went into records nobody saw.
Without the spinner the root logger keeps the level given with ``-l``.
"""
from __future__ import annotations

import logging

import faust

from streams.worker.timeline import milestone

__all__ = ["WorkerProcess"]


class WorkerProcess(faust.Worker):
    """``faust.Worker`` whose root logger stays at the configured level (no spinner)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None  # it ends start-up with "Ready" at INFO instead
        super().on_setup_root_logger(logger, level)

    async def on_startup_finished(self) -> None:
        milestone("Faust app started")
        await super().on_startup_finished()
