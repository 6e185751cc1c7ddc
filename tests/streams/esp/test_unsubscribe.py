"""One-click unsubscribe (RFC 8058) on a real aiohttp server on 127.0.0.1, with an in-memory
twin of the Kafka output (the end-to-end run on the real broker is in
tests/integration/test_esp.py)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from enrichers.esp import ProfileRef, make_ref, make_unsubscribe_ref
from schemas.validation import parse_raw_event
from streams.api.auth import authorize
from streams.api.directory import Directory
from streams.config.settings import ApiConfig
from streams.kafka.registry import StaticView
from streams.api.esp import EspApi, esp_routes
from streams.config.loading import parse_config
from streams.esp.unsubscribe import OneClick
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics

SECRET = "one-click-test-secret-0123456789"
REF = ProfileRef("news", profile="p7", mailing="m1")


class MemoryOutput:
    """Records what would be produced; acknowledges at once (or never, when ``stalled``)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None]] = []
        self.stalled = False

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             on_done: Callable[[], None] | None = None, headers: Any = None) -> None:
        self.records.append((topic, key, value))
        if on_done is not None and not self.stalled:
            asyncio.get_running_loop().call_soon(on_done)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, MemoryOutput, Topics, OneClick]]:
    config = parse_config({"esp": {
        "ref_secret": SECRET, "unsubscribe": {"rate_per_s": 1, "burst": 5, "timeout_ms": 200},
        "databases": [{"database": "news", "on_complaint": "update",
                       "fields": {"newsletter": "no"}}]}})
    topics = Topics.for_config(config)
    output = MemoryOutput()
    one_click = OneClick(config.esp, topics, PipelineMetrics(CollectorRegistry()),
                         output)  # type: ignore[arg-type]
    # no token is configured: only public routes answer
    app = web.Application(middlewares=[authorize(Directory(ApiConfig(), StaticView(), None),
                                                 lambda loop_id: None)])
    app.add_routes(esp_routes(EspApi(config.esp, config.kafka, topics, one_click)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", output, topics, one_click
    finally:
        await runner.cleanup()


async def post(url: str, body: str = "List-Unsubscribe=One-Click",
               ctype: str = "application/x-www-form-urlencoded") -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers={"Content-Type": ctype}) as response:
            return response.status, await response.json(), response.headers


async def test_one_click_unsubscribes_once_without_a_bearer_token(server: Any) -> None:
    base, output, topics, _ = server
    value = make_unsubscribe_ref(SECRET.encode(), REF)
    status, doc, _ = await post(f"{base}/unsubscribe/{value}")
    assert (status, doc) == (200, {"unsubscribed": True})
    by_topic = {topic: value for topic, _key, value in output.records}
    event = parse_raw_event(by_topic[topics.raw["unsubscribe"]] or b"")
    assert (event["source"], event["profile"], event["database"]) == ("one-click", "p7", "news")
    action = orjson.loads(by_topic[topics.profile_actions] or b"")
    assert (action["reason"], action["fields"], action["event_id"]) == (
        "one-click", {"newsletter": "no"}, event["id"])
    status, doc, _ = await post(f"{base}/unsubscribe/{value}")
    assert (status, doc) == (200, {"unsubscribed": True, "repeated": True})
    assert len(output.records) == 2, "a repeated POST writes nothing"


async def test_a_second_process_makes_the_same_ids(server: Any) -> None:
    base, output, topics, one_click = server
    value = make_unsubscribe_ref(SECRET.encode(), REF)
    first = one_click.records(REF, value, "2026-11-26T10:00:00.000Z")
    again = one_click.records(REF, value, "2026-11-27T10:00:00.000Z")
    assert [orjson.loads(r.value or b"")["id"] for r in first] == [
        orjson.loads(r.value or b"")["id"] for r in again]


@pytest.mark.parametrize("mangle", [
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # tampered signature
    lambda v: v.replace("u1.", "v1.", 1),
    lambda v: make_unsubscribe_ref(b"somebody-elses-secret-012345", REF),
    lambda v: make_ref(SECRET.encode(), REF),  # an X-FL-Ref value is no unsubscribe link
    lambda v: "nonsense",
])
async def test_forged_or_tampered_references_are_refused(server: Any,
                                                         mangle: Callable[[str], str]) -> None:
    base, output, _, _ = server
    value = mangle(make_unsubscribe_ref(SECRET.encode(), REF))
    status, doc, _ = await post(f"{base}/unsubscribe/{value}")
    assert status == 404 and doc["field"] == "ref"
    assert output.records == []


async def test_the_body_must_be_the_one_click_form(server: Any) -> None:
    base, output, _, _ = server
    value = make_unsubscribe_ref(SECRET.encode(), REF)
    for body in ("", "List-Unsubscribe=Yes", "unsubscribe=1"):
        status, doc, _ = await post(f"{base}/unsubscribe/{value}", body)
        assert (status, doc["field"]) == (400, "List-Unsubscribe"), body
    status, _, _ = await post(f"{base}/unsubscribe/{value}", "--b\r\nContent-Disposition: "
                              "form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n",
                              "multipart/form-data; boundary=b")
    assert status == 200


async def test_get_never_unsubscribes(server: Any) -> None:
    base, output, _, _ = server
    value = make_unsubscribe_ref(SECRET.encode(), REF)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/unsubscribe/{value}") as response:
            assert response.status == 200
            page = await response.text()
    assert 'method="post"' in page and 'value="One-Click"' in page
    assert output.records == []


async def test_rate_limited_per_client(server: Any) -> None:
    base, output, _, _ = server
    statuses = []
    for i in range(8):
        value = make_unsubscribe_ref(SECRET.encode(), ProfileRef("news", profile=f"p{i}"))
        status, _, headers = await post(f"{base}/unsubscribe/{value}")
        statuses.append(status)
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    assert headers["Retry-After"]


async def test_kafka_not_answering_in_time_is_a_503_and_a_retry_succeeds(server: Any) -> None:
    base, output, _, _ = server
    value = make_unsubscribe_ref(SECRET.encode(), REF)
    output.stalled = True
    status, _, headers = await post(f"{base}/unsubscribe/{value}")
    assert status == 503 and headers["Retry-After"] == "5"
    output.stalled = False
    status, doc, _ = await post(f"{base}/unsubscribe/{value}")
    assert (status, doc) == (200, {"unsubscribed": True})


async def test_the_other_esp_routes_need_the_token(server: Any) -> None:
    base, _, _, _ = server
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/esp/headers", json={"database": "news"}) as response:
            assert response.status == 401
        async with session.get(f"{base}/esp/unmapped") as response:
            assert response.status == 401
