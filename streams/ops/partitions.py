"""The scaling coordinator of repartition mode: build, cut over, drain, switch, retire.

Every worker process runs a :class:`Coordinator` thread; only the member of the group
``<app_id>-partitions`` that owns ``fl.partitioning``'s one partition acts, so a killed
coordinator's role moves to another worker after the session timeout. Each :meth:`step` reads
the state (:mod:`streams.kafka.generations`), does a bounded piece of work and writes the
state it reached, so any process may die at any moment and the next coordinator continues.

Phases of a scale to ``N`` (docs/decisions.md, "Partitions owned by the pipeline"):

1. ``building``: create the new generation's topics, grow ``fl.deliveries`` and the retry tiers
   to ``N`` if smaller, copy the serving generation's table changelogs (progress). A
   ``cancel`` is honoured here (the new topics are deleted).
2. ``cutting``: the re-key stage switches every raw partition at the cut time and records it.
3. ``draining``: wait until the serving generation's group has committed everything written to
   it; then copy the rest of the changelogs, carry ``fl.esp.reports`` offsets over, and make
   the new generation serving. Workers re-exec into it (:mod:`streams.worker.generation`).

Retired generations' topics and groups are deleted once their group is empty.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import (Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewPartitions  # type: ignore[attr-defined]

from streams.config.settings import Config
from streams.errors import KafkaFailure
from streams.kafka.clients import confluent_config
from streams.kafka.generations import GenerationTopics, Next, ScaleState, generation_topics
from streams.kafka.partitioning import ControlView
from streams.kafka.provision import create_topics
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics
from streams.ops.tablecopy import ChangelogCopier, position_key

__all__ = ["Coordinator", "PHASE_NUMBERS", "grow_topics", "wait_partitions"]

log = logging.getLogger(__name__)

#: the fl_partitions_scale_phase gauge's values
PHASE_NUMBERS = {"building": 1, "cutting": 2, "draining": 3}
#: how long one step copies before it saves its positions
COPY_BUDGET_S = 1.0
#: the cut time is this far ahead, so every re-key member knows it before records reach it
CUT_AHEAD_MS = 500
KEEP_HANDLED = 20
#: how long a finished table copy waits for the workers' standbys before the cut-over
STANDBY_WAIT_S = 60.0


def grow_topics(admin: AdminClient, names: list[str], partitions: int,
                timeout_s: float = 60.0) -> list[str]:
    """Give every topic of ``names`` with fewer than ``partitions`` that many; the grown.

    Returns once the cluster's metadata shows the new count: a client that asks before
    (a producer writing to a new partition) is told the old one, and librdkafka fails a
    record for a partition it does not know with only a delivery report."""
    meta = admin.list_topics(timeout=30).topics
    grow = [n for n in names if n in meta and len(meta[n].partitions) < partitions]
    if grow:
        for name, future in admin.create_partitions(
                [NewPartitions(n, partitions) for n in grow], request_timeout=30).items():
            future.result()
            log.info("grew %s to %d partitions", name, partitions)
    wait_partitions(admin, grow, partitions, timeout_s)
    return grow


def wait_partitions(client: Any, names: list[str], partitions: int, timeout_s: float) -> None:
    """Until ``client``'s metadata (an AdminClient's or a Producer's) shows every topic of
    ``names`` with at least ``partitions`` partitions."""
    deadline = time.monotonic() + timeout_s
    while names:
        meta = client.list_topics(timeout=30).topics
        short = [n for n in names if n not in meta or len(meta[n].partitions) < partitions]
        if not short:
            return
        if time.monotonic() > deadline:
            raise KafkaFailure(f"{', '.join(short)}: not {partitions} partitions in the "
                               f"metadata {timeout_s:.0f} s after growing them")
        time.sleep(0.2)


class Coordinator:
    """Runs :meth:`step` while this process owns the coordinator role."""

    def __init__(self, config: Config, topics: Topics, control: ControlView,
                 metrics: PipelineMetrics, every_s: float = 0.2) -> None:
        self.config = config
        self.topics = topics
        self.control = control
        self.metrics = metrics
        self.every_s = every_s
        self.leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin = AdminClient(confluent_config(config.kafka))
        self._copier: ChangelogCopier | None = None
        self._queries: dict[str, Consumer] = {}
        self._ready_wait: dict[int, float] = {}  # generation -> when the copy was complete

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="partitions-coordinator",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        member = Consumer(confluent_config(self.config.kafka, **{
            "group.id": f"{self.config.worker.app_id}-partitions",
            "enable.auto.commit": False,
            "session.timeout.ms": int(self.config.worker.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(self.config.worker.session_timeout_s * 200)}))

        def assigned(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            consumer.assign(partitions)
            consumer.pause(partitions)  # membership only: the view reads the topic
            self.leader = bool(partitions)
            if self.leader:
                log.info("this worker coordinates partition scaling")

        def revoked(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            if self.leader:
                log.info("this worker no longer coordinates partition scaling")
            self.leader = False

        member.subscribe([self.topics.partitioning], on_assign=assigned, on_revoke=revoked,
                         on_lost=revoked)
        try:
            while not self._stop.is_set():
                member.poll(self.every_s)
                if not self.leader:
                    continue
                try:
                    self.step()
                except Exception as exc:  # a busy broker, a topic not there yet: next round
                    log.warning("partition scaling: %s: %s; trying again",
                                type(exc).__name__, exc)
                    self._stop.wait(1.0)
        finally:
            member.close()
            if self._copier is not None:
                self._copier.close()
            for query in self._queries.values():
                query.close()

    # -- one step --------------------------------------------------------------------------
    def step(self) -> None:
        state = self.control.state()
        if state is None:
            return
        nxt = state.next
        if nxt is None:
            self._idle(state)
        elif nxt.phase == "building":
            self._build(state, nxt)
        elif nxt.phase == "cutting":
            self._cut(state, nxt)
        elif nxt.phase == "draining":
            self._drain(state, nxt)

    def _idle(self, state: ScaleState) -> None:
        for number in state.retired:
            if self._retire(generation_topics(self.topics, number)):
                state = self.control.put_state(state.replace(
                    retired=tuple(g for g in state.retired if g != number)))
        request = self.control.request()
        if request is None or request.id in state.handled:
            return
        handled = (*state.handled, request.id)[-KEEP_HANDLED:]
        if request.partitions < 1 or request.partitions == state.partitions:
            reason = ("the count must be at least 1" if request.partitions < 1 else
                      f"the serving generation already has {state.partitions} partitions")
            self.control.put_state(state.replace(handled=handled, last={
                "request": request.id, "outcome": "refused", "reason": reason}))
            return
        number = max(state.highest, state.serving, *state.retired) + 1
        nxt = Next(generation=number, partitions=request.partitions, request_id=request.id,
                   started_ms=int(time.time() * 1000))
        log.info("scaling to %d partitions: building generation %d", request.partitions, number)
        self.control.put_state(state.replace(next=nxt, highest=number, last={}))

    def _build(self, state: ScaleState, nxt: Next) -> None:
        cancel = self.control.cancel()
        new = generation_topics(self.topics, nxt.generation)
        if cancel is not None and cancel.id == nxt.request_id:
            self._delete_topics(new.all)
            log.info("scale to %d partitions cancelled", nxt.partitions)
            self.control.put_state(state.replace(
                next=None, handled=(*state.handled, nxt.request_id)[-KEEP_HANDLED:],
                last={"request": nxt.request_id, "outcome": "cancelled",
                      "partitions": nxt.partitions}))
            return
        old = generation_topics(self.topics, state.serving)
        copier = self._copier_()
        began = time.monotonic()
        if not nxt.copy_targets:
            create_topics(self.config.kafka,
                          new.specs(nxt.partitions, self.config.kafka.raw_retention_hours,
                                    self.topics.max_message_bytes))
            grow_topics(self._admin, [self.topics.deliveries, *self.topics.retry.values()],
                        nxt.partitions)
            marks = copier.watermarks(list(old.changelogs))
            starts = {k: low for k, (low, _high) in marks.items()}
            targets = {k: high for k, (_low, high) in marks.items()}
            self.control.put_state(state.replace(next=_replace(
                nxt, copy_positions=starts, copy_targets=targets,
                copy_total=sum(max(0, targets[k] - starts[k]) for k in targets))))
            return
        rate = self.config.worker.scale_copy_rate_per_s
        positions, copied = copier.copy(_pairs(old, new), nxt.copy_positions, nxt.copy_targets,
                                        COPY_BUDGET_S, int(rate * COPY_BUDGET_S) or None)
        if rate:  # the step took less than its second if it copied its quota sooner
            self._stop.wait(max(0.0, copied / rate - (time.monotonic() - began)))
        nxt = _replace(nxt, copy_positions=positions, copied=nxt.copied + copied)
        if all(positions.get(k, 0) >= end for k, end in nxt.copy_targets.items()) \
                and self._standbys_ready(state, nxt):
            now = int(time.time() * 1000)
            nxt = _replace(nxt, phase="cutting", cut_at_ms=now + CUT_AHEAD_MS,
                           cut_started_ms=now)
            log.info("table copy done (%d records); cutting over", nxt.copied)
        if nxt != state.next:  # (nothing new while it waits for the standbys)
            self.control.put_state(state.replace(next=nxt))

    def _standbys_ready(self, state: ScaleState, nxt: Next) -> bool:
        """Whether every worker's standby for the new generation has recovered its tables
        (streams.worker.standby), so the cut-over does not wait for their start-up; after
        ``STANDBY_WAIT_S`` from the copy's end, or when the workers cannot be counted, the
        cut-over goes on without them (each worker then restarts into the generation)."""
        since = self._ready_wait.setdefault(nxt.generation, time.monotonic())
        group = generation_topics(self.topics, state.serving).group
        try:
            described = self._admin.describe_consumer_groups([group])[group].result()
        except Exception:  # the group is not there yet or the broker is busy: do not wait
            return True
        ready = len(self.control.ready(nxt.generation))
        if time.monotonic() - since >= STANDBY_WAIT_S:
            log.warning("%d of %d standby workers of generation %d ready after %.0fs; cutting "
                        "over anyway (the others restart into it)", ready,
                        len(described.members), nxt.generation, STANDBY_WAIT_S)
            return True
        if ready >= len(described.members):
            log.info("%d standby workers of generation %d ready after %.1fs", ready,
                     nxt.generation, time.monotonic() - since)
            return True
        return False

    def _cut(self, state: ScaleState, nxt: Next) -> None:
        nxt = self._catch_up(state, nxt, COPY_BUDGET_S / 2)
        meta = self._admin.list_topics(timeout=30).topics
        cuts: dict[str, int] = {}
        for topic in [*self.topics.raw.values(), self.topics.ref_profiles]:
            for partition in meta[topic].partitions:
                cut = self.control.cut(topic, partition)
                if cut is None or cut.generation != nxt.generation:
                    if nxt != state.next:
                        self.control.put_state(state.replace(next=nxt))
                    return
                cuts[position_key(topic, partition)] = cut.offset
        old = generation_topics(self.topics, state.serving)
        targets = self._copier_().ends([old.events, old.profiles])
        log.info("every raw partition is cut over; draining generation %d", state.serving)
        self.control.put_state(state.replace(next=_replace(
            nxt, phase="draining", cuts=cuts, drain_targets=targets)))

    def _drain(self, state: ScaleState, nxt: Next) -> None:
        nxt = self._catch_up(state, nxt, COPY_BUDGET_S / 2)
        old = generation_topics(self.topics, state.serving)
        if not self._drained(old.group, nxt.drain_targets):
            if nxt != state.next:
                self.control.put_state(state.replace(next=nxt))
            return
        # the serving generation committed everything: its changelogs are complete
        nxt = self._catch_up(state, nxt, None)
        self._carry_offsets(old.group, generation_topics(self.topics, nxt.generation).group,
                            [self.topics.esp_reports])
        took_s = (time.time() * 1000 - nxt.cut_started_ms) / 1000
        log.info("generation %d (%d partitions) serves; the cut-over took %.1fs",
                 nxt.generation, nxt.partitions, took_s)
        self.control.put_state(ScaleState(
            serving=nxt.generation, partitions=nxt.partitions, next=None,
            retired=(*state.retired, state.serving),
            handled=(*state.handled, nxt.request_id)[-KEEP_HANDLED:],
            highest=max(state.highest, nxt.generation),
            last={"request": nxt.request_id, "outcome": "done", "from": state.partitions,
                  "partitions": nxt.partitions, "generation": nxt.generation,
                  "copied": nxt.copied, "cut_over_s": round(took_s, 2)}))

    # -- helpers ---------------------------------------------------------------------------
    def _catch_up(self, state: ScaleState, nxt: Next, budget_s: float | None) -> Next:
        """Copy changelog records written since the bulk copy (all of them if no budget)."""
        old = generation_topics(self.topics, state.serving)
        new = generation_topics(self.topics, nxt.generation)
        copier = self._copier_()
        while True:
            ends = copier.ends(list(old.changelogs))
            positions, copied = copier.copy(_pairs(old, new), nxt.copy_positions, ends,
                                            budget_s if budget_s is not None else 10.0)
            nxt = _replace(nxt, copy_positions=positions, copied=nxt.copied + copied)
            if budget_s is not None or all(positions.get(k, 0) >= e for k, e in ends.items()):
                return nxt

    def _drained(self, group: str, targets: dict[str, int]) -> bool:
        tps = [TopicPartition(*_split(k)) for k in targets]
        committed = {position_key(tp.topic, tp.partition): tp.offset
                     for tp in self._query(group).committed(tps, timeout=10)}
        lows = self._copier_().watermarks(sorted({tp.topic for tp in tps}))
        return all(end <= lows[k][0] or committed.get(k, -1) >= end for k, end in targets.items())

    def _carry_offsets(self, old_group: str, new_group: str, topics: list[str]) -> None:
        """Give ``new_group`` ``old_group``'s committed offsets of ``topics``."""
        ends = self._copier_().ends(topics)
        tps = [TopicPartition(*_split(k)) for k in ends]
        done = [tp for tp in self._query(old_group).committed(tps, timeout=10) if tp.offset >= 0]
        if done:
            futures = self._admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(new_group, done)])
            for future in futures.values():
                future.result()

    def _retire(self, names: GenerationTopics) -> bool:
        """Delete a retired generation once its group has no members; True when done."""
        description = self._admin.describe_consumer_groups([names.group])[names.group].result()
        if description.state not in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD):
            return False
        self._delete_topics(names.all)
        if description.state == ConsumerGroupState.EMPTY:
            for future in self._admin.delete_consumer_groups([names.group]).values():
                future.result()
        log.info("generation %d retired: topics and group deleted", names.number)
        return True

    def _delete_topics(self, names: tuple[str, ...]) -> None:
        present = self._admin.list_topics(timeout=30).topics
        doomed = [n for n in names if n in present]
        if doomed:
            for future in self._admin.delete_topics(doomed, operation_timeout=30).values():
                future.result()

    def _copier_(self) -> ChangelogCopier:
        if self._copier is None:
            self._copier = ChangelogCopier(self.config.kafka,
                                           f"{self.config.worker.app_id}-partitions-copy")
        return self._copier

    def _query(self, group: str) -> Consumer:
        """A client that reads ``group``'s committed offsets (never joins it)."""
        query = self._queries.get(group)
        if query is None:
            query = self._queries[group] = Consumer(confluent_config(self.config.kafka, **{
                "group.id": group, "enable.auto.commit": False}))
        return query


def _pairs(old: GenerationTopics, new: GenerationTopics) -> dict[str, str]:
    return dict(zip(old.changelogs, new.changelogs))


def _split(key: str) -> tuple[str, int]:
    topic, partition = key.rsplit("/", 1)
    return topic, int(partition)


def _replace(nxt: Next, **changes: Any) -> Next:
    import dataclasses

    return dataclasses.replace(nxt, **changes)
