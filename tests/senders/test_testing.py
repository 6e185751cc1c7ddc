"""The in-memory twins behave like the real seams they stand in for."""
from __future__ import annotations

import asyncio

import pytest

from senders.client import HttpResponse
from senders.errors import ConnectError
from senders.testing import FakeClock, FakeResolver, RecordedCall, RecordingClient, settle


async def test_fake_clock_wakes_sleepers_in_deadline_order_at_their_deadlines() -> None:
    clock = FakeClock(monotonic=10.0, time=1000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delay_s: float) -> None:
        await clock.sleep(delay_s)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, d)) for n, d in (("c", 3), ("a", 1), ("b", 2))]
    await settle()
    assert clock.sleepers == 3
    await clock.advance(2.5)
    assert woke == [("a", 11.0), ("b", 12.0)] and clock.monotonic() == 12.5
    assert clock.time() == 1002.5
    await clock.advance(1)
    assert woke[-1] == ("c", 13.0)
    await asyncio.gather(*tasks)


async def test_fake_clock_chained_sleeps_within_one_advance() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(5):
            await clock.sleep(1)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await clock.advance(10)
    await task
    assert ticks == [1001.0, 1002.0, 1003.0, 1004.0, 1005.0]


async def test_fake_clock_cancelled_sleeper_is_skipped() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await settle()
    task.cancel()
    await clock.advance(10)
    assert task.cancelled() and clock.sleepers == 0


async def test_fake_resolver() -> None:
    resolver = FakeResolver({"a.example": ["192.0.2.1", "2001:db8::1"]})
    results = await resolver.resolve("a.example", 443)
    assert [(r["host"], r["port"]) for r in results] == [("192.0.2.1", 443), ("2001:db8::1", 443)]
    with pytest.raises(OSError):
        await resolver.resolve("b.example", 443)
    assert resolver.calls == ["a.example", "b.example"]
    await resolver.close()


async def test_recording_client_script_then_default() -> None:
    custom = HttpResponse(202, {}, b"ok", 0.5, "u")
    client = RecordingClient([503, ConnectError("down"), custom], headers={"Retry-After": "3"})
    first = await client.post("http://x/", b"1", {"a": "b"}, 5)
    assert first.status == 503 and first.headers["retry-after"] == "3"
    with pytest.raises(ConnectError):
        await client.post("http://x/", b"2", {}, 5)
    assert await client.post("http://x/", b"3", {}, 5) is custom
    assert (await client.post("http://x/", b"4", {}, 5)).status == 204
    assert client.calls[0] == RecordedCall("http://x/", b"1", {"a": "b"}, 5)
    assert len(client.calls) == 4


async def test_recording_client_handler_and_concurrency() -> None:
    gate = asyncio.Event()

    async def handler(call: RecordedCall) -> int:
        await gate.wait()
        return 200

    client = RecordingClient(handler=handler)
    tasks = [asyncio.create_task(client.post("http://x/", b"", {}, 1)) for _ in range(3)]
    await settle()
    assert client.in_flight == 3
    gate.set()
    assert [r.status for r in await asyncio.gather(*tasks)] == [200, 200, 200]
    assert (client.in_flight, client.max_in_flight) == (0, 3)
