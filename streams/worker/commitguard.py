"""No first commit of a partition above where the worker opened it, unless all of it was acked.

Faust commits the first run of consecutive acknowledged offsets of a partition
(``Consumer._new_offset``, faust-streaming 0.15.3). Once the partition has a committed offset it
checks that the run starts next to it (and seeks back to it after a rebalance); before that
(a partition the group never committed: every partition of a fresh generation, every partition
added in direct mode) there is no check at all, and aiokafka's ``seek_to_committed`` does not
move such a partition either. So records fetched and then dropped before the stream saw them
(Faust's ``getmany`` skips a partition that is not active, or stops when the flow is suspended
for a rebalance) were lost without a trace: the first run acked above them was committed
wherever it began. That is how the kill test lost 273-278 events (docs/decisions.md, "What
DESIGN.md should say", item 25); the gate that resumed partitions during a rebalance is fixed,
this is the defence against the next cause.

:class:`OpeningGuard` notes, per partition and assignment, the lowest offset the consumer
thread handed over to Faust (the partition's opening: where fetching began, or where a seek set
it back to). While Faust has no committed offset for the partition, a commit is allowed only
if the lowest offset counted as done (acked, or a gap Faust saw between fetched records) is at
or below that opening: the acked run then covers every offset from the opening. Otherwise
the commit is withheld (logged once): the records the stream never saw are read again at the
next assignment (nothing committed: from the start), instead of being skipped forever. After
the first commit Faust's own check applies.

Why the first handed-over offset and not the position asked of the broker: a compacted topic
(the profile snapshots) or transaction markers can leave no record at the opening position, and
a guard waiting for it would never let the partition commit.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable

from faust.types import TP

from streams.worker.draining import DrainingConsumer

__all__ = ["DROP_FIRST_FETCH_ENV", "GuardedConsumer", "OpeningGuard"]

log = logging.getLogger(__name__)

#: test hook (tests/integration/test_commit_guard.py): the records first handed over for each
#: partition of this topic are dropped before Faust sees them, as Faust's ``getmany`` drops a
#: fetched batch around a rebalance. Never set in production.
DROP_FIRST_FETCH_ENV = "FLTEST_DROP_FIRST_FETCH"


class OpeningGuard:
    """Per partition, the lowest offset handed over since its assignment, and whether a first
    commit may pass it."""

    def __init__(self) -> None:
        self.opened_at: dict[Any, int] = {}
        self._warned: set[Any] = set()

    def handed_over(self, tp: Any, first_offset: int) -> None:
        """The consumer thread handed over records of ``tp`` from ``first_offset`` on."""
        opened = self.opened_at.get(tp)
        if opened is None or first_offset < opened:
            self.opened_at[tp] = first_offset

    def forget(self, tps: Iterable[Any]) -> None:
        """``tps`` were revoked: their next assignment opens them anew."""
        for tp in tps:
            self.opened_at.pop(tp, None)
            self._warned.discard(tp)

    def allows(self, tp: Any, committed: int | None, lowest_done: int | None) -> bool:
        """May Faust commit ``tp`` now? Always once it has a ``committed`` offset; before
        that, only if ``lowest_done`` (the lowest offset acked or counted as a gap) is at or
        below the opening (nothing handed over: nothing to commit either way)."""
        if committed is not None or lowest_done is None:
            return True
        opened = self.opened_at.get(tp)
        if opened is None or lowest_done <= opened:
            return True
        if tp not in self._warned:
            self._warned.add(tp)
            log.warning("%s[%d]: not committing: opened at offset %d, but acknowledged only from "
                        "%d (records handed over were never processed); they are read again at "
                        "the next assignment", getattr(tp, "topic", tp),
                        getattr(tp, "partition", -1), opened, lowest_done)
        return False


class GuardedConsumer(DrainingConsumer):
    """Faust's aiokafka consumer (with :mod:`~streams.worker.draining`'s drain loop) whose
    commits go through an :class:`OpeningGuard`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opening = OpeningGuard()
        self._drop_first_of = os.environ.get(DROP_FIRST_FETCH_ENV) or None
        self._dropped: set[Any] = set()

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        records = await super()._getmany(active_partitions, timeout)
        dropped = []
        for tp, batch in records.items():
            if batch:
                self.opening.handed_over(tp, batch[0].offset)
                if tp.topic == self._drop_first_of and tp not in self._dropped:
                    self._dropped.add(tp)
                    dropped.append(tp)
                    log.warning("test hook: dropping %s[%d] offsets %d-%d", tp.topic,
                                tp.partition, batch[0].offset, batch[-1].offset)
        if dropped:
            records = {tp: batch for tp, batch in records.items() if tp not in dropped}
        return records

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.opening.forget(revoked)
        await super().on_partitions_revoked(revoked)

    def _new_offset(self, tp: TP) -> int | None:
        if self._committed_offset[tp] is None:  # a first commit: the guard judges it
            acked = self._acked.get(tp)
            gaps = self._gap.get(tp)
            lowest = min(acked) if acked else None
            if gaps:
                lowest = gaps.begin() if lowest is None else min(lowest, gaps.begin())
            if not self.opening.allows(tp, None, lowest):
                return None
        result: int | None = super()._new_offset(tp)
        return result

