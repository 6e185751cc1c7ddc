"""``/partitions``: the serving generation, `partitions scale` and its cancel (operators only).

Thin over :mod:`streams.ops.scaling`: a scale is a request written to ``fl.partitioning``
that the workers' coordinator carries out; ``GET /partitions`` shows how far it is. In
``direct`` mode the counts are the raw topics' and nothing here can change them (409).
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from streams.api.auth import access
from streams.api.routes import body_of, query_of
from streams.errors import InputError
from streams.kafka.partitioning import ControlView
from streams.ops.scaling import ask_cancel, ask_scale, describe

__all__ = ["partition_routes"]


def partition_routes(control: ControlView | None, direct_partitions: int) -> web.RouteTableDef:
    """``control`` None: direct mode (``direct_partitions`` is the configured count)."""
    routes = web.RouteTableDef()

    def repartitioning() -> ControlView:
        if control is None:
            raise web.HTTPConflict(reason="worker.partitioning is direct: the raw topics are "
                                          "the partitioning; grow them with `feedbackloops "
                                          "partitions scale N`, which asks for the producers "
                                          "to pause (docs/operations.md)")
        return control

    @routes.get("/partitions")
    @access("operator")
    async def show(request: web.Request) -> web.Response:
        query_of(request)
        if control is None:
            return web.json_response({"mode": "direct", "partitions": direct_partitions,
                                      "scaling": None})
        return web.json_response(describe(control.state()))

    @routes.post("/partitions/scale")
    @access("operator")
    async def scale(request: web.Request) -> web.Response:
        view = repartitioning()
        body = await body_of(request)
        count = body.get("partitions") if isinstance(body, dict) else None
        if isinstance(body, dict) and set(body) - {"partitions"}:
            raise InputError(sorted(set(body) - {"partitions"})[0], "unknown field")
        if not isinstance(count, int) or isinstance(count, bool):
            raise InputError("partitions", "required: the new partition count (an integer)")
        request_ = await asyncio.get_running_loop().run_in_executor(None, ask_scale, view, count)
        return web.json_response(_accepted(request_.id, view), status=202)

    @routes.post("/partitions/cancel")
    @access("operator")
    async def cancel(request: web.Request) -> web.Response:
        view = repartitioning()
        request_ = await asyncio.get_running_loop().run_in_executor(None, ask_cancel, view)
        return web.json_response(_accepted(request_.id, view), status=202)

    return routes


def _accepted(request_id: str, view: ControlView) -> dict[str, Any]:
    return {"request": request_id, **describe(view.state())}
