#!/usr/bin/env python3
"""Start, stop and report on local KRaft Apache Kafka: one broker, or a 3-node cluster.

Standard library only, so it runs before the project's virtualenv exists.

    python3 deploy/kafka/kafkactl.py start     # fetch jars (once), format (once), start, wait
    python3 deploy/kafka/kafkactl.py status    # exit 0 when a broker answers metadata requests
    python3 deploy/kafka/kafkactl.py stop      # SIGTERM, then SIGKILL after a grace period
    python3 deploy/kafka/kafkactl.py reset     # stop and delete the data directory

    python3 deploy/kafka/kafkactl.py cluster start|stop|status|restart|reset   # every node
    python3 deploy/kafka/kafkactl.py cluster start|stop|status|restart|kill N  # node N only

The cluster is 3 nodes (``--nodes``), each a broker and a controller of one KRaft quorum, with
replication factor 3 and ``min.insync.replicas`` 2; node N listens on port + 2(N-1) (its
controller on the next port) and keeps its storage, pid file and broker.log in node-N/.
``kill N`` is a SIGKILL (a crash); ``stop N`` a graceful shutdown. Bootstrap clients with
every node (``cluster status`` prints the list).

Every command is idempotent: starting a running broker or stopping a stopped one is a no-op
that says so. Settings come from flags or the environment:

    KAFKA_VERSION       3.9 (default) or 4 (Kafka 4.1.1)
    KAFKA_PORT          client port on 127.0.0.1 (default 9092); the controller uses port + 1
    KAFKA_DATA_DIR      storage, pid file and broker.log (default deploy/kafka/var/<version>)
    KAFKA_HEAP          JVM heap per node (default 1g; 512m for each cluster node)
    KAFKA_CLUSTER_PORT  the cluster's first port (default 9192: nodes on 9192, 9194, 9196)
    KAFKA_CLUSTER_DIR   the cluster's data (default deploy/kafka/var/cluster-<version>)
"""
from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = {"3.9": ("3.9.1", "kafka39"), "4": ("4.1.1", "kafka4")}
HOST = "127.0.0.1"
CLUSTER_HEAP = "512m"


class BrokerError(Exception):
    """The broker could not be brought into the requested state."""


def metadata(port: int, timeout_s: float = 2.0) -> tuple[int, int] | None:
    """(brokers listed, controller id) from a Metadata v4 request to HOST:port, or None.

    Metadata v4 is the oldest version both Kafka 3.9 and 4.x accept (KIP-896). An
    empty topic list asks for brokers only. A KRaft broker lists the brokers that are
    registered and not fenced; one that is up but not yet registered lists none, or
    names no controller (-1).
    """
    request = struct.pack(">hhih", 3, 4, 1, len(b"kafkactl")) + b"kafkactl"
    request += struct.pack(">i", 0) + b"\x00"  # topics: [], allow_auto_topic_creation: false
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
            body = _recv_exactly(sock, size)
        # correlation id, throttle_time_ms, brokers[]
        _corr, _throttle, n_brokers = struct.unpack_from(">iii", body, 0)
        pos = 12
        for _ in range(max(n_brokers, 0)):
            pos += 4
            (hlen,) = struct.unpack_from(">h", body, pos)
            pos += 2 + hlen + 4
            (rlen,) = struct.unpack_from(">h", body, pos)
            pos += 2 + max(rlen, 0)
        (clen,) = struct.unpack_from(">h", body, pos)
        pos += 2 + max(clen, 0)
        (controller_id,) = struct.unpack_from(">i", body, pos)
    except (OSError, struct.error):
        return None
    return n_brokers, controller_id


def metadata_ready(port: int, brokers: int = 1, timeout_s: float = 2.0) -> bool:
    """True when HOST:port answers metadata naming a controller and >= ``brokers`` brokers."""
    answer = metadata(port, timeout_s)
    return answer is not None and answer[0] >= brokers and answer[1] >= 0


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _cmdline(pid: int) -> bytes:
    """The command line of process ``pid`` (empty if there is none).

    Read again while it is empty and the process is not a zombie: the ``java`` launcher
    re-executes itself at start, and meanwhile /proc shows no command line (a start once
    failed as "exited" with the broker running).
    """
    cmdline = b""
    for _ in range(40):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return b""
        if cmdline or state in ("Z", "X"):
            return cmdline
        time.sleep(0.05)
    return cmdline


def new_cluster_id() -> str:
    """16 random bytes, base64url without padding (what ``kafka-storage.sh random-uuid`` gives).
    Like Kafka's own ``Uuid.randomUuid``, never one starting with '-': the storage tool's
    argument parser takes ``-t -xyz`` for an option (1 id in 64; a flaky ``kafkactl start``)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


class Broker:
    """One local KRaft node: its version, ports, data directory and place in a quorum.

    Alone (the defaults) it is node 1, the only voter, with replication factor 1. As a
    cluster node it gets its id, the quorum's voters, the cluster id shared by every node,
    the replication factor and how many brokers make the cluster ready.
    """

    def __init__(self, version: str, port: int, data_dir: Path, heap: str, node_id: int = 1,
                 voters: str | None = None, cluster_id: str | None = None,
                 replication: int = 1, brokers: int = 1) -> None:
        if version not in VERSIONS:
            raise BrokerError(f"KAFKA_VERSION must be one of {sorted(VERSIONS)}, got {version!r}")
        self.version, self.profile = VERSIONS[version]
        self.port = port
        self.controller_port = port + 1
        self.data_dir = data_dir
        self.heap = heap
        self.node_id = node_id
        self.voters = voters or f"{node_id}@{HOST}:{self.controller_port}"
        self.cluster_id = cluster_id
        self.replication = replication
        self.min_isr = max(1, replication - 1)
        self.brokers = brokers
        self.libs = HERE / "lib" / self.version
        self.pid_file = data_dir / "broker.pid"
        self.log_file = data_dir / "broker.log"
        self.config_file = data_dir / "server.properties"
        self._proc: subprocess.Popen[bytes] | None = None
        #: names the node in messages: "" alone, "node N: " in a cluster
        self.prefix = "" if voters is None else f"node {node_id}: "
        self.label = "kafkactl: " + self.prefix

    def say(self, text: str) -> None:
        print(self.label + text, flush=True)

    # -- state ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is a Java process."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if b"kafka.Kafka" in _cmdline(pid) else None

    def ready(self) -> bool:
        return metadata_ready(self.port, self.brokers)

    def status(self) -> str:
        pid = self.pid()
        ready = self.ready()
        if pid and ready:
            return f"running (pid {pid}) on {HOST}:{self.port}, Kafka {self.version}"
        if pid:
            return f"starting or unhealthy (pid {pid}), not answering on {HOST}:{self.port}"
        if ready:
            return f"a broker not started by kafkactl answers on {HOST}:{self.port}"
        return "stopped"

    # -- commands ------------------------------------------------------------------------
    def fetch(self) -> None:
        """Download the broker jars with Maven unless they are already there."""
        if self.libs.is_dir() and any(self.libs.glob("kafka_2.13-*.jar")):
            return
        self.say(f"fetching Apache Kafka {self.version} jars with Maven (once)...")
        cmd = ["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "-P", self.profile,
               "dependency:copy-dependencies"]
        if subprocess.call(cmd) != 0 or not any(self.libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Maven could not fetch Kafka {self.version}: {' '.join(cmd)}")

    def start(self, wait_s: float) -> None:
        if self.launch():
            self.wait(wait_s)
            self.say(f"{self.status()} (log: {self.log_file})")

    def launch(self) -> bool:
        """Start the JVM unless this node already runs; False (and says why) when it did."""
        if self.pid() and self.ready():
            self.say(f"already {self.status()}")
            return False
        if not self.pid() and metadata_ready(self.port):
            self.say(f"{self.status()}; using it")
            return False
        if self.pid() is None:
            if port_open(self.port) or port_open(self.controller_port):
                raise BrokerError(
                    f"port {self.port} or {self.controller_port} on {HOST} is taken by something "
                    "that is not a Kafka broker; set KAFKA_PORT to a free port")
            self.pid_file.unlink(missing_ok=True)  # stale: the process is gone
            self.fetch()
            self._write_config()
            self._format()
            self._launch()
        return True  # launched now, or a running node not ready yet: wait for it

    def stop(self, grace_s: float = 20.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            self.say("already stopped")
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        how = "stopped"
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
            how = f"killed after {grace_s:g} s without stopping"
        self.pid_file.unlink(missing_ok=True)
        self.say(f"{how} (pid {pid})")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no controlled shutdown, unflushed logs, the pid file left."""
        pid = self.pid()
        if pid is None:
            self.say("already stopped")
            return
        os.kill(pid, signal.SIGKILL)
        while self.pid() is not None:
            time.sleep(0.05)
        self.say(f"killed (pid {pid})")

    def reset(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        print(f"kafkactl: removed {self.data_dir}")

    # -- steps ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = (HERE / "server.properties.in").read_text()
        for key, value in {"PORT": self.port, "CONTROLLER_PORT": self.controller_port,
                           "DATA_DIR": self.data_dir, "NODE_ID": self.node_id,
                           "VOTERS": self.voters, "REPLICATION": self.replication,
                           "MIN_ISR": self.min_isr}.items():
            text = text.replace(f"@{key}@", str(value))
        self.config_file.write_text(text)

    def formatted_id(self) -> str | None:
        """The cluster id this node's storage was formatted with, if it was."""
        meta = self.data_dir / "logs" / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        return None

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        if self.version.startswith("3."):
            logging_opt = f"-Dlog4j.configuration=file:{HERE / 'log4j.properties'}"
        else:
            logging_opt = f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}"
        return ["java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
                "-Djava.awt.headless=true", logging_opt, "-cp", f"{self.libs}/*", main, *args]

    def _format(self) -> None:
        if self.formatted_id() is not None:
            return  # what --ignore-formatted would do, without starting a JVM for it
        cluster_id = self.cluster_id or new_cluster_id()
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id,
                         "-c", str(self.config_file), "--ignore-formatted")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError(
                "formatting storage failed (a data dir from another Kafka version or cluster? "
                f"'kafkactl.py reset' wipes it):\n{proc.stdout}{proc.stderr}")

    def _launch(self) -> None:
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.config_file), heap=self.heap),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.data_dir)
        self.pid_file.write_text(str(proc.pid))
        self._proc = proc

    def wait(self, wait_s: float) -> None:
        """Return once this node is ready; raise with the log's tail if it exits or times out."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.ready():
                return
            exited = self._proc.poll() is not None if self._proc else self.pid() is None
            if exited:
                raise BrokerError(f"{self.prefix}the broker exited during start-up; last "
                                  f"log lines ({self.log_file}):\n{self._tail()}")
            time.sleep(0.25)
        raise BrokerError(f"{self.prefix}no metadata answer naming {self.brokers} "
                          f"broker(s) within {wait_s:.0f}s; last log lines "
                          f"({self.log_file}):\n{self._tail()}")

    def _tail(self, n: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


class Cluster:
    """``nodes`` KRaft nodes on consecutive port pairs from ``base_port``, one data dir each.

    Every node is a broker and a voter of the controller quorum (combined mode), so the
    cluster takes the loss of one node of three. All nodes are formatted with one cluster
    id, kept in ``cluster.id`` so a node wiped by hand rejoins the same cluster.
    """

    def __init__(self, version: str, base_port: int, data_dir: Path, heap: str,
                 nodes: int = 3) -> None:
        if nodes < 1:
            raise BrokerError(f"--nodes must be >= 1, got {nodes}")
        self.data_dir = data_dir
        ports = [base_port + 2 * i for i in range(nodes)]
        voters = ",".join(f"{i + 1}@{HOST}:{port + 1}" for i, port in enumerate(ports))
        replication = min(3, nodes)
        self.nodes = [Broker(version, port, data_dir / f"node-{i + 1}", heap, node_id=i + 1,
                             voters=voters, replication=replication, brokers=nodes)
                      for i, port in enumerate(ports)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    def node(self, node_id: int) -> Broker:
        if not 1 <= node_id <= len(self.nodes):
            raise BrokerError(f"no node {node_id}: the cluster has nodes 1..{len(self.nodes)}")
        return self.nodes[node_id - 1]

    def _cluster_id(self) -> str:
        id_file = self.data_dir / "cluster.id"
        if id_file.exists():
            return id_file.read_text().strip()
        found = {i for i in (n.formatted_id() for n in self.nodes) if i is not None}
        if len(found) > 1:
            raise BrokerError(f"the nodes in {self.data_dir} belong to different clusters "
                              f"({', '.join(sorted(found))}): "
                              "'kafkactl.py cluster reset' wipes them")
        cluster_id = found.pop() if found else new_cluster_id()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(cluster_id + "\n")
        return cluster_id

    def start(self, wait_s: float, node_id: int | None = None) -> None:
        """Start every node (or one) and wait until each answers naming every broker.

        All nodes are launched before any is waited for: a quorum of controllers must be up
        before any node becomes ready.
        """
        cluster_id = self._cluster_id()
        chosen = self.nodes if node_id is None else [self.node(node_id)]
        chosen[0].fetch()
        for node in chosen:
            node.cluster_id = cluster_id
        # formatting and launching in parallel: each starts a JVM, seconds apiece
        with ThreadPoolExecutor(len(chosen)) as pool:
            launched = list(pool.map(Broker.launch, chosen))
        for node, started in zip(chosen, launched):
            if started:
                node.say(f"starting on {HOST}:{node.port}")
        for node, started in zip(chosen, launched):
            if started:
                node.wait(wait_s)
        print(self.status_text())

    def stop(self, node_id: int | None = None) -> None:
        """Stop every node (or one): SIGTERM, a controlled shutdown that moves leadership.

        Stopping every node, they stop in parallel, and one still running after 10 s is
        killed: the last nodes of a cluster wait for a controller quorum that has gone (one by
        one, each waited out a whole grace period). A SIGKILL loses nothing acknowledged: the
        written data is in the OS page cache, which outlives the process, and the next start
        recovers the logs.
        """
        if node_id is not None:
            self.node(node_id).stop()
            return
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(grace_s=10.0), self.nodes))

    def kill(self, node_id: int) -> None:
        self.node(node_id).kill()

    def reset(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        print(f"kafkactl: removed {self.data_dir}")

    def running(self, node_id: int | None = None) -> bool:
        chosen = self.nodes if node_id is None else [self.node(node_id)]
        return all(n.status().startswith("running") for n in chosen)

    def status_text(self, node_id: int | None = None) -> str:
        chosen = self.nodes if node_id is None else [self.node(node_id)]
        lines = [f"{n.label}{n.status()}" for n in chosen]
        if node_id is None:
            lines.append(f"kafkactl: bootstrap servers {self.bootstrap}")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Cluster: 'cluster ACTION [NODE]', ACTION one of start, stop, status, restart, "
               "reset, kill (kill needs NODE).")
    parser.add_argument("command", choices=["start", "stop", "status", "restart", "reset", "fetch",
                                            "cluster"])
    parser.add_argument("action", nargs="?", help="with 'cluster': start, stop, status, restart, "
                                                  "reset or kill")
    parser.add_argument("node", nargs="?", type=int, help="with 'cluster': one node (1..nodes)")
    parser.add_argument("--version", default=os.environ.get("KAFKA_VERSION", "3.9"))
    parser.add_argument("--port", type=int, help="client port (cluster: of node 1) "
                        "[KAFKA_PORT=9092, KAFKA_CLUSTER_PORT=9192]")
    parser.add_argument("--data-dir", help="[KAFKA_DATA_DIR, KAFKA_CLUSTER_DIR]")
    parser.add_argument("--heap", default=os.environ.get("KAFKA_HEAP"),
                        help=f"JVM heap per node [KAFKA_HEAP=1g; cluster {CLUSTER_HEAP}]")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for readiness")
    args = parser.parse_args(argv)
    try:
        if args.command == "cluster":
            return _cluster_command(args)
        if args.action is not None:
            parser.error(f"'{args.command}' takes no further arguments (did you mean 'cluster'?)")
        port = args.port or int(os.environ.get("KAFKA_PORT", "9092"))
        data_dir = Path(args.data_dir or os.environ.get("KAFKA_DATA_DIR")
                        or HERE / "var" / args.version)
        broker = Broker(args.version, port, data_dir.resolve(), args.heap or "1g")
        if args.command == "start":
            broker.start(args.wait)
        elif args.command == "stop":
            broker.stop()
        elif args.command == "restart":
            broker.stop()
            broker.start(args.wait)
        elif args.command == "reset":
            broker.reset()
        elif args.command == "fetch":
            broker.fetch()
        else:
            state = broker.status()
            print(f"kafkactl: {state}")
            return 0 if state.startswith("running") or state.startswith("a broker") else 1
    except BrokerError as exc:
        print(f"kafkactl: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _cluster_command(args: argparse.Namespace) -> int:
    actions = ("start", "stop", "status", "restart", "reset", "kill")
    if args.action not in actions:
        raise BrokerError(f"cluster needs an action, one of {', '.join(actions)}; "
                          f"got {args.action!r}")
    if args.action == "kill" and args.node is None:
        raise BrokerError("cluster kill needs the node to kill (1..nodes)")
    if args.action == "reset" and args.node is not None:
        raise BrokerError("cluster reset wipes every node; it takes no node")
    port = args.port or int(os.environ.get("KAFKA_CLUSTER_PORT", "9192"))
    data_dir = Path(args.data_dir or os.environ.get("KAFKA_CLUSTER_DIR")
                    or HERE / "var" / f"cluster-{args.version}")
    cluster = Cluster(args.version, port, data_dir.resolve(), args.heap or CLUSTER_HEAP,
                      args.nodes)
    if args.node is not None:
        cluster.node(args.node)  # an unknown node is an error before anything happens
    if args.action == "start":
        cluster.start(args.wait, args.node)
    elif args.action == "stop":
        cluster.stop(args.node)
    elif args.action == "restart":
        cluster.stop(args.node)
        cluster.start(args.wait, args.node)
    elif args.action == "kill":
        cluster.kill(args.node)
    elif args.action == "reset":
        cluster.reset()
    else:
        print(cluster.status_text(args.node))
        return 0 if cluster.running(args.node) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
