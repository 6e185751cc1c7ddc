"""streams.ops.export: how an export shares its work among processes."""
from __future__ import annotations

from streams.kafka.window import Span, Window
from streams.ops.export import _shares


def test_partitions_are_shared_by_records_not_by_count() -> None:
    sizes = {0: 900, 1: 100, 2: 100, 3: 100, 4: 500, 5: 400, 6: 50}
    window = Window(0, 1, tuple(Span(topic, p, 0, n // 2) for p, n in sizes.items()
                                for topic in ("opens", "clicks")))
    shares = _shares(window, 2)
    assert sorted(p for share in shares for p in share) == sorted(sizes)
    loads = sorted(sum(sizes[p] for p in share) for share in shares)
    assert loads == [1050, 1100]  # by count (every other partition) it was 600 / 1550
    assert _shares(window, 1) == [set(sizes)]
