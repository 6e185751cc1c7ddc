"""The sender's per-delivery path: decode, decide, queue in the loop's lane, write the outcome.

:meth:`Intake.read` decodes a record once and opens its ledger entry (a malformed record is
dead-lettered). :meth:`Intake.begin` applies :mod:`streams.delivery.decision` (dead letter /
defer / send) and queues the delivery in its loop's lane, or in the loop's open json-batch.
:meth:`Intake.after` turns an outcome into records (:class:`OutcomeRouter`) and produces them;
each entry finishes when Kafka acknowledged all of its records.

Per-delivery cost is kept down on purpose: Prometheus children are looked up once per loop
(:class:`LoopMetrics`), the lane figures are only consulted when a loop's queue is longer than
its in-flight cap, and a delivered outcome writes its attempt log without copying the delivery.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from confluent_kafka import Message
from prometheus_client.metrics import Counter, Histogram

from schemas.loop import Loop
from senders.batching import Batcher, item_bytes
from senders.engine import Outcome
from senders.lanes import Job, Lanes

from streams.config.settings import Config
from streams.delivery.decision import admit, undeliverable
from streams.delivery.disabling import LoopDisabler
from streams.delivery.ledger import TP, Entry, Ledger
from streams.delivery.outcomes import OutcomeRouter
from streams.kafka.output import Output
from streams.errors import InvalidDelivery
from streams.kafka.records import Delivery, OutRecord, decode, delivery_key, encode, now_ms
from streams.kafka.registry import CompactedView
from streams.metrics import PipelineMetrics
from streams.replay.counts import ReplayCounts

__all__ = ["Intake", "LoopMetrics"]

log = logging.getLogger(__name__)

KINDS = ("delivered", "retry", "dead", "gone", "deferred")


class LoopMetrics:
    """One loop's Prometheus children, created (at 0, so ``increase()`` sees the first event)
    once instead of looked up per delivery."""

    __slots__ = ("outcomes", "delivered_events", "latency", "dead_letters")

    def __init__(self, m: PipelineMetrics, loop_id: str) -> None:
        self.outcomes: dict[str, Counter] = {k: m.deliveries.labels(loop_id, k) for k in KINDS}
        self.delivered_events: Counter = m.delivered_events.labels(loop_id)
        self.latency: Histogram = m.http_latency.labels(loop_id)
        self.dead_letters: Counter = m.dead_letters.labels(loop_id)
        m.breaker_open.labels(loop_id).set(0)


class Intake:
    """See the module docstring; ``lanes`` is set by the service once both exist."""

    lanes: Lanes

    def __init__(self, config: Config, router: OutcomeRouter, loops: CompactedView[Loop],
                 metrics: PipelineMetrics, output: Output, disabler: LoopDisabler,
                 max_active: int, lane: str = "live", replays: Any = None) -> None:
        self.config = config
        #: "live": replay deliveries back from a retry tier go to the replay lane's topic;
        #: "replay": no deferral, deliveries of cancelled replays dropped, outcomes counted
        self.lane = lane
        self.replays = replays
        self.replay_counts = ReplayCounts(replays) if lane == "replay" and replays else None
        self.router = router
        self.loops = loops
        self.metrics = metrics
        self.output = output
        self.disabler = disabler
        self.max_active = max_active
        self.batcher: Batcher[Entry] = Batcher(max_body_bytes=config.limits.batch_body_bytes)
        #: deliveries started and not yet decided (queued, in flight, or in an open batch)
        self.active = 0
        self._active_by_loop: dict[str, int] = {}
        self._metrics: dict[str, LoopMetrics] = {}
        self._tiers: dict[str, Counter] = {}
        self._defer_after_s = config.sender.defer_after_s
        self._max_age_s = config.sender.max_age_s
        self._disable_after_s = config.sender.disable_after_s

    # -- records in --------------------------------------------------------------------------
    def read(self, ledger: Ledger, msg: Message, now: int) -> Entry | None:
        """Decode and open the record's entry; None when there is nothing more to do (its
        partition was revoked, or it was malformed and is being dead-lettered)."""
        tp: TP = (msg.topic(), msg.partition())  # type: ignore[assignment]
        offset: int = msg.offset()  # type: ignore[assignment]
        value = msg.value()
        try:
            delivery = decode(value or b"")
        except InvalidDelivery as exc:
            entry = ledger.read(tp, offset, {})
            if entry is not None:
                loop_id = (msg.key() or b"").split(b"|", 1)[0].decode("utf-8", "replace")
                self.metrics.dead_letters.labels(loop_id).inc()
                self._produce([OutRecord(self.router.topics.dead, msg.key(), value,
                                         [("fl-reason", f"malformed delivery record: {exc}".encode())])],
                              entry)
            return None
        return ledger.read(tp, offset, delivery)

    def begin(self, entry: Entry) -> None:
        """Decide and start one delivery; a bug dead-letters it instead of stopping the sender."""
        try:
            self._begin(entry)
        except Exception as exc:
            d = entry.delivery
            log.exception("could not start delivery %s (%s[%d]@%d)", d.get("delivery_id"),
                          entry.tp[0], entry.tp[1], entry.offset)
            self._dead_now(entry, f"internal error: {type(exc).__name__}: {exc}")

    def _begin(self, entry: Entry) -> None:
        delivery = entry.delivery
        replay_id = delivery.get("replay_id")
        if replay_id is not None and self._replay_elsewhere(entry, str(replay_id)):
            return
        loop_id = delivery["loop_id"]
        settings = self.loops.get(loop_id)
        problem = undeliverable(settings)
        if problem is not None:
            self._forget(loop_id)  # a re-enabled loop starts with a fresh breaker and streak
            self._dead_now(entry, problem)
            return
        assert settings is not None
        self._loop_metrics(loop_id)
        held = self._active_by_loop.get(loop_id, 0)
        lanes = self.lanes
        queued = lanes.queued(loop_id)
        capacity = lanes.capacity(settings)
        if self.lane == "live" and (queued >= capacity or held >= self.max_active // 2) and admit(
                held=held, queued=queued, capacity=capacity,
                others_busy=lanes.busy > (1 if lanes.lane_held(loop_id) else 0),
                max_active=self.max_active, per_call_s=lanes.per_call_s(loop_id),
                defer_after_s=self._defer_after_s,
                oldest_call_s=lanes.oldest_call_s(loop_id)) == "defer":
            # back when the queue should have drained, at most the loop's timeout from now (for
            # a loop none of whose calls was ever answered: when its oldest call times out), so
            # a hanging loop's deliveries are not re-read and re-deferred every 5 s
            unanswered_s = lanes.unanswered_s(loop_id)
            delay_s = (settings.timeout_s - unanswered_s if unanswered_s is not None
                       else queued * lanes.per_call_s(loop_id))
            self._defer(entry, loop_id, min(delay_s, settings.timeout_s))
            return
        self.active += 1
        self._active_by_loop[loop_id] = held + 1
        if settings.encoding == "json-batch":
            # a batch carries one replay's deliveries (its call carries that replay's id)
            key = loop_id if replay_id is None else f"{loop_id}|{replay_id}"
            full = self.batcher.add(key, entry, settings.batch_max_events,
                                    settings.batch_max_wait_ms,
                                    item_bytes(delivery["payload"], delivery["delivery_id"]))
            if full is not None:
                self._start_batch(key, full)
            return
        lanes.submit(settings, Job(delivery["delivery_id"], [delivery["payload"]],
                                   len(delivery.get("attempts", ())) + 1, _age_s(delivery),
                                   [entry], headers=_replay_headers(delivery)))

    def _replay_elsewhere(self, entry: Entry, replay_id: str) -> bool:
        """A replay delivery the live sender read from a retry tier goes back to the replay
        lane's topic; the replay lane drops those of a cancelled replay. True: handled."""
        if self.lane == "live":
            back: Delivery = dict(entry.delivery)  # type: ignore[assignment]
            back.pop("not_before_ms", None)
            self._produce([OutRecord(self.router.topics.replay_deliveries, delivery_key(back),
                                     encode(back))], entry)
            return True
        if self.replays is not None and self.replays.cancelled(replay_id):
            self._count(entry.delivery, "dropped")
            entry.finish()
            return True
        return False

    def _count(self, delivery: Delivery, outcome: str) -> None:
        if self.replay_counts is not None:
            self.replay_counts.count(delivery, outcome)

    def _defer(self, entry: Entry, loop_id: str, delay_s: float) -> None:
        now = now_ms()
        if _age_s(entry.delivery) > self._max_age_s:
            self._dead_now(entry, f"deferred past max_age_s={self._max_age_s:g}: loop too slow")
            return
        record, tier = self.router.defer(entry.delivery, now, delay_s)
        self._loop_metrics(loop_id).outcomes["deferred"].inc()
        self._tier(tier).inc()
        self._produce([record], entry)

    # -- json-batch ---------------------------------------------------------------------------
    def flush_batches(self, everything: bool = False) -> None:
        """Start the batches whose wait is over (``everything``: all open ones)."""
        for loop_id, entries in (self.batcher.drain() if everything else self.batcher.due()):
            self._start_batch(loop_id, entries)

    def _start_batch(self, key: str, entries: list[Entry]) -> None:
        loop_id = entries[0].delivery["loop_id"]
        loop = self.loops.get(loop_id)
        problem = undeliverable(loop)
        if problem is not None:
            self._decided(loop_id, len(entries))
            for entry in entries:
                self._dead_now(entry, problem)
            return
        assert loop is not None
        deliveries = [e.delivery for e in entries]
        ids = sorted(d["delivery_id"] for d in deliveries)
        webhook_id = "batch_" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        payloads = [{**d["payload"], "webhook_id": d["delivery_id"]} for d in deliveries]
        attempt = max(len(d.get("attempts", ())) for d in deliveries) + 1
        self.lanes.submit(loop, Job(
            webhook_id, payloads, attempt, max(_age_s(d) for d in deliveries), entries,
            headers=_replay_headers(deliveries[0])))

    # -- outcomes -----------------------------------------------------------------------------
    def after(self, settings: Loop, job: Job, outcome: Outcome) -> None:
        """The lanes' callback: records for every delivery of the job, metrics, disabling."""
        entries: list[Entry] = job.context
        loop_id = settings.id
        self._decided(loop_id, len(entries))
        lm = self._loop_metrics(loop_id)
        lm.outcomes[outcome.kind].inc()
        if outcome.status is not None:
            lm.latency.observe(outcome.latency_s)
        now = now_ms()
        disable: tuple[str, str] | None = None
        router = self.router
        for entry in entries:
            delivery = entry.delivery
            decision = router.after_attempt(delivery, outcome, now, self._disable_after_s)
            if decision.final in ("delivered", "dead"):
                self._count(delivery, "delivered" if decision.final == "delivered" else "failed")
            if decision.final == "delivered":
                lm.delivered_events.inc()
                self.metrics.end_to_end.observe(
                    max(0.0, (now - delivery.get("source_ts_ms", now)) / 1000))
            elif decision.tier is not None:
                self._tier(decision.tier).inc()
            elif decision.final == "dead":
                lm.dead_letters.inc()
            if disable is None and decision.disable_reason is not None:
                disable = ("gone" if outcome.kind == "gone" else "failing", decision.disable_reason)
            self._produce(decision.records, entry)
        if disable is not None:
            self.disabler.disable_soon(loop_id, *disable)

    def _decided(self, loop_id: str, n: int) -> None:
        self.active -= n
        left = self._active_by_loop.get(loop_id, n) - n
        if left > 0:
            self._active_by_loop[loop_id] = left
        else:
            self._active_by_loop.pop(loop_id, None)

    def _dead_now(self, entry: Entry, reason: str) -> None:
        """Dead-letter a delivery that cannot be attempted (loop deleted, disabled, ...)."""
        self._count(entry.delivery, "failed")
        loop_id = entry.delivery.get("loop_id")
        if isinstance(loop_id, str):
            self.metrics.dead_letters.labels(loop_id).inc()
        self._produce([self.router.dead_without_attempt(entry.delivery, reason, now_ms())], entry)

    def _produce(self, records: list[OutRecord], entry: Entry) -> None:
        if not records:
            entry.finish()
            return
        entry.produced(len(records))
        send, acked = self.output.send, entry.acked
        for r in records:
            send(r.topic, r.key, r.value, acked, r.headers)

    # -- per-loop caches ----------------------------------------------------------------------
    def _loop_metrics(self, loop_id: str) -> LoopMetrics:
        lm = self._metrics.get(loop_id)
        if lm is None:
            lm = self._metrics[loop_id] = LoopMetrics(self.metrics, loop_id)
        return lm

    def _tier(self, tier: str) -> Counter:
        child = self._tiers.get(tier)
        if child is None:
            child = self._tiers[tier] = self.metrics.retry_scheduled.labels(tier)
        return child

    def _forget(self, loop_id: str) -> None:
        if self._metrics.pop(loop_id, None) is not None:
            self.lanes.forget(loop_id)
            self.lanes.dispatcher.forget(loop_id)
            self.metrics.breaker_open.remove(loop_id)

    def report_breakers(self) -> None:
        dispatcher = self.lanes.dispatcher
        for loop_id in self._metrics:
            open_ = dispatcher.breaker_state(loop_id) == "open"
            self.metrics.breaker_open.labels(loop_id).set(1 if open_ else 0)


def _replay_headers(delivery: Delivery) -> dict[str, str] | None:
    replay_id = delivery.get("replay_id")
    return None if replay_id is None else {"webhook-replay": str(replay_id)}


def _age_s(delivery: Delivery) -> float:
    """Seconds since the delivery was routed (the schedule's max_age_s counts from there)."""
    now = now_ms()
    return max(0.0, (now - delivery.get("routed_ms", now)) / 1000)
