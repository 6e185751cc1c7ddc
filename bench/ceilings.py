"""The limits a scenario is compared with, measured in the same run on the same receiver/topic.

- HTTP: a bare client loop (uvloop, like the sender) POSTing a real enriched payload, signed
  with Standard Webhooks headers, ``concurrency`` requests in flight, one process per sender
  process: what one Python process can push through HTTP when it does nothing else. Three
  clients (``HTTP_CLIENTS``): ``aiohttp`` (the original ceiling), ``curl`` (pycurl driving
  libcurl's multi interface from asyncio, the sender's client) and ``reqwest`` (pyreqwest,
  Rust). Each child also reports its CPU seconds (user + system, all its threads), so the
  ceiling gives CPU µs per request as well as requests/s.
- Kafka: a bare confluent-kafka consumer reading the scenario's input topics from the start
  with ``consume(1000)``, once without and once with an ``orjson.loads`` per record.

Each runs as its own process (``python -m bench.ceilings http|kafka ...``) printing one JSON
object, so the benchmark's own process stays out of the measurement.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["HTTP_CLIENTS", "HttpCeiling", "KafkaCeiling", "http_ceiling", "kafka_ceiling"]

ROOT = Path(__file__).resolve().parents[1]
#: the bare clients a ceiling can be measured with.
HTTP_CLIENTS = ("aiohttp", "curl", "reqwest")


@dataclass(frozen=True)
class HttpCeiling:
    """Requests/s of ``processes`` bare client processes together (each ``concurrency`` in
    flight); ``errors`` counts non-2xx answers and exceptions; ``cpu_us_per_request`` is the
    clients' CPU (all threads) per request."""

    requests: int
    seconds: float
    per_s: float
    processes: int
    concurrency: int
    errors: int
    client: str = "aiohttp"
    cpu_us_per_request: float = float("nan")


@dataclass(frozen=True)
class KafkaCeiling:
    """Records/s one bare consumer reads: raw, and with a JSON parse per record."""

    records: int
    per_s: float
    parse_per_s: float


def http_ceiling(url: str, body: bytes, requests: int, concurrency: int, processes: int = 1,
                 timeout_s: float = 300.0, client: str = "aiohttp") -> HttpCeiling:
    """Run ``processes`` bare POST loops of ``client`` in parallel, ``requests`` in all."""
    body_file = ROOT / "var" / "bench" / f"ceiling-body-{uuid.uuid4().hex[:8]}.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(body)
    try:
        share = max(1, requests // processes)
        procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.ceilings", "http", "--url", url, "--body", str(body_file),
             "--requests", str(share), "--concurrency", str(concurrency), "--client", client],
            cwd=ROOT, stdout=subprocess.PIPE) for _ in range(processes)]
        results = [_json_result(p, timeout_s) for p in procs]
    finally:
        body_file.unlink(missing_ok=True)
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    total = sum(r["requests"] for r in results)
    cpu_s = sum(r.get("cpu_s", float("nan")) for r in results)
    return HttpCeiling(total, end - start, total / max(end - start, 1e-9), processes, concurrency,
                       sum(r["errors"] for r in results), client,
                       cpu_s / max(total, 1) * 1e6)


def kafka_ceiling(bootstrap: str, topics: Sequence[str], records: int,
                  timeout_s: float = 300.0) -> KafkaCeiling:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ceilings", "kafka", "--bootstrap", bootstrap,
         "--topics", ",".join(topics), "--records", str(records)],
        cwd=ROOT, stdout=subprocess.PIPE)
    r = _json_result(proc, timeout_s)
    return KafkaCeiling(r["records"], r["per_s"], r["parse_per_s"])


def _json_result(proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"ceiling process did not finish within {timeout_s:g}s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"ceiling process failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


# -- the child processes -----------------------------------------------------------------------
async def _post_loop(url: str, body: bytes, requests: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    from senders.signing import generate_secret, sign

    key = base64.b64decode(generate_secret().removeprefix("whsec_"))
    remaining = requests
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def warm_up() -> None:
            async with session.post(url, data=body, headers={"webhook-id": "warm-up"}) as resp:
                await resp.read()

        # one warm-up round opens the connections outside the timed part
        await asyncio.gather(*(warm_up() for _ in range(concurrency)))

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                webhook_id = f"ceiling-{remaining}"
                now = int(time.time())
                headers = {"webhook-id": webhook_id, "webhook-timestamp": str(now),
                           "webhook-signature": sign(key, webhook_id, now, body),
                           "content-type": "application/json"}
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status >= 300:
                            errors += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1

        start, cpu = time.time(), _cpu_s()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end, cpu = time.time(), _cpu_s() - cpu
    return {"requests": requests, "start": start, "end": end, "errors": errors, "cpu_s": cpu,
            "per_s": requests / max(end - start, 1e-9)}


class _Quota:
    """Request numbers for the timed workers (``remaining``-1 down to 0); a warm-up worker
    gets -1 once and is done."""

    def __init__(self, requests: int) -> None:
        self.remaining = requests
        self.errors = 0

    def take(self, warm_up: bool, taken: int) -> int | None:
        if warm_up:
            return -1 if taken == 0 else None
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.remaining


def _signed(key: bytes, body: bytes, n: int) -> dict[str, str]:
    from senders.signing import sign

    webhook_id = f"ceiling-{n}"
    now = int(time.time())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(now),
            "webhook-signature": sign(key, webhook_id, now, body),
            "content-type": "application/json"}


async def _curl_loop(url: str, body: bytes, requests: int, concurrency: int) -> dict[str, Any]:
    """pycurl's multi interface driven by the event loop's socket and timer callbacks: the
    least a libcurl-based client can do per request (no pooling of handles beyond one per
    in-flight slot, no SSRF callback, no answer snippet)."""
    import pycurl

    from senders.signing import generate_secret

    key = base64.b64decode(generate_secret().removeprefix("whsec_"))
    loop = asyncio.get_running_loop()
    multi = pycurl.CurlMulti()
    watched: dict[int, int] = {}
    timer: list[asyncio.TimerHandle | asyncio.Handle] = []
    waiters: dict[pycurl.Curl, asyncio.Future[int]] = {}

    def act(fd: int, events: int) -> None:
        multi.socket_action(fd, events)
        while True:
            queued, ok, failed = multi.info_read()
            for c in ok:
                multi.remove_handle(c)
                waiters.pop(c).set_result(0)
            for c, code, _ in failed:
                multi.remove_handle(c)
                waiters.pop(c).set_result(code)
            if not queued:
                break

    def on_socket(what: int, fd: int, _multi: Any, _data: Any) -> None:
        before = watched.pop(fd, 0)
        now = 0 if what == pycurl.POLL_REMOVE else what & 3
        if before & 1 and not now & 1:
            loop.remove_reader(fd)
        if before & 2 and not now & 2:
            loop.remove_writer(fd)
        if now & 1 and not before & 1:
            loop.add_reader(fd, act, fd, pycurl.CSELECT_IN)
        if now & 2 and not before & 2:
            loop.add_writer(fd, act, fd, pycurl.CSELECT_OUT)
        if now:
            watched[fd] = now

    def on_timer(ms: int) -> None:
        while timer:
            timer.pop().cancel()
        if ms >= 0:
            timer.append(loop.call_later(ms / 1000, act, pycurl.SOCKET_TIMEOUT, 0))

    multi.setopt(pycurl.M_SOCKETFUNCTION, on_socket)
    multi.setopt(pycurl.M_TIMERFUNCTION, on_timer)
    quota = _Quota(requests)

    async def worker(warm_up: bool) -> None:
        c = pycurl.Curl()
        c.setopt(pycurl.URL, url)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.TIMEOUT_MS, 30_000)
        c.setopt(pycurl.WRITEFUNCTION, len)
        taken = 0
        while (n := quota.take(warm_up, taken)) is not None:
            taken += 1
            headers = _signed(key, body, n)
            c.setopt(pycurl.POSTFIELDS, body)
            c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()] + ["Expect:"])
            waiters[c] = loop.create_future()
            multi.add_handle(c)
            code = await waiters[c]
            if n >= 0 and (code or c.getinfo(pycurl.RESPONSE_CODE) >= 300):
                quota.errors += 1
        c.close()

    await asyncio.gather(*(worker(True) for _ in range(concurrency)))  # connections first
    start, cpu = time.time(), _cpu_s()
    await asyncio.gather(*(worker(False) for _ in range(concurrency)))
    end, cpu = time.time(), _cpu_s() - cpu
    multi.close()
    return {"requests": requests, "start": start, "end": end, "errors": quota.errors, "cpu_s": cpu,
            "per_s": requests / max(end - start, 1e-9)}


async def _reqwest_loop(url: str, body: bytes, requests: int, concurrency: int) -> dict[str, Any]:
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder

    from senders.signing import generate_secret

    key = base64.b64decode(generate_secret().removeprefix("whsec_"))
    quota = _Quota(requests)
    async with ClientBuilder().max_connections(concurrency).timeout(
            timedelta(seconds=30)).error_for_status(False).build() as client:
        async def worker(warm_up: bool) -> None:
            taken = 0
            while (n := quota.take(warm_up, taken)) is not None:
                taken += 1
                try:
                    response = await (client.post(url).headers(_signed(key, body, n))
                                      .body_bytes(body).build().send())
                    await response.bytes()
                    if n >= 0 and response.status >= 300:
                        quota.errors += 1
                except Exception:
                    quota.errors += 1

        await asyncio.gather(*(worker(True) for _ in range(concurrency)))
        start, cpu = time.time(), _cpu_s()
        await asyncio.gather(*(worker(False) for _ in range(concurrency)))
        end, cpu = time.time(), _cpu_s() - cpu
    return {"requests": requests, "start": start, "end": end, "errors": quota.errors, "cpu_s": cpu,
            "per_s": requests / max(end - start, 1e-9)}


def _cpu_s() -> float:
    """CPU seconds of this process, every thread (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _consume(bootstrap: str, topics: list[str], records: int, parse: bool) -> float:
    import orjson
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 20, "queued.max.messages.kbytes": 262144})
    consumer.subscribe(topics)
    seen = 0
    start: float | None = None
    idle_since = time.monotonic()
    try:
        while seen < records:
            batch = consumer.consume(1000, 0.5)
            if not batch:
                if time.monotonic() - idle_since > 30:
                    break
                continue
            idle_since = time.monotonic()
            if start is None:
                start = time.time()
            for msg in batch:
                if msg.error() is None:
                    seen += 1
                    value = msg.value()
                    if parse and value is not None:
                        orjson.loads(value)
    finally:
        consumer.close()
    if start is None:
        return 0.0
    return seen / max(time.time() - start, 1e-9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceilings")
    sub = parser.add_subparsers(dest="kind", required=True)
    h = sub.add_parser("http", help="bare POST loop")
    h.add_argument("--client", choices=HTTP_CLIENTS, default="aiohttp")
    h.add_argument("--url", required=True)
    h.add_argument("--body", type=Path, required=True)
    h.add_argument("--requests", type=int, default=20000)
    h.add_argument("--concurrency", type=int, default=128)
    k = sub.add_parser("kafka", help="bare confluent-kafka consume")
    k.add_argument("--bootstrap", required=True)
    k.add_argument("--topics", required=True)
    k.add_argument("--records", type=int, required=True)
    args = parser.parse_args(argv)
    if args.kind == "http":
        import uvloop

        loops = {"aiohttp": _post_loop, "curl": _curl_loop, "reqwest": _reqwest_loop}
        result = uvloop.run(loops[args.client](args.url, args.body.read_bytes(), args.requests,
                                               args.concurrency))
    else:
        topics = args.topics.split(",")
        result = {"records": args.records,
                  "per_s": _consume(args.bootstrap, topics, args.records, parse=False),
                  "parse_per_s": _consume(args.bootstrap, topics, args.records, parse=True)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
