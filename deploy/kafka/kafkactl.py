#!/usr/bin/env python3
"""Start, stop and report on a single-node KRaft Apache Kafka broker for development and tests.

Standard library only, so it runs before the project's virtualenv exists.

    python3 deploy/kafka/kafkactl.py start     # fetch jars (once), format (once), start, wait
    python3 deploy/kafka/kafkactl.py status    # exit 0 when a broker answers metadata requests
    python3 deploy/kafka/kafkactl.py stop      # SIGTERM, then SIGKILL after a grace period
    python3 deploy/kafka/kafkactl.py reset     # stop and delete the data directory

Every command is idempotent: starting a running broker or stopping a stopped one is a no-op
that says so. Settings come from flags or the environment:

    KAFKA_VERSION      3.9 (default) or 4 (Kafka 4.1.x)
    KAFKA_PORT         client port on 127.0.0.1 (default 9092); the controller uses port + 1
    KAFKA_DATA_DIR     storage, pid file and broker.log (default deploy/kafka/var/<version>)
    KAFKA_HEAP         JVM heap (default 1g)
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = {"3.9": ("3.9.1", "kafka39"), "4": ("4.1.1", "kafka4")}
HOST = "127.0.0.1"


class BrokerError(Exception):
    """The broker could not be brought into the requested state."""


def metadata_ready(port: int, timeout_s: float = 2.0) -> bool:
    """True when a broker on HOST:port answers a Metadata v4 request naming >= 1 broker.

    Metadata v4 is the oldest version both Kafka 3.9 and 4.x accept (KIP-896). An
    empty topic list asks for brokers only. A KRaft broker that is up but not yet
    registered answers with no brokers or no controller, which counts as not ready.
    """
    request = struct.pack(">hhih", 3, 4, 1, len(b"kafkactl")) + b"kafkactl"
    request += struct.pack(">i", 0) + b"\x00"  # topics: [], allow_auto_topic_creation: false
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
            body = _recv_exactly(sock, size)
    except (OSError, struct.error):
        return False
    # correlation id, throttle_time_ms, brokers[]
    _corr, _throttle, n_brokers = struct.unpack_from(">iii", body, 0)
    if n_brokers < 1:
        return False
    pos = 12
    for _ in range(n_brokers):
        pos += 4
        (hlen,) = struct.unpack_from(">h", body, pos)
        pos += 2 + hlen + 4
        (rlen,) = struct.unpack_from(">h", body, pos)
        pos += 2 + max(rlen, 0)
    (clen,) = struct.unpack_from(">h", body, pos)
    pos += 2 + max(clen, 0)
    (controller_id,) = struct.unpack_from(">i", body, pos)
    return controller_id >= 0


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


class Broker:
    """One local broker: its version, ports and data directory."""

    def __init__(self, version: str, port: int, data_dir: Path, heap: str) -> None:
        if version not in VERSIONS:
            raise BrokerError(f"KAFKA_VERSION must be one of {sorted(VERSIONS)}, got {version!r}")
        self.version, self.profile = VERSIONS[version]
        self.port = port
        self.controller_port = port + 1
        self.data_dir = data_dir
        self.heap = heap
        self.libs = HERE / "lib" / self.version
        self.pid_file = data_dir / "broker.pid"
        self.log_file = data_dir / "broker.log"
        self.config_file = data_dir / "server.properties"

    # -- state ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is a Java process."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"kafka.Kafka" in cmdline else None

    def status(self) -> str:
        pid = self.pid()
        ready = metadata_ready(self.port)
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
        print(f"kafkactl: fetching Apache Kafka {self.version} jars with Maven (once)...", flush=True)
        cmd = ["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "-P", self.profile,
               "dependency:copy-dependencies"]
        if subprocess.call(cmd) != 0 or not any(self.libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Maven could not fetch Kafka {self.version}: {' '.join(cmd)}")

    def start(self, wait_s: float) -> None:
        if self.pid() and metadata_ready(self.port):
            print(f"kafkactl: already {self.status()}")
            return
        if not self.pid() and metadata_ready(self.port):
            print(f"kafkactl: {self.status()}; using it")
            return
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
        self._wait(wait_s)
        print(f"kafkactl: {self.status()} (log: {self.log_file})")

    def stop(self, grace_s: float = 20.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            print("kafkactl: already stopped")
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        print(f"kafkactl: stopped (pid {pid})")

    def reset(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        print(f"kafkactl: removed {self.data_dir}")

    # -- steps ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = (HERE / "server.properties.in").read_text()
        for key, value in {"PORT": self.port, "CONTROLLER_PORT": self.controller_port,
                           "DATA_DIR": self.data_dir}.items():
            text = text.replace(f"@{key}@", str(value))
        self.config_file.write_text(text)

    def _cluster_id(self) -> str:
        """The id the storage was formatted with, else a new random one (16 bytes, base64url)."""
        meta = self.data_dir / "logs" / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        if self.version.startswith("3."):
            logging_opt = f"-Dlog4j.configuration=file:{HERE / 'log4j.properties'}"
        else:
            logging_opt = f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}"
        return ["java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
                "-Djava.awt.headless=true", logging_opt, "-cp", f"{self.libs}/*", main, *args]

    def _format(self) -> None:
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", self._cluster_id(),
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

    def _wait(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        proc = getattr(self, "_proc", None)
        while time.monotonic() < deadline:
            if metadata_ready(self.port):
                return
            exited = proc.poll() is not None if proc is not None else self.pid() is None
            if exited:
                raise BrokerError(f"the broker exited during start-up; last log lines:\n{self._tail()}")
            time.sleep(0.25)
        raise BrokerError(f"no metadata answer within {wait_s:.0f}s; last log lines:\n{self._tail()}")

    def _tail(self, n: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "restart", "reset", "fetch"])
    parser.add_argument("--version", default=os.environ.get("KAFKA_VERSION", "3.9"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("KAFKA_PORT", "9092")))
    parser.add_argument("--data-dir", default=os.environ.get("KAFKA_DATA_DIR"))
    parser.add_argument("--heap", default=os.environ.get("KAFKA_HEAP", "1g"))
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for readiness")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir) if args.data_dir else HERE / "var" / args.version
    try:
        broker = Broker(args.version, args.port, data_dir.resolve(), args.heap)
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


if __name__ == "__main__":
    sys.exit(main())
