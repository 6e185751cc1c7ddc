"""Measures Dispatcher.deliver() against a real aiohttp receiver in a separate process.

    .venv/bin/python -m tests.senders.throughput [--seconds 10] [--concurrency 256] [--uvloop]
                                                 [--encoding json] [--loops 1]

Not collected by pytest (the file name does not start with ``test_``). The receiver answers
every POST with 204; the sender runs ``concurrency`` tasks that call ``deliver()`` in a loop and
prints requests/s. Use ``--profile`` to print the sender's hottest functions (cProfile).
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import subprocess
import sys
import time

from senders.client import HttpClient
from senders.engine import Dispatcher
from senders.testing import make_loop
from senders.signing import generate_secret
from senders.ssrf import SsrfPolicy

RECEIVER = """
import asyncio, sys
from aiohttp import web
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
async def ok(request):
    await request.read()
    return web.Response(status=204)
async def main():
    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

EVENT = {"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "type": "open",
         "timestamp": "2026-11-26 10:00:00", "time": 1795687200, "recipient": "anna@example.com",
         "email": "anna@example.com", "ip": "203.0.113.9", "useragent": "Mozilla/5.0",
         "fields": {"firstname": "Anna", "city": "Köln"}, "interests": ["golf"],
         "tags": ["newsletter"], "event_id": "e-1"}


async def measure(port: int, seconds: float, concurrency: int, encoding: str, loops: int) -> float:
    secrets = [generate_secret(), generate_secret()]
    settings = [make_loop(id=f"l{i}", url=f"http://127.0.0.1:{port}/hook/{i}", encoding=encoding,
                          secrets=secrets, timeout_s=10, max_in_flight=1000, rate_per_s=100_000)
                for i in range(loops)]
    done = 0
    failed = 0
    async with HttpClient(SsrfPolicy(["127.0.0.0/8"])) as client:
        engine = Dispatcher(client)
        stop = time.monotonic() + seconds

        async def worker(n: int) -> None:
            nonlocal done, failed
            loop = settings[n % loops]
            payloads = [EVENT]
            while time.monotonic() < stop:
                outcome = await engine.deliver(loop, "wh-1", payloads, 1)
                if outcome.kind == "delivered":
                    done += 1
                else:
                    failed += 1

        # warm the pool first so connection setup is not measured
        await asyncio.gather(*(engine.deliver(settings[i % loops], "warm", [EVENT], 1)
                               for i in range(concurrency)))
        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - started
    if failed:
        print(f"{failed} deliveries failed", file=sys.stderr)
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--encoding", default="json", choices=["json", "form", "json-batch"])
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        if args.uvloop:
            import uvloop

            uvloop.install()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        rate = asyncio.run(measure(port, args.seconds, args.concurrency, args.encoding, args.loops))
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print(f"{rate:,.0f} requests/s  (concurrency {args.concurrency}, {args.encoding}, "
              f"{args.loops} loop(s), {'uvloop' if args.uvloop else 'asyncio'}, "
              f"receiver in its own process)")
    finally:
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
