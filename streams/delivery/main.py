"""``feedbackloops sender``: one sender process (run as many as partitions allow)."""
from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, Callable

from schemas.loop import Loop
from senders.client import SNIPPET_BYTES, HttpClient
from senders.curl import CurlClient
from senders.engine import Dispatcher
from senders.ssrf import SsrfPolicy

from streams.api.server import HttpServer, health_app
from streams.config.logs import setup as setup_logging
from streams.kafka.loopstore import LoopStore, parse_loop
from streams.metrics import PipelineMetrics
from streams.kafka.output import Output
from streams.kafka.parking import Parking
from streams.kafka.registry import CompactedView
from streams.config.settings import Config
from streams.kafka.topics import Topics
from streams.delivery.service import SenderService, retry_schedule

__all__ = ["delivery_client", "run_sender", "start_service"]

log = logging.getLogger(__name__)


def delivery_client(config: Config) -> CurlClient | HttpClient:
    """The sender's HTTP client (``sender.http_client``): the SSRF policy, the process's
    in-flight cap, and at most ``limits.response_bytes`` of each answer read (the first KiB
    kept, the rest drained)."""
    policy = SsrfPolicy(config.security.allow_networks)
    limit = config.sender.process_max_in_flight
    drain = config.limits.response_bytes - SNIPPET_BYTES
    if config.sender.http_client == "curl":
        return CurlClient(policy, limit=limit, drain_max_bytes=drain)
    return HttpClient(policy, limit=limit, drain_max_bytes=drain)


async def start_service(config: Config, topics: Topics, loops: CompactedView[Loop],
                        lane: str = "live", replays: Any = None,
                        hold: Callable[[], bool] | None = None
                        ) -> tuple[SenderService, CurlClient | HttpClient, Output]:
    """A sender service of ``lane`` with its HTTP client and producer started (the caller
    closes both after ``run``); shared by the sender and the replayer."""
    metrics = PipelineMetrics.shared()
    output = Output(config.kafka, Parking.counted(topics.invalid, config.limits.record_bytes,
                                                  metrics))
    output.start()
    client = delivery_client(config)
    await client.start()
    s = config.sender
    dispatcher = Dispatcher(client, schedule=retry_schedule(config),
                            failure_threshold=s.breaker_failures, open_s=s.breaker_open_s,
                            max_open_s=max(600.0, s.breaker_open_s))
    service = SenderService(config, topics, metrics, dispatcher, loops,
                            LoopStore(config.kafka, topics.loops, loops), output, lane=lane,
                            replays=replays, hold=hold)
    return service, client, output


async def _main(config: Config) -> None:
    topics = Topics.for_config(config)
    loop = asyncio.get_running_loop()
    loops: CompactedView[Loop] = CompactedView(config.kafka, topics.loops, parse_loop)
    await loop.run_in_executor(None, loops.start)
    service, client, output = await start_service(config, topics, loops)
    s = config.sender
    server = HttpServer(health_app(lambda: service.ready), s.metrics_bind, s.metrics_port,
                        "sender metrics")
    await server.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop)
    try:
        await service.run()
    finally:
        await server.stop()
        await client.close()
        await output.close()
        loops.stop()


def run_sender(config: Config) -> None:
    setup_logging(config.worker.log_level, config.worker.json_logs)
    if config.worker.event_loop == "uvloop":
        import uvloop

        uvloop.install()
    asyncio.run(_main(config))
