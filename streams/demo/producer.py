"""The demo producer: loads demo profiles and tags, then emits opens and clicks at a rate."""
from __future__ import annotations

import time

import orjson
from confluent_kafka import KafkaException, Producer

from streams.kafka.clients import producer_config
from streams.config.settings import Config, KafkaConfig
from streams.kafka.topics import Topics
from streams.demo.events import DemoWorld, complaint_report, topic_key
from streams.errors import NotAcknowledged

__all__ = ["produce_demo", "replay_demo_start", "wait_for_first_event"]


#: one spam complaint (an ARF report on fl.esp.reports) per this many events, the first
#: after 30
COMPLAINT_EVERY = 100


def produce_demo(kafka: KafkaConfig, rate_per_s: float, count: int, profiles: int,
                 ref_secret: bytes | None = None) -> int:
    """Publish reference data, then ``count`` events (0: until interrupted). Returns the count.

    With ``ref_secret`` (the config's ``esp.ref_secret``), one event in ``COMPLAINT_EVERY`` is
    followed by a spam complaint report about one of the profiles."""
    topics = Topics(kafka)
    world = DemoWorld(profiles=profiles)
    producer = Producer(producer_config(kafka, **{"linger.ms": 5}))
    for profile in world.profiles:
        producer.produce(topics.ref_profiles, key=profile["id"], value=orjson.dumps(profile))
    for mailing in world.mailings:
        producer.produce(topics.ref_tags, key=mailing["id"], value=orjson.dumps(mailing))
    _flush(producer)
    sent = 0
    interval = 1.0 / rate_per_s
    next_at = time.monotonic()
    try:
        while count == 0 or sent < count:
            event = world.event()
            producer.produce(topics.raw[topic_key(event)], key=event["profile"],
                             value=orjson.dumps(event))
            producer.poll(0)
            sent += 1
            if ref_secret is not None and sent % COMPLAINT_EVERY == 30:
                report = complaint_report(world, world.profiles[sent // COMPLAINT_EVERY
                                                                % len(world.profiles)], ref_secret)
                producer.produce(topics.esp_reports, key=b"arf.demo.example", value=report)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    except KeyboardInterrupt:
        pass
    _flush(producer)
    return sent


def _flush(producer: Producer, timeout_s: float = 10.0) -> None:
    left = producer.flush(timeout_s)
    if left:
        raise NotAcknowledged(f"{left} demo records not acknowledged by Kafka within "
                              f"{timeout_s:g}s")


def wait_for_first_event(kafka: KafkaConfig, raw: list[str], poll_s: float = 0.5,
                         errors_for_s: float = 60.0) -> None:
    """Return once ``raw`` holds a record written after this call began. A Kafka error (e.g.
    ``NOT_LEADER_FOR_PARTITION`` while the demo's new topics elect their leaders; librdkafka
    does not mark it retriable on this call) is another reason to look again, not to stop the
    demo, unless it is fatal or errors alone came back for ``errors_for_s`` seconds."""
    from streams.kafka.window import plan_window

    started_ms = int(time.time() * 1000)
    failing_since: float | None = None
    while True:
        try:
            if plan_window(kafka, raw, started_ms, int(time.time() * 1000) + 1).records:
                return
            failing_since = None
        except KafkaException as exc:
            failing_since = failing_since or time.monotonic()
            fatal = bool(exc.args) and exc.args[0].fatal()
            if fatal or time.monotonic() - failing_since >= errors_for_s:
                raise
        time.sleep(poll_s)


def replay_demo_start(config: Config, after_s: float, window_s: float, loop_id: str) -> None:
    """Wait for the demo's first event, then ``after_s`` more, and replay the ``window_s``
    seconds from that first event to ``loop_id`` (what ``make run`` shows after ~30 s)."""
    import click

    from streams.cli.replays import with_replays

    topics = Topics.for_config(config)
    wait_for_first_event(config.kafka, [topics.raw["open"], topics.raw["click"]])
    first_ms = int(time.time() * 1000) - 1000
    time.sleep(max(0.0, first_ms / 1000 + after_s - time.time()))
    body = {"loop": loop_id, "since": first_ms, "until": first_ms + int(window_s * 1000)}
    try:
        started = with_replays(config, lambda r: r.start(body))
    except click.ClickException as exc:
        print(f"[demo] no replay: {exc.message}", flush=True)
        return
    print(f"[demo] replaying the first {window_s:g} s to {loop_id} as {started['id']} "
          f"({started['records']} records; the receiver marks them REPLAY; "
          f"`feedbackloops replay status {started['id']}`)", flush=True)
