"""Runs replays: reads a request's window, enriches as live, routes to its one loop, writes the
replay lane's topic, and keeps its progress in ``fl.replays``.

Ownership: replayer processes form a consumer group on ``fl.replays``; the process assigned
partition *q* runs the replays whose records live in *q* (:func:`replay_partition`). A new
owner (after a rebalance, or a ``kill -9``) continues from the last progress record.

Durability: a progress record (positions per span, counts) is written only after every
delivery routed before it is acknowledged by Kafka (the producer is flushed first). So a
crash repeats at most the deliveries since the last progress record — with the same delivery
ids, hence the same ``webhook-id`` (``--new-ids``: the same fresh ids) — and skips nothing.

Pace: the process's :class:`~streams.replay.pace.Pace` (the CPU the live pipeline leaves,
shared by its replays) and ``rate_per_s`` (the request's ``--rate``) cap routed deliveries per
second, and a replay never routes more than ``replay.max_ahead`` deliveries ahead of what its
lane has finished.
A cancel (``<id>/cancel``) stops the reader within a poll; the lane drops what is queued.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from enrichers.routing import delivery_id, replay_delivery_id
from schemas.loop import Loop

from streams.config.settings import Config
from streams.errors import NotAcknowledged, ReplayFailed
from streams.kafka.clients import confluent_config
from streams.kafka.records import delivery_key, encode, new_delivery
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.kafka.window import Span, Window
from streams.ops.history import History, Selection
from streams.replay.book import ReplayBook, replay_partition
from streams.replay.gate import LiveBacklog
from streams.replay.pace import Pace
from streams.worker.enrichment import TagLookup

__all__ = ["ReplayTask", "Replayer"]

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0
#: the runner's own states in the progress record (the book derives sending/done from them)
RUNNING, ROUTED, CANCELLED, FAILED = "running", "routed", "cancelled", "failed"


class ReplayTask(threading.Thread):
    """One replay, run to its end, a cancel, or :meth:`halt` (ownership lost)."""

    def __init__(self, config: Config, topics: Topics, book: ReplayBook, tags: TagLookup,
                 loops: CompactedView[Loop], producer: Producer,
                 request: dict[str, Any], gate: LiveBacklog | None = None,
                 pace: Pace | None = None) -> None:
        super().__init__(name=f"replay:{request['id']}", daemon=True)
        self.pace = pace
        self.config = config
        self.topics = topics
        self.book = book
        self.tags = tags
        self.loops = loops
        self.producer = producer
        self.request = request
        self.gate = gate
        self.id: str = request["id"]
        self._halt = threading.Event()
        self._cancel = threading.Event()
        progress = book.view.get(f"{self.id}/progress") or {}
        self.positions: dict[str, int] = dict(progress.get("positions") or {})
        self.counts = {k: int(progress.get(k, 0)) for k in ("read", "selected", "routed")}
        self.started_at = progress.get("started_at") or time.time()
        self._lane_done = 0

    def halt(self) -> None:
        """Stop and leave the replay to the partition's next owner."""
        self._halt.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def stopping(self) -> bool:
        return self._halt.is_set() or self._cancel.is_set()

    def run(self) -> None:
        try:
            state = self._run()
        except Exception as exc:  # a bad window or a bug fails this replay, not the process
            log.exception("replay %s failed", self.id)
            self._checkpoint(FAILED, f"{type(exc).__name__}: {exc}")
            return
        self._checkpoint(state)
        log.info("replay %s: %s after %d read, %d routed", self.id, state,
                 self.counts["read"], self.counts["routed"])

    def _run(self) -> str:
        r = self.request
        loop = self.loops.get(r["loop_id"])
        if loop is None or not loop.deliverable:
            why = "deleted" if loop is None else loop.undeliverable_reason()
            raise ReplayFailed(f"loop {r['loop_id']}: {why}")
        selection = Selection(frozenset(r["types"]) if r.get("types") else None,
                              r.get("database"), r.get("collection"), loop)
        window = Window(r["since_ms"], r["until_ms"],
                        tuple(Span(t, p, s, e) for t, p, s, e in r["spans"]))
        dry = bool(r.get("dry_run"))
        history = History(self.config.kafka, self.topics, self.tags, selection,
                          with_profiles=not dry)
        rate = r.get("rate_per_s")
        pace_started, paced = time.monotonic(), 0
        last = time.monotonic()
        items = history.read(window, self.positions)
        try:
            for item in items:
                if self.stopping:
                    break
                self.counts["read"] += 1
                if item.event is not None:
                    self.counts["selected"] += 1
                    if not dry:
                        self._wait_for_live()
                        if self.pace is not None and not self.pace.take(lambda: self.stopping):
                            break
                        self._route(loop.id, item.event, item.payload or {}, item.timestamp_ms,
                                    bool(r.get("new_ids")))
                        paced += 1
                        if rate:  # sleep until this delivery's turn
                            due = pace_started + paced / rate
                            while not self.stopping and time.monotonic() < due:
                                time.sleep(min(0.2, due - time.monotonic()))
                        self._wait_for_lane()
                self.positions[item.span] = item.offset + 1
                if time.monotonic() - last >= CHECKPOINT_EVERY_S:
                    self._checkpoint(RUNNING)
                    last = time.monotonic()
        finally:
            items.close()
        if self._cancel.is_set():
            return CANCELLED
        if self._halt.is_set():
            return RUNNING
        return ROUTED

    def _route(self, loop_id: str, event: dict[str, Any], payload: dict[str, Any], ts_ms: int,
               new_ids: bool) -> None:
        ident = (replay_delivery_id(event["id"], loop_id, self.id) if new_ids
                 else delivery_id(event["id"], loop_id))
        delivery = new_delivery(ident, loop_id, event, {**payload, "replay": True}, ts_ms)
        delivery["replay_id"] = self.id
        while True:
            try:
                self.producer.produce(self.topics.replay_deliveries, encode(delivery),
                                      delivery_key(delivery))
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)
        self.counts["routed"] += 1

    def _wait_for_live(self) -> None:
        """Hold the reader while the live pipeline has a backlog (see streams.replay.gate)."""
        while self.gate is not None and self.gate.paused and not self.stopping:
            time.sleep(0.2)

    def _wait_for_lane(self) -> None:
        """Hold the reader while the lane is ``max_ahead`` deliveries behind (the lane's
        count only grows, so the last one read is enough until the limit is reached)."""
        limit = self.config.replay.max_ahead
        while not self.stopping and self.counts["routed"] - self._lane_done > limit:
            status = self.book.status(self.id)
            self._lane_done = status["delivered"] + status["failed"] + status["dropped"]
            if self.counts["routed"] - self._lane_done > limit:
                self._checkpoint(RUNNING)
                time.sleep(0.5)

    def _checkpoint(self, state: str, error: str | None = None) -> None:
        if self.producer.flush(30):
            raise NotAcknowledged("replay deliveries not acknowledged by Kafka within 30 s")
        doc = {"id": self.id, "state": state, "positions": self.positions, **self.counts,
               "started_at": self.started_at, "updated_at": time.time(), "error": error,
               "finished_at": time.time() if state in (ROUTED, CANCELLED, FAILED) else None}
        self.book.put(self.id, "/progress", doc, wait=state != RUNNING)


class Replayer:
    """Owns ``fl.replays`` partitions through a consumer group and runs their replays."""

    def __init__(self, config: Config, topics: Topics, book: ReplayBook, tags: TagLookup,
                 loops: CompactedView[Loop], gate: LiveBacklog | None = None,
                 pace: Pace | None = None) -> None:
        self.config = config
        self.gate = gate
        self.pace = pace
        self.topics = topics
        self.book = book
        self.tags = tags
        self.loops = loops
        from streams.kafka.clients import producer_config

        self.producer = Producer(producer_config(config.kafka, **{
            "linger.ms": 20, "compression.type": "lz4"}))
        self.tasks: dict[str, ReplayTask] = {}
        #: owned partitions -> the offset the book must have read before they run
        self._owned: dict[int, int] = {}
        self._partitions = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Until :meth:`stop`: serve the group, start and stop replays (blocking)."""
        consumer = Consumer(confluent_config(self.config.kafka, **{
            "group.id": f"{self.config.worker.app_id}-replayer", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 15000,
            "heartbeat.interval.ms": 3000}))
        meta = consumer.list_topics(self.topics.replays, timeout=30).topics[self.topics.replays]
        self._partitions = len(meta.partitions)
        consumer.subscribe([self.topics.replays], on_assign=self._assigned,
                           on_revoke=self._revoked, on_lost=self._revoked)
        try:
            while not self._stop.is_set():
                consumer.consume(100, 0.5)  # the data comes through the book; this serves the group
                self._reconcile()
        finally:
            self._halt_all(list(self.tasks))
            consumer.close()

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            self._owned[tp.partition] = high
            tp.offset = OFFSET_BEGINNING
        consumer.assign(partitions)
        log.info("replayer owns fl.replays partitions %s", sorted(self._owned))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        for p in gone:
            self._owned.pop(p, None)
        self._halt_all([rid for rid in self.tasks
                        if replay_partition(rid, self._partitions) in gone])

    def _halt_all(self, ids: list[str]) -> None:
        for rid in ids:
            self.tasks[rid].halt()
        for rid in ids:
            self.tasks.pop(rid).join(60)

    def _reconcile(self) -> None:
        for rid, task in list(self.tasks.items()):
            if not task.is_alive():
                del self.tasks[rid]
            elif self.book.cancelled(rid) and not task.stopping:
                task.cancel()
        ready = {p for p, high in self._owned.items()
                 if high == 0 or self.book.view.wait_for(p, high - 1, timeout_s=0.0)}
        for rid in self.book.ids():
            if rid in self.tasks or replay_partition(rid, self._partitions) not in ready:
                continue
            progress = self.book.view.get(f"{rid}/progress") or {}
            if progress.get("state") in (ROUTED, CANCELLED, FAILED):
                continue
            request = self.book.request(rid)
            if request is None:
                continue
            if self.book.cancelled(rid):  # cancelled before it ever ran
                self.book.put(rid, "/progress", {**progress, "id": rid, "state": CANCELLED,
                                                 "finished_at": time.time()})
                continue
            task = ReplayTask(self.config, self.topics, self.book, self.tags, self.loops,
                              self.producer, request, self.gate, self.pace)
            self.tasks[rid] = task
            log.info("replay %s: starting (loop %s, %d records in the window)", rid,
                     request["loop_id"], request.get("records", 0))
            task.start()
