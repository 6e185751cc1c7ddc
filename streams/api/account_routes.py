"""Operator routes: accounts and their tokens (``/accounts``), over :class:`Directory`."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from streams.api.accounts import AccountError
from streams.api.auth import access
from streams.api.directory import Directory

__all__ = ["account_routes"]


async def _json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise AccountError(None, f"the request body is not JSON ({exc})") from None


def account_routes(directory: Directory) -> web.RouteTableDef:
    """``/accounts`` (list, create), ``/accounts/{account}`` (show, change, delete),
    ``/accounts/{account}/tokens`` (issue) and ``.../tokens/{token}`` (revoke)."""
    routes = web.RouteTableDef()

    @routes.get("/accounts")
    @access("operator")
    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"accounts": [a.public() for a in directory.all()]})

    @routes.post("/accounts")
    @access("operator")
    async def create(request: web.Request) -> web.Response:
        account = await directory.create(await _json(request))
        return web.json_response(account.public(), status=201)

    @routes.get("/accounts/{account}")
    @access("operator")
    async def show(request: web.Request) -> web.Response:
        return web.json_response(directory.get(request.match_info["account"]).public())

    @routes.patch("/accounts/{account}")
    @access("operator")
    async def patch(request: web.Request) -> web.Response:
        account = await directory.patch(request.match_info["account"], await _json(request))
        return web.json_response(account.public())

    @routes.delete("/accounts/{account}")
    @access("operator")
    async def delete(request: web.Request) -> web.Response:
        await directory.delete(request.match_info["account"])
        return web.Response(status=204)

    @routes.post("/accounts/{account}/tokens")
    @access("operator")
    async def issue(request: web.Request) -> web.Response:
        account, token, token_id = await directory.issue(request.match_info["account"],
                                                         await _json(request))
        return web.json_response({"token": token, "id": token_id, "account": account.public()},
                                 status=201)

    @routes.delete("/accounts/{account}/tokens/{token}")
    @access("operator")
    async def revoke(request: web.Request) -> web.Response:
        await directory.revoke(request.match_info["account"], request.match_info["token"])
        return web.Response(status=204)

    return routes
