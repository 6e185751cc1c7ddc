"""The Faust agents: profile snapshots, the enrich agent over every raw topic, ESP reports.

Both write the profile table (the enrich agent also the soft-bounce counters,
:mod:`streams.esp.softbounces`) from inside stream iteration (as Faust requires). Acks are
manual: an event is acked only when every record it caused (deliveries, or its ``fl.invalid``
record) is acknowledged by Kafka, and after every earlier event of its partition
(:mod:`streams.worker.acks`), so Faust never commits past an event whose outcome is not durable.
Raw partitions open only once that partition's snapshots are read (:mod:`streams.worker.bootstrap`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping, cast

import faust

from streams.worker.acks import InOrderAcks
from streams.worker.bootstrap import GatedConsumer
from streams.worker.runtime import WorkerRuntime
from streams.worker.sources import Sources, raw_origin
from streams.worker.timeline import milestone
from streams.config.settings import Config
from streams.kafka.topics import Topics

__all__ = ["attach_agents"]

log = logging.getLogger(__name__)

#: how often a draining generation commits (its scale's cut-over waits for the commits)
DRAIN_COMMIT_EVERY_S = 0.1


def _replay_mark(headers: Any) -> list[tuple[str, bytes]]:
    """The ``fl-replay`` header of a record replayed from fl.invalid (Faust gives headers as
    a list of pairs or a mapping)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v) for k, v in pairs if k == "fl-replay"]


def _moved(headers: Any) -> bool:
    """A tombstone `partitions scale` wrote where a snapshot was before the topic grew."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return any(k == "fl-moved" for k, _v in pairs)


def attach_agents(app: faust.App, config: Config, topics: Topics, runtime: WorkerRuntime,
                  sources: Sources) -> None:
    app.transport.Consumer = GatedConsumer.fetching(  # type: ignore[misc]
        config.worker.fetch_interval_ms)
    raw = app.topic(*sources.events, key_serializer="raw", value_serializer="raw")
    snapshots = app.topic(sources.profiles, key_serializer="raw", value_serializer="raw")
    esp_reports = app.topic(topics.esp_reports, key_serializer="raw", value_serializer="raw")
    profiles = app.Table(
        "profiles", partitions=sources.partitions, key_type=bytes, value_type=bytes,
        # Faust's defaults (a 2 GiB block cache and 3 x 64 MiB write buffers per partition
        # database) would not fit the worker's memory budget; these are per partition.
        options={"block_cache_size": config.worker.rocksdb_block_cache_mb * 2**20,
                 "write_buffer_size": 8 * 2**20, "max_write_buffer_number": 2},
        changelog_topic=app.topic(sources.profiles_changelog, partitions=sources.partitions,
                                  key_serializer="raw", value_serializer="raw", compacting=True))
    soft_bounces = app.Table(
        "soft-bounces", partitions=sources.partitions, key_type=bytes, value_type=bytes,
        options={"block_cache_size": 8 * 2**20, "write_buffer_size": 2 * 2**20,
                 "max_write_buffer_number": 2},
        changelog_topic=app.topic(sources.soft_bounces_changelog,
                                  partitions=sources.partitions, key_serializer="raw",
                                  value_serializer="raw", compacting=True))
    bootstrap = runtime.bootstrap

    async def consume(stream: faust.StreamT[bytes], snapshot_agent: bool = False,
                      esp: bool = False) -> None:
        await runtime.start()
        handle = runtime.esp.handle if esp else runtime.enricher.handle
        send = runtime.output.send
        invalid = topics.invalid
        rekeyed = sources.generation is not None and not esp
        acks = InOrderAcks()
        first = "first event enriched" if not (snapshot_agent or esp) else None
        # StreamT's stub lacks noack(); every stream an agent gets is a faust.Stream
        async for event in cast("faust.Stream[bytes]", stream).noack().events():
            m = event.message
            # a re-keyed record is about its raw record (type checks, metrics, fl.invalid)
            topic, partition, offset = (raw_origin(m.headers, m.topic, m.partition, m.offset)
                                        if rekeyed else (m.topic, m.partition, m.offset))
            if m.value is None and snapshot_agent and _moved(m.headers):
                records = []  # a moved snapshot's old copy: the table has the new one
            else:
                records = handle(topic, partition, offset, int(m.timestamp * 1000),
                                 m.key, m.value, profiles, soft_bounces)
            if snapshot_agent:
                bootstrap.read(m.partition, m.offset)
            elif first is not None:
                milestone(first)
                first = None
            done = acks.track(m.tp, event.ack, len(records))
            for record in records:
                headers = record.headers
                if record.topic == invalid and m.headers:  # a replayed record failed again
                    headers = [*(headers or ()), *_replay_mark(m.headers)]
                send(record.topic, record.key, record.value, done, headers)

    @app.agent(snapshots, name="profile-snapshots")
    async def profile_snapshots(stream: faust.StreamT[bytes]) -> None:
        await consume(stream, snapshot_agent=True)

    @app.agent(raw, name="enrich")
    async def enrich(stream: faust.StreamT[bytes]) -> None:
        await consume(stream)

    @app.agent(esp_reports, name="esp-reports")
    async def parse_esp_reports(stream: faust.StreamT[bytes]) -> None:
        await consume(stream, esp=True)

    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Faust sends on_partitions_assigned(assigned) positionally, after the app as sender
        milestone(f"{len(args[0])} partitions assigned", once=False)
        bootstrap.assigned(cast(GatedConsumer, app.consumer), args[0])
        if runtime.handover is not None:  # a standby reads nothing before it serves
            runtime.handover.assigned(app.consumer, args[0])

    app.on_partitions_assigned.connect(on_assigned)

    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Faust commits every second, not when partitions are taken away: what was acked
        # since would be processed again by the next owner (a second worker joining a second
        # after the first began: 10 % duplicates in the partitions test once partitions
        # opened promptly). Acked means durable here, so committing it now is safe.
        try:
            await app.consumer.commit()
        except Exception as exc:  # the group moved on already: the next owner repeats them
            log.info("commit at revocation failed (%s: %s)", type(exc).__name__, exc)

    app.on_partitions_revoked.connect(on_revoked)

    async def on_rebalance_complete(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        milestone("rebalance complete (tables recovered)", once=False)
        if runtime.handover is not None:
            await runtime.handover.recovered()

    app.on_rebalance_complete.connect(on_rebalance_complete)

    def settled() -> bool:
        # app.rebalancing ends after Faust's post-rebalance seek to committed offsets
        return not app.rebalancing and (runtime.handover is None or runtime.handover.released)

    async def open_bootstrapped_partitions() -> None:
        await bootstrap.run(cast(GatedConsumer, app.consumer), settled=settled)

    app.task(open_bootstrapped_partitions)

    if runtime.handover is not None:
        handover = runtime.handover
        event_topics = set(sources.events)

        async def open_partitions(tps: set[faust.types.TP]) -> None:
            """Snapshot and ESP partitions, at the group's committed offsets (the coordinator
            carried the ESP reports' over); events open after the profile gate."""
            consumer = cast(GatedConsumer, app.consumer)
            for p in sorted({tp.partition for tp in tps}):
                mine = [tp for tp in tps if tp.partition == p and tp.topic not in event_topics]
                if mine:
                    offsets = await asyncio.to_thread(bootstrap.start_offsets,
                                                      {tp.topic for tp in mine}, p)
                    await consumer.ungate(mine, offsets)

        async def stand_by() -> None:
            await handover.run(app, open_partitions, bootstrap.restart_clocks)

        app.task(stand_by)

    if sources.generation is not None:
        generation = sources.generation

        async def commit_while_draining() -> None:
            """While a scale drains this generation, commit as soon as events are done: the
            coordinator waits for these commits, and new events wait for the coordinator
            (Faust alone commits every second)."""
            state = runtime.control.state() if runtime.control is not None else None
            nxt = state.next if state is not None else None
            if (nxt is not None and nxt.phase == "draining" and state is not None
                    and state.serving == generation and not app.rebalancing):
                await app.consumer.commit()

        app.timer(DRAIN_COMMIT_EVERY_S)(commit_while_draining)

    lag_sources = {*sources.events, sources.profiles}

    async def report_lag() -> None:
        """fl_consumer_lag for the owned source partitions: end offset - committed offset."""
        monitor = app.monitor
        for tp in app.consumer.assignment():
            if tp.topic in lag_sources:
                end = monitor.tp_end_offsets.get(tp)
                done = monitor.tp_committed_offsets.get(tp)
                if end is not None:
                    lag = max(0, end - (done if done is not None else 0))
                    runtime.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    app.timer(5.0)(report_lag)
