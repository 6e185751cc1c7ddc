"""What the sender does with a delivery it has read: send it, defer it, or dead-letter it.

Pure functions of the loop definition and the loop's lane figures, so every rule is a unit
test (tests/streams/test_decision.py):

- :func:`undeliverable` — the loop is deleted, disabled, or its URL ownership is not validated:
  dead letter at once, no attempt.
- :func:`admit` — whether the loop's lane may take one more delivery, or the delivery is
  deferred to the first retry tier (no attempt; it comes back in a few seconds):

  1. a lane shorter than its in-flight cap always admits (the common case costs nothing);
  2. **fair share**: while other loops have work, no *stalled* loop (its oldest call in
     flight out longer than ``STALLED_S``) whose queue needs more than ``FAIR_WAIT_S`` to
     drain holds more than half of the process's started-but-undecided deliveries
     (``max_active``) — so a loop whose endpoint hangs, whatever its timeout (up to the 120 s
     maximum), can never fill the sender's reading budget and pause the loops beside it
     (issue 9.1). A loop that answers is not deferred for fair share, however long its queue
     (reading pauses for a moment instead, which costs it nothing): on a starved machine a
     healthy loop's calls slow down, and deferring them through the 5 s retry tier paused it
     for 4 s (docs/decisions.md);
  3. **pace**: a lane whose queue would take longer than ``defer_after_s`` to drain at the
     loop's pace (``per_call_s``, which counts the age of its oldest unanswered call, so a
     hang is seen within a second, not when its first timeout fires) defers.

  A deferred delivery is due again when the loop's queue should have drained (at least the
  first retry delay, at most the loop's ``timeout_s``), so a hanging loop's deliveries are not
  re-read every 5 s; one past ``max_age_s`` is dead-lettered instead (the schedule's bound).
"""
from __future__ import annotations

from typing import Literal

from schemas.loop import Loop

__all__ = ["FAIR_WAIT_S", "STALLED_S", "Verdict", "admit", "undeliverable"]

Verdict = Literal["send", "defer"]
#: a loop over its fair share is deferred only when its queue needs longer than this to drain
FAIR_WAIT_S = 1.0
#: ... and its oldest call in flight has been out longer than this (a hang, or an endpoint
#: slower than any healthy one; a healthy call on a starved machine takes tens of ms)
STALLED_S = 1.0


def undeliverable(loop: Loop | None) -> str | None:
    """Why no delivery may be attempted for this loop now (a reason for the dead letter), or
    None when it may (:meth:`schemas.loop.Loop.undeliverable_reason`)."""
    return "loop deleted" if loop is None else loop.undeliverable_reason()


def admit(*, held: int, queued: int, capacity: int, others_busy: bool, max_active: int,
          per_call_s: float, defer_after_s: float, oldest_call_s: float) -> Verdict:
    """``held``: the loop's deliveries queued or in flight in this process; ``queued``: the
    waiting part of them; ``capacity``: its in-flight cap here; ``others_busy``: another loop
    has work; ``max_active``: the process's budget of started deliveries; ``per_call_s``: how
    much one more queued delivery adds to the wait (seconds); ``oldest_call_s``: how long the
    loop's oldest call in flight has been out (0 when none is)."""
    if queued < capacity and held < max_active // 2:
        return "send"
    wait_s = queued * per_call_s
    if (others_busy and held >= max_active // 2 and oldest_call_s > STALLED_S
            and wait_s > FAIR_WAIT_S):
        return "defer"
    if wait_s > defer_after_s:
        return "defer"
    return "send"
