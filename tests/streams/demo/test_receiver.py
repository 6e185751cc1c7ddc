"""The demo receiver prints one line per call; replayed calls are marked REPLAY <id>."""
from __future__ import annotations

import io

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.demo.receiver import make_receiver_app


@pytest.mark.asyncio
async def test_replayed_calls_are_marked() -> None:
    out = io.StringIO()
    async with TestClient(TestServer(make_receiver_app(out))) as client:
        body = b'{"type": "open", "email": "anna@example.org"}'
        headers = {"Content-Type": "application/json", "webhook-id": "w1"}
        assert (await client.post("/hooks/x", data=body, headers=headers)).status == 204
        assert (await client.post("/hooks/x", data=body, headers={
            **headers, "webhook-replay": "rp_1"})).status == 204
    live, replayed = out.getvalue().splitlines()
    assert "REPLAY" not in live and "open    anna@example.org  webhook-id=w1" in live
    assert "REPLAY rp_1 open    anna@example.org" in replayed
