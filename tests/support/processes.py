"""Run ``feedbackloops`` commands as real child processes with a per-test configuration."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import yaml
from confluent_kafka import Producer

from streams.kafka.clients import confluent_config, producer_config
from streams.config.loading import parse_config
from streams.kafka.provision import create_topics
from streams.config.settings import Config
from streams.kafka.topics import Topics

from .receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["Project", "WorkerProcess", "projects"]


class WorkerProcess:
    """A ``feedbackloops`` child process whose output goes to a log file."""

    def __init__(self, project: "Project", *args: str, name: str = "worker") -> None:
        self.project = project
        self.log_path = project.dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        #: set for processes expected to end (loaders) or killed/stopped on purpose.
        self.expected_exit = name not in ("worker", "sender")
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

    def assert_alive(self) -> None:
        """Raise (with the log's tail) if the process ended unexpectedly."""
        if self.proc.poll() is not None and not self.expected_exit:
            raise AssertionError(f"{self.log_path.name} exited with {self.proc.returncode}:\n"
                                 f"{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit; what a crash does."""
        self.expected_exit = True
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 30.0) -> int:
        self.expected_exit = True
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
        self.topics = Topics.for_config(self.config)
        self.processes: list[WorkerProcess] = []
        self._producer: Producer | None = None

    def assert_alive(self) -> None:
        for proc in self.processes:
            proc.assert_alive()

    def create_topics(self) -> None:
        create_topics(self.config.kafka, self.topics.specs())

    def start(self, *args: str, name: str = "worker") -> WorkerProcess:
        proc = WorkerProcess(self, *args, name=name)
        self.processes.append(proc)
        return proc

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            # as the platform should produce: murmur2, idempotent, acks=all
            self._producer = Producer(producer_config(self.config.kafka, **{"linger.ms": 5}))
        return self._producer

    def produce(self, topic: str, key: str | None, value: Any) -> None:
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        self.producer.produce(topic, key=key, value=data)
        self.producer.poll(0)

    def flush(self) -> None:
        if self._producer is not None:
            self._producer.flush(30)

    def close(self) -> None:
        """Stop the processes and delete this project's topics (the broker is shared)."""
        for proc in self.processes:
            proc.stop()
        self.flush()
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(confluent_config(self.config.kafka))
        mine = [t for t in admin.list_topics(timeout=30).topics
                if t.startswith(self.config.kafka.topic_prefix)
                or t.startswith(self.config.worker.app_id)]
        if mine:
            for future in admin.delete_topics(mine, operation_timeout=30).values():
                try:
                    future.result()
                except Exception:  # already gone: fine
                    pass


def projects(bootstrap: str, directory: Path, receiver: Receiver,
             defaults: dict[str, dict[str, Any]]) -> Iterator[Callable[..., Project]]:
    """A project factory (a generator for a fixture): each project's topics created, its
    processes watched by ``receiver`` (a crash fails a wait at once), all closed at the end.
    ``defaults`` are settings every project gets under its own overrides."""
    made: list[Project] = []

    def make(**overrides: Any) -> Project:
        for section, values in defaults.items():
            overrides[section] = {**values, **overrides.get(section, {})}
        project = Project(bootstrap, directory / f"p{len(made)}", overrides)
        project.create_topics()
        made.append(project)
        receiver.watchdogs.append(project.assert_alive)
        return project

    yield make
    for project in made:
        project.close()


def publish_loops(project: Project, loops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write loop definitions (YAML-declaration shape) straight to fl.loops, as the worker
    does at start-up; returns the definitions (with their generated secrets)."""
    from streams.worker.declared import definition_from_decl
    from streams.config.loading import parse_config as _parse

    decls = _parse({**project.data, "loops": loops}).loops
    out = []
    for decl in decls:
        doc = definition_from_decl(decl, None).to_doc()
        doc.update(version=1, created_at=time.time(), updated_at=time.time())
        project.produce(project.topics.loops, doc["id"], doc)
        out.append(doc)
    project.flush()
    return out


def delivery_for(loop_id: str, payload: dict[str, Any], event_id: str | None = None,
                 profile: str = "p1") -> dict[str, Any]:
    """A fresh fl.deliveries record, as the enrich stage would write it."""
    from enrichers.routing import delivery_id
    from streams.kafka.records import new_delivery

    event_id = event_id or str(uuid.uuid4())
    event = {"id": event_id, "type": payload.get("type", "open"), "profile": profile}
    return dict(new_delivery(delivery_id(event_id, loop_id), loop_id, event,
                             {**payload, "event_id": event_id},
                             int(time.time() * 1000)))
