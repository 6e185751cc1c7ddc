"""A partition's first commit never passes the offset it was opened at unless all was acked."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from faust.types import TP
from intervaltree import IntervalTree

from streams.worker.commitguard import GuardedConsumer, OpeningGuard

TP0 = TP("fl.raw.open", 0)


def test_the_opening_is_the_lowest_offset_handed_over_since_the_assignment() -> None:
    guard = OpeningGuard()
    guard.handed_over(TP0, 10)
    guard.handed_over(TP0, 15)  # the next batch
    assert guard.opened_at[TP0] == 10
    guard.handed_over(TP0, 4)  # a seek back (the profile gate's) hands over from 4
    assert guard.opened_at[TP0] == 4
    guard.forget([TP0])  # revoked: the next assignment opens it anew
    guard.handed_over(TP0, 12)
    assert guard.opened_at[TP0] == 12


def test_a_first_commit_needs_every_offset_from_the_opening() -> None:
    guard = OpeningGuard()
    guard.handed_over(TP0, 10)
    assert guard.allows(TP0, None, 10)
    assert guard.allows(TP0, None, None)  # nothing acked: nothing would be committed
    assert not guard.allows(TP0, None, 11)  # offset 10 was handed over and never acked
    assert not guard.allows(TP0, None, 500)
    assert guard.allows(TP0, 400, 500), "once committed, Faust's own check applies"
    assert guard.allows(TP("other", 0), None, 7), "nothing handed over: nothing to judge"


def _consumer(acked: list[int], gaps: tuple[tuple[int, int], ...] = (),
              committed: int | None = None) -> Any:
    """A GuardedConsumer with only the commit bookkeeping Faust's _new_offset reads."""
    consumer: Any = GuardedConsumer.__new__(GuardedConsumer)
    consumer.opening = OpeningGuard()
    consumer._acked = defaultdict(list, {TP0: list(acked)})
    consumer._acked_index = defaultdict(set, {TP0: set(acked)})
    consumer._gap = defaultdict(IntervalTree)
    for begin, end in gaps:
        consumer._gap[TP0].addi(begin, end)
    consumer._committed_offset = defaultdict(lambda: None, {TP0: committed})
    return consumer


def test_faust_would_commit_past_a_dropped_first_batch_the_guard_does_not() -> None:
    consumer = _consumer(acked=[20, 21, 22])
    consumer.opening.handed_over(TP0, 0)  # offsets 0-19 were handed over, then dropped
    assert consumer._new_offset(TP0) is None
    consumer.opening.forget([TP0])  # without a noted opening: Faust's answer
    assert consumer._new_offset(TP0) == 23


def test_a_run_from_the_opening_commits_gaps_included() -> None:
    consumer = _consumer(acked=[5, 6, 9], gaps=((7, 9),))  # 7, 8: no records (compaction)
    consumer.opening.handed_over(TP0, 5)
    assert consumer._new_offset(TP0) == 10
    committed = _consumer(acked=[31, 32], committed=31)
    committed.opening.handed_over(TP0, 0)
    assert committed._new_offset(TP0) == 33, "a committed partition: Faust decides"
