"""What a worker becomes once its standby serves: a process that waits for it.

The worker a supervisor started (Kubernetes, compose, the tests) hands the new generation
over to its standby child (:mod:`streams.worker.standby`) and replaces itself with this,
keeping its PID: signals to it reach the serving worker, and it exits with that worker's
status. Nothing but the standard library is imported (a few MB).
"""
from __future__ import annotations

import os
import signal
import sys

__all__ = ["COMMAND", "main"]

#: ``python -c COMMAND <pid>`` runs :func:`main` (what a worker replaces itself with)
COMMAND = "import sys; from streams.worker.shell import main; sys.exit(main(sys.argv))"

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


def main(argv: list[str]) -> int:
    """``argv``: ``[program, pid]``; wait for child ``pid``; its exit status (:data:`COMMAND`
    runs it)."""
    pid = int(argv[1])

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # not our child (any more): nothing to wait for
            return 0
        except InterruptedError:
            continue
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code  # killed by signal n: 128 + n, as a shell
