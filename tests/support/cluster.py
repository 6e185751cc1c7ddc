"""A local 3-node KRaft cluster for the failover tests (``deploy/kafka/kafkactl.py cluster``).

Ports: ``FLTEST_CLUSTER_PORT`` (default 19192) and the five after it (node N on
port + 2(N-1), its controller on the next port); data in ``deploy/kafka/var/test-cluster-<port>``,
wiped when the fixture starts a cluster, so every run begins with an empty one.
``FLTEST_KEEP_BROKER=1`` leaves it running (and reuses a running one).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from .broker import ROOT, kafkactl

__all__ = ["CLUSTER_PORT", "LocalCluster", "kafka_cluster"]

CLUSTER_PORT = int(os.environ.get("FLTEST_CLUSTER_PORT", "19192"))


class LocalCluster:
    """Three brokers (and controllers) started by kafkactl; kill, stop and start them by id."""

    def __init__(self, port: int = CLUSTER_PORT, nodes: int = 3,
                 data_dir: Path | None = None) -> None:
        self.port = port
        self.nodes = nodes
        self.data_dir = data_dir or ROOT / "deploy" / "kafka" / "var" / f"test-cluster-{port}"
        self.bootstrap = ",".join(f"127.0.0.1:{port + 2 * i}" for i in range(nodes))
        self._admin: AdminClient | None = None

    def ctl(self, *args: str, check: bool = True) -> str:
        """Run ``kafkactl.py cluster ARGS`` for this cluster; its output."""
        done = kafkactl("cluster", *args, "--port", str(self.port), "--nodes", str(self.nodes),
                        "--data-dir", str(self.data_dir), port=self.port, check=check)
        return done.stdout + done.stderr

    def running(self) -> bool:
        return kafkactl("cluster", "status", "--port", str(self.port), "--nodes",
                        str(self.nodes), "--data-dir", str(self.data_dir), port=self.port,
                        check=False).returncode == 0

    def kill(self, node: int) -> None:
        """SIGKILL node ``node``: a crash, no controlled shutdown."""
        self.ctl("kill", str(node))

    def stop(self, node: int) -> None:
        """A graceful stop of node ``node`` (controlled shutdown moves its leaderships)."""
        self.ctl("stop", str(node))

    def start(self, node: int | None = None) -> None:
        """Start node ``node`` (or every node) and wait until it sees every broker."""
        self.ctl("start", *([str(node)] if node is not None else []))

    def admin(self) -> AdminClient:
        """One client for the cluster, kept: a future of a client already collected never
        completes."""
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin

    def leader_of(self, topic: str, partition: int) -> int:
        """The node id leading ``topic[partition]`` now, as the metadata says."""
        meta = self.admin().list_topics(topic, timeout=30).topics[topic]
        return int(meta.partitions[partition].leader)

    def coordinator_of(self, group: str) -> int | None:
        """The node coordinating consumer group ``group`` (None if the answer fails)."""
        [future] = self.admin().describe_consumer_groups([group]).values()
        try:
            return int(future.result(timeout=30).coordinator.id)
        except Exception:  # a report detail, not worth failing a test over
            return None

    def wait_fully_replicated(self, prefix: str = "", timeout_s: float = 120.0) -> None:
        """Wait until every node is up and every partition (of topics starting with
        ``prefix``, and ``__consumer_offsets``) has all its replicas in sync."""
        deadline = time.monotonic() + timeout_s
        lagging: list[str] = []
        while time.monotonic() < deadline:
            if self.running():
                topics = self.admin().list_topics(timeout=30).topics
                lagging = [f"{name}[{p}]" for name, meta in topics.items()
                           if name.startswith(prefix) or name == "__consumer_offsets"
                           for p, part in meta.partitions.items()
                           if len(part.isrs) < len(part.replicas) or part.leader < 0]
                if not lagging:
                    return
            time.sleep(0.5)
        raise AssertionError(f"the cluster is not fully replicated after {timeout_s:g}s: "
                             f"{', '.join(lagging[:10]) or 'a node is down'}\n"
                             f"{self.ctl('status', check=False)}")

    def rss_mib(self) -> dict[int, float]:
        """Resident memory of each running node's JVM, MiB."""
        out = {}
        for node in range(1, self.nodes + 1):
            try:
                pid = int((self.data_dir / f"node-{node}" / "broker.pid").read_text())
                status = Path(f"/proc/{pid}/status").read_text()
            except (OSError, ValueError):
                continue
            kib = next(int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmRSS:"))
            out[node] = kib / 1024
        return out


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[LocalCluster]:
    """A fresh 3-node cluster for one test module, stopped at its end (3 JVMs are not left
    running beside the rest of the suite)."""
    cluster = LocalCluster()
    keep = bool(os.environ.get("FLTEST_KEEP_BROKER"))
    reused = keep and cluster.running()
    if not reused:
        cluster.ctl("reset")
        cluster.start()
    try:
        yield cluster
    finally:
        if not keep:
            cluster.ctl("stop", check=False)
