"""Live traffic first: replays wait while the live pipeline has a backlog.

:class:`LiveBacklog` measures, every second, how far the live pipeline is behind: records in
the raw topics the workers have not committed yet plus records in ``fl.deliveries`` the senders
have not committed yet (end offset minus the group's committed offset, per partition). While
that is above ``replay.pause_backlog``, the replay runners stop reading and the replay lane
stops taking new deliveries (what is on the wire finishes): a replay only uses the capacity
live traffic leaves. Commits trail processing by about a second, so the threshold must be
above what a second of live traffic leaves uncommitted (the default, 2,000 events, is).

In repartition mode the workers' group does not read the raw topics: the re-key stage
(``<app_id>-rekey``) does, and the serving generation's group (``<app_id>-g<G>``) reads
``fl.gen<G>.events``; both backlogs count, the generation followed in ``fl.partitioning``
(measuring ``<app_id>`` on the raw topics there saw nothing: no replay ever waited).
"""
from __future__ import annotations

import logging
import threading
import uuid

from confluent_kafka import Consumer, TopicPartition

from streams.config.settings import Config
from streams.kafka.clients import confluent_config
from streams.kafka.generations import generation_topics
from streams.kafka.partitioning import ControlView
from streams.kafka.topics import Topics

__all__ = ["LiveBacklog"]

log = logging.getLogger(__name__)


class LiveBacklog:
    """``paused`` is True while the live pipeline is more than ``threshold`` records behind."""

    def __init__(self, config: Config, topics: Topics, every_s: float = 1.0) -> None:
        self.config = config
        self.threshold = config.replay.pause_backlog
        self.every_s = every_s
        self.topics = topics
        self._control: ControlView | None = None
        self.backlog = 0
        self.paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-backlog", daemon=True)

    def start(self) -> "LiveBacklog":
        if self.config.worker.partitioning == "repartition":
            self._control = ControlView(self.config.kafka, self.topics.partitioning).start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self._control is not None:
            self._control.stop()

    def groups(self) -> dict[str, list[str]]:
        """The live pipeline's consumer groups now, with the topics each reads."""
        app, raw = self.config.worker.app_id, list(self.topics.raw.values())
        groups = {f"{app}-sender": [self.topics.deliveries]}
        if self._control is None:
            return {app: raw, **groups}
        groups[f"{app}-rekey"] = raw
        state = self._control.state()
        if state is not None:
            serving = generation_topics(self.topics, state.serving)
            groups[serving.group] = [serving.events]
        return groups

    def _run(self) -> None:
        # committed() reads a group's offsets without joining it
        consumers: dict[str, Consumer] = {}
        try:
            while not self._stop.wait(self.every_s):
                try:
                    backlog = 0
                    for group, topics in self.groups().items():
                        if group not in consumers:
                            consumers[group] = Consumer(confluent_config(self.config.kafka, **{
                                "group.id": group, "enable.auto.commit": False,
                                "client.id": f"fl-replay-gate-{uuid.uuid4().hex[:6]}"}))
                        backlog += self._behind(consumers[group], topics)
                except Exception as exc:  # a broker hiccup: keep the last verdict
                    log.info("live backlog not measured: %s", exc)
                    continue
                paused = backlog > self.threshold
                if paused != self.paused:
                    log.info("replays %s: the live pipeline is %d records behind",
                             "pause" if paused else "resume", backlog)
                self.backlog, self.paused = backlog, paused
        finally:
            for consumer in consumers.values():
                consumer.close()

    @staticmethod
    def _behind(consumer: Consumer, topics: list[str]) -> int:
        tps = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
            if meta is not None and meta.partitions:
                tps += [TopicPartition(topic, p) for p in meta.partitions]
        behind = 0
        for tp in consumer.committed(tps, timeout=5):
            _low, high = consumer.get_watermark_offsets(tp, timeout=5)
            # nothing committed yet: the group has not started here, nothing to wait for
            if tp.offset >= 0:
                behind += max(0, high - tp.offset)
        return behind
