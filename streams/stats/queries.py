"""Questions the API, the CLI and the dashboard ask of the statistics, within an account.

:func:`dims_for` turns a query (database, collection, event type, loop) and the caller's
scope into the dimensions to sum; :func:`loop_report` adds the load warning of a loop.
"""
from __future__ import annotations

from typing import Any, Callable

from schemas.loop import Loop

from streams.errors import OutOfScope
from streams.stats.counting import Dim
from streams.stats.view import StatsView, row_of

__all__ = ["OutOfScope", "dims_for", "load_warning", "loop_report", "mailings", "report"]


Covers = Callable[[str | None, str | None], bool]


def dims_for(covers: Covers, every_database: bool, databases: tuple[str, ...],
             collections: dict[str, tuple[str, ...]], database: str | None = None,
             collection: str | None = None, event: str | None = None) -> list[Dim]:
    """The dimensions whose sum answers the query for this scope (``OutOfScope`` when it
    names what the account does not own)."""
    typed: Dim = ("type", event) if event else ()
    if collection is not None and database is None:
        raise OutOfScope("collection")
    if database is not None:
        if collection is not None:
            if not covers(database, collection):
                raise OutOfScope("collection")
            return [("db", database, "coll", collection, *typed)]
        if covers(database, None):
            return [("db", database, *typed)]
        owned = collections.get(database, ())
        if not owned:
            raise OutOfScope("database")
        return [("db", database, "coll", c, *typed) for c in owned]
    if every_database:
        return [typed]
    return ([("db", d, *typed) for d in databases]
            + [("db", d, "coll", c, *typed) for d, cs in collections.items() for c in cs])


def report(view: StatsView, dims: list[Dim], level: str, last: int) -> dict[str, Any]:
    """Windows (oldest first) and their total."""
    return {"window": level, "series": view.series(level, dims, last),
            "total": row_of(view.total(level, dims, last), level)}


def mailings(view: StatsView, database: str, level: str = "1d",
             now_ms: int | None = None) -> list[dict[str, Any]]:
    """Opens and clicks (total and unique) per mailing and per link of ``database`` in the
    current window of ``level`` (default: today, UTC; uniques are exact within a window)."""
    out = []
    for mailing, m in sorted(view.children(level, ("db", database), "mailing", 1, now_ms).items()):
        links = view.children(level, ("db", database, "mailing", mailing), "link", 1, now_ms)
        out.append({"mailing": mailing, **_opens_clicks(m, level),
                    "links": [{"link": link, **_opens_clicks(lm, level)}
                              for link, lm in sorted(links.items())]})
    return out


def _opens_clicks(m: dict[str, float], level: str) -> dict[str, int]:
    return {"opens": int(m.get("opens", 0)), "unique_opens": int(m.get(f"u{level}_opens", 0)),
            "clicks": int(m.get("clicks", 0)), "unique_clicks": int(m.get(f"u{level}_clicks", 0))}


def load_warning(view: StatsView, loop: Loop, defer_after_s: float) -> dict[str, Any] | None:
    """A warning when the loop's observed (routed) or projected (its database's matching
    events in) peak rate over the last hour exceeds what its ``rate_per_s`` delivers."""
    routed = view.series("1m", [("loop", loop.id)], 60)
    observed = max((w["routed"] for w in routed), default=0) / 60
    scope: list[Dim] = []
    for event in loop.events:
        if loop.database is None:
            scope.append(("type", event))
        elif loop.collection is None:
            scope.append(("db", loop.database, "type", event))
        else:
            scope.append(("db", loop.database, "coll", loop.collection, "type", event))
    incoming = view.series("1m", scope, 60)
    projected = max((w["in"] for w in incoming), default=0) / 60
    per_call = loop.batch.max_events if loop.encoding == "json-batch" else 1
    capacity = loop.rate_per_s * per_call
    peak = max(observed, projected)
    if peak <= capacity:
        return None
    backlog_after_s = defer_after_s * capacity / max(peak - capacity, 1e-9)
    advice = ("use json-batch (up to 1000 events per call) or delivery: summary"
              if loop.encoding != "json-batch" else
              "raise batch.max_events or rate_per_s, or use delivery: summary")
    return {"kind": "load", "observed_per_s": round(observed, 2),
            "projected_per_s": round(projected, 2), "capacity_per_s": round(capacity, 2),
            "defer_after_s": defer_after_s,
            "message": (f"events arrive at up to {peak:.1f}/s (peak minute of the last hour) "
                        f"but rate_per_s {loop.rate_per_s:g} delivers {capacity:.1f}/s: the "
                        f"queue grows by {peak - capacity:.1f}/s and new deliveries are "
                        f"deferred after about {backlog_after_s:.0f} s of it "
                        f"(defer_after_s {defer_after_s:g}); {advice}")}


def loop_report(view: StatsView, loop: Loop, level: str, last: int,
                defer_after_s: float) -> dict[str, Any]:
    """A loop's windows, total and warnings."""
    doc = report(view, [("loop", loop.id)], level, last)
    warning = load_warning(view, loop, defer_after_s)
    doc["loop"] = loop.id
    doc["warnings"] = [] if warning is None else [warning]
    return doc
