"""Exceptions of the ``enrichers`` package.

```
EnrichersError               root: anything this package raises on purpose
 └── UnsupportedEvent        an event this function cannot handle (wrong type, or missing a field
                             its contract requires: validate with ``schemas`` first)
```
"""
from __future__ import annotations

__all__ = ["EnrichersError", "UnsupportedEvent"]


class EnrichersError(Exception):
    """Root of every exception raised on purpose by ``enrichers``."""


class UnsupportedEvent(EnrichersError):
    """The event's type or shape is not one this function handles; the message names which."""
