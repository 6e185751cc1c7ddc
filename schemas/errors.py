"""Exceptions of the ``schemas`` package.

```
SchemasError                  root: anything this package raises on purpose
 ├── InvalidRecord            bytes or a document that breaks its contract (.reason, .field);
 │                            also a ValueError, so "bad value" handlers catch it
 └── InvalidSecret            a signing secret that is not whsec_/whsk_ of the right size;
                              also a ValueError; the message never contains the secret
```

``InvalidRecord.reason`` is one line a person can act on; it names the field when there is one
and is what goes to ``fl.invalid``. It never contains a signing secret.
"""
from __future__ import annotations

__all__ = ["SchemasError", "InvalidRecord", "InvalidSecret"]


class SchemasError(Exception):
    """Root of every exception raised on purpose by ``schemas``."""


class InvalidRecord(SchemasError, ValueError):
    """A record or document does not match its contract; ``reason`` says why, ``field`` where."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field

    def __reduce__(self) -> tuple[type[InvalidRecord], tuple[str, str | None]]:
        return (type(self), (self.reason, self.field))


class InvalidSecret(SchemasError, ValueError):
    """A signing secret breaks the Standard Webhooks rule; the message says how, never what it is."""
