"""The dispatcher: one delivery attempt to one loop, with that loop's limits, as data.

``deliver()`` takes, in this order: the breaker's permission (open -> a ``CircuitOpen`` retry
without calling), an in-flight slot (FIFO), a rate token (so the rate holds at the moment of
sending, not at the moment of queueing), asks the breaker again (a queue that built up while
the endpoint was failing is not sent once it has opened), then encodes, signs (``webhook-id`` = the caller's
stable id, ``webhook-timestamp`` = now) and POSTs with the loop's timeout. It never raises for a
delivery failure: the :class:`Outcome` says what happened and what to do next.

Limits per loop are the loop's settings times the process's ``share`` (the fraction of delivery
partitions this process owns, set on rebalance): ``max(1, floor(max_in_flight * share))``
slots, so the processes together never exceed the loop's cap, and ``rate_per_s * share`` tokens
per second with a burst of ``burst_s`` seconds' worth (at least one token).

Breaker accounting: transport errors, 408/425/429/5xx, 410 and local refusals (SSRF, bad URL)
are failures; any other answer (2xx, and also 3xx/4xx: the endpoint is up, it rejects this
delivery) is a success. Circuit-open refusals count as an attempt for the retry schedule.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from schemas.loop import Loop

from .breaker import BreakerState, CircuitBreaker
from .client import SNIPPET_BYTES, DeliveryClient, HttpResponse
from .clock import SYSTEM_CLOCK, Clock
from .encoding import encode
from .errors import CircuitOpen, DeliveryError, EncodingError, GoneError
from .inflight import InFlightLimit
from .ratelimit import TokenBucket
from .retry import RetrySchedule, classify_status, error_for_status, parse_retry_after
from .signing import Signer

__all__ = ["Dispatcher", "Outcome", "OutcomeKind"]

log = logging.getLogger(__name__)

OutcomeKind = Literal["delivered", "retry", "dead", "gone"]
_CIRCUIT_OPEN = CircuitOpen.__name__


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to.

    ``kind``: delivered (2xx) | retry (wait ``retry_in_s``, then try again) | dead (permanent,
    or retries exhausted) | gone (410: disable the loop). ``status`` is None when there was no
    answer. ``retry_after_s`` is the other side's hint (Retry-After, or the breaker's remaining
    open time); ``retry_in_s`` the jittered wait the schedule chose (kind retry only).
    ``failing_since`` (Unix seconds) is the start of the loop's current failure streak.
    ``breaker_open``: the loop's circuit breaker refused the call, nothing was sent.
    """

    kind: OutcomeKind
    status: int | None
    latency_s: float
    error_class: str | None
    reason: str
    retry_after_s: float | None = None
    retry_in_s: float | None = None
    response_snippet: bytes = b""
    failing_since: float | None = None
    attempt: int = 1
    breaker_open: bool = False


class _LoopState:
    __slots__ = ("settings", "limit", "bucket", "breaker", "signer", "waiting", "in_flight")

    def __init__(self, settings: Loop, limit: InFlightLimit, bucket: TokenBucket,
                 breaker: CircuitBreaker) -> None:
        self.settings = settings
        self.limit = limit
        self.bucket = bucket
        self.breaker = breaker
        self.signer = Signer(settings.secrets)
        self.waiting = 0
        self.in_flight = 0


class Dispatcher:
    """Delivers to many loops through one client; per-loop state is created on first use and
    follows changed settings (same loop id, new Loop) on the next call."""

    def __init__(
        self,
        client: DeliveryClient,
        *,
        clock: Clock = SYSTEM_CLOCK,
        schedule: RetrySchedule | None = None,
        rng: random.Random | None = None,
        failure_threshold: int = 5,
        open_s: float = 30.0,
        max_open_s: float = 600.0,
        burst_s: float = 0.1,
    ) -> None:
        self._client = client
        self._clock = clock
        self._schedule = schedule if schedule is not None else RetrySchedule()
        self._rng = rng if rng is not None else random.Random()
        self._failure_threshold = failure_threshold
        self._open_s = open_s
        self._max_open_s = max_open_s
        self._burst_s = burst_s
        self._share = 1.0
        self._loops: dict[str, _LoopState] = {}

    # -- the caller's controls and gauges ---------------------------------------------------
    @property
    def share(self) -> float:
        return self._share

    def set_share(self, fraction: float) -> None:
        """The fraction (0, 1] of delivery partitions this process owns; rescales every loop."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"share: must be in (0, 1], got {fraction!r}")
        self._share = fraction
        for state in self._loops.values():
            self._apply_limits(state, state.settings)

    def in_flight(self, loop_id: str) -> int:
        """Requests to the loop on the wire now."""
        state = self._loops.get(loop_id)
        return 0 if state is None else state.in_flight

    def waiting(self, loop_id: str) -> int:
        """Callers waiting for the loop's in-flight slot or rate token."""
        state = self._loops.get(loop_id)
        return 0 if state is None else state.waiting

    def breaker_state(self, loop_id: str) -> BreakerState:
        """The loop's breaker state (``closed`` for a loop not seen yet)."""
        state = self._loops.get(loop_id)
        return "closed" if state is None else state.breaker.state

    def limits(self, loop_id: str) -> tuple[int, float] | None:
        """This process's ``(max_in_flight, rate_per_s)`` for the loop, after the share."""
        state = self._loops.get(loop_id)
        return None if state is None else (state.limit.capacity, state.bucket.rate_per_s)

    def capacity(self, loop: Loop) -> int:
        """This process's in-flight cap for ``loop`` (its max_in_flight times the share)."""
        return self._state(loop).limit.capacity

    def forget(self, loop_id: str) -> None:
        """Drop a deleted or disabled loop's state (its breaker history included)."""
        self._loops.pop(loop_id, None)

    # -- delivery ---------------------------------------------------------------------------
    async def deliver(self, loop: Loop, webhook_id: str,
                      payloads: Sequence[Mapping[str, Any]], attempt: int, *,
                      age_s: float = 0.0, headers: Mapping[str, str] | None = None) -> Outcome:
        """One attempt (``attempt``: 1 for the first) to POST ``payloads`` to ``loop``, after
        waiting (FIFO) for one of the loop's in-flight slots. ``age_s`` is the time since the
        first attempt, for the schedule's ``max_age_s``; ``headers`` are sent besides the
        signed ones (a replay's ``webhook-replay``)."""
        state = self._state(loop)
        if not state.breaker.allow_peek():
            return self._circuit_open(state, attempt, age_s)
        state.waiting += 1
        try:
            await state.limit.acquire()
        finally:
            state.waiting -= 1
        try:
            return await self.attempt(loop, webhook_id, payloads, attempt, age_s=age_s,
                                      headers=headers)
        finally:
            state.limit.release()

    async def attempt(self, loop: Loop, webhook_id: str,
                      payloads: Sequence[Mapping[str, Any]], attempt: int, *,
                      age_s: float = 0.0, headers: Mapping[str, str] | None = None) -> Outcome:
        """:meth:`deliver` without the in-flight slot: for a caller that bounds the loop's
        concurrency itself (:class:`senders.lanes.Lanes` runs at most the loop's in-flight cap
        of these at a time). Breaker, rate token, signing and the POST as described above."""
        state = self._state(loop)
        breaker = state.breaker
        if not breaker.allow():
            return self._circuit_open(state, attempt, age_s)
        probe = breaker.state == "half_open"
        try:
            body, content_type = encode(loop.encoding, payloads)
        except EncodingError as exc:
            if probe:
                breaker.abandon_probe()
            return Outcome("dead", None, 0.0, exc.error_class, str(exc),
                           failing_since=breaker.failing_since, attempt=attempt)
        sent_at: float | None = None
        try:
            if not state.bucket.try_acquire():
                state.waiting += 1
                try:
                    await state.bucket.acquire()
                finally:
                    state.waiting -= 1
            if not probe and breaker.state != "closed":
                # the breaker opened while we queued: do not pile onto a failing endpoint
                return self._circuit_open(state, attempt, age_s)
            signed = state.signer.headers(webhook_id, self._clock.time(), body)
            signed["content-type"] = content_type
            if headers:
                signed.update(headers)
            state.in_flight += 1
            sent_at = self._clock.monotonic()
            try:
                response = await self._client.post(loop.url, body, signed, loop.timeout_s)
            finally:
                state.in_flight -= 1
        except DeliveryError as exc:
            return self._from_error(exc, breaker, attempt, age_s, sent_at)
        except asyncio.CancelledError:
            if probe:
                breaker.abandon_probe()
            raise
        except Exception as exc:  # a bug, not a delivery failure: keep the worker alive
            log.exception("unexpected error delivering to loop %s (attempt %d)", loop.id, attempt)
            if probe:
                breaker.abandon_probe()
            return self._retry(attempt, age_s, None, 0.0, "InternalError", repr(exc), None, b"",
                               breaker.failing_since)
        return self._from_response(response, breaker, attempt, age_s)

    def _circuit_open(self, state: _LoopState, attempt: int, age_s: float) -> Outcome:
        breaker = state.breaker
        return self._retry(attempt, age_s, None, 0.0, _CIRCUIT_OPEN,
                           f"circuit open for loop {state.settings.id}", breaker.retry_after_s(),
                           b"", breaker.failing_since, breaker_open=True)

    def _from_response(self, response: HttpResponse, breaker: CircuitBreaker, attempt: int,
                       age_s: float) -> Outcome:
        status = response.status
        kind = classify_status(status)
        snippet = response.body[:SNIPPET_BYTES]
        if kind == "ok":
            breaker.record_success()
            return Outcome("delivered", status, response.latency_s, None, f"HTTP {status}",
                           response_snippet=snippet, attempt=attempt)
        retry_after_s = None
        if kind == "retry":
            retry_after_s = parse_retry_after(response.headers.get("Retry-After"), self._clock.time())
            breaker.record_failure()
        elif kind == "gone":
            breaker.record_failure()
        else:
            breaker.record_success()
        error = error_for_status(status, retry_after_s, response.headers.get("Location"))
        assert error is not None
        if kind == "retry":
            return self._retry(attempt, age_s, status, response.latency_s, error.error_class,
                               str(error), retry_after_s, snippet, breaker.failing_since)
        return Outcome("gone" if kind == "gone" else "dead", status, response.latency_s,
                       error.error_class, str(error), response_snippet=snippet,
                       failing_since=breaker.failing_since, attempt=attempt)

    def _from_error(self, exc: DeliveryError, breaker: CircuitBreaker, attempt: int,
                    age_s: float, sent_at: float | None = None) -> Outcome:
        # the time the failed exchange took (a timeout costs its full timeout_s); 0 when the
        # error came before sending
        latency_s = 0.0 if sent_at is None else max(0.0, self._clock.monotonic() - sent_at)
        breaker.record_failure()
        if exc.retryable:
            return self._retry(attempt, age_s, exc.status, latency_s, exc.error_class, str(exc),
                               exc.retry_after_s, b"", breaker.failing_since)
        kind: OutcomeKind = "gone" if isinstance(exc, GoneError) else "dead"
        return Outcome(kind, exc.status, latency_s, exc.error_class, str(exc),
                       failing_since=breaker.failing_since, attempt=attempt)

    def _retry(self, attempt: int, age_s: float, status: int | None, latency_s: float,
               error_class: str, reason: str, retry_after_s: float | None, snippet: bytes,
               failing_since: float | None, breaker_open: bool = False) -> Outcome:
        retry_in_s = self._schedule.delay_for(attempt, retry_after_s, self._rng, age_s=age_s)
        if retry_in_s is None:
            return Outcome("dead", status, latency_s, error_class,
                           f"gave up after {attempt} attempts: {reason}", retry_after_s, None,
                           snippet, failing_since, attempt, breaker_open)
        return Outcome("retry", status, latency_s, error_class, reason, retry_after_s, retry_in_s,
                       snippet, failing_since, attempt, breaker_open)

    # -- per-loop state ---------------------------------------------------------------------
    def _state(self, loop: Loop) -> _LoopState:
        state = self._loops.get(loop.id)
        if state is None:
            capacity, rate_per_s, burst = self._scaled(loop)
            state = _LoopState(
                loop, InFlightLimit(capacity), TokenBucket(rate_per_s, burst, self._clock),
                CircuitBreaker(self._failure_threshold, self._open_s, self._clock, self._max_open_s))
            self._loops[loop.id] = state
        elif state.settings is not loop:
            if state.settings != loop:
                self._apply_limits(state, loop)
                if state.settings.secrets != loop.secrets:
                    state.signer = Signer(loop.secrets)
            state.settings = loop
        return state

    def _apply_limits(self, state: _LoopState, loop: Loop) -> None:
        capacity, rate_per_s, burst = self._scaled(loop)
        if capacity != state.limit.capacity:
            state.limit.set_capacity(capacity)
        if rate_per_s != state.bucket.rate_per_s or burst != state.bucket.burst:
            state.bucket.set_rate(rate_per_s, burst)

    def _scaled(self, loop: Loop) -> tuple[int, float, float]:
        capacity = max(1, int(loop.max_in_flight * self._share))
        rate_per_s = loop.rate_per_s * self._share
        return capacity, rate_per_s, max(1.0, rate_per_s * self._burst_s)
