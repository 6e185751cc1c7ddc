"""What a worker process holds besides Faust: views, the producer, the enricher, the API."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable



from schemas.loop import Loop
from schemas.validation import parse_tags

from streams.api.accounts import Account
from streams.api.directory import Directory, parse_account
from streams.kafka.writer import CompactedWriter
from streams.stats.process import AggregatorProcess
from streams.stats.summary import SummaryWriter
from streams.stats.view import StatsView
from streams.worker.bootstrap import ProfileBootstrap, RekeyCatchUp
from streams.worker.declared import publish_declared
from streams.worker.enrichment import Enricher
from streams.worker.repartition import rekey_group
from streams.worker.sources import Sources
from streams.worker.standby import Handover
from streams.kafka.partitioning import ControlView
from streams.esp.reports import EspReports
from streams.esp.softbounces import SoftBounces
from streams.kafka.loopstore import LoopStore, parse_loop
from streams.metrics import PipelineMetrics
from streams.kafka.limits import sized
from streams.kafka.output import Output
from streams.kafka.parking import Parking
from streams.kafka.registry import CompactedView
from streams.config.settings import Config
from streams.kafka.topics import Topics

__all__ = ["WorkerRuntime"]

log = logging.getLogger(__name__)


def _ignore() -> None:
    """A summary's acknowledgement needs no action: a lost one is written again by the next
    leader (same id)."""


class WorkerRuntime:
    """Started once per worker process, before the first event is enriched."""

    def __init__(self, config: Config, topics: Topics, metrics: PipelineMetrics,
                 sources: Sources | None = None) -> None:
        sources = sources or Sources.direct(config, topics)
        self.config = config
        self.topics = topics
        self.metrics = metrics
        self.output = Output(config.kafka, Parking.counted(topics.invalid,
                                                           config.limits.record_bytes, metrics))
        self.loops: CompactedView[Loop] = CompactedView(config.kafka, topics.loops,
                                                                  parse_loop)
        self.tags: CompactedView[dict[str, Any]] = CompactedView(
            config.kafka, topics.ref_tags, self._tags_parser(config.limits.tags_bytes))
        self.loop_store = LoopStore(config.kafka, topics.loops, self.loops)
        self.accounts: CompactedView[Account] = CompactedView(config.kafka, topics.accounts,
                                                              parse_account)
        self.directory = Directory(config.api, self.accounts,
                                   CompactedWriter(config.kafka, topics.accounts, self.accounts))
        self.enricher = Enricher(topics, self.loops, self.tags, metrics,
                                 SoftBounces(config.esp, topics, metrics), config.limits)
        self.esp = EspReports(config.esp, topics, metrics, config.limits.esp_report_bytes)
        # repartition mode: a generation's snapshots come through the re-key stage
        upstream = (RekeyCatchUp(config.kafka, rekey_group(config.worker.app_id),
                                 topics.ref_profiles)
                    if sources.generation is not None else None)
        self.bootstrap = ProfileBootstrap(config.kafka, sources.profiles, sources.events,
                                          sources.app_id,
                                          config.worker.profile_bootstrap_timeout_s, upstream)
        #: called by stop() before the producer closes (the re-key stage, the coordinator)
        self.on_stop: list[Callable[[], None]] = []
        #: the scaling state (repartition mode; None in direct mode)
        self.control: ControlView | None = None
        #: a standby's wait for its generation to serve (streams.worker.standby)
        self.handover: Handover | None = None
        self.stats_view: StatsView | None = None
        self.aggregator: AggregatorProcess | None = None
        if config.stats.enabled:
            self.stats_view = StatsView(config.kafka, topics.stats)
            self.aggregator = AggregatorProcess(config)
        #: set when this process serves (at once, but in a standby: streams.worker.standby);
        #: the statistics, declared loops and the API wait for it
        self.released = asyncio.Event()
        self.released.set()
        self._started: asyncio.Future[None] | None = None
        self._summaries: asyncio.Task[None] | None = None

    def _tags_parser(self, max_bytes: int) -> Callable[[bytes], dict[str, Any]]:
        """Tags records over ``limits.tags_bytes`` are skipped by the view (logged with their
        coordinates) and counted; the mailing keeps its earlier tags."""
        parse = sized(parse_tags, max_bytes, "the tags record", "limits.tags_bytes")
        oversize = self.metrics.oversize.labels("tags")

        def checked(data: bytes) -> dict[str, Any]:
            if len(data) > max_bytes:
                oversize.inc()
            return parse(data)

        return checked

    async def start(self) -> None:
        """Load the views and publish declared loops (idempotent; concurrent callers wait)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self.loops.start)
                await loop.run_in_executor(None, self.tags.start)
                await loop.run_in_executor(None, self.accounts.start)
                self.output.start()
                await self.released.wait()
                if self.stats_view is not None and self.aggregator is not None:
                    # not waited for: /stats answers 503 until the view has caught up
                    self.stats_view.start(wait_ready_s=None)
                    self.aggregator.start()
                    writer = SummaryWriter(
                        self.stats_view, self.loops.values, self.aggregator.leads,
                        lambda topic, key, value: self.output.send(topic, key, value, _ignore),
                        self.topics.deliveries, self.config.stats.summary_delay_s)
                    self._summaries = asyncio.create_task(writer.run())
                written = await publish_declared(self.loop_store, self.config.loops)
                log.info("runtime ready: %d loops (%d declared loops written), %d mailings",
                         len(self.loops), written, len(self.tags))
                self._started.set_result(None)
            except BaseException as exc:
                self._started.set_exception(exc)
                raise
        await asyncio.shield(self._started)

    @property
    def ready(self) -> bool:
        return self._started is not None and self._started.done() and not self._started.exception()

    async def stop(self) -> None:
        for stop in self.on_stop:
            await asyncio.get_running_loop().run_in_executor(None, stop)
        if self._summaries is not None:
            self._summaries.cancel()
        await self.output.close()
        if self.stats_view is not None and self.aggregator is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.aggregator.stop)
            self.stats_view.stop()
        self.loops.stop()
        self.tags.stop()
        self.accounts.stop()


