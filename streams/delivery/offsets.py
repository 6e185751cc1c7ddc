"""Which offset of a partition may be committed when records finish out of order."""
from __future__ import annotations

from collections import deque

__all__ = ["PartitionOffsets"]


class PartitionOffsets:
    """Offsets read from one partition, in order; ``done(o)`` marks one finished.

    ``committable()`` is the offset to commit: one past the longest finished prefix, i.e. the
    first unfinished offset. Nothing after an unfinished record is ever committed.
    """

    __slots__ = ("_pending", "_done", "_next", "_committed")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._next: int | None = None
        self._committed: int | None = None

    def read(self, offset: int) -> None:
        self._pending.append(offset)

    def done(self, offset: int) -> None:
        self._done.add(offset)
        pending, finished = self._pending, self._done
        while pending and pending[0] in finished:
            finished.discard(pending[0])
            self._next = pending.popleft() + 1

    def committable(self) -> int | None:
        """The offset to commit now, or None when nothing new finished since the last commit."""
        if self._next is None or self._next == self._committed:
            return None
        return self._next

    def committed(self, offset: int) -> None:
        self._committed = offset

    @property
    def outstanding(self) -> int:
        """Records read and not finished."""
        return len(self._pending)
