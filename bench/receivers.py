"""Receivers the pipeline POSTs to, each its own process on 127.0.0.1.

- :class:`NginxReceiver` — nginx answering 204 (C, one worker process): the ceiling, and the
  receiver of every single-event scenario. Its access log holds ``<receipt time> <webhook-id>``
  per call, buffered; webhook-id is the delivery id, which the benchmark maps back to its event.
  With nginx's echo module: ``/slow/...`` answers after ``delay_ms`` (non-blocking), and
  ``/body/...`` reads the body and logs its ``event_id`` instead (for a client that sends no
  per-call header: Kafka Connect's HTTP sink).
- :class:`AiohttpReceiver` — Python (aiohttp + uvloop): reads each body and records the
  ``event_id`` of the JSON object, or of every item of a json-batch array, so batches can be
  checked event by event. Optionally answers after ``delay_ms``. It is itself CPU-bound at
  roughly 10k calls/s per process, so it is used only where nginx cannot see the events.
- :class:`Tarpit` — accepts connections, reads, never answers: a loop that hangs until the
  sender's timeout.

Run a Python receiver by hand: ``python -m bench.receivers aiohttp --port 8100 --out a.log``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import orjson

from .measure import Arrivals

__all__ = ["BODY_PATH", "AiohttpReceiver", "ArrivalLog", "NginxReceiver", "ReceiverProcess",
           "Tarpit", "echo_module", "free_port", "nginx_binary"]

ROOT = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf.in")
NGINX_MODULES = Path("/usr/lib/nginx/modules")
#: nginx's path that logs the body's event_id (needs the echo module: ``has_body``)
BODY_PATH = "/body/hook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0, proc: subprocess.Popen[bytes] | None = None
                  ) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"receiver exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g}s")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def echo_module() -> Path | None:
    """nginx's echo module (Debian: libnginx-mod-http-echo, part of nginx-light), if any."""
    path = NGINX_MODULES / "ngx_http_echo_module.so"
    return path if path.exists() else None


class ArrivalLog:
    """Reads ``<unix time> <id>`` lines as a receiver appends them (partial lines wait)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.arrivals = Arrivals()
        self._pos = 0
        self._rest = b""

    def read(self) -> Arrivals:
        """Everything written so far (incremental: each call reads only what is new)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._pos)
                data = fh.read()
        except FileNotFoundError:
            return self.arrivals
        self._pos += len(data)
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        add = self.arrivals.add
        for line in data[:cut].split(b"\n"):
            t, _, ident = line.partition(b" ")
            if ident:
                add(float(t), ident.decode("ascii", "replace"))
        return self.arrivals


class ReceiverProcess:
    """A receiver child process with its arrival log."""

    kind: Literal["nginx", "aiohttp", "tarpit"]
    #: what the log's second column is: the webhook-id (nginx) or the event id (aiohttp)
    ids: Literal["webhook", "event", "none"]

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log = ArrivalLog(directory / "arrivals.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = open(directory / f"{self.kind}.out", "wb")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _spawn(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=self._stderr, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for_port(self.port, proc=self.proc)

    def arrivals(self) -> Arrivals:
        return self.log.read()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop gracefully (the receiver flushes its log), then read what is left."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._stderr.close()
        self.log.read()


class NginxReceiver(ReceiverProcess):
    """nginx: ``/...`` answers 204 at once and logs the webhook-id; with the echo module,
    ``/slow/...`` answers after ``delay_ms`` and ``/body/...`` (:data:`BODY_PATH`) answers 204
    at once and logs the body's ``event_id``."""

    kind = "nginx"
    ids = "webhook"

    def __init__(self, directory: Path, delay_ms: float = 20.0, port: int | None = None) -> None:
        super().__init__(directory, port)
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed: apt-get install -y nginx-light "
                               "(or run `make bench`, which does)")
        echo = echo_module()
        self.has_slow = self.has_body = echo is not None
        slow = body = ""
        if echo is not None:
            slow = (f"        location /slow/ {{\n            echo_sleep {delay_ms / 1000:.3f};\n"
                    f"            echo_status 204;\n        }}")
            # the body is read into memory (client_body_buffer_size), so $request_body holds it
            # when the line is logged; same buffer settings as the server's log: one file
            body = ("        location /body/ {\n            echo_read_request_body;\n"
                    "            echo_status 204;\n            access_log "
                    f"{self.log.path.resolve()} bench_body buffer=256k flush=500ms;\n        }}")
        text = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(
            load_modules=f"load_module {echo};" if echo else "", dir=str(directory.resolve()),
            port=str(self.port), slow_location=slow, body_location=body)
        conf = directory / "nginx.conf"
        conf.write_text(text)
        self._spawn([binary, "-c", str(conf.resolve()), "-p", str(directory.resolve())])

    def stop(self, sig: int = signal.SIGQUIT) -> None:
        super().stop(sig)  # SIGQUIT: graceful, flushes the buffered access log


class AiohttpReceiver(ReceiverProcess):
    """The Python receiver (records event ids, also inside json-batch arrays)."""

    kind = "aiohttp"
    ids = "event"

    def __init__(self, directory: Path, delay_ms: float = 0.0, port: int | None = None) -> None:
        super().__init__(directory, port)
        self.delay_ms = delay_ms
        self._spawn([sys.executable, "-m", "bench.receivers", "aiohttp", "--port", str(self.port),
                     "--out", str(self.log.path), "--delay-ms", str(delay_ms)])


class Tarpit(ReceiverProcess):
    """Accepts, reads, never answers."""

    kind = "tarpit"
    ids = "none"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(directory, port)
        self._spawn([sys.executable, "-m", "bench.receivers", "tarpit", "--port", str(self.port)])


# -- the Python receivers' own process ---------------------------------------------------------
async def _serve_aiohttp(port: int, out: Path, delay_s: float) -> None:
    from aiohttp import web

    lines: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        t = b"%.6f " % time.time()
        body = await request.read()
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, list):
            for item in doc:
                lines.append(t + str(item.get("event_id", "?")).encode() + b"\n")
        elif isinstance(doc, dict):
            lines.append(t + str(doc.get("event_id", "?")).encode() + b"\n")
        else:
            lines.append(t + request.headers.get("webhook-id", "?").encode() + b"\n")
        if delay_s:
            await asyncio.sleep(delay_s)
        return web.Response(status=204)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(out, "ab") as fh:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
            if lines:
                batch, lines[:] = lines[:], []
                fh.write(b"".join(batch))
                fh.flush()
        await runner.cleanup()
        fh.write(b"".join(lines))


class _Hold(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:  # read and forget; never answer
        pass


async def _serve_tarpit(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Hold, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receivers")
    sub = parser.add_subparsers(dest="kind", required=True)
    a = sub.add_parser("aiohttp", help="record event ids and arrival times; answer 204")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--delay-ms", type=float, default=0.0)
    t = sub.add_parser("tarpit", help="accept and never answer")
    t.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvloop

    if args.kind == "aiohttp":
        uvloop.run(_serve_aiohttp(args.port, args.out, args.delay_ms / 1000))
    else:
        uvloop.run(_serve_tarpit(args.port))


if __name__ == "__main__":
    main()
