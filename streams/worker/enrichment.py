"""One raw record in, the records it causes out: the enrich stage without Faust.

:class:`Enricher` validates a raw event, applies profile edits to the profile table, enriches
the event with profile and tags, and routes it to every matching loop. It returns the records
to produce (deliveries, or one ``fl.invalid`` record) and never raises for bad input. The Faust
agent in :mod:`streams.worker.agents` feeds it and produces what it returns.

Unknown profiles: the event is delivered at once with what is known and ``profile_known:
false`` (and counted in ``fl_profile_missing_total``). Waiting would block the partition behind
it, and an event held in memory would be lost on a crash. Edits and opens of one profile share
a partition number and are read by one agent in fetch order, so an edit produced before an open
is applied first.

The steps every enrichment shares — :class:`RawEvents` (validate a raw record: schema, type on
its topic, key) and :func:`enriched` (the payload from the event, a profile snapshot and the
tag view) — are also what replay and export use (:mod:`streams.ops.history`), with today's
profile state instead of the table's state at the time: one definition of "enriched as live".
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, MutableMapping, Protocol

import orjson

from enrichers.enrich import enrich
from enrichers.profiles import apply_edit
from enrichers.routing import LoopIndex, delivery_id, route
from schemas.loop import Loop
from schemas.validation import InvalidRecord, parse_profile, parse_raw_event

from streams.config.limits import LimitsConfig
from streams.esp.softbounces import SoftBounces
from streams.metrics import PipelineMetrics
from streams.kafka.records import OutRecord, delivery_key, encode, invalid_headers, new_delivery
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.worker.sizes import SizeChecks

__all__ = ["Enricher", "RawEvents", "TagLookup", "enriched"]

log = logging.getLogger(__name__)

PROFILE_EDITS = frozenset({"create", "update", "delete"})


class _Children(dict[str, Any]):
    """A labelled metric's children by label value, each looked up in the metric once
    (``labels()`` builds a key and takes a lock on every call; these run per event)."""

    def __init__(self, metric: Any) -> None:
        super().__init__()
        self.metric = metric

    def __missing__(self, value: str) -> Any:
        child = self[value] = self.metric.labels(value)
        return child


class TagLookup(Protocol):
    """What :func:`enriched` needs of the tag view: the ``tags.json`` record of a mailing."""

    def get(self, key: str) -> dict[str, Any] | None: ...


class RawEvents:
    """Validation of raw records as the worker applies it, per raw topic of ``topics``."""

    def __init__(self, topics: Topics,
                 check_size: Callable[[bytes], None] | None = None) -> None:
        self._expected_types = {topics.raw[t]: frozenset({t}) for t in topics.raw}
        self._expected_types[topics.raw["profile"]] = PROFILE_EDITS
        #: the worker's size check (``limits.raw_event_bytes``, counted); None: the schema's
        self._check_size = check_size

    def parse(self, topic: str, key: bytes | None, value: bytes | None) -> dict[str, Any]:
        """The validated event of one raw record; raises ``InvalidRecord`` (with the reason
        the worker puts on ``fl.invalid``) for bad JSON, a schema violation, an event on the
        wrong raw topic, or a key other than the profile id (else recipient)."""
        if value is None:
            raise InvalidRecord("record has no value", None)
        if self._check_size is not None:
            self._check_size(value)
            event = parse_raw_event(value, max_bytes=len(value))
        else:
            event = parse_raw_event(value)
        etype = event["type"]
        expected = self._expected_types.get(topic)
        if expected is not None and etype not in expected:
            raise InvalidRecord(f"field 'type': {etype!r} does not belong on {topic} "
                                f"(expected {', '.join(sorted(expected))})", "type")
        wanted_key = event.get("profile") or event.get("recipient")
        if key is None or key.decode("utf-8", "replace") != wanted_key:
            raise InvalidRecord(
                f"record key {key!r} is not the event's profile id (else recipient) "
                f"{wanted_key!r}; raw events must be keyed so they meet their profile", None)
        return event


def enriched(event: dict[str, Any], profile: Mapping[str, Any] | None,
             tags: TagLookup) -> dict[str, Any]:
    """The payload of a validated ``event`` given its profile snapshot (``None``: unknown,
    ``profile_known: false``) and the tag view: :func:`enrichers.enrich.enrich` with the
    mailing's tags looked up."""
    mailing = event.get("mailing")
    return enrich(event, profile, tags.get(mailing) if mailing else None)


class Enricher:
    """Turns raw records into delivery records; keeps the profile table current."""

    def __init__(self, topics: Topics, loops: CompactedView[Loop],
                 tags: CompactedView[dict[str, Any]], metrics: PipelineMetrics,
                 soft_bounces: SoftBounces | None = None,
                 limits: LimitsConfig = LimitsConfig()) -> None:
        self.topics = topics
        self.soft_bounces = soft_bounces
        self.loops = loops
        self.tags = tags
        self.metrics = metrics
        self.sizes = SizeChecks(limits, metrics)
        self.raw_events = RawEvents(topics, self.sizes.raw_event)
        self._index = LoopIndex([])
        self._index_version = -1
        self._events_in = _Children(metrics.events_in)
        self._routed = _Children(metrics.routed)
        self._unrouted = _Children(metrics.unrouted)
        self._profile_missing = _Children(metrics.profile_missing)
        self._profile_writes = _Children(metrics.profile_writes)

    def index(self) -> LoopIndex:
        if self.loops.version != self._index_version:
            self._index_version = self.loops.version
            self._index = LoopIndex(self.loops.values())
        return self._index

    def handle(self, topic: str, partition: int, offset: int, timestamp_ms: int,
               key: bytes | None, value: bytes | None,
               profiles: MutableMapping[bytes, bytes],
               soft_bounces: MutableMapping[bytes, bytes] | None = None) -> list[OutRecord]:
        """Process one record; return what to produce. Never raises for bad input.
        ``soft_bounces`` is the soft-bounce counter table (:mod:`streams.esp.softbounces`)."""
        self._events_in[topic].inc()
        try:
            if topic == self.topics.ref_profiles:
                self._apply_snapshot(key, value, profiles)
                return []
            return self._handle_event(topic, timestamp_ms, key, value, profiles, soft_bounces)
        except InvalidRecord as exc:
            return [self._invalid(topic, partition, offset, key, value, exc.reason, exc.field)]
        except Exception as exc:  # a bug must not stop the stream nor lose the event
            log.exception("enrich failed at %s[%d]@%d", topic, partition, offset)
            return [self._invalid(topic, partition, offset, key, value,
                                  f"internal error while enriching: {type(exc).__name__}: {exc}",
                                  None)]

    # -- steps -----------------------------------------------------------------------------
    def _apply_snapshot(self, key: bytes | None, value: bytes | None,
                        profiles: MutableMapping[bytes, bytes]) -> None:
        if not key:
            raise InvalidRecord("record has no key (profile snapshots are keyed by profile id)",
                                None)
        if value is None:
            profiles.pop(key, None)
            self._profile_writes["ref-tombstone"].inc()
            return
        self.sizes.snapshot(value)
        snapshot = parse_profile(value, max_bytes=len(value))
        if snapshot["id"] != key.decode("utf-8", "replace"):
            raise InvalidRecord(f"field 'id': {snapshot['id']!r} differs from the record key "
                                f"{key.decode('utf-8', 'replace')!r}", "id")
        profiles[key] = value
        self._profile_writes["ref"].inc()

    def _handle_event(self, topic: str, timestamp_ms: int, key: bytes | None,
                      value: bytes | None, profiles: MutableMapping[bytes, bytes],
                      soft_bounces: MutableMapping[bytes, bytes] | None) -> list[OutRecord]:
        event = self.raw_events.parse(topic, key, value)
        etype = event["type"]
        profile_id = event.get("profile")
        profile: dict[str, Any] | None = None
        if profile_id is not None:
            pkey = profile_id.encode()
            stored = profiles.get(pkey)
            profile = orjson.loads(stored) if stored is not None else None
            if etype in PROFILE_EDITS:
                # enrich() applies the edit to the snapshot from before it itself, so the call
                # shows the merged fields (or, for a delete, what was deleted).
                after = apply_edit(profile, event)
                if after is None:
                    profiles.pop(pkey, None)
                else:
                    edited = orjson.dumps(after)
                    self.sizes.edited_profile(edited, etype)
                    profiles[pkey] = edited
                self._profile_writes["edit"].inc()
            elif profile is None:
                self._profile_missing[etype].inc()
        out: list[OutRecord] = []
        if etype == "bounce" and self.soft_bounces is not None and soft_bounces is not None:
            out += self.soft_bounces.count(event, soft_bounces)
        payload = enriched(event, profile, self.tags)
        routes = route(event, payload, self.index())
        if not routes:
            self._unrouted[etype].inc()
            return out
        self._routed[etype].inc(len(routes))
        # loops with the same field selection get the same payload: serialise it once
        shared: dict[tuple[str, ...] | None, orjson.Fragment] | None = \
            {} if len(routes) > 1 else None
        for loop, loop_payload in routes:
            delivery = new_delivery(delivery_id(event["id"], loop.id), loop.id, event,
                                    loop_payload, timestamp_ms)
            if shared is None:
                data = encode(delivery)
            else:
                fields = loop_payload.get("fields")
                selection = tuple(fields) if isinstance(fields, dict) else None
                body = shared.get(selection)
                if body is None:
                    body = shared[selection] = orjson.Fragment(orjson.dumps(loop_payload))
                data = encode({**delivery, "payload": body})  # type: ignore[typeddict-item]
            record = self.sizes.delivery(delivery, data)
            out.append(OutRecord(self.topics.deliveries, delivery_key(delivery), record))
        return out

    def _invalid(self, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes | None, reason: str, field: str | None) -> OutRecord:
        self.metrics.invalid.labels(topic).inc()
        log.info("invalid record %s[%d]@%d: %s", topic, partition, offset, reason)
        return OutRecord(self.topics.invalid, key, value,
                         invalid_headers(reason, topic, partition, offset, field))
