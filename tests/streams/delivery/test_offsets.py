from streams.delivery.offsets import PartitionOffsets


def test_only_the_finished_prefix_is_committable() -> None:
    offs = PartitionOffsets()
    for o in (10, 11, 12, 13):
        offs.read(o)
    assert offs.committable() is None
    offs.done(12)
    assert offs.committable() is None, "12 finished but 10 and 11 did not"
    offs.done(10)
    assert offs.committable() == 11
    offs.committed(11)
    assert offs.committable() is None
    offs.done(11)
    assert offs.committable() == 13, "10-12 finished: commit 13"
    assert offs.outstanding == 1
    offs.done(13)
    assert offs.committable() == 14 and offs.outstanding == 0
