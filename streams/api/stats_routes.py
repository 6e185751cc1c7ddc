"""Statistics routes: ``/stats``, ``/stats/loops`` and ``/loops/{id}/stats`` (any role, own
account only)."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from aiohttp import web

from schemas.loop import Loop
from schemas.validation import RAW_EVENT_TYPES

from streams.api.auth import Forbidden, access, principal_of
from streams.api.control import NotFound
from streams.api.inputs import InputError
from streams.stats.counting import LEVELS
from streams.stats.queries import OutOfScope, dims_for, load_warning, loop_report, mailings, report
from streams.stats.view import StatsView, row_of

__all__ = ["stats_routes"]

DEFAULT_LAST = {"1m": 60, "1h": 24, "1d": 30}
MAX_LAST = {"1m": 180, "1h": 72, "1d": 35}


def _window(query: Mapping[str, str]) -> tuple[str, int]:
    level = query.get("window", "1m")
    if level not in LEVELS:
        raise InputError("window", f"must be one of {', '.join(LEVELS)}, got {level!r}")
    raw = query.get("last", str(DEFAULT_LAST[level]))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LAST[level]:
        raise InputError("last", f"must be an integer 1..{MAX_LAST[level]} for window {level}")
    return level, int(raw)


def _only(query: Mapping[str, str], *allowed: str) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise InputError(unknown[0], f"unknown query parameter (allowed: {', '.join(allowed)})")


def stats_routes(view: StatsView | None, find_loop: Callable[[str], Loop | None],
                 all_loops: Callable[[], list[Loop]], defer_after_s: float) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    def available() -> StatsView:
        if view is None or not view.ready:
            raise web.HTTPServiceUnavailable(reason="statistics are not available in this process")
        return view

    @routes.get("/stats")
    @access("viewer")
    async def stats(request: web.Request) -> web.Response:
        q = request.query
        _only(q, "window", "last", "database", "collection", "event", "loop")
        level, last = _window(q)
        event = q.get("event")
        if event is not None and event not in RAW_EVENT_TYPES:
            raise InputError("event", f"unknown event type {event!r}")
        principal = principal_of(request)
        v = available()
        if "loop" in q:
            loop = find_loop(q["loop"])
            if loop is None or not principal.owns(loop):
                raise NotFound(q["loop"])
            dims: list[Any] = [("loop", loop.id, *(("type", event) if event else ()))]
        else:
            a = principal.account
            try:
                dims = dims_for(principal.covers, a.every_database, a.databases,
                                dict(a.collections), q.get("database"), q.get("collection"),
                                event)
            except OutOfScope as exc:
                raise Forbidden(exc.field, "outside this token's account") from None
        doc = report(v, dims, level, last)
        if q.get("database") is not None and "loop" not in q and q.get("collection") is None \
                and principal.covers(q["database"], None):
            doc["mailings"] = mailings(v, q["database"])
        return web.json_response(doc)

    @routes.get("/stats/loops")
    @access("viewer")
    async def per_loop(request: web.Request) -> web.Response:
        _only(request.query, "window", "last")
        level, last = _window(request.query)
        principal = principal_of(request)
        v = available()
        out = {}
        for loop in all_loops():
            if principal.owns(loop):
                warning = load_warning(v, loop, defer_after_s)
                out[loop.id] = {**row_of(v.total(level, [("loop", loop.id)], last), level),
                                "warnings": [] if warning is None else [warning]}
        return web.json_response({"window": level, "last": last, "loops": out})

    @routes.get("/loops/{id}/stats")
    @access("viewer", loop="id")
    async def loop_stats(request: web.Request) -> web.Response:
        _only(request.query, "window", "last")
        level, last = _window(request.query)
        loop = find_loop(request.match_info["id"])
        if loop is None:
            raise NotFound(request.match_info["id"])
        return web.json_response(loop_report(available(), loop, level, last, defer_after_s))

    return routes
