"""Build and run the aiohttp application of a worker or sender process."""
from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["HttpServer", "health_app"]

log = logging.getLogger(__name__)

Ready = Callable[[], bool]


def health_app(ready: Ready, registry: CollectorRegistry = REGISTRY) -> web.Application:
    """``/healthz`` (alive), ``/readyz`` (200 once ``ready()``), ``/metrics`` (Prometheus)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


class HttpServer:
    """An aiohttp app on ``bind:port`` (port 0: a free one, logged and kept in ``port``)."""

    def __init__(self, app: web.Application, bind: str, port: int, name: str) -> None:
        self.app = app
        self.bind = bind
        self.port = port
        self.name = name
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.port)
        await site.start()
        server: Any = site._server  # an asyncio.Server once started (port 0: learn the port)
        if server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]
        log.warning("%s listening on http://%s:%d", self.name, self.bind, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_forever(server: HttpServer, forever: Callable[[], Awaitable[None]],
                        retry_s: float = 0.0) -> None:
    """Serve while ``forever()`` runs; a port in use is tried again for ``retry_s`` seconds
    (a standby taking over from the process that still holds it)."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            await server.start()
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
            await server.stop()
            await asyncio.sleep(0.05)
    try:
        await forever()
    finally:
        await server.stop()
