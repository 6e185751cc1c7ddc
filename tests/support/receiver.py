"""A recording HTTP receiver: a real aiohttp server on 127.0.0.1 in its own thread.

Works from sync and async tests alike. Behaviour is programmable per path: a list of
statuses to answer in turn (then ``default_status``), a delay, extra headers, and static files
(for ownership validation).
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
from aiohttp import web

__all__ = ["Call", "Receiver"]


@dataclass
class Call:
    """One request as the receiver saw it."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Behaviour:
    statuses: list[int] = field(default_factory=list)
    default_status: int = 204
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Receiver:
    """Start with ``Receiver().start()``; ``url(path)`` gives the address; ``stop()`` ends it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.files: dict[str, tuple[int, bytes]] = {}
        self.redirects: dict[str, str] = {}
        self.behaviour: dict[str, Behaviour] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        #: callables that raise when something the test depends on died (see Project).
        self.watchdogs: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- control --------------------------------------------------------------------------
    def start(self) -> "Receiver":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def behave(self, path: str, **kwargs: Any) -> None:
        self.behaviour[path] = Behaviour(**kwargs)

    def calls_to(self, path: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path == path]

    def reset(self) -> None:
        """Forget the calls so far (between the runs of one test)."""
        with self._lock:
            self.calls.clear()
            self.max_in_flight = self.in_flight

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout_s: float = 30.0,
                 what: str = "calls", poll_s: float = 0.05) -> list[Call]:
        """Poll until ``predicate(calls)``; fails early when a watched process died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.calls)
            if predicate(snapshot):
                return snapshot
            for check in self.watchdogs:
                check()
            time.sleep(poll_s)
        with self._lock:
            n = len(self.calls)
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; got {n} calls")

    # -- server ---------------------------------------------------------------------------
    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # a short shutdown: handlers that hang on purpose must not hold up stop()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if path in self.redirects:
                raise web.HTTPFound(self.redirects[path])
            if request.method == "GET" and path not in self.behaviour:
                # files are served; any other GET is a 404, like a web server's
                status, content = self.files.get(path, (404, b"Not Found"))
                self._record(request, path, body)
                return web.Response(status=status, body=content)
            behaviour = self.behaviour.get(path, Behaviour())
            with self._lock:
                status = behaviour.statuses.pop(0) if behaviour.statuses else behaviour.default_status
            if behaviour.delay_s:
                await asyncio.sleep(behaviour.delay_s)
            self._record(request, path, body)
            return web.Response(status=status, headers=behaviour.headers, body=behaviour.body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _record(self, request: web.Request, path: str, body: bytes) -> None:
        call = Call(time.time(), request.method, path, dict(request.headers), body)
        with self._lock:
            self.calls.append(call)
