"""Which offset of a partition may be committed when records finish out of order."""
from __future__ import annotations

__all__ = ["PartitionOffsets"]


class PartitionOffsets:
    """Offsets read from one partition, in increasing order; ``done(o)`` marks one finished.

    ``committable()`` is the offset to commit: the first unfinished offset (one past the
    longest finished prefix). Nothing after an unfinished record is ever committed.

    Only *unfinished* offsets are kept (a set), so records that finished behind a slow one
    (a call that takes its full 120 s timeout, say) cost nothing while they wait for it to
    finish; ``outstanding`` counts unfinished records only.
    """

    __slots__ = ("_unfinished", "_low", "_first", "_last", "_committed")

    def __init__(self) -> None:
        self._unfinished: set[int] = set()
        self._low: int | None = None      # min(_unfinished) when known, else None
        self._first: int | None = None    # the first offset read
        self._last: int | None = None     # the last offset read
        self._committed: int | None = None

    def read(self, offset: int) -> None:
        if not self._unfinished:
            self._low = offset
        self._unfinished.add(offset)
        if self._first is None:
            self._first = offset
        self._last = offset

    def done(self, offset: int) -> None:
        self._unfinished.discard(offset)
        if offset == self._low:
            self._low = None  # recomputed when needed

    def committable(self) -> int | None:
        """The offset to commit now, or None when nothing new finished since the last commit."""
        if self._last is None:
            return None
        if self._unfinished:
            if self._low is None:
                self._low = min(self._unfinished)
            position = self._low
        else:
            position = self._last + 1
        if position == self._committed or (self._committed is None and position == self._first):
            return None
        return position

    def committed(self, offset: int) -> None:
        self._committed = offset

    @property
    def outstanding(self) -> int:
        """Records read and not finished."""
        return len(self._unfinished)
