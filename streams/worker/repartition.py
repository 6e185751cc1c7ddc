"""The re-key stage of ``worker.partitioning: repartition``: raw topics -> a generation's topics.

A confluent-kafka consumer group (``<app_id>-rekey``, one member per worker process, on its own
thread) reads every raw topic and ``fl.ref.profiles`` — whatever their partition count and
partitioner — and writes each record to the internal topics of a generation
(:mod:`streams.kafka.generations`): raw events to ``fl.gen<G>.events`` keyed by the event's
profile id (else recipient), snapshots to ``fl.gen<G>.profiles`` with their key, murmur2
partitioned, so events and snapshots of one profile share a partition number. Each record
keeps its timestamp and headers and gains ``fl-src: <topic>/<partition>/<offset>`` (the
worker names the raw record in metrics, type checks and ``fl.invalid``). A value that is not a
JSON object naming a profile or recipient keeps its key; the worker refuses it.

Within a consume batch the records are written in timestamp order across partitions (each
partition's own order kept; profile records first at equal timestamps), as the worker orders
them (:mod:`streams.worker.ordering`). A batch is flushed before its offsets count as done, and
offsets are committed every ``COMMIT_EVERY_S``: at-least-once.

Which generation a record goes to (:func:`route`): the serving one, until a scale reaches its
cut. Then each partition switches at its first record stamped at or after the cut time (an
idle partition at its end once the clock passed the cut time), and the member writes a
``cut/<topic>/<partition>`` record once everything before it is flushed. A member that takes
over a partition skips what lies before a recorded cut (durable in the previous generation).
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
from typing import Any, Iterator, cast

import orjson
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from streams.config.settings import Config
from streams.errors import NotAcknowledged
from streams.kafka.clients import confluent_config, producer_config
from streams.kafka.generations import Cut, GenerationTopics, ScaleState, generation_topics
from streams.kafka.partitioning import ControlView
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics

__all__ = ["Rekeyer", "SKIP", "rekey_group", "route", "routing_key"]

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 0.5
CONSUME_BATCH = 2000
#: an idle partition switches this long after the cut time (records stamped before the cut
#: time may still be in a producer's queue until then)
IDLE_SWITCH_AFTER_MS = 500
#: returned by :func:`route` for a record already durable in an earlier generation
SKIP = -1

TP = tuple[str, int]


def rekey_group(app_id: str) -> str:
    """The re-key stage's consumer group."""
    return f"{app_id}-rekey"


def routing_key(value: bytes | None, key: bytes | None) -> bytes | None:
    """The profile id, else the recipient, of a raw event (else its own key)."""
    if value is None:
        return key
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return key
    if not isinstance(doc, dict):
        return key
    wanted = doc.get("profile") or doc.get("recipient")
    return wanted.encode() if isinstance(wanted, str) and wanted else key


def route(state: ScaleState, cut: Cut | None, switched: dict[TP, int], tp: TP, offset: int,
          timestamp_ms: int) -> int:
    """The generation the record at ``tp``/``offset`` goes to, or :data:`SKIP`.

    ``cut`` is the partition's recorded cut, ``switched`` this member's switches not yet
    recorded (updated here when the record is the first one stamped at or after the cut time).
    """
    nxt = state.next
    cutting = nxt is not None and nxt.phase != "building"
    if cut is not None and offset < cut.offset and (
            cut.generation == state.serving
            or (nxt is not None and cutting and cut.generation == nxt.generation)):
        return SKIP
    if not cutting:
        return state.serving
    if nxt is None:  # (cutting implies a next generation)
        return state.serving
    if cut is not None and cut.generation == nxt.generation:
        return nxt.generation
    at = switched.get(tp)
    if at is None and timestamp_ms >= nxt.cut_at_ms:
        switched[tp] = at = offset
    return nxt.generation if at is not None and offset >= at else state.serving


class Rekeyer:
    """The re-key stage of one worker process: :meth:`start`, :meth:`stop`."""

    def __init__(self, config: Config, topics: Topics, control: ControlView,
                 metrics: PipelineMetrics) -> None:
        self.config = config
        self.topics = topics
        self.control = control
        self.metrics = metrics
        self.sources = [*topics.raw.values(), topics.ref_profiles]
        self._first = {topics.raw["profile"], topics.ref_profiles}
        self._generations: dict[int, GenerationTopics] = {}
        self._switched: dict[TP, int] = {}
        self._switched_for = 0  # the generation self._switched is about
        self._recorded: set[TP] = set()
        self._positions: dict[TP, int] = {}
        self._owned: set[TP] = set()
        self._state: ScaleState | None = None
        self._state_version = -1
        self._next_idle_check = 0.0
        self._cut_cache: dict[TP, Cut] = {}
        self._cuts_version = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._producer = Producer(producer_config(config.kafka, **{
            "linger.ms": 5, "batch.num.messages": 10000, "compression.type": "lz4",
            "queue.buffering.max.messages": 500000}))
        self.failed: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rekey", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the batch in hand, commit, leave the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            self._consume()
        except BaseException as exc:  # surfaced by the worker, which exits (and restarts)
            self.failed = exc
            log.exception("re-key stage stopped")

    def _consume(self) -> None:
        consumer = self._consumer = Consumer(confluent_config(self.config.kafka, **{
            "group.id": rekey_group(self.config.worker.app_id),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "roundrobin",
            "session.timeout.ms": int(self.config.worker.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(self.config.worker.session_timeout_s * 200),
            "fetch.wait.max.ms": 20,
            "queued.max.messages.kbytes": 65536,
        }))
        consumer.subscribe(self.sources, on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        last_commit = time.monotonic()
        try:
            while not self._stop.is_set():
                msgs = consumer.consume(CONSUME_BATCH, 0.05)
                state = self._current_state()
                if state is None:
                    time.sleep(0.1)  # no generation yet: the worker writes the first one
                    if msgs:
                        self._rewind(msgs)
                    continue
                if msgs:
                    self._forward(state, msgs)
                self._switch_idle(state)
                self._flush_and_record(state)
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    self._commit(asynchronous=True)
                    last_commit = time.monotonic()
        finally:
            state = self._current_state()
            if state is not None:
                self._flush_and_record(state)
            self._commit(asynchronous=False)
            consumer.close()

    # -- the per-record path ---------------------------------------------------------------
    def _forward(self, state: ScaleState, msgs: list[Message]) -> None:
        produce = self._producer.produce
        counts: dict[str, int] = {}
        positions = self._positions
        ref_profiles = self.topics.ref_profiles
        cuts = self._cuts()
        switched = self._switches(state)
        nxt = state.next
        # no scale past its build: everything goes to the serving generation (unless a
        # recorded cut says the record is already in it), without the full rule
        steady = nxt is None or nxt.phase == "building"
        serving = state.serving
        names = self._generation(serving)
        for msg in _by_timestamp(msgs, self._first):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("re-key consumer: %s", err)
                continue
            # a message without an error has all three (the stubs say Optional)
            topic = cast(str, msg.topic())
            partition, offset = cast(int, msg.partition()), cast(int, msg.offset())
            tp = (topic, partition)
            timestamp_ms = msg.timestamp()[1]
            cut = cuts.get(tp)
            positions[tp] = offset + 1
            if steady and (cut is None or offset >= cut.offset):
                target_names = names
            else:
                generation = route(state, cut, switched, tp, offset, timestamp_ms)
                if generation == SKIP:
                    continue
                target_names = self._generation(generation)
            value = msg.value()
            if topic == ref_profiles:
                target, key = target_names.profiles, msg.key()
            else:
                target, key = target_names.events, routing_key(value, msg.key())
            headers: list[tuple[str, Any]] = [("fl-src", f"{topic}/{partition}/{offset}".encode())]
            original = msg.headers()
            if original:
                headers.extend(original.items() if isinstance(original, dict) else original)
            while True:
                try:
                    produce(target, value, key, headers=headers, timestamp=timestamp_ms)
                    break
                except BufferError:  # local queue full: let deliveries finish first
                    self._producer.poll(0.05)
            counts[topic] = counts.get(topic, 0) + 1
        for topic, n in counts.items():
            self.metrics.rekeyed.labels(topic).inc(n)

    def _cuts(self) -> dict[TP, Cut]:
        """Every recorded cut by raw partition, read again only when the view changed."""
        version = self.control.version
        if version != self._cuts_version:
            self._cuts_version = version
            self._cut_cache = self.control.cuts()
        return self._cut_cache

    def _switches(self, state: ScaleState) -> dict[TP, int]:
        nxt = state.next
        generation = nxt.generation if nxt is not None else 0
        if generation != self._switched_for:  # a new scale (or none): forget the last one's
            self._switched, self._recorded, self._switched_for = {}, set(), generation
        return self._switched

    def _switch_idle(self, state: ScaleState) -> None:
        """Once the clock is past the cut time, switch owned partitions that are at their end."""
        nxt = state.next
        if nxt is None or nxt.phase == "building" or self._consumer is None:
            return
        now = time.monotonic()
        if time.time() * 1000 < nxt.cut_at_ms + IDLE_SWITCH_AFTER_MS or now < self._next_idle_check:
            return
        self._next_idle_check = now + 0.2
        switched = self._switches(state)
        for tp in list(self._owned):
            cut = self.control.cut(*tp)
            if tp in switched or (cut is not None and cut.generation == nxt.generation):
                continue
            low, high = self._consumer.get_watermark_offsets(TopicPartition(*tp), timeout=5)
            position = self._positions.get(tp)
            if position is None:
                committed = self._consumer.committed([TopicPartition(*tp)], timeout=5)[0].offset
                position = committed if committed >= 0 else low
            if position >= high:
                switched[tp] = high

    def _flush_and_record(self, state: ScaleState) -> None:
        """Flush what was produced; then record the partitions switched meanwhile."""
        remaining = self._producer.flush(30)
        if remaining:
            raise NotAcknowledged(f"re-key stage: {remaining} records not acknowledged in 30 s")
        nxt = state.next
        if nxt is None:
            return
        fresh = [(tp, at) for tp, at in self._switched.items()
                 if tp not in self._recorded and tp in self._owned]
        if fresh:
            self.control.put_cuts([(t, p, Cut(nxt.generation, at)) for (t, p), at in fresh])
            self._recorded.update(tp for tp, _ in fresh)
            log.info("re-key: switched %d partitions to generation %d", len(fresh),
                     nxt.generation)

    # -- helpers ---------------------------------------------------------------------------
    def _current_state(self) -> ScaleState | None:
        version = self.control.version
        if version != self._state_version:
            self._state_version = version
            self._state = self.control.state()
        return self._state

    def _generation(self, number: int) -> GenerationTopics:
        names = self._generations.get(number)
        if names is None:
            names = self._generations[number] = generation_topics(self.topics, number)
        return names

    def _rewind(self, msgs: list[Message]) -> None:
        """Read ``msgs`` again later (nothing can be routed before the first generation)."""
        first: dict[TP, int] = {}
        for msg in msgs:
            if msg.error() is None:
                first.setdefault((cast(str, msg.topic()), cast(int, msg.partition())),
                                 cast(int, msg.offset()))
        if self._consumer is not None:
            for (topic, partition), offset in first.items():
                self._consumer.seek(TopicPartition(topic, partition, offset))

    def _commit(self, asynchronous: bool, only: set[TP] | None = None) -> None:
        if self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._positions.items()
                   if only is None or (t, p) in only]
        if not offsets:
            return
        try:
            if asynchronous:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # rebalancing: the next commit (or the new owner) catches up
            log.info("re-key commit deferred: %s", exc)

    # -- rebalance (on this thread, inside consume) ----------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._owned |= {(p.topic, p.partition) for p in partitions}
        log.info("re-key: assigned %d partitions", len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        state = self._current_state()
        if state is not None:
            self._flush_and_record(state)
        self._commit(asynchronous=False, only=revoked)
        self._forget(revoked)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget({(p.topic, p.partition) for p in partitions})

    def _forget(self, tps: set[TP]) -> None:
        self._owned -= tps
        for tp in tps:
            self._positions.pop(tp, None)
            self._switched.pop(tp, None)
            self._recorded.discard(tp)


def _by_timestamp(msgs: list[Message], first: set[str]) -> Iterator[Message]:
    """``msgs`` merged by timestamp across partitions, each partition's order kept; records of
    ``first`` topics go first at equal timestamps."""
    by_tp: dict[tuple[str | None, int | None], list[Message]] = {}
    for msg in msgs:
        by_tp.setdefault((msg.topic(), msg.partition()), []).append(msg)
    if len(by_tp) == 1:
        return iter(msgs)
    streams = [_keyed(0 if tp[0] in first else 1, i, part)
               for i, (tp, part) in enumerate(by_tp.items())]
    return (entry[-1] for entry in heapq.merge(*streams))


def _keyed(rank: int, i: int, part: list[Message]) -> Iterator[tuple[int, int, int, int, Message]]:
    # (timestamp, rank, partition index, position): ties never compare the messages
    return ((m.timestamp()[1], rank, i, n, m) for n, m in enumerate(part))
