"""``/replays``: start, list, show and cancel replays (:mod:`streams.replay`), per account.

Starting or cancelling needs ``editor``, reading ``viewer``. A token sees and may replay to
the loops of its account only: a loop of another account is "no loop with id ...", a replay
of another account's loop is "no replay with id ..." (ids of other accounts never leak).
"""
from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from schemas.loop import Loop

from streams.api.accounts import Principal
from streams.api.auth import access, principal_of
from streams.api.routes import body_of, query_of
from streams.errors import ReplayNotFound
from streams.replay.operations import Replays

__all__ = ["replay_routes"]


def replay_routes(replays: Replays | None,
                  find_loop: Callable[[str], Loop | None]) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    def available() -> Replays:
        if replays is None:
            raise web.HTTPServiceUnavailable(reason="replays are not served here")
        return replays

    def owned_by(principal: Principal) -> Callable[[str], Loop | None]:
        def find(loop_id: str) -> Loop | None:
            loop = find_loop(loop_id)
            return loop if loop is not None and principal.owns(loop) else None
        return find

    def visible(principal: Principal, status: dict[str, Any]) -> bool:
        return owned_by(principal)(status["loop_id"]) is not None

    @routes.post("/replays")
    @access("editor")
    async def start(request: web.Request) -> web.Response:
        body = await body_of(request)
        return web.json_response(
            await available().run("start", body, owned_by(principal_of(request))), status=201)

    @routes.get("/replays")
    @access("viewer")
    async def listing(request: web.Request) -> web.Response:
        query_of(request)
        principal = principal_of(request)
        found = await available().run("list")
        return web.json_response({"replays": [r for r in found if visible(principal, r)]})

    async def one(request: web.Request) -> dict[str, Any]:
        replay_id = request.match_info["id"]
        status: dict[str, Any] = await available().run("get", replay_id)
        if not visible(principal_of(request), status):
            raise ReplayNotFound(replay_id)
        return status

    @routes.get("/replays/{id}")
    @access("viewer")
    async def show(request: web.Request) -> web.Response:
        return web.json_response(await one(request))

    @routes.delete("/replays/{id}")
    @access("editor")
    async def cancel(request: web.Request) -> web.Response:
        await one(request)
        return web.json_response(await available().run("cancel", request.match_info["id"]),
                                 status=202)

    return routes
