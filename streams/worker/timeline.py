"""A worker's start-up milestones in its log, each with the seconds since the process began.

"Began" is the re-exec into a new generation when there was one
(:func:`streams.worker.reexec.since_restart_s`), else the import of this module (early in
the process). The milestones (imports done, app built, Faust started, partitions assigned,
rebalance settled, a partition opened, the first event enriched) are what a cut-over waits
for after the switch: docs/decisions.md, "Why re-exec at the switch". Each is logged once
per process at INFO, except partitions opening (once per partition per assignment).
"""
from __future__ import annotations

import logging
import time

from streams.worker.reexec import since_restart_s

__all__ = ["elapsed_s", "milestone"]

log = logging.getLogger(__name__)

_IMPORTED = time.monotonic()
_SEEN: set[str] = set()


def elapsed_s() -> float:
    """Seconds since the re-exec, else since this module was imported."""
    since = since_restart_s()
    return since if since is not None else time.monotonic() - _IMPORTED


def milestone(what: str, once: bool = True) -> None:
    """Log ``what`` with :func:`elapsed_s` (only the first time, with ``once``)."""
    if once:
        if what in _SEEN:
            return
        _SEEN.add(what)
    restarted = since_restart_s() is not None
    log.info("start-up: %s, %.2fs after the %s", what, elapsed_s(),
             "re-exec" if restarted else "process start")
