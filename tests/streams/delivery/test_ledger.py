"""The sender's partition bookkeeping: entries finish when their records are acknowledged,
only the finished prefix is committable, held retries count as unfinished, a revoked
partition's late finishes change nothing."""
from __future__ import annotations

from typing import Any

from streams.delivery.ledger import Ledger
from streams.delivery.offsets import PartitionOffsets

TP0 = ("fl.deliveries", 0)
TP1 = ("fl.deliveries", 1)
D: dict[str, Any] = {"delivery_id": "d", "loop_id": "l"}


def test_an_entry_finishes_when_its_last_record_is_acknowledged() -> None:
    ledger = Ledger()
    ledger.assign([TP0])
    first = ledger.read(TP0, 10, D)  # type: ignore[arg-type]
    second = ledger.read(TP0, 11, D)  # type: ignore[arg-type]
    assert first is not None and second is not None
    first.produced(2)  # attempt log + retry record
    first.acked()
    assert ledger.committable() == []
    first.acked()
    assert ledger.committable() == [(TP0, 11)]
    second.finish()
    assert ledger.committable() == [(TP0, 12)]
    ledger.committed(TP0, 12)
    assert ledger.committable() == [] and ledger.outstanding == 0


def test_nothing_after_an_unfinished_record_is_committed() -> None:
    ledger = Ledger()
    ledger.assign([TP0])
    entries = [ledger.read(TP0, o, D) for o in range(5)]  # type: ignore[arg-type]
    for e in entries[1:]:
        assert e is not None
        e.finish()
    assert ledger.committable() == [], "offset 0 is still in flight"
    assert ledger.outstanding == 1, "finished records behind it cost nothing"
    assert entries[0] is not None
    entries[0].finish()
    assert ledger.committable() == [(TP0, 5)]


def test_held_retries_wait_in_due_order_and_count_as_unfinished() -> None:
    ledger = Ledger()
    ledger.assign([TP0, TP1])
    late = ledger.read(TP0, 0, D)  # type: ignore[arg-type]
    soon = ledger.read(TP1, 0, D)  # type: ignore[arg-type]
    assert late is not None and soon is not None
    ledger.hold(late, 2000)
    ledger.hold(soon, 1000)
    assert ledger.next_due_ms() == 1000
    assert ledger.held_per_topic() == {"fl.deliveries": 2}
    assert not ledger.busy([TP0, TP1]), "held retries are not in flight"
    assert ledger.due(999) == []
    assert ledger.due(2000) == [soon, late]
    assert ledger.committable() == []


def test_revoke_drops_state_and_late_finishes_change_nothing() -> None:
    ledger = Ledger()
    ledger.assign([TP0])
    done = ledger.read(TP0, 0, D)  # type: ignore[arg-type]
    open_ = ledger.read(TP0, 1, D)  # type: ignore[arg-type]
    held = ledger.read(TP0, 2, D)  # type: ignore[arg-type]
    assert done is not None and open_ is not None and held is not None
    done.finish()
    ledger.hold(held, 0)
    assert ledger.busy([TP0])
    assert ledger.revoke([TP0]) == [(TP0, 1)], "the finished prefix, for the commit on revoke"
    assert ledger.read(TP0, 3, D) is None, "not owned any more"  # type: ignore[arg-type]
    ledger.assign([TP0])  # owned again: a fresh start from the committed offset
    open_.finish()  # a call that was still running when the partition went away
    assert ledger.committable() == []
    assert ledger.due(10) == [], "held retries of a revoked partition are dropped"


def test_backpressure_counts_unfinished_records_only() -> None:
    ledger = Ledger()
    ledger.assign([TP0])
    entries = [ledger.read(TP0, o, D) for o in range(8)]  # type: ignore[arg-type]
    assert ledger.backpressure(8) == ([TP0], [])
    ledger.paused([TP0], True)
    for e in entries[1:3]:
        assert e is not None
        e.finish()
    assert ledger.backpressure(8) == ([], []), "6 unfinished: not below 3/4 of 8 yet"
    for e in entries[3:]:
        assert e is not None
        e.finish()
    assert ledger.backpressure(8) == ([], [TP0]), "offset 0 still holds the commit, not reading"


def test_partition_offsets_only_keep_unfinished_offsets() -> None:
    offsets = PartitionOffsets()
    for o in range(100_000):
        offsets.read(o)
        if o:
            offsets.done(o)
    assert offsets.outstanding == 1 and offsets.committable() is None
    offsets.done(0)
    assert offsets.committable() == 100_000


def test_a_lost_partition_resumes_past_its_finished_prefix_when_that_is_ahead() -> None:
    ledger = Ledger()
    ledger.assign([TP0, TP1])
    for offset in range(5):
        entry = ledger.read(TP0, offset, D)  # type: ignore[arg-type]
        assert entry is not None
        if offset < 4:
            entry.finish()  # 0-3 delivered and durable, 4 still in flight
    ledger.lost([TP0, TP1])  # the coordinator moved: no commit was possible
    assert ledger.remembers(TP0) and not ledger.remembers(TP1)  # TP1 had finished nothing
    ledger.assign([TP0])
    # the group had committed 2: start at 4 (0-3 are done), not at 2 (2 and 3 sent twice)
    assert ledger.resume_at(TP0, 2) == 4
    assert not ledger.remembers(TP0), "used once"
    ledger.lost([TP0])
    assert not ledger.remembers(TP0), "nothing finished in the new generation yet"


def test_a_lost_partition_others_moved_on_starts_at_the_committed_offset() -> None:
    ledger = Ledger()
    ledger.assign([TP0])
    entry = ledger.read(TP0, 0, D)  # type: ignore[arg-type]
    assert entry is not None
    entry.finish()
    ledger.lost([TP0])
    assert ledger.resume_at(TP0, 7) is None, "another sender committed further meanwhile"
    ledger.lost([TP0])
    assert ledger.resume_at(TP0, None) is None, "nothing remembered any more"
