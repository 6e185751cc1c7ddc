"""RFC 8058 one-click unsubscribe: ``POST /unsubscribe/<signed ref>`` with the form body
``List-Unsubscribe=One-Click``. Public: the signed reference is the only credential.

A valid request writes an ``unsubscribe`` event (``source: one-click``) and, when the
database's unsubscribe behaviour is ``remove``/``update``, the ``fl.profile-actions`` record,
and answers 200 once Kafka has them (within milliseconds; at most ``esp.unsubscribe.timeout_ms``,
then 503 and the client may retry). Decisions:

- idempotent: ids derive from the reference, so a repeated POST (also to another worker) makes
  the same event ids and the same delivery ids downstream; a repeat seen by this process
  within the last 10,000 references writes nothing at all;
- a GET never unsubscribes (link scanners follow GETs): it answers a small page whose button
  sends the POST;
- a forged, damaged or foreign reference answers 404 naming ``ref``; a body without
  ``List-Unsubscribe=One-Click`` 400 naming it; too many requests from one client address,
  or in total, 429 with ``Retry-After``.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from enrichers.esp import EspReportError, ProfileRef, read_unsubscribe_ref
from senders.ratelimit import TokenBucket
from streams.config.esp import EspConfig
from streams.esp.events import rfc3339
from streams.esp.reports import EventWriter, Unusable
from streams.kafka.output import Output
from streams.kafka.records import OutRecord
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics

__all__ = ["OneClick", "Answer", "BODY", "confirmation_page", "now_rfc3339"]

log = logging.getLogger(__name__)

BODY = "List-Unsubscribe=One-Click"
_REMEMBERED = 10_000
_CLIENTS = 10_000


@dataclass(frozen=True)
class Answer:
    """What the route answers: status, a JSON document, extra headers."""

    status: int
    doc: dict[str, Any]
    headers: dict[str, str] | None = None


class OneClick:
    """The endpoint's logic, without aiohttp: references, limits, records, Kafka."""

    def __init__(self, config: EspConfig, topics: Topics, metrics: PipelineMetrics,
                 output: Output | None) -> None:
        self.config = config
        self.writer = EventWriter(config, topics, metrics)
        self.metrics = metrics
        self.output = output
        self._secrets = config.secrets()
        limits = config.unsubscribe
        self._total = TokenBucket(limits.total_rate_per_s, max(1.0, limits.total_rate_per_s))
        self._clients: OrderedDict[str, TokenBucket] = OrderedDict()
        self._done: OrderedDict[str, None] = OrderedDict()

    def _limited(self, client: str) -> bool:
        bucket = self._clients.pop(client, None)
        if bucket is None:
            limits = self.config.unsubscribe
            bucket = TokenBucket(limits.rate_per_s, limits.burst)
            if len(self._clients) >= _CLIENTS:
                self._clients.popitem(last=False)
        self._clients[client] = bucket
        return not (bucket.try_acquire() and self._total.try_acquire())

    def records(self, ref: ProfileRef, value: str, occurred_at: str) -> list[OutRecord]:
        """The unsubscribe event and (with a behaviour) the profile action for ``ref``."""
        return self.writer.unsubscribe(ref, f"one-click|{value}", occurred_at, "one-click", True)

    async def post(self, value: str, form: dict[str, str], client: str,
                   occurred_at: str) -> Answer:
        """One POST: check limits, reference and body; write; answer."""
        if self._limited(client):
            self.metrics.unsubscribe_requests.labels("rate-limited").inc()
            retry_s = max(1, round(1 / self.config.unsubscribe.rate_per_s))
            return Answer(429, {"error": "too many unsubscribe requests; try again later",
                                "field": None}, {"Retry-After": str(retry_s)})
        if self._secrets is None or self.output is None:
            self.metrics.unsubscribe_requests.labels("failed").inc()
            return Answer(503, {"error": "one-click unsubscribe is not configured here "
                                         "(esp.ref_secret)", "field": None})
        try:
            ref = read_unsubscribe_ref(value, self._secrets)
        except EspReportError as exc:
            self.metrics.unsubscribe_requests.labels("refused").inc()
            log.info("one-click unsubscribe refused: %s", exc)
            return Answer(404, {"error": f"not a valid unsubscribe link: {exc}", "field": "ref"})
        if form.get("List-Unsubscribe") != "One-Click":
            self.metrics.unsubscribe_requests.labels("refused").inc()
            return Answer(400, {"error": f"the body must be the form {BODY!r} (RFC 8058)",
                                "field": "List-Unsubscribe"})
        if value in self._done:
            self.metrics.unsubscribe_requests.labels("repeated").inc()
            return Answer(200, {"unsubscribed": True, "repeated": True})
        try:
            records = self.records(ref, value, occurred_at)
        except Unusable as exc:
            self.metrics.unsubscribe_requests.labels("refused").inc()
            return Answer(404, {"error": f"not a valid unsubscribe link: {exc}", "field": "ref"})
        if not await self._written(records):
            self.metrics.unsubscribe_requests.labels("failed").inc()
            return Answer(503, {"error": "could not record the request in time; try again",
                                "field": None}, {"Retry-After": "5"})
        self._done[value] = None
        if len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)
        self.metrics.unsubscribe_requests.labels("unsubscribed").inc()
        return Answer(200, {"unsubscribed": True})

    async def _written(self, records: list[OutRecord]) -> bool:
        """Whether Kafka acknowledged every record within the timeout."""
        assert self.output is not None
        loop = asyncio.get_running_loop()
        pending = [loop.create_future() for _ in records]
        for record, future in zip(records, pending):
            def done(future: asyncio.Future[None] = future) -> None:
                if not future.done():
                    future.set_result(None)
            self.output.send(record.topic, record.key, record.value, done, record.headers)
        try:
            await asyncio.wait_for(asyncio.gather(*pending),
                                   self.config.unsubscribe.timeout_ms / 1000)
        except asyncio.TimeoutError:
            return False
        return True


def confirmation_page() -> str:
    """What a GET answers: nothing is changed; a button sends the one-click POST to the same
    URL."""
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title>"
            "</head><body><p>Press the button to unsubscribe from these e-mails.</p>"
            "<form method=\"post\">"
            "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
            "<button type=\"submit\">Unsubscribe</button></form></body></html>")


def now_rfc3339() -> str:
    """The time now as an event's ``occurred_at``."""
    return rfc3339(datetime.now(timezone.utc))
