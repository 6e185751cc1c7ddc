"""The benchmark's peer: Kafka Connect standalone with Aiven's HTTP sink connector 0.9.0 — what a
platform engineer would run instead of the sender to POST Kafka records to an endpoint.

Installation (once, into git-ignored folders under ``bench/connect/``):

- Kafka Connect 3.9.1 (the broker's version) and the connector's dependencies come from Maven
  Central through ``bench/connect/pom.xml``: the worker's classpath in ``lib/3.9.1/``, the
  connector's jackson 2.17.2 and slf4j-api 1.7.36 in ``plugins/aiven-http-connector-0.9.0/``.
- The connector itself is not on Maven Central and the repository does not hold it: it is
  copied from ``<peers dir>/aiven-http-connector-0.9.0/`` (a build of its released source, with
  a README) into that plugin folder. Without it :class:`PeerUnavailable` says where it was
  looked for.

:class:`ConnectStandalone` runs one worker JVM (``ConnectStandalone worker.properties
sink.properties``) with the JVM options of Kafka's own ``connect-standalone.sh``, the
``StringConverter`` (the record's JSON goes out as it is), and the connector settings of the
peer's README that make it the sender's work: one task per partition, no batching, one POST per
record with ``content-type: application/json``, no authorization.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .pipeline import Proc
from .receivers import free_port

__all__ = ["ConnectStandalone", "KAFKA_VERSION", "PEER", "PeerUnavailable", "default_peers_dir",
           "install"]

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "connect"
KAFKA_VERSION = "3.9.1"
PEER = "aiven-http-connector-0.9.0"
PEER_JAR = "http-connector-for-apache-kafka-0.9.0.jar"
CONNECTOR_CLASS = "io.aiven.kafka.connect.http.HttpSinkConnector"
LIBS = HERE / "lib" / KAFKA_VERSION
PLUGINS = HERE / "plugins"
#: what ``pom.xml`` puts beside the connector's jar (its Maven Central dependencies)
PLUGIN_DEPS = ("jackson-core-2.17.2.jar", "jackson-databind-2.17.2.jar",
               "jackson-annotations-2.17.2.jar", "slf4j-api-1.7.36.jar")
#: connect-standalone.sh's heap and kafka-run-class.sh's JVM performance options
JVM_OPTIONS = ("-Xms256M", "-Xmx2G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
               "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true")
LOG4J = ROOT / "deploy" / "kafka" / "log4j.properties"


class PeerUnavailable(Exception):
    """The peer cannot run on this machine; the message says what is missing and where."""


def default_peers_dir() -> Path:
    """``$BENCH_PEERS_DIR``, else the nearest ``shared/peers`` folder above the repository (the
    issue's ``../shared/peers``; a git worktree sits one level deeper), else
    ``<repo>/../shared/peers``."""
    if os.environ.get("BENCH_PEERS_DIR"):
        return Path(os.environ["BENCH_PEERS_DIR"])
    for parent in ROOT.parents:
        if (parent / "shared" / "peers").is_dir():
            return parent / "shared" / "peers"
    return ROOT.parent / "shared" / "peers"


def install(peers_dir: Path) -> Path:
    """Make sure Connect's jars and the connector's plugin folder are in place (Maven fetches
    what is missing, the connector's jar is copied from ``peers_dir``); returns the plugin
    path. Raises :class:`PeerUnavailable` when the connector, Java or the jars cannot be
    had."""
    source = peers_dir / PEER / PEER_JAR
    if not source.is_file():
        raise PeerUnavailable(f"peer not available at {source.parent} (no {PEER_JAR}; "
                              "--peers DIR or BENCH_PEERS_DIR names the folder that holds "
                              f"{PEER}/)")
    if shutil.which("java") is None:
        raise PeerUnavailable("java is not installed (Kafka Connect is a JVM process)")
    plugin = PLUGINS / PEER
    fetched = (LIBS / f"connect-runtime-{KAFKA_VERSION}.jar").is_file() and all(
        (plugin / jar).is_file() for jar in PLUGIN_DEPS)
    if not fetched:
        if shutil.which("mvn") is None:
            raise PeerUnavailable("Maven (mvn) is not installed: it fetches Kafka Connect "
                                  "from Maven Central")
        cmd = ["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"),
               "dependency:copy-dependencies@runtime", "dependency:copy@plugin"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise PeerUnavailable(f"Maven could not fetch Kafka Connect ({' '.join(cmd)}): "
                                  f"{(result.stdout + result.stderr)[-1500:]}")
    plugin.mkdir(parents=True, exist_ok=True)
    target = plugin / PEER_JAR
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, target)
    return PLUGINS


def _properties(values: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


class ConnectStandalone:
    """One Connect worker JVM running one HTTP sink connector from ``topic`` to ``url`` with
    ``tasks`` tasks (one per partition); configuration and log in ``directory``."""

    def __init__(self, directory: Path, bootstrap: str, topic: str, url: str, tasks: int,
                 plugin_path: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.name = f"bench-http-{os.urandom(4).hex()}"
        #: the consumer group of a sink connector's tasks
        self.group = f"connect-{self.name}"
        self.tasks = tasks
        self.rest_port = free_port()
        self.worker_file = directory / "worker.properties"
        self.worker_file.write_text(_properties({
            "bootstrap.servers": bootstrap,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "offset.storage.file.filename": directory / "connect.offsets",
            "offset.flush.interval.ms": 10000,
            "plugin.path": plugin_path,
            # the connector ships ServiceLoader manifests: no class-path scan at start-up
            "plugin.discovery": "service_load",
            "listeners": f"http://127.0.0.1:{self.rest_port}",
        }))
        self.sink_file = directory / "sink.properties"
        self.sink_file.write_text(_properties({
            "name": self.name, "connector.class": CONNECTOR_CLASS, "topics": topic,
            "tasks.max": tasks, "http.url": url, "http.authorization.type": "none",
            "http.headers.content.type": "application/json", "batching.enabled": "false",
        }))
        self.proc: Proc | None = None

    @property
    def processes(self) -> list[Proc]:
        return [self.proc] if self.proc is not None else []

    def start(self) -> Proc:
        log_path = self.dir / "connect.log"
        argv = ["java", *JVM_OPTIONS, f"-Dlog4j.configuration=file:{LOG4J}",
                "-cp", f"{LIBS}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
                str(self.worker_file), str(self.sink_file)]
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(argv, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.proc = Proc("connect", popen, log_path, time.time())
        return self.proc

    def check_alive(self) -> None:
        """Raises when the JVM exited (its log's tail in the message)."""
        if self.proc is not None and not self.proc.alive():
            raise RuntimeError(f"Kafka Connect exited with {self.proc.popen.returncode}:\n"
                               f"{self.proc.tail()}")

    def status(self) -> dict[str, Any]:
        """The connector's status from Connect's REST API (``{}`` while it does not answer)."""
        url = f"http://127.0.0.1:{self.rest_port}/connectors/{self.name}/status"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                doc: dict[str, Any] = json.loads(resp.read())
                return doc
        except (OSError, urllib.error.HTTPError, ValueError):
            return {}

    def running(self) -> bool:
        """The connector and all its tasks are RUNNING."""
        doc = self.status()
        tasks = doc.get("tasks", [])
        return (doc.get("connector", {}).get("state") == "RUNNING" and len(tasks) == self.tasks
                and all(t.get("state") == "RUNNING" for t in tasks))

    def failures(self) -> list[str]:
        """Traces of failed tasks, for a note when a run did not complete."""
        doc = self.status()
        return [f"task {t.get('id')}: {str(t.get('trace', ''))[:300]}"
                for t in doc.get("tasks", []) if t.get("state") == "FAILED"]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
