"""``feedbackloops demo run``: everything ``make run`` shows, started and stopped together.

Starts the local broker (unless one answers already), creates the topics, then runs the
worker, the sender, the replayer, the demo receiver and the demo producer as child processes;
after ~30 s a replay of the demo's first 10 s goes to the receiver again, marked
``REPLAY <id>``. Ctrl-C (or SIGTERM) stops
the children and, if this command started it, the broker.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streams.errors import KafkaFailure

__all__ = ["run_demo"]

ROOT = Path(__file__).resolve().parents[2]
KAFKACTL = ROOT / "deploy" / "kafka" / "kafkactl.py"


#: after Ctrl-C, how long the children have to stop before they are killed
STOP_GRACE_S = 15.0


def _broker_running(env: dict[str, str]) -> bool:
    return subprocess.run([sys.executable, str(KAFKACTL), "status"], env=env,
                          capture_output=True).returncode == 0


def run_demo(config_path: str, receiver_port: int, rate_per_s: float, manage_broker: bool) -> int:
    env = dict(os.environ)
    base = [sys.executable, "-m", "streams", "--config", config_path]
    started_broker = False
    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop_all(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_all)
    try:
        if manage_broker and not _broker_running(env):
            if subprocess.run([sys.executable, str(KAFKACTL), "start"], env=env).returncode:
                raise KafkaFailure("the local broker did not start (deploy/kafka/kafkactl.py "
                                   "start: see its output above)")
            started_broker = True
        code = subprocess.run([*base, "topics", "create"], env=env,
                              stdout=subprocess.DEVNULL).returncode
        if code:  # the command said why on stderr
            print(f"[demo] topics create exited with {code}; stopping", flush=True)
            return code
        print("[demo] topics ready; starting receiver, worker, sender, replayer and producer "
              "(Ctrl-C stops all)", flush=True)
        for name, args in [
            ("receiver", ["demo", "receiver", "--port", str(receiver_port)]),
            ("worker", ["worker", "-l", "warn"]),
            ("sender", ["sender"]),
            ("replayer", ["replayer"]),
            ("producer", ["demo", "produce", "--rate", str(rate_per_s)]),
            ("replay", ["demo", "replay", "--after-s", "30", "--window-s", "10"]),
        ]:
            children.append((name, subprocess.Popen([*base, *args], env=env,
                                                    start_new_session=True)))
        while True:
            for name, proc in children:
                exited = proc.poll()
                if exited is not None and not (name == "replay" and exited == 0):
                    print(f"[demo] {name} exited with {exited}; stopping", flush=True)
                    return exited or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n[demo] stopping...", flush=True)
        return 0
    finally:
        for _name, proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        # one deadline for all of them: waiting 15 s per child could take 90 s on a busy
        # machine, long after the person who pressed Ctrl-C gave up
        deadline = time.monotonic() + STOP_GRACE_S
        for _name, proc in reversed(children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if started_broker:
            subprocess.run([sys.executable, str(KAFKACTL), "stop"], env=env)
