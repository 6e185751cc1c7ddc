"""Restart the worker process in place: same PID, same command line (a new generation, or
the end of a partition change).

Child processes go first (the statistics aggregator: on SIGTERM it commits what it counted),
because a re-executed process keeps its PID and its children would never see their parent
gone; then the output streams are flushed and the interpreter is replaced.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time

__all__ = ["hand_over", "restart_in_place", "since_restart_s"]

log = logging.getLogger(__name__)

#: the wall-clock time (s) of the last re-exec, for the new process's start-up log lines
RESTARTED_AT = "FEEDBACKLOOPS_RESTARTED_AT"


def since_restart_s() -> float | None:
    """Seconds since this process re-executed itself (None: it was started, not re-executed)."""
    at = os.environ.get(RESTARTED_AT)
    try:
        return time.time() - float(at) if at else None
    except ValueError:
        return None


def hand_over(pid: int) -> None:
    """Become a shell waiting for child ``pid`` (a standby that serves now,
    :mod:`streams.worker.shell`). Does not return."""
    _stop_children()
    from streams.worker.shell import COMMAND

    os.execv(sys.executable, [sys.executable, "-c", COMMAND, str(pid)])


def restart_in_place() -> None:
    """Does not return."""
    _stop_children()
    os.environ[RESTARTED_AT] = repr(time.time())
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _stop_children() -> None:
    began = time.monotonic()
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(30)
        if child.is_alive():
            child.kill()
    log.info("re-exec: child processes stopped in %.2fs; replacing the process",
             time.monotonic() - began)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
