"""The sender's HTTP client (either kind) reads at most limits.response_bytes of an answer."""
from __future__ import annotations

from typing import AsyncIterator

import pytest
from aiohttp import web

from streams.config.loading import parse_config
from streams.delivery.main import delivery_client


@pytest.fixture
async def answers() -> AsyncIterator[tuple[str, set[object]]]:
    """A server on 127.0.0.1 answering ``/<n>`` with n bytes; the peers it saw."""
    peers: set[object] = set()

    async def handle(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response(status=200, body=b"a" * int(request.match_info["n"]))

    app = web.Application()
    app.router.add_post("/{n}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", peers
    await runner.cleanup()


@pytest.mark.parametrize("kind", ["curl", "aiohttp"])
async def test_an_answer_longer_than_response_bytes_is_not_read_to_its_end(
        answers: tuple[str, set[object]], kind: str) -> None:
    base, peers = answers
    config = parse_config({"limits": {"response_bytes": 8192}, "sender": {"http_client": kind},
                           "security": {"allow_networks": ["127.0.0.0/8"]}})
    client = delivery_client(config)
    await client.start()
    try:
        for _ in range(3):  # within the limit: read whole, the connection is reused
            response = await client.post(f"{base}/8000", b"", {}, 5)
            assert response.status == 200 and response.body == b"a" * 1024
        assert len(peers) == 1
        peers.clear()
        for _ in range(3):  # over it: reading stops, the connection is dropped, not drained
            response = await client.post(f"{base}/2000000", b"", {}, 5)
            assert response.status == 200 and response.body == b"a" * 1024
        assert len(peers) == 3
    finally:
        await client.close()
