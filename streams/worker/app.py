"""The Faust application: settings from the configuration, the agents, the HTTP server."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust

from streams.worker.agents import attach_agents
from senders.client import HttpClient
from senders.ssrf import SsrfPolicy

from streams.api.control import ControlPlane
from streams.api.esp import EspApi
from streams.esp.unsubscribe import OneClick
from streams.api.routes import control_app
from streams.api.replay_routes import replay_routes
from streams.api.stats_routes import stats_routes
from streams.api.server import HttpServer, serve_forever
from streams.kafka.clients import faust_broker_settings
from streams.esp.ingest import api_ingest
from streams.config.logs import dict_config
from streams.metrics import PipelineMetrics
from streams.replay.book import ReplayBook
from streams.replay.operations import Replays
from streams.worker.monitor import LagMonitor
from streams.worker.ordering import TimestampOrder
from streams.worker.process import WorkerProcess
from streams.worker.runtime import WorkerRuntime
from streams.worker.sources import Sources
from streams.api.partition_routes import partition_routes
from streams.config.settings import Config
from streams.kafka.topics import Topics

__all__ = ["build_app"]

#: how long a standby that starts serving tries to bind the API port its parent is releasing
STANDBY_BIND_S = 30.0


def build_app(config: Config, sources: Sources | None = None,
              runtime: WorkerRuntime | None = None) -> faust.App:
    """A Faust app for ``config`` with every agent of the pipeline attached, reading the raw
    topics (``sources`` None) or a generation's internal topics (repartition mode)."""
    topics = Topics.for_config(config)
    sources = sources or Sources.direct(config, topics)
    store = "rocksdb://" if config.worker.store == "rocksdb" else "memory://"
    datadir = Path(sources.data_dir).resolve()
    datadir.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = (
        {"logging_config": dict_config(config.worker.log_level, True)}
        if config.worker.json_logs else {})
    app = faust.App(
        sources.app_id,
        **faust_broker_settings(config.kafka),
        store=store,
        datadir=str(datadir),
        topic_partitions=sources.partitions,
        topic_replication_factor=config.kafka.replication_factor,
        # `feedbackloops topics create` provisions every topic, Faust's changelog included.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Our own aiohttp server serves /metrics and the control plane; Faust's web server
        # stays off, and if someone turns it on it binds loopback, not 0.0.0.0.
        web_enabled=False,
        web_bind="127.0.0.1",
        web_port=config.api.port or 6066,
        autodiscover=False,
        producer_acks=-1,
        # the profile table's changelog records: the same record limit as every producer
        producer_max_request_size=config.limits.record_bytes,
        # a killed worker's partitions move after session_timeout_s, not Faust's 60 s
        broker_session_timeout=config.worker.session_timeout_s,
        broker_heartbeat_interval=config.worker.session_timeout_s / 5,
        broker_rebalance_timeout=max(30.0, 2 * config.worker.session_timeout_s),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        ConsumerScheduler=TimestampOrder.preferring(*sources.first),
        Worker=WorkerProcess,
        # Faust's monitor keeps per-event statistics for its web views (off here): only the
        # partition offsets are used (streams/worker/monitor.py)
        Monitor=LagMonitor,
        **extra,
    )
    runtime = runtime or WorkerRuntime(config, topics, PipelineMetrics.shared(), sources)
    attach_agents(app, config, topics, runtime, sources)

    async def http_server() -> None:
        await runtime.released.wait()  # a standby: its parent serves the port until then
        client = HttpClient(SsrfPolicy(config.security.allow_networks))
        await client.start()
        control = ControlPlane(runtime.loop_store, client, config.kafka, topics)
        esp = EspApi(config.esp, config.kafka, topics,
                     OneClick(config.esp, topics, runtime.metrics, runtime.output))
        book = ReplayBook(config.kafka, topics.replays)
        await asyncio.get_running_loop().run_in_executor(None, book.start)
        replays = Replays(config.kafka, topics, book, runtime.loops.get)
        server = HttpServer(control_app(control, runtime.directory, lambda: runtime.ready,
                                        api_ingest(runtime.output, topics.esp_reports,
                                                   config.limits.esp_report_bytes), esp,
                                        extra=(stats_routes(runtime.stats_view,
                                                            runtime.loop_store.get,
                                                            runtime.loop_store.all,
                                                            config.sender.defer_after_s),
                                               replay_routes(replays, runtime.loop_store.get),
                                               partition_routes(
                                                   runtime.control
                                                   if sources.generation is not None else None,
                                                   sources.partitions))),
                            config.api.bind, config.api.port, "worker api")

        async def forever() -> None:
            await runtime.start()
            await asyncio.Event().wait()

        try:
            await serve_forever(server, forever,
                                retry_s=STANDBY_BIND_S if sources.generation else 0.0)
        finally:
            book.stop()
            await client.close()
            await runtime.stop()  # flush what the agents produced before Faust exits

    app.task(http_server)
    return app
