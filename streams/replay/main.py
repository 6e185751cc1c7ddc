"""``feedbackloops replayer``: runs replays and delivers them in the replay lane.

One process kind for everything a replay does, at a lower OS priority (``replay.nice``): on
shared cores the kernel runs the live worker and sender first, so a year of history never
delays today's opens. Inside it, :class:`~streams.replay.runner.Replayer` (a thread) reads,
enriches and routes the replays this process owns; a :class:`~streams.delivery.service.
SenderService` in the replay lane sends ``fl.deliveries.replay`` with ``replay.share`` of every
loop's caps. Run one (or more: replays and the lane's partitions spread over them).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

from schemas.loop import Loop
from schemas.validation import parse_tags

from streams.api.server import HttpServer, health_app
from streams.config.logs import setup as setup_logging
from streams.config.settings import Config
from streams.delivery.main import start_service
from streams.kafka.loopstore import parse_loop
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.replay.book import ReplayBook
from streams.metrics import PipelineMetrics
from streams.replay.gate import LiveBacklog
from streams.replay.pace import Pace
from streams.replay.runner import Replayer

__all__ = ["run_replayer"]

log = logging.getLogger(__name__)


async def _main(config: Config) -> None:
    topics = Topics.for_config(config)
    loop = asyncio.get_running_loop()
    loops: CompactedView[Loop] = CompactedView(config.kafka, topics.loops, parse_loop)
    tags: CompactedView[dict[str, Any]] = CompactedView(config.kafka, topics.ref_tags, parse_tags)
    book = ReplayBook(config.kafka, topics.replays)
    for view in (loops, tags, book):
        await loop.run_in_executor(None, view.start)
    gate = LiveBacklog(config, topics).start()
    lane, client, output = await start_service(config, topics, loops, lane="replay",
                                               replays=book, hold=lambda: gate.paused)
    r = config.replay
    metrics = PipelineMetrics.shared()

    def paced(rate_per_s: float, wait: float) -> None:
        metrics.replay_pace.set(rate_per_s)
        metrics.replay_cpu_wait.set(wait)

    pace = Pace(r.min_rate_per_s, r.max_rate_per_s, r.yield_wait, r.pace_interval_s,
                on_change=paced).start()
    paced(pace.rate_per_s, 0.0)
    replayer = Replayer(config, topics, book, tags, loops, gate, pace)
    runner = threading.Thread(target=replayer.run, name="replayer", daemon=True)
    runner.start()
    server = HttpServer(health_app(lambda: lane.ready and runner.is_alive()), r.metrics_bind,
                        r.metrics_port, "replayer metrics")
    await server.start()

    def stop() -> None:
        replayer.stop()
        lane.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await lane.run()
    finally:
        replayer.stop()
        await loop.run_in_executor(None, runner.join, 90)
        await server.stop()
        await client.close()
        await output.close()
        gate.stop()
        pace.stop()
        for view in (loops, tags, book):
            view.stop()


def run_replayer(config: Config) -> None:
    setup_logging(config.worker.log_level, config.worker.json_logs)
    niceness = os.nice(0)
    if config.replay.nice > niceness:
        os.nice(config.replay.nice - niceness)
    log.info("replayer at nice %d", os.nice(0))
    if config.worker.event_loop == "uvloop":
        import uvloop

        uvloop.install()
    asyncio.run(_main(config))
