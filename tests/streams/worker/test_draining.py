"""Records reach the streams as under Faust's wait_first, without a task unless one must wait."""
from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from mode import Service

from streams.worker.draining import deliver


class Recorder(Service):
    """A real mode service whose ``wait_first`` counts its calls."""

    waits = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        self.waits += 1
        return await super().wait_first(*coros, timeout=timeout)


async def test_a_callback_that_never_waits_runs_without_a_task() -> None:
    service, seen = Recorder(), []

    async def callback(message: Any) -> None:
        seen.append(message)

    tasks = len(asyncio.all_tasks())
    await deliver(callback, "m1", service.wait_first, asyncio.Event())  # type: ignore[arg-type]
    assert seen == ["m1"] and service.waits == 0 and len(asyncio.all_tasks()) == tasks


async def test_a_callback_that_waits_finishes_through_wait_first() -> None:
    service, queue = Recorder(), asyncio.Queue[str](maxsize=1)
    queue.put_nowait("earlier")

    async def callback(message: Any) -> None:
        await asyncio.sleep(0)
        await queue.put(message)  # full: waits for the reader

    async def reader() -> list[str]:
        await asyncio.sleep(0.05)
        return [await queue.get(), await queue.get()]

    read = asyncio.create_task(reader())
    await deliver(callback, "m1", service.wait_first, asyncio.Event())  # type: ignore[arg-type]
    assert await read == ["earlier", "m1"] and service.waits == 1


async def test_a_waiting_callback_is_cancelled_when_the_flow_is_suspended() -> None:
    service, queue, suspended = Recorder(), asyncio.Queue[str](maxsize=1), asyncio.Event()
    queue.put_nowait("earlier")
    cancelled = asyncio.Event()

    async def callback(message: Any) -> None:
        try:
            await queue.put(message)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.05, suspended.set)
    await asyncio.wait_for(deliver(callback, "m1", service.wait_first,  # type: ignore[arg-type]
                                   suspended), 5)
    assert cancelled.is_set()
    assert queue.get_nowait() == "earlier" and queue.empty()
    assert not queue._putters  # type: ignore[attr-defined]  # no put left behind


async def test_an_error_in_the_callback_reaches_the_drain_loop() -> None:
    service = Recorder()

    async def failing(message: Any) -> None:
        raise ValueError(message)

    async def failing_later(message: Any) -> None:
        await asyncio.sleep(0)
        raise ValueError(message)

    for callback in (failing, failing_later):
        with pytest.raises(ValueError, match="m1"):
            await deliver(callback, "m1", service.wait_first,  # type: ignore[arg-type]
                          asyncio.Event())


def test_the_copied_drain_loop_is_that_of_the_installed_faust() -> None:
    # DrainingConsumer._drain_messages is Faust's loop with one call changed: when Faust's
    # changes (an upgrade), compare the two again and update the copy, then this hash.
    source = inspect.getsource(FaustConsumer._drain_messages)
    assert hashlib.sha256(source.encode()).hexdigest() == \
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
