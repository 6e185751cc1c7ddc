"""Per-loop selection of the profile fields a payload carries."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["select_fields"]


def select_fields(payload: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """A copy of ``payload`` whose ``fields`` map holds only the names in ``fields``.

    ``fields`` is a loop's ``fields`` setting: ``None`` keeps every field. Names the payload does
    not have are ignored; the kept fields follow the order of ``fields``. Only the ``fields`` map
    is filtered (``email``, ``interests`` and the rest stay). ``payload`` is never mutated; the
    result is a new top-level dict that may share nested values with it.
    """
    selected = dict(payload)
    if fields is None:
        return selected
    available = payload.get("fields")
    if isinstance(available, Mapping):
        selected["fields"] = {name: available[name] for name in fields if name in available}
    return selected
