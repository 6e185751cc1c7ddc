"""The producer wrapper serves completions while records are pending and sleeps when none are
(librdkafka's client is replaced by a scripted one; the real one runs in the integration
tests)."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from streams.config.settings import KafkaConfig
from streams.kafka.output import Output
from streams.kafka.parking import Parking


class ScriptedProducer:
    """``produce`` queues the delivery callback; ``poll`` runs the queued ones."""

    def __init__(self) -> None:
        self.queued: list[Callable[[Any, Any], None]] = []
        self.polls = 0

    def produce(self, topic: str, value: Any, key: Any, headers: Any = None,
                on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        assert on_delivery is not None
        self.queued.append(on_delivery)

    def poll(self, timeout: float) -> int:
        self.polls += 1
        served, self.queued = self.queued, []
        for callback in served:
            callback(None, None)
        return len(served)


async def test_an_idle_output_does_not_poll_and_wakes_for_a_record() -> None:
    output = Output(KafkaConfig(), Parking("fl.invalid", 1_000_000))
    producer = ScriptedProducer()
    output._client = producer  # type: ignore[assignment]
    output.start()
    await asyncio.sleep(0.2)
    assert producer.polls == 0  # it used to poll every 2 ms, records or not

    acked = asyncio.Event()
    output.send("t", b"k", b"v", acked.set)
    await asyncio.wait_for(acked.wait(), 5)
    assert output.unacked == 0
    polls = producer.polls
    await asyncio.sleep(0.2)
    assert producer.polls - polls <= 2  # back to sleep once nothing is pending
    await output.close()
