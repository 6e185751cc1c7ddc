"""Real aiohttp servers on 127.0.0.1 for the senders' tests, and a loopback-allowing client."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from senders.client import HttpClient
from senders.curl import CurlClient
from senders.ssrf import SsrfPolicy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: tests that need loopback allowlist it explicitly, as production operators would.
LOOPBACK = ("127.0.0.0/8",)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """A real aiohttp server; ``handler`` answers (default 204), every request is recorded and
    concurrency is counted."""

    handler: Handler | None = None
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0
    runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.handler is None:
                return web.Response(status=204)
            return await self.handler(request)
        finally:
            self.in_flight -= 1


ServerFactory = Callable[..., Awaitable[LocalServer]]


@pytest.fixture
async def server_factory() -> AsyncIterator[ServerFactory]:
    made: list[LocalServer] = []

    async def make(handler: Handler | None = None) -> LocalServer:
        server = LocalServer(handler)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server._handle)
        server.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await server.runner.setup()
        site = web.TCPSite(server.runner, "127.0.0.1", 0)
        await site.start()
        server.port = server.runner.addresses[0][1]
        made.append(server)
        return server

    yield make
    for server in made:
        assert server.runner is not None
        await server.runner.cleanup()


@pytest.fixture
async def server(server_factory: ServerFactory) -> LocalServer:
    return await server_factory()


#: the two POST clients: aiohttp (ownership GETs, the test tool) and libcurl (deliveries).
CLIENTS: dict[str, type[HttpClient] | type[CurlClient]] = {"aiohttp": HttpClient,
                                                            "curl": CurlClient}
PostClient = HttpClient | CurlClient


@pytest.fixture(params=sorted(CLIENTS))
def client_class(request: pytest.FixtureRequest) -> type[HttpClient] | type[CurlClient]:
    """Each POST client in turn: every POST promise is tested against both."""
    cls: type[HttpClient] | type[CurlClient] = CLIENTS[request.param]
    return cls


@pytest.fixture
async def client(client_class: type[PostClient]) -> AsyncIterator[PostClient]:
    async with client_class(SsrfPolicy(LOOPBACK)) as c:
        yield c


@pytest.fixture
async def http_client() -> AsyncIterator[HttpClient]:
    """The aiohttp client alone (GET, for ownership validation)."""
    async with HttpClient(SsrfPolicy(LOOPBACK)) as c:
        yield c


async def raw_server(answer: bytes | None) -> tuple[asyncio.AbstractServer, int]:
    """A TCP server that reads a request and writes ``answer`` verbatim (None: just closes)."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]
