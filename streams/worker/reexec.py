"""Restart the worker process in place: same PID, same command line (a new generation, or
the end of a partition change).

Child processes go first (the statistics aggregator: on SIGTERM it commits what it counted),
because a re-executed process keeps its PID and its children would never see their parent
gone; then the output streams are flushed and the interpreter is replaced.
"""
from __future__ import annotations

import multiprocessing
import os
import sys

__all__ = ["restart_in_place"]


def restart_in_place() -> None:
    """Does not return."""
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(30)
        if child.is_alive():
            child.kill()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
