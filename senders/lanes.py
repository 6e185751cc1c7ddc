"""Per-loop queues: each loop's calls wait in its own lane, drained by at most the loop's
in-flight cap of worker coroutines.

Why: one asyncio task per delivery (most of them only waiting for their loop's slot) cost a
task, a future and a wake-up each; here a worker takes the next job of its lane as soon as its
call is answered, so under load a handful of long-lived coroutines per loop do all the work.
A worker exists only while its lane has work: an idle loop costs nothing.

Limits, per lane: at most ``capacity`` workers (the loop's ``max_in_flight`` times the
process's share, from the :class:`senders.engine.Dispatcher`), each making one call at a time
through :meth:`Dispatcher.attempt` (breaker, rate token, signing, POST). Per process: at most
``process_max_in_flight`` workers in all, none may hold more than half of them, and while
several lanes want workers, none may start more than its fair share (``process_max_in_flight``
/ lanes with work) — a loop whose calls hang cannot take every connection. A lane held back by those bounds is started again when a
worker of any lane finishes.

``per_call_s`` estimates how long one more queued job waits: the loop's recent call duration
(or, when larger, the age of its oldest unanswered call: a hanging endpoint shows up at once,
not when its first timeout fires) over its capacity, and at least 1 / its rate.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from schemas.loop import Loop

from .clock import SYSTEM_CLOCK, Clock
from .engine import Dispatcher, Outcome

__all__ = ["Job", "Lanes", "OnOutcome"]

log = logging.getLogger(__name__)

@dataclass(slots=True, eq=False)
class Job:
    """One call to make: a single delivery or a json-batch. ``context`` is the caller's and
    comes back with the outcome."""

    webhook_id: str
    payloads: Sequence[Mapping[str, Any]]
    attempt: int
    age_s: float
    context: Any = None
    #: sent besides the signed headers (a replay's ``webhook-replay``)
    headers: Mapping[str, str] | None = None
    started_s: float = field(default=0.0, repr=False)


OnOutcome = Callable[[Loop, Job, Outcome], None]


class _Lane:
    __slots__ = ("loop", "queue", "workers", "in_flight", "latency_s", "calls")

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.queue: deque[Job] = deque()
        self.workers = 0
        self.in_flight = 0
        self.latency_s = 0.0            # moving average of answered calls (timeouts included)
        #: jobs on the wire now, oldest first (a dict keeps insertion order; jobs start in order)
        self.calls: dict[Job, None] = {}


class Lanes:
    """``submit(loop, job)``; ``on_outcome(loop, job, outcome)`` is called once for every job,
    on the event loop (jobs still queued or on the wire at :meth:`close` are dropped)."""

    def __init__(self, dispatcher: Dispatcher, on_outcome: OnOutcome, *,
                 process_max_in_flight: int = 1024, clock: Clock = SYSTEM_CLOCK) -> None:
        if process_max_in_flight < 1:
            raise ValueError(f"process_max_in_flight: must be >= 1, got {process_max_in_flight}")
        self.dispatcher = dispatcher
        self._dispatcher = dispatcher
        self._on_outcome = on_outcome
        self._max_workers = process_max_in_flight
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._workers = 0
        self._held = 0
        self._busy = 0                              # lanes with a queued or running job
        self._starved: set[_Lane] = set()           # lanes with queued jobs and room for workers
        self.tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the caller's view ------------------------------------------------------------------
    def submit(self, loop: Loop, job: Job) -> None:
        """Queue ``job`` in the loop's lane (settings are taken from the latest submit)."""
        lane = self._lanes.get(loop.id)
        if lane is None:
            lane = self._lanes[loop.id] = _Lane(loop)
        else:
            lane.loop = loop
        if not lane.queue and not lane.in_flight:
            self._busy += 1
        lane.queue.append(job)
        self._held += 1
        self._spawn(lane)

    @property
    def held(self) -> int:
        """Jobs queued or on the wire, all lanes."""
        return self._held

    @property
    def busy(self) -> int:
        """Lanes with a job queued or on the wire."""
        return self._busy

    @property
    def in_flight(self) -> int:
        """Calls on the wire (or waiting for their rate token), all lanes."""
        return self._workers

    def capacity(self, loop: Loop) -> int:
        """The loop's in-flight cap in this process (workers per lane)."""
        return self._dispatcher.capacity(loop)

    def lane_held(self, loop_id: str) -> int:
        lane = self._lanes.get(loop_id)
        return 0 if lane is None else len(lane.queue) + lane.in_flight

    def queued(self, loop_id: str) -> int:
        lane = self._lanes.get(loop_id)
        return 0 if lane is None else len(lane.queue)

    def per_call_s(self, loop_id: str) -> float:
        """Seconds one more queued job of the loop adds to its wait (see the module doc)."""
        lane = self._lanes.get(loop_id)
        if lane is None:
            return 0.0
        latency_s = max(lane.latency_s, self._oldest_s(lane))
        capacity, rate_per_s = self._dispatcher.limits(loop_id) or (1, lane.loop.rate_per_s)
        return max(latency_s / capacity, 1.0 / rate_per_s)

    def oldest_call_s(self, loop_id: str) -> float:
        """How long the loop's oldest call in flight has been out (0.0 when none is)."""
        lane = self._lanes.get(loop_id)
        return 0.0 if lane is None else self._oldest_s(lane)

    def _oldest_s(self, lane: _Lane) -> float:
        return (self._clock.monotonic() - next(iter(lane.calls)).started_s) if lane.calls else 0.0

    def unanswered_s(self, loop_id: str) -> float | None:
        """How long the loop's oldest call has been out when none of its calls was ever
        answered (a hang, or a first call still under way); None once one was."""
        lane = self._lanes.get(loop_id)
        if lane is None or lane.latency_s or not lane.calls:
            return None
        return self._oldest_s(lane)

    def forget(self, loop_id: str) -> None:
        """Drop an idle loop's lane (its statistics go with it)."""
        lane = self._lanes.get(loop_id)
        if lane is not None and not lane.queue and not lane.in_flight:
            del self._lanes[loop_id]
            self._starved.discard(lane)

    async def close(self) -> None:
        """Cancel every worker; queued jobs are dropped (their records are re-read)."""
        self._closed = True
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks)

    # -- workers ----------------------------------------------------------------------------
    def _room(self, lane: _Lane) -> bool:
        if self._workers >= self._max_workers:
            return False
        if lane.workers >= self._dispatcher.capacity(lane.loop):
            return False
        # no lane takes more than half of the process cap, nor, while several lanes have
        # work, more than its share of it: a loop whose calls hang leaves room for the others
        return lane.workers < max(1, self._max_workers // max(2, self._busy))

    def _spawn(self, lane: _Lane) -> None:
        if self._closed:
            return
        while lane.workers < len(lane.queue) + lane.in_flight and self._room(lane):
            lane.workers += 1
            self._workers += 1
            task = asyncio.get_running_loop().create_task(self._work(lane))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if lane.queue and lane.workers < len(lane.queue) + lane.in_flight:
            self._starved.add(lane)
        else:
            self._starved.discard(lane)

    async def _work(self, lane: _Lane) -> None:
        dispatcher, clock = self._dispatcher, self._clock
        queue = lane.queue
        try:
            while queue and lane.workers <= dispatcher.capacity(lane.loop):
                job = queue.popleft()
                lane.in_flight += 1
                job.started_s = clock.monotonic()
                lane.calls[job] = None
                try:
                    outcome = await dispatcher.attempt(lane.loop, job.webhook_id, job.payloads,
                                                       job.attempt, age_s=job.age_s,
                                                       headers=job.headers)
                finally:
                    del lane.calls[job]
                    lane.in_flight -= 1
                    self._held -= 1
                    if not queue and not lane.in_flight:
                        self._busy -= 1
                if not outcome.breaker_open:
                    lane.latency_s = 0.8 * lane.latency_s + 0.2 * outcome.latency_s \
                        if lane.latency_s else outcome.latency_s
                try:
                    self._on_outcome(lane.loop, job, outcome)
                except Exception:  # the caller's bug must not stop the lane
                    log.exception("handling the outcome of %s failed", job.webhook_id)
        finally:
            lane.workers -= 1
            self._workers -= 1
            if queue:
                self._starved.add(lane)
            if self._starved:
                for starved in list(self._starved):
                    self._spawn(starved)
