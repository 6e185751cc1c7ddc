"""The control API on a real aiohttp server: any body, any query, any path id answers a 4xx
naming the problem (or a success), never a 500."""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from senders.client import HttpClient
from senders.ssrf import SsrfPolicy
from streams.api.control import ControlPlane
from streams.api.routes import control_app
from streams.api.directory import Directory
from streams.config.settings import ApiConfig, KafkaConfig, Secret
from streams.kafka.registry import StaticView
from streams.kafka.topics import Topics
from tests.streams.api.test_doors import MemoryStore

from .conftest import TRIED
from .strategies import dumps, json_values, mutated

pytestmark = pytest.mark.fuzz

TOKEN = "fuzz-token-0123456789abcdef"
GOOD = {"url": "https://hooks.example.com/receive.php", "events": ["open", "click"],
        "database": "news", "encoding": "json-batch", "batch": {"max_events": 10,
                                                                 "max_wait_ms": 100},
        "rate_per_s": 5, "max_in_flight": 2, "timeout_s": 3, "fields": ["firstname"]}


class Api:
    """A real aiohttp server with the control app over an in-memory loop store, driven from a
    private event loop so hypothesis can call it synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        control = ControlPlane(MemoryStore(), HttpClient(SsrfPolicy()), KafkaConfig(),  # type: ignore[arg-type]
                               Topics(KafkaConfig()))
        directory = Directory(ApiConfig(tokens=(Secret(TOKEN),)), StaticView(), None)
        self.server = TestServer(control_app(control, directory, lambda: True),
                                 host="127.0.0.1", port=0)
        await self.server.start_server()
        self.session = ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
        created = await self._call("POST", "/loops", orjson.dumps(GOOD))
        assert created[0] == 201, created
        self.loop_id = created[1]["id"]

    async def _call(self, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        async with self.session.request(method, str(self.server.make_url(path)),
                                        data=body) as resp:
            raw = await resp.read()
            return resp.status, orjson.loads(raw) if raw else None

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        return self.loop.run_until_complete(self._call(method, path, body))

    def close(self) -> None:
        async def stop() -> None:
            await self.session.close()
            await self.server.close()
        self.loop.run_until_complete(stop())
        self.loop.close()


@pytest.fixture(scope="module")
def api() -> Any:
    server = Api()
    yield server
    server.close()


def _answer_is_sound(target: str, status: int, body: Any) -> None:
    TRIED[target] += 1
    assert status < 500, (status, body)
    if status >= 400:
        assert set(body) == {"error", "field"} and body["error"], body
        # a field name, quoted in the message when it is not a plain word (even "")
        assert body["field"] is None or isinstance(body["field"], str), body


bodies = st.one_of(
    json_values.map(dumps),
    mutated(GOOD).map(dumps),
    st.binary(max_size=200),
)


@given(bodies)
def test_create(api: Api, body: bytes) -> None:
    status, answer = api.call("POST", "/loops", body)
    _answer_is_sound("POST /loops", status, answer)
    assert status in (201, 400), (status, answer)


@given(bodies)
def test_change(api: Api, body: bytes) -> None:
    status, answer = api.call("PATCH", f"/loops/{api.loop_id}", body)
    _answer_is_sound("PATCH /loops/{id}", status, answer)
    assert status in (200, 400), (status, answer)


@given(st.dictionaries(st.sampled_from(["database", "collection", "event", "evnet", "limit"]),
                       st.text(max_size=300), max_size=3))
def test_list_filters(api: Api, query: dict[str, str]) -> None:
    from urllib.parse import urlencode

    status, answer = api.call("GET", "/loops?" + urlencode(query))
    _answer_is_sound("GET /loops?…", status, answer)


@given(st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and s not in (".", "..")),
       st.sampled_from(["GET", "DELETE"]))
def test_any_loop_id(api: Api, loop_id: str, method: str) -> None:
    from urllib.parse import quote

    status, answer = api.call(method, f"/loops/{quote(loop_id, safe='')}")
    _answer_is_sound(f"{method} /loops/{{id}}", status, answer)


@given(bodies)
def test_rotate(api: Api, body: bytes) -> None:
    status, answer = api.call("POST", f"/loops/{api.loop_id}/secret/rotate", body)
    _answer_is_sound("POST /loops/{id}/secret/rotate", status, answer)
