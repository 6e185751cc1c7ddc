"""enrichers.errors: one root exception."""
from __future__ import annotations

from enrichers.errors import EnrichersError, UnsupportedEvent


def test_hierarchy() -> None:
    assert issubclass(UnsupportedEvent, EnrichersError)
    assert issubclass(EnrichersError, Exception)
    assert str(UnsupportedEvent("type 'x'")) == "type 'x'"
