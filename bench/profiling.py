"""py-spy profiles of the worker and sender during a scenario (``--profile``).

``py-spy record -p PID -d S -f raw --nonblocking`` writes collapsed stacks (``a;b;c count``);
:func:`summarise` turns them into the frames that use the CPU: *self* (the leaf frame, where the
time is spent) and *inclusive* (every frame on the stack). Idle time (waiting in ``select``)
is not sampled (no ``--idle``), so percentages are of busy CPU samples.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Profile", "Recording", "record", "summarise"]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Profile:
    """Top frames of one process: ``(share of samples, frame)``, self and inclusive."""

    process: str
    samples: int
    top_self: list[tuple[float, str]]
    top_inclusive: list[tuple[float, str]]
    raw_path: str


class Recording:
    """A running ``py-spy record``; :meth:`finish` waits and summarises."""

    def __init__(self, process: str, pid: int, seconds: float, out: Path) -> None:
        self.process = process
        self.out = out
        binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.popen = subprocess.Popen(
            [binary, "record", "-p", str(pid), "-d", str(int(seconds)), "-f", "raw",
             "--nonblocking", "-r", "100", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self, timeout_s: float = 60.0) -> Profile | None:
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        if not self.out.exists():
            return None
        return summarise(self.process, self.out)


def record(process: str, pid: int, seconds: float, out: Path) -> Recording:
    return Recording(process, pid, seconds, out)


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``, site-packages paths trimmed."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    return f"{m.group('func')} ({path})"


#: frames on (nearly) every stack — entry points, the event loop, thread bootstrap — which say
#: nothing in an inclusive ranking (their *self* time, e.g. uvloop's C code under Runner.run,
#: still shows in the self ranking)
_SCAFFOLDING = ("<module> ", "_run_module_as_main ", "_run_code ", "main (streams/cli/main.py",
                "Command.", "Group.invoke ", "Context.invoke ", "App.main ", "new_func ",
                "_Root.invoke ", "worker (streams/cli/run.py", "sender (streams/cli/run.py",
                "_run_faust ", "run_sender ", "run (asyncio/runners.py",
                "Runner.run ", "Worker.execute_from_commandline ", "BaseEventLoop.run_",
                "BaseEventLoop._run_once ", "Handle._run ", "Thread._bootstrap", "Thread.run ",
                "_worker (concurrent/", "_WorkItem.run ", "_main (streams/delivery/main.py",
                "Command.as_click_command", "pass_context")


def summarise(process: str, path: Path, top: int = 15) -> Profile:
    """Self and inclusive shares of the ``top`` frames in a py-spy raw (collapsed) file."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        own[frames[-1]] += n
        for f in set(frames):
            if not f.startswith(_SCAFFOLDING):
                incl[f] += n

    def share(counts: Counter[str]) -> list[tuple[float, str]]:
        return [(round(100 * v / max(total, 1), 1), k) for k, v in counts.most_common(top)]

    return Profile(process, total, share(own), share(incl), str(path))
