"""One scenario's pipeline: a YAML configuration with its own topic prefix and app id, its
topics, and the ``feedbackloops`` worker and sender processes (``python -m streams``).

Every process gets a clean environment (no inherited ``FL_*`` or ``KAFKA_BOOTSTRAP_SERVERS``),
so only this configuration applies; per-process settings (data dir, ports) are ``FL_*``
overrides. Peak RSS is read just before a process is stopped.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from streams.kafka.clients import confluent_config
from streams.config.loading import parse_config
from streams.worker.declared import definition_from_decl
from streams.kafka.provision import create_topics
from streams.config.settings import Config
from streams.kafka.topics import Topics

from .measure import peak_rss_mib
from .receivers import free_port

__all__ = ["Pipeline", "Proc", "loop_decl"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]


def loop_decl(loop_id: str, url: str, *, encoding: str = "json", max_in_flight: int = 128,
              timeout_s: float = 10.0, batch_max_events: int = 100, batch_max_wait_ms: int = 200,
              events: tuple[str, ...] = ("open", "click")) -> dict[str, Any]:
    """A ``loops:`` entry: trusted (no ownership check), no rate limit to speak of."""
    decl: dict[str, Any] = {"id": loop_id, "url": url, "events": list(events),
                            "encoding": encoding, "trusted": True, "rate_per_s": 100_000,
                            "max_in_flight": max_in_flight, "timeout_s": timeout_s}
    if encoding == "json-batch":
        decl["batch"] = {"max_events": batch_max_events, "max_wait_ms": batch_max_wait_ms}
    return decl


@dataclass
class Proc:
    """A child process whose output goes to ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started: float
    peak_rss_mib: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.alive():
            self.peak_rss_mib = max(self.peak_rss_mib, peak_rss_mib(self.pid))
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(10)


class Pipeline:
    """Topics, configuration and processes of one scenario run (see the module docstring)."""

    def __init__(self, bootstrap: str, directory: Path, loops: list[dict[str, Any]],
                 partitions: int = 8, store: str = "memory",
                 sender: dict[str, Any] | None = None,
                 worker: dict[str, Any] | None = None,
                 settings: dict[str, dict[str, Any]] | None = None) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.id = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.data: dict[str, Any] = {
            "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": f"bench{self.id}.",
                      "partitions": partitions},
            "worker": {"app_id": f"fl-bench-{self.id}", "data_dir": str(directory / "worker"),
                       "store": store, "log_level": "warning", **(worker or {})},
            "api": {"port": 0},
            "sender": {"metrics_port": 0, **(sender or {})},
            "security": {"allow_networks": ["127.0.0.0/8"]},
            "loops": loops,
        }
        if os.environ.get("BENCH_STATS", "on") == "off":  # measure what statistics cost
            self.data["stats"] = {"enabled": False}
        for section, values in (settings or {}).items():  # ``--set``: over everything above
            self.data[section] = {**self.data.get(section, {}), **values}
        self.config: Config = parse_config(self.data)
        self.config_path = directory / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(self.data, sort_keys=False))
        self.topics = Topics.for_config(self.config)
        self.workers: list[Proc] = []
        self.senders: list[Proc] = []

    # -- topics and reference data ---------------------------------------------------------
    def create_topics(self) -> None:
        create_topics(self.config.kafka, self.topics.specs())

    def delete_topics(self) -> None:
        admin = AdminClient(confluent_config(self.config.kafka))
        prefix, app_id = self.config.kafka.topic_prefix, self.config.worker.app_id
        mine = [t for t in admin.list_topics(timeout=30).topics
                if t.startswith(prefix) or t.startswith(app_id)]
        for future in (admin.delete_topics(mine, operation_timeout=60).values() if mine else ()):
            try:
                future.result()
            except Exception:  # already gone
                pass

    def delete_topics_after(self, name: str) -> None:
        """delete_topics at the end of a scenario: a failure is logged, never raised (a
        cleanup failure must not hide the result)."""
        try:
            self.delete_topics()
        except Exception as exc:
            log.warning("could not delete the topics of %s: %s", name, exc)

    def load_reference(self, profiles: Path, tags: Path) -> float:
        """``feedbackloops profiles load`` and ``tags load``; returns the seconds they took."""
        started = time.monotonic()
        for what, path in (("profiles", profiles), ("tags", tags)):
            result = subprocess.run(self._argv(what, "load", str(path), "--quiet"), cwd=ROOT,
                                    env=self._env(), capture_output=True, timeout=1800)
            if result.returncode != 0:
                raise RuntimeError(f"{what} load failed: {result.stdout.decode()[-2000:]}"
                                   f"{result.stderr.decode()[-2000:]}")
        return time.monotonic() - started

    def publish_loops(self) -> None:
        """Write the declared loops to fl.loops, as a worker does at start-up (for scenarios
        that run senders without a worker)."""
        producer = Producer(confluent_config(self.config.kafka))
        for decl in self.config.loops:
            doc = definition_from_decl(decl, None).to_doc()
            doc.update(version=1, created_at=time.time(), updated_at=time.time())
            producer.produce(self.topics.loops, orjson.dumps(doc), doc["id"].encode())
        if producer.flush(30):
            raise RuntimeError("fl.loops records not acknowledged")

    # -- processes -------------------------------------------------------------------------
    def start_worker(self) -> Proc:
        n = len(self.workers)
        port = free_port()
        # BENCH_WORKER_LOG=info: the workers' start-up timeline (a cut-over's) in worker<n>.log
        level = os.environ.get("BENCH_WORKER_LOG", "warn")
        proc = self._start(f"worker{n}", ["worker", "-l", level],
                           FL_WORKER_DATA_DIR=str(self.dir / f"worker{n}"), FL_API_PORT=str(port))
        proc.extra["api_port"] = port
        self.workers.append(proc)
        return proc

    def start_sender(self) -> Proc:
        port = free_port()
        proc = self._start(f"sender{len(self.senders)}", ["sender"],
                           FL_SENDER_METRICS_PORT=str(port))
        proc.extra["metrics_port"] = port
        self.senders.append(proc)
        return proc

    @property
    def processes(self) -> list[Proc]:
        return [*self.workers, *self.senders]

    def check_alive(self) -> None:
        for p in self.processes:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited with {p.popen.returncode}:\n{p.tail()}")

    def stop(self) -> None:
        for p in self.processes:
            if p.alive():
                p.peak_rss_mib = max(p.peak_rss_mib, peak_rss_mib(p.pid))
                p.popen.send_signal(signal.SIGTERM)
        for p in self.processes:
            p.stop()

    def ready(self) -> bool:
        """Every worker's and sender's ``/readyz`` answers 200."""
        for proc in self.processes:
            port = proc.extra.get("api_port") or proc.extra.get("metrics_port")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                    if resp.status != 200:
                        return False
            except OSError:
                return False
        return True

    def groups_stable(self) -> bool:
        """True when the worker group and the sender group each have all their processes as
        members and are not rebalancing."""
        from confluent_kafka import ConsumerGroupState

        app_id = self.config.worker.app_id
        # repartition mode: the first generation's group (the bench scales only mid-run)
        worker_group = app_id if self.config.worker.partitioning == "direct" else f"{app_id}-g1"
        wanted = {worker_group: len(self.workers),
                  f"{self.config.worker.app_id}-sender": len(self.senders)}
        if self.config.stats.enabled:  # each worker's statistics process is in a group too
            wanted[f"{self.config.worker.app_id}-stats"] = len(self.workers)
        wanted = {g: n for g, n in wanted.items() if n}
        admin = AdminClient(confluent_config(self.config.kafka))
        for group, future in admin.describe_consumer_groups(list(wanted)).items():
            try:
                desc = future.result(10)
            except Exception:
                return False
            if desc.state != ConsumerGroupState.STABLE or len(desc.members) != wanted[group]:
                return False
        return True

    def stats_behind(self) -> int:
        """Records the statistics group has not committed yet (0: caught up; -1: unknown)."""
        from confluent_kafka import Consumer, TopicPartition

        t = self.topics
        names = [*t.raw.values(), t.invalid, t.deliveries, t.attempts, t.dead]
        tps = [TopicPartition(n, p) for n in names for p in range(self.config.kafka.partitions)]
        consumer = Consumer(confluent_config(self.config.kafka, **{
            "group.id": f"{self.config.worker.app_id}-stats", "enable.auto.commit": False}))
        try:
            behind = 0
            for tp in consumer.committed(tps, 10):
                _, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
                behind += high - max(tp.offset, 0)
            return behind
        except Exception:
            return -1
        finally:
            consumer.close()

    def samples(self, proc: Proc, name: str) -> dict[str, float]:
        """Prometheus samples of ``name`` from a worker (api port) or sender (metrics port),
        ``{labels: value}``; empty when the process does not answer."""
        port = proc.extra.get("api_port") or proc.extra.get("metrics_port")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                head, _, value = line.rpartition(" ")
                metric, _, labels = head.partition("{")
                if metric == name:
                    out[labels.rstrip("}")] = float(value)
        return out

    def metric(self, proc: Proc, name: str, labels: str = "") -> float:
        """Sum of the samples of ``name`` whose labels contain ``labels``."""
        return sum(v for k, v in self.samples(proc, name).items() if labels in k)

    def _argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "streams", "--config", str(self.config_path), *args]

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FL_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
        env.update(PYTHONUNBUFFERED="1", **extra)
        return env

    def _start(self, name: str, args: list[str], **env: str) -> Proc:
        log_path = self.dir / f"{name}.log"
        log = open(log_path, "wb")
        popen = subprocess.Popen(self._argv(*args), cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT, env=self._env(**env),
                                 start_new_session=True)
        log.close()
        return Proc(name, popen, log_path, time.time())
