from streams.worker.acks import InOrderAcks


def test_an_event_is_acked_only_after_every_earlier_event_of_its_partition() -> None:
    acks = InOrderAcks()
    acked: list[int] = []
    done = {o: acks.track("p0", lambda o=o: acked.append(o), outputs=2) for o in (10, 11, 12)}
    done[12]()
    done[12]()
    done[11]()
    assert acked == [], "12 is durable, but 10 and 11 are not"
    done[10]()
    done[10]()
    assert acked == [10], "11 has one output left"
    done[11]()
    assert acked == [10, 11, 12]
    assert acks.waiting("p0") == 0


def test_an_event_without_outputs_waits_for_earlier_ones_then_goes_at_once() -> None:
    acks = InOrderAcks()
    acked: list[int] = []
    first = acks.track("p0", lambda: acked.append(1), outputs=1)
    acks.track("p0", lambda: acked.append(2), outputs=0)
    assert acked == [] and acks.waiting("p0") == 2
    first()
    assert acked == [1, 2]
    acks.track("p0", lambda: acked.append(3), outputs=0)
    assert acked == [1, 2, 3]


def test_partitions_do_not_wait_for_each_other() -> None:
    acks = InOrderAcks()
    acked: list[str] = []
    acks.track("p0", lambda: acked.append("p0"), outputs=1)
    done_p1 = acks.track("p1", lambda: acked.append("p1"), outputs=1)
    done_p1()
    assert acked == ["p1"] and acks.waiting("p0") == 1


def test_why_faust_alone_is_not_enough() -> None:
    """faust-streaming 0.15.3 commits the first run of acked offsets even when the next offset
    to commit (here 10) is not acked yet, and checks nothing before its first commit. Should a
    Faust release fix this, this test fails and streams/worker/acks.py can be reconsidered."""
    from collections import defaultdict
    from types import SimpleNamespace

    from faust.transport.consumer import Consumer
    from faust.types import TP
    from intervaltree import IntervalTree

    tp = TP("fl.raw.opens", 0)

    def new_offset(committed: int | None, acked: list[int]) -> int | None:
        state = SimpleNamespace(_acked=defaultdict(list, {tp: acked}),
                                _gap=defaultdict(IntervalTree), _committed_offset={tp: committed},
                                _acked_index=defaultdict(set))
        return Consumer._new_offset(state, tp)  # type: ignore[arg-type]

    assert new_offset(10, [11, 12, 13]) == 14, "commits past unacked offset 10"
    assert new_offset(None, [5, 6]) == 7, "commits past unacked offsets 0-4"
