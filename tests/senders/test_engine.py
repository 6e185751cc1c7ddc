"""The Dispatcher: outcomes as data, the loop's limits held exactly, breaker and share."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from senders.client import HttpClient, HttpResponse
from senders.engine import Dispatcher, Outcome
from senders.errors import ConnectError, RequestTimeout, SsrfRefused
from senders.retry import RetrySchedule
from senders.signing import generate_secret
from senders.ssrf import SsrfPolicy
from schemas.loop import Loop
from senders import testing
from senders.testing import FakeClock, RecordedCall, RecordingClient, settle

from .conftest import LOOPBACK, ServerFactory

SECRET = generate_secret()
EVENT = {"id": "m-1", "type": "open", "recipient": "a@b.c", "fields": {"city": "Köln"}}
NO_JITTER = RetrySchedule(jitter=0)


def make_loop(**overrides: Any) -> Loop:
    return testing.make_loop(**{"secrets": [SECRET], **overrides})


def dispatcher(client: RecordingClient, clock: FakeClock | None = None, **kwargs: Any) -> Dispatcher:
    return Dispatcher(client, clock=clock or FakeClock(), schedule=kwargs.pop("schedule", NO_JITTER),
                      rng=random.Random(1), **kwargs)


async def test_delivered_with_signed_headers() -> None:
    client = RecordingClient([HttpResponse(200, {}, b"thanks", 0.012, "u")])
    clock = FakeClock(time=1_795_000_123.75)
    outcome = await dispatcher(client, clock).deliver(make_loop(), "wh-1", [EVENT], attempt=1)
    assert outcome == Outcome("delivered", 200, 0.012, None, "HTTP 200", response_snippet=b"thanks",
                              attempt=1)
    call = client.calls[0]
    assert call.url == "https://hooks.example/receive" and call.timeout_s == 5.0
    assert orjson.loads(call.body) == EVENT
    assert call.headers["content-type"] == "application/json"
    assert call.headers["webhook-id"] == "wh-1"
    assert call.headers["webhook-timestamp"] == "1795000123"
    assert call.headers["webhook-signature"].startswith("v1,")


async def test_signature_verifies_with_the_reference_library_and_id_is_stable() -> None:
    client = RecordingClient([503, 204])
    engine = Dispatcher(client, schedule=NO_JITTER)  # the real clock: the verifier checks age
    loop = make_loop(encoding="form")
    await engine.deliver(loop, "wh-7", [EVENT], attempt=1)
    await engine.deliver(loop, "wh-7", [EVENT], attempt=2)
    for call in client.calls:
        assert call.headers["content-type"] == "application/x-www-form-urlencoded"
        Webhook(SECRET).verify(call.body, call.headers, json_parse=False)
        assert call.headers["webhook-id"] == "wh-7"


async def test_rotation_signs_with_both_unexpired_secrets() -> None:
    old = generate_secret()
    client = RecordingClient()
    loop = make_loop(secrets=[SECRET, {"secret": old, "expires_at": time.time() + 60},
                              {"secret": generate_secret(), "expires_at": time.time() - 60}])
    await Dispatcher(client).deliver(loop, "wh-1", [EVENT], 1)
    headers = client.calls[0].headers
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, old):
        Webhook(secret).verify(client.calls[0].body, headers)


@pytest.mark.parametrize("reply, kind, status, error_class, retry_after_s, retry_in_s", [
    (503, "retry", 503, "ServerError", None, 300),
    (429, "retry", 429, "TooManyRequests", None, 300),
    (408, "retry", 408, "RetryableStatus", None, 300),
    (404, "dead", 404, "ClientError", None, None),
    (400, "dead", 400, "ClientError", None, None),
    (302, "dead", 302, "RedirectRefused", None, None),
    (410, "gone", 410, "GoneError", None, None),
    (ConnectError("refused"), "retry", None, "ConnectError", None, 300),
    (RequestTimeout("slow"), "retry", None, "RequestTimeout", None, 300),
    (SsrfRefused("10.0.0.5", "is private", "hooks.example"), "dead", None, "SsrfRefused", None, None),
])
async def test_outcomes(reply: Any, kind: str, status: int | None, error_class: str,
                        retry_after_s: float | None, retry_in_s: float | None) -> None:
    outcome = await dispatcher(RecordingClient([reply])).deliver(make_loop(), "w", [EVENT], attempt=2)
    assert (outcome.kind, outcome.status, outcome.error_class, outcome.retry_after_s,
            outcome.retry_in_s) == (kind, status, error_class, retry_after_s, retry_in_s)
    assert outcome.attempt == 2 and outcome.reason


async def test_retry_after_is_read_and_bounded_by_the_schedule() -> None:
    client = RecordingClient([429, 503], headers={"Retry-After": "120"})
    engine = dispatcher(client)
    first = await engine.deliver(make_loop(), "w", [EVENT], attempt=1)
    assert (first.retry_after_s, first.retry_in_s) == (120.0, 120.0)
    second = await engine.deliver(make_loop(), "w", [EVENT], attempt=3)
    assert (second.retry_after_s, second.retry_in_s) == (120.0, 1800)


async def test_exhausted_retries_are_dead() -> None:
    outcome = await dispatcher(RecordingClient([503])).deliver(make_loop(), "w", [EVENT], attempt=8)
    assert outcome.kind == "dead" and outcome.error_class == "ServerError"
    assert outcome.reason == "gave up after 8 attempts: HTTP 503"


async def test_encoding_error_is_dead_without_a_call() -> None:
    client = RecordingClient()
    outcome = await dispatcher(client).deliver(make_loop(), "w", [EVENT, EVENT], 1)
    assert (outcome.kind, outcome.error_class) == ("dead", "EncodingError")
    assert client.calls == []


async def test_json_batch_sends_an_array() -> None:
    client = RecordingClient()
    await dispatcher(client).deliver(make_loop(encoding="json-batch"), "b1", [EVENT, EVENT], 1)
    assert orjson.loads(client.calls[0].body) == [EVENT, EVENT]


async def test_breaker_opens_refuses_without_calling_then_probes() -> None:
    clock = FakeClock(time=7000.0)
    client = RecordingClient([503] * 3, default_status=204)
    engine = dispatcher(client, clock, failure_threshold=3, open_s=30)
    loop = make_loop()
    for _ in range(3):
        assert (await engine.deliver(loop, "w", [EVENT], 1)).kind == "retry"
    assert engine.breaker_state("l1") == "open"
    refused = await engine.deliver(loop, "w", [EVENT], 1)
    assert (refused.kind, refused.error_class, refused.status) == ("retry", "CircuitOpen", None)
    assert refused.breaker_open
    assert refused.retry_after_s == 30 and refused.retry_in_s == 30  # the hint beats 5 s
    assert refused.failing_since == 7000.0 and len(client.calls) == 3
    await clock.advance(30)
    probe = await engine.deliver(loop, "w", [EVENT], 1)
    assert probe.kind == "delivered" and engine.breaker_state("l1") == "closed"
    assert probe.failing_since is None and len(client.calls) == 4


async def test_only_one_probe_while_half_open() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    replies = iter([503])

    async def handler(call: RecordedCall) -> int:
        status = next(replies, None)
        if status is not None:
            return status
        await gate.wait()
        return 204

    client = RecordingClient(handler=handler)
    engine = dispatcher(client, clock, failure_threshold=1, open_s=5)
    loop = make_loop()
    await engine.deliver(loop, "w", [EVENT], 1)
    await clock.advance(5)
    probe = asyncio.create_task(engine.deliver(loop, "w", [EVENT], 1))
    await settle()
    others = await asyncio.gather(*(engine.deliver(loop, "w", [EVENT], 1) for _ in range(3)))
    assert {o.error_class for o in others} == {"CircuitOpen"} and len(client.calls) == 2
    gate.set()
    assert (await probe).kind == "delivered"


async def test_queued_calls_are_not_sent_once_the_breaker_opens() -> None:
    gate = asyncio.Event()

    async def handler(call: RecordedCall) -> int:
        await gate.wait()
        return 503

    client = RecordingClient(handler=handler)
    engine = dispatcher(client, failure_threshold=1, open_s=30)
    loop = make_loop(max_in_flight=1)
    tasks = [asyncio.create_task(engine.deliver(loop, f"w{i}", [EVENT], 1)) for i in range(4)]
    await settle()
    assert engine.waiting("l1") == 3
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert [o.error_class for o in outcomes] == ["ServerError"] + ["CircuitOpen"] * 3
    assert [o.breaker_open for o in outcomes] == [False, True, True, True]
    assert len(client.calls) == 1


async def test_cancelled_probe_is_abandoned_and_slot_released() -> None:
    clock = FakeClock()
    mode = {"reply": 503}
    never = asyncio.Event()

    async def handler(call: RecordedCall) -> int:
        if mode["reply"] == 0:
            await never.wait()
        return mode["reply"]

    engine = dispatcher(RecordingClient(handler=handler), clock, failure_threshold=1, open_s=5)
    loop = make_loop(max_in_flight=1)
    await engine.deliver(loop, "w", [EVENT], 1)
    await clock.advance(5)
    mode["reply"] = 0  # the probe hangs
    task = asyncio.create_task(engine.deliver(loop, "w", [EVENT], 1))
    await settle()
    assert engine.in_flight("l1") == 1 and engine.breaker_state("l1") == "half_open"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (engine.in_flight("l1"), engine.waiting("l1")) == (0, 0)
    mode["reply"] = 204  # the next caller gets to probe, and the slot is free
    assert (await engine.deliver(loop, "w", [EVENT], 1)).kind == "delivered"


async def test_in_flight_and_waiting_gauges_and_the_exact_cap() -> None:
    gate = asyncio.Event()

    async def handler(call: RecordedCall) -> int:
        await gate.wait()
        return 204

    client = RecordingClient(handler=handler)
    engine = dispatcher(client)
    loop = make_loop(max_in_flight=3)
    tasks = [asyncio.create_task(engine.deliver(loop, f"w{i}", [EVENT], 1)) for i in range(10)]
    await settle()
    assert (engine.in_flight("l1"), engine.waiting("l1"), client.in_flight) == (3, 7, 3)
    assert (engine.in_flight("other"), engine.waiting("other")) == (0, 0)
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert all(o.kind == "delivered" for o in outcomes) and client.max_in_flight == 3
    assert (engine.in_flight("l1"), engine.waiting("l1")) == (0, 0)


async def test_rate_limit_on_the_fake_clock() -> None:
    clock = FakeClock(monotonic=0.0)
    client = RecordingClient()
    engine = dispatcher(client, clock, burst_s=0.1)
    loop = make_loop(rate_per_s=20, max_in_flight=100)
    tasks = [asyncio.create_task(engine.deliver(loop, f"w{i}", [EVENT], 1)) for i in range(22)]
    await settle()
    assert len(client.calls) == 2  # burst: 0.1 s worth = 2 tokens
    assert engine.waiting("l1") == 20
    await clock.advance(0.5)
    assert len(client.calls) == 12
    await clock.advance(0.5)
    await asyncio.gather(*tasks)
    assert len(client.calls) == 22


async def test_share_scales_limits_with_floors() -> None:
    engine = dispatcher(RecordingClient())
    loop = make_loop(max_in_flight=10, rate_per_s=100)
    await engine.deliver(loop, "w", [EVENT], 1)
    assert engine.limits("l1") == (10, 100)
    engine.set_share(0.25)
    assert engine.limits("l1") == (2, 25)
    engine.set_share(0.01)
    assert engine.limits("l1") == (1, 1.0)
    assert engine.limits("unknown") is None
    for bad in (0, 1.5, -1):
        with pytest.raises(ValueError, match="share"):
            engine.set_share(bad)


async def test_changed_settings_apply_on_the_next_call() -> None:
    client = RecordingClient()
    engine = dispatcher(client)
    loop = make_loop(max_in_flight=2)
    await engine.deliver(loop, "w", [EVENT], 1)
    new_secret = generate_secret()
    changed = loop.changed(max_in_flight=6, rate_per_s=50,
                           secrets=[{"secret": new_secret, "expires_at": None}])
    await engine.deliver(changed, "w", [EVENT], 1)
    assert engine.limits("l1") == (6, 50)
    assert client.calls[1].headers["webhook-signature"] != client.calls[0].headers["webhook-signature"]
    engine.forget("l1")
    assert engine.limits("l1") is None


async def test_a_bug_in_the_client_becomes_a_retry_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(call: RecordedCall) -> int:
        raise KeyError("oops")

    with caplog.at_level(logging.ERROR, logger="senders.engine"):
        outcome = await dispatcher(RecordingClient(handler=broken)).deliver(make_loop(), "w", [EVENT], 1)
    assert (outcome.kind, outcome.error_class) == ("retry", "InternalError")
    assert "unexpected error delivering to loop l1" in caplog.text
    assert SECRET not in caplog.text


# -- against a real aiohttp server on loopback ---------------------------------------------
async def test_max_in_flight_is_exact_against_a_slow_real_server(server_factory: ServerFactory) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.02)
        return web.Response(status=204)

    server = await server_factory(slow)
    async with HttpClient(SsrfPolicy(LOOPBACK)) as client:
        engine = Dispatcher(client)
        loop = make_loop(url=server.url(), max_in_flight=7, rate_per_s=100_000)
        outcomes = await asyncio.gather(*(engine.deliver(loop, f"w{i}", [EVENT], 1) for i in range(150)))
    assert all(o.kind == "delivered" for o in outcomes)
    assert len(server.seen) == 150 and server.max_in_flight == 7


async def test_rate_holds_against_a_real_server(server_factory: ServerFactory) -> None:
    server = await server_factory()
    async with HttpClient(SsrfPolicy(LOOPBACK)) as client:
        engine = Dispatcher(client, burst_s=0.01)
        loop = make_loop(url=server.url(), max_in_flight=50, rate_per_s=200)
        started = time.monotonic()
        await asyncio.gather(*(engine.deliver(loop, f"w{i}", [EVENT], 1) for i in range(301)))
        elapsed = time.monotonic() - started
    # 1 burst token, then 300 at 200/s: 1.5 s; never faster, a little slower on a busy machine
    assert 1.49 <= elapsed <= 1.5 * 1.2
    assert len(server.seen) == 301


async def test_real_failures_become_outcomes(server_factory: ServerFactory) -> None:
    async def answers(request: web.Request) -> web.Response:
        if request.path == "/busy":
            return web.Response(status=503, headers={"Retry-After": "60"}, text="busy")
        return web.Response(status=410)

    server = await server_factory(answers)
    async with HttpClient(SsrfPolicy()) as strict, HttpClient(SsrfPolicy(LOOPBACK)) as client:
        engine = Dispatcher(client, schedule=NO_JITTER)
        busy = await engine.deliver(make_loop(url=server.url("/busy")), "w", [EVENT], 1)
        assert (busy.kind, busy.status, busy.retry_after_s, busy.retry_in_s, busy.response_snippet) == \
            ("retry", 503, 60.0, 60.0, b"busy")
        gone = await engine.deliver(make_loop(id="l2", url=server.url("/gone")), "w", [EVENT], 1)
        assert (gone.kind, gone.status, gone.error_class) == ("gone", 410, "GoneError")
        refused = await Dispatcher(strict).deliver(make_loop(url=server.url()), "w", [EVENT], 1)
        assert (refused.kind, refused.error_class) == ("dead", "SsrfRefused")
        assert refused.reason == "127.0.0.1 is loopback"
    assert len(server.seen) == 2
