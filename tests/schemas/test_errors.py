"""schemas.errors: one root, InvalidRecord carries reason and field and survives pickling."""
from __future__ import annotations

import pickle

from schemas.errors import InvalidRecord, SchemasError


def test_hierarchy_and_attributes() -> None:
    error = InvalidRecord("field 'ip': 'x' is not an IPv4 address", "ip")
    assert isinstance(error, SchemasError) and isinstance(error, ValueError)
    assert str(error) == error.reason and error.field == "ip"
    assert InvalidRecord("record is empty").field is None


def test_pickles() -> None:
    error = pickle.loads(pickle.dumps(InvalidRecord("why", "where")))
    assert (error.reason, error.field) == ("why", "where")
