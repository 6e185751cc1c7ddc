"""What a worker becomes after handing its generation over: a shell that waits for the
standby, keeps the PID, passes signals on and exits with the standby's status."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: a "worker" that starts a "standby" and hands over to it, as streams.worker.reexec does
WORKER = """
import os, subprocess, sys
from streams.worker.reexec import hand_over
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
hand_over(child.pid)
"""
#: the "standby": reports that it runs, exits 3 on SIGTERM
STANDBY = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
pathlib.Path(sys.argv[1]).write_text("up")
time.sleep(60)
"""


def test_the_shell_passes_sigterm_on_and_exits_with_the_standbys_status(tmp_path: Path) -> None:
    marker = tmp_path / "up"
    proc = subprocess.Popen([sys.executable, "-c", WORKER, STANDBY, str(marker)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert time.monotonic() < deadline, "the standby never ran"
            assert proc.poll() is None, f"the worker exited ({proc.returncode})"
            time.sleep(0.02)
        while not _catches(proc.pid, signal.SIGTERM):  # the shell has replaced the worker
            assert time.monotonic() < deadline, "the shell never took over"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)  # to the PID the supervisor started
        assert proc.wait(20) == 3
    finally:
        if proc.poll() is None:
            proc.kill()


def _catches(pid: int, signum: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False
