"""A per-loop circuit breaker: stop calling an endpoint that keeps failing, probe it now and then.

closed --(failure_threshold consecutive failures)--> open --(open period over)--> half_open:
the next ``allow()`` is the one probe; its success closes the breaker, its failure re-opens it
with the open period doubled (``open_s``, ``2 * open_s``, ... capped at ``max_open_s``; a success
resets it to ``open_s``). While the probe is out, ``allow()`` is False.

Any success closes the breaker, also one that started before it opened (the endpoint works).
Failures of calls that started before it opened do not extend the open period.

``failing_since`` (Unix seconds; None while healthy) is the time of the first failure of the
current streak, for the caller's automatic disable after failing for a configured period.
"""
from __future__ import annotations

from typing import Literal

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of one loop; ``allow()`` before each call, then record."""

    __slots__ = ("failure_threshold", "open_s", "max_open_s", "_clock", "_state", "_failures",
                 "_failing_since", "_open_s", "_reopen_at", "_probing")

    def __init__(self, failure_threshold: int = 5, open_s: float = 30.0, clock: Clock = SYSTEM_CLOCK,
                 max_open_s: float = 600.0) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold: must be >= 1, got {failure_threshold}")
        if not 0 < open_s <= max_open_s:
            raise ValueError(f"open_s: must be in (0, max_open_s={max_open_s:g}], got {open_s:g}")
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self.max_open_s = max_open_s
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._failing_since: float | None = None
        self._open_s = open_s
        self._reopen_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """``open`` becomes ``half_open`` as soon as the open period is over."""
        if self._state == "open" and self._clock.monotonic() >= self._reopen_at:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def failing_since(self) -> float | None:
        """Unix seconds of the first failure of the current streak; None while healthy."""
        return self._failing_since

    @property
    def current_open_s(self) -> float:
        """The open period the next opening will use (doubles on failed probes)."""
        return self._open_s

    def allow(self) -> bool:
        """May a call go out now? In half-open state exactly one caller gets True (the probe)."""
        if self._state == "closed":
            return True
        if self._state == "open":
            if self._clock.monotonic() < self._reopen_at:
                return False
            self._state = "half_open"
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def allow_peek(self) -> bool:
        """Would :meth:`allow` say yes now? (Takes no probe: a caller about to queue asks.)"""
        if self._state == "closed":
            return True
        if self._state == "open":
            return self._clock.monotonic() >= self._reopen_at
        return not self._probing

    def retry_after_s(self) -> float | None:
        """Seconds until a probe will be allowed; None unless open."""
        if self._state != "open":
            return None
        return max(0.0, self._reopen_at - self._clock.monotonic())

    def record_success(self) -> None:
        """The endpoint answered acceptably: close and forget the streak."""
        self._state = "closed"
        self._failures = 0
        self._failing_since = None
        self._open_s = self.open_s
        self._probing = False

    def record_failure(self) -> None:
        """The endpoint failed: count it, open at the threshold, re-open after a failed probe."""
        if self._failing_since is None:
            self._failing_since = self._clock.time()
        self._failures += 1
        if self._state == "half_open":
            self._open_s = min(self._open_s * 2.0, self.max_open_s)
            self._open()
        elif self._state == "closed" and self._failures >= self.failure_threshold:
            self._open()

    def abandon_probe(self) -> None:
        """The probe ended without a verdict (cancelled): let the next caller probe."""
        if self._state == "half_open":
            self._probing = False

    def _open(self) -> None:
        self._state = "open"
        self._probing = False
        self._reopen_at = self._clock.monotonic() + self._open_s
