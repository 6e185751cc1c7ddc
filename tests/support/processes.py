"""Run ``feedbackloops`` commands as real child processes with a per-test configuration."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Producer

from streams.clients import confluent_config
from streams.config import parse_config
from streams.provision import create_topics
from streams.settings import Config
from streams.topics import Topics

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["Project", "WorkerProcess"]


class WorkerProcess:
    """A ``feedbackloops`` child process whose output goes to a log file."""

    def __init__(self, project: "Project", *args: str, name: str = "worker") -> None:
        self.project = project
        self.log_path = project.dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "--config", str(project.config_path), *args],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in the log within {timeout_s}s:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit; what a crash does."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


class Project:
    """One test's world: a unique topic prefix and app id, a config file, its topics."""

    def __init__(self, bootstrap: str, directory: Path, overrides: dict[str, Any] | None = None) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.id = uuid.uuid4().hex[:8]
        data: dict[str, Any] = {
            "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": f"t{self.id}.",
                      "partitions": 4},
            "worker": {"app_id": f"fl-test-{self.id}", "data_dir": str(directory / "worker"),
                       "store": "memory"},
            "api": {"port": 0},
            "sender": {"metrics_port": 0},
            "security": {"allow_networks": ["127.0.0.0/8"]},
        }
        for section, values in (overrides or {}).items():
            if isinstance(values, dict):
                data.setdefault(section, {}).update(values)
            else:
                data[section] = values
        self.data = data
        self.config: Config = parse_config(data)
        self.config_path = directory / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(data))
        self.topics = Topics(self.config.kafka)
        self.processes: list[WorkerProcess] = []
        self._producer: Producer | None = None

    def create_topics(self) -> None:
        create_topics(self.config.kafka, self.topics.specs())

    def start(self, *args: str, name: str = "worker") -> WorkerProcess:
        proc = WorkerProcess(self, *args, name=name)
        self.processes.append(proc)
        return proc

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(confluent_config(
                self.config.kafka, **{"partitioner": "murmur2_random", "linger.ms": 5}))
        return self._producer

    def produce(self, topic: str, key: str | None, value: Any) -> None:
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        self.producer.produce(topic, key=key, value=data)
        self.producer.poll(0)

    def flush(self) -> None:
        if self._producer is not None:
            self._producer.flush(30)

    def close(self) -> None:
        for proc in self.processes:
            proc.stop()
        self.flush()
