"""The sender's partition bookkeeping: what was read, what is finished, what may be committed.

Every record read from a delivery partition becomes an :class:`Entry` that stays open until
every record its outcome caused (attempt log, retry, dead letter) is acknowledged by Kafka
(``Entry.pending`` counts them down). Only the finished prefix of each partition is committed
(:class:`~streams.delivery.offsets.PartitionOffsets`). Retry records not yet due wait in a
heap (:meth:`Ledger.hold`) and count as unfinished.

Rebalance: a revoked partition's state is dropped at once; entries of it that finish later
mark an orphaned :class:`PartitionOffsets` and change nothing (the new owner re-reads from the
last commit), and its held retries are dropped. A partition *lost* without a clean revoke (the
group coordinator moved, a session timed out) could not be committed on the way out, so its
finished prefix is remembered (:meth:`Ledger.lost`) and :meth:`Ledger.resume_at` starts the
partition there when it comes back, if that is ahead of the group's committed offset:
everything before it already has a durable outcome, so re-reading it only makes duplicates.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Iterable

from streams.delivery.offsets import PartitionOffsets
from streams.kafka.records import Delivery

__all__ = ["TP", "Entry", "Ledger", "PartitionState"]

TP = tuple[str, int]


@dataclass(slots=True, eq=False)
class Entry:
    """One record of a delivery partition, open until its outcome is durable."""

    tp: TP
    offset: int
    offsets: PartitionOffsets
    delivery: Delivery
    #: records produced for this entry and not yet acknowledged
    pending: int = 0

    def produced(self, records: int) -> None:
        """``records`` more records must be acknowledged before the entry is finished."""
        self.pending += records

    def acked(self) -> None:
        """Kafka acknowledged one of the entry's records; the last one finishes the entry."""
        self.pending -= 1
        if self.pending == 0:
            self.offsets.done(self.offset)

    def finish(self) -> None:
        """Finished without producing anything."""
        self.offsets.done(self.offset)


@dataclass(slots=True)
class PartitionState:
    """One owned partition: its offsets and whether reading it is paused."""

    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    paused: bool = False


class Ledger:
    """The partitions this process owns, their open entries and held retries."""

    def __init__(self) -> None:
        self.partitions: dict[TP, PartitionState] = {}
        self._held: list[tuple[int, int, Entry]] = []
        self._seq = itertools.count()
        #: finished prefixes of partitions lost without a commit (see the module docstring)
        self._lost_at: dict[TP, int] = {}

    # -- ownership --------------------------------------------------------------------------
    def assign(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self.partitions[tp] = PartitionState()

    def revoke(self, tps: Iterable[TP]) -> list[tuple[TP, int]]:
        """Forget ``tps``; returns their committable offsets (for a commit on the way out)."""
        gone = set(tps)
        commits = []
        for tp in gone:
            state = self.partitions.pop(tp, None)
            if state is not None and (o := state.offsets.committable()) is not None:
                commits.append((tp, o))
        if gone:
            self._held = [h for h in self._held if h[2].tp not in gone]
            heapq.heapify(self._held)
        return commits

    def lost(self, tps: Iterable[TP]) -> None:
        """Forget ``tps`` like :meth:`revoke`, remembering their finished prefixes."""
        for tp, offset in self.revoke(tps):
            self._lost_at[tp] = max(offset, self._lost_at.get(tp, -1))

    def remembers(self, tp: TP) -> bool:
        """A finished prefix of ``tp`` is remembered from when it was lost."""
        return tp in self._lost_at

    def resume_at(self, tp: TP, committed: int | None) -> int | None:
        """Where a newly assigned ``tp`` should start instead of ``committed`` (the group's
        committed offset, None when unknown): the finished prefix remembered when it was lost,
        if that is ahead; else None (start at the committed offset). Forgets the memory."""
        remembered = self._lost_at.pop(tp, None)
        if remembered is None or (committed is not None and committed >= remembered):
            return None
        return remembered

    def busy(self, tps: Iterable[TP]) -> bool:
        """Has any of ``tps`` an unfinished entry that is not a held retry (in flight)?"""
        for tp in tps:
            state = self.partitions.get(tp)
            if state is not None and state.offsets.outstanding > self.held_in(tp):
                return True
        return False

    # -- records ----------------------------------------------------------------------------
    def read(self, tp: TP, offset: int, delivery: Delivery) -> Entry | None:
        """Open an entry; None when the partition is not (or no longer) owned."""
        state = self.partitions.get(tp)
        if state is None:
            return None
        state.offsets.read(offset)
        return Entry(tp, offset, state.offsets, delivery)

    def hold(self, entry: Entry, due_ms: int) -> None:
        """Keep a retry in memory until ``due_ms``."""
        heapq.heappush(self._held, (due_ms, next(self._seq), entry))

    def due(self, now_ms: int) -> list[Entry]:
        """Held retries due by ``now_ms`` whose partition is still owned, in due order."""
        out = []
        while self._held and self._held[0][0] <= now_ms:
            entry = heapq.heappop(self._held)[2]
            state = self.partitions.get(entry.tp)
            if state is not None and state.offsets is entry.offsets:
                out.append(entry)
        return out

    def next_due_ms(self) -> int | None:
        return self._held[0][0] if self._held else None

    def held_in(self, tp: TP) -> int:
        return sum(1 for h in self._held if h[2].tp == tp)

    def held_per_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for h in self._held:
            counts[h[2].tp[0]] = counts.get(h[2].tp[0], 0) + 1
        return counts

    # -- commits and back-pressure ----------------------------------------------------------
    def committable(self) -> list[tuple[TP, int]]:
        return [(tp, o) for tp, s in self.partitions.items()
                if (o := s.offsets.committable()) is not None]

    def committed(self, tp: TP, offset: int) -> None:
        state = self.partitions.get(tp)
        if state is not None:
            state.offsets.committed(offset)

    @property
    def outstanding(self) -> int:
        """Unfinished entries, all partitions."""
        return sum(s.offsets.outstanding for s in self.partitions.values())

    def backpressure(self, cap: int) -> tuple[list[TP], list[TP]]:
        """Partitions to pause (``cap`` or more unfinished) and to resume (below 3/4 of it);
        the caller applies them and then :meth:`paused`."""
        pause, resume = [], []
        for tp, state in self.partitions.items():
            outstanding = state.offsets.outstanding
            if not state.paused and outstanding >= cap:
                pause.append(tp)
            elif state.paused and outstanding < cap * 3 // 4:
                resume.append(tp)
        return pause, resume

    def paused(self, tps: Iterable[TP], paused: bool) -> None:
        for tp in tps:
            state = self.partitions.get(tp)
            if state is not None:
                state.paused = paused
