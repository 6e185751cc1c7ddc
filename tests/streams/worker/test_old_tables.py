"""A former standby removes the old generation's tables only once the worker it took over from
has become the shell (until then that worker still has them open)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streams.worker import generation
from streams.worker.generation import remove_after_hand_over

# stands for the worker: it keeps running as itself for a while, then replaces itself with a
# program whose command line names the shell (as reexec.hand_over does)
# (its own command line must not name the shell: the name is put together when it execs)
WORKER = ("import os, sys, time; time.sleep(0.8); "
          "os.execv(sys.executable, [sys.executable, '-c', "
          "'import time  # streams.worker.' + 'shell' + '\\ntime.sleep(10)'])")


def test_old_tables_stay_until_the_parent_is_the_shell(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("g1", "g2", "other"):
        (tmp_path / name).mkdir()
    parent = subprocess.Popen([sys.executable, "-c", WORKER])
    try:
        monkeypatch.setattr(generation.os, "getppid", lambda: parent.pid)
        done = threading.Thread(target=remove_after_hand_over, args=(tmp_path, 2))
        began = time.monotonic()
        done.start()
        time.sleep(0.4)
        assert (tmp_path / "g1").is_dir()  # the worker still runs as itself
        done.join(10)
        assert not done.is_alive()
        assert time.monotonic() - began >= 0.7
        assert not (tmp_path / "g1").exists()
        assert (tmp_path / "g2").is_dir() and (tmp_path / "other").is_dir()
    finally:
        parent.kill()
        parent.wait()


def test_a_parent_that_is_gone_does_not_hold_the_removal(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "g3").mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    monkeypatch.setattr(generation.os, "getppid", lambda: gone.pid)
    remove_after_hand_over(tmp_path, 4)
    assert not (tmp_path / "g3").exists()
