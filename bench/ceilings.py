"""The limits a scenario is compared with, measured in the same run on the same receiver/topic.

- HTTP: a bare aiohttp client loop (uvloop, like the sender) POSTing a real enriched payload,
  signed with Standard Webhooks headers, ``concurrency`` requests in flight, one process per
  sender process. What one Python process can push through HTTP when it does nothing else.
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
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["HttpCeiling", "KafkaCeiling", "http_ceiling", "kafka_ceiling"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HttpCeiling:
    """Requests/s of ``processes`` bare client processes together (each ``concurrency`` in
    flight); ``errors`` counts non-2xx answers and exceptions."""

    requests: int
    seconds: float
    per_s: float
    processes: int
    concurrency: int
    errors: int


@dataclass(frozen=True)
class KafkaCeiling:
    """Records/s one bare consumer reads: raw, and with a JSON parse per record."""

    records: int
    per_s: float
    parse_per_s: float


def http_ceiling(url: str, body: bytes, requests: int, concurrency: int, processes: int = 1,
                 timeout_s: float = 300.0) -> HttpCeiling:
    """Run ``processes`` bare POST loops in parallel, ``requests`` in all."""
    body_file = ROOT / "var" / "bench" / f"ceiling-body-{uuid.uuid4().hex[:8]}.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(body)
    try:
        share = max(1, requests // processes)
        procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.ceilings", "http", "--url", url, "--body", str(body_file),
             "--requests", str(share), "--concurrency", str(concurrency)],
            cwd=ROOT, stdout=subprocess.PIPE) for _ in range(processes)]
        results = [_json_result(p, timeout_s) for p in procs]
    finally:
        body_file.unlink(missing_ok=True)
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    total = sum(r["requests"] for r in results)
    return HttpCeiling(total, end - start, total / max(end - start, 1e-9), processes, concurrency,
                       sum(r["errors"] for r in results))


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

        start = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = time.time()
    return {"requests": requests, "start": start, "end": end, "errors": errors,
            "per_s": requests / max(end - start, 1e-9)}


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
    h = sub.add_parser("http", help="bare aiohttp POST loop")
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

        result = uvloop.run(_post_loop(args.url, args.body.read_bytes(), args.requests,
                                       args.concurrency))
    else:
        topics = args.topics.split(",")
        result = {"records": args.records,
                  "per_s": _consume(args.bootstrap, topics, args.records, parse=False),
                  "parse_per_s": _consume(args.bootstrap, topics, args.records, parse=True)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
