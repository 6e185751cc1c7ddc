"""The control API's routes: thin handlers over :class:`ControlPlane` (OpenAPI: docs/openapi.yaml).

Every handler declares who may call it (:func:`streams.api.auth.access`): its least role and,
for ``/loops/{id}...``, that the loop must be the caller's (404 otherwise). Listing handlers
filter by the caller's account (``principal_of(request)``).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Mapping, cast

from aiohttp import web

from streams.esp.ingest import ReportRefused
from streams.api.accounts import AccountError, Principal
from streams.api.auth import Forbidden, access, authorize, not_found, principal_of
from streams.api.account_routes import account_routes
from streams.api.control import ControlPlane, NotFound, public_view
from streams.api.directory import AccountConflict, Directory, NoAccount
from streams.api.esp import EspApi, esp_routes
from streams.api.inputs import (InputError, parse_create, parse_list_filter, parse_patch,
                                parse_redrive, parse_replay, parse_rotate, parse_test)
from streams.api.server import health_app
from streams.api.ui import ui_routes
from streams.errors import ReplayNotFound

__all__ = ["control_app", "body_of", "limit_of", "query_of"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON ``{"error": problem, "field": name-or-null}``."""
    try:
        return await handler(request)
    except (InputError, AccountError) as exc:
        return web.json_response({"error": exc.problem, "field": exc.field}, status=400)
    except Forbidden as exc:
        return web.json_response({"error": exc.problem, "field": exc.field}, status=403)
    except NotFound as exc:
        return not_found(exc.loop_id)
    except ReplayNotFound as exc:
        return web.json_response({"error": str(exc), "field": "id"}, status=404)
    except NoAccount as exc:
        return web.json_response({"error": f"no account or token with id {exc.args[0]!r}",
                                  "field": "id"}, status=404)
    except AccountConflict as exc:
        return web.json_response({"error": exc.problem, "field": exc.field}, status=409)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason, "field": None}, status=exc.status)


async def body_of(request: web.Request) -> Any:
    """The JSON request body (None when there is none); 400 when it is not JSON."""
    if not request.can_read_body:
        return None
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(None, f"the request body is not JSON ({exc})") from None


def query_of(request: web.Request, *allowed: str) -> Mapping[str, str]:
    """The query parameters, refusing any not ``allowed``."""
    unknown = set(request.query) - set(allowed)
    if unknown:
        raise InputError(sorted(unknown)[0], "unknown query parameter "
                         f"(allowed: {', '.join(allowed)})")
    return request.query


def limit_of(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InputError("limit", f"must be an integer 1..1000, got {raw!r}")
    return int(raw)


def _scope_check(principal: Principal, database: Any, collection: Any) -> None:
    """A loop the caller creates or changes must stay inside its account (403 naming the
    field otherwise: the database name is the caller's own input, so nothing leaks)."""
    if principal.covers(database, collection):
        return
    a = principal.account
    owned = ", ".join([*a.databases, *(f"{db}/{c}" for db, cs in a.collections.items()
                                       for c in cs)])
    field = "collection" if database in a.collections else "database"
    raise Forbidden(field, f"outside this token's account (its databases and collections: "
                           f"{owned})")


#: takes one raw report, returns what was written (key, topic, bytes) or raises InputError
EspIngest = Callable[[bytes], Awaitable[dict[str, Any]]]


def control_app(control: ControlPlane, directory: Directory, ready: Callable[[], bool],
                esp_ingest: EspIngest | None = None, esp: EspApi | None = None,
                extra: tuple[web.RouteTableDef, ...] = ()) -> web.Application:
    """The whole HTTP surface of a worker: health, metrics, the dashboard and the
    authenticated control API (``extra``: more route tables, each handler with its policy)."""
    routes = web.RouteTableDef()

    def owned_loop(loop_id: str) -> Any:
        return control.store.get(loop_id)

    @routes.post("/esp/reports")
    @access("operator")
    async def esp_report(request: web.Request) -> web.Response:
        if esp_ingest is None:
            raise web.HTTPServiceUnavailable(reason="ESP reports are not accepted here")
        try:
            written = await esp_ingest(await request.read())
        except ReportRefused as exc:
            return web.json_response({"error": exc.problem, "field": "body"}, status=exc.status)
        return web.json_response(written, status=202)

    @routes.get("/me")
    @access("viewer")
    async def me(request: web.Request) -> web.Response:
        return web.json_response(principal_of(request).public())

    @routes.post("/loops")
    @access("editor")
    async def create(request: web.Request) -> web.Response:
        fields = parse_create(await body_of(request))
        _scope_check(principal_of(request), fields.get("database"), fields.get("collection"))
        loop = await control.create(fields)
        return web.json_response(public_view(loop, reveal_secrets=True), status=201)

    @routes.get("/loops")
    @access("viewer")
    async def listing(request: web.Request) -> web.Response:
        database, collection, event = parse_list_filter(
            query_of(request, "database", "collection", "event"))
        loops = control.list(database, collection, event, visible=principal_of(request).owns)
        return web.json_response({"loops": [public_view(loop) for loop in loops]})

    @routes.get("/loops/{id}")
    @access("viewer", loop="id")
    async def show(request: web.Request) -> web.Response:
        return web.json_response(public_view(control.get(request.match_info["id"])))

    @routes.patch("/loops/{id}")
    @access("editor", loop="id")
    async def patch(request: web.Request) -> web.Response:
        loop_id = request.match_info["id"]
        fields = parse_patch(await body_of(request))
        current = control.get(loop_id)
        _scope_check(principal_of(request), fields.get("database", current.database),
                     fields.get("collection", current.collection))
        loop = await control.patch(loop_id, fields)
        return web.json_response(public_view(loop))

    @routes.delete("/loops/{id}")
    @access("editor", loop="id")
    async def delete(request: web.Request) -> web.Response:
        await control.delete(request.match_info["id"])
        return web.Response(status=204)

    @routes.post("/loops/{id}/validate")
    @access("editor", loop="id")
    async def validate(request: web.Request) -> web.Response:
        method = query_of(request, "method").get("method", "file")
        loop, result = await control.validate(request.match_info["id"], method)
        return web.json_response({"validated": result.valid, "method": method,
                                  "checks": [c.as_dict() for c in result.checks],
                                  "loop": public_view(loop)})

    @routes.post("/loops/{id}/test")
    @access("editor", loop="id")
    async def test(request: web.Request) -> web.Response:
        encoding, data = parse_test(await body_of(request))
        return web.json_response(await control.test_call(request.match_info["id"], encoding, data))

    @routes.post("/loops/{id}/secret/rotate")
    @access("editor", loop="id")
    async def rotate(request: web.Request) -> web.Response:
        grace_s, signature = parse_rotate(await body_of(request))
        loop, new = await control.rotate_secret(request.match_info["id"], grace_s, signature)
        return web.json_response({**new, "loop": public_view(loop)})

    @routes.get("/loops/{id}/public-key")
    @access("viewer", loop="id")
    async def public_key(request: web.Request) -> web.Response:
        return web.json_response({"public_keys": control.public_keys(request.match_info["id"])})

    @routes.get("/loops/{id}/attempts")
    @access("viewer", loop="id")
    async def attempts(request: web.Request) -> web.Response:
        query_of(request, "limit")
        found = await control.attempts(request.match_info["id"], limit_of(request))
        return web.json_response({"attempts": found})

    def loop_ids_of(principal: Principal) -> Callable[[str], bool]:
        """Whether a loop id (of a dead letter) is the caller's: a deleted loop's dead
        letters belong to no account, so only operators see them."""
        if principal.account.every_database:
            return lambda loop_id: True

        def mine(loop_id: str) -> bool:
            loop = control.store.get(loop_id)
            return loop is not None and principal.owns(loop)
        return mine

    def check_named_loop(principal: Principal, loop_id: str | None) -> None:
        if loop_id is not None and not loop_ids_of(principal)(loop_id):
            raise NotFound(loop_id)

    @routes.post("/dead-letters/redrive")
    @access("editor")
    async def redrive(request: web.Request) -> web.Response:
        loop_id, since_ms, until_ms, dry_run = parse_redrive(await body_of(request))
        principal = principal_of(request)
        check_named_loop(principal, loop_id)
        return web.json_response(await control.redrive(loop_id, since_ms, until_ms, dry_run,
                                                       allowed=loop_ids_of(principal)))

    @routes.get("/dead-letters")
    @access("editor")
    async def dead_letters(request: web.Request) -> web.Response:
        loop_id = query_of(request, "loop", "limit").get("loop")
        principal = principal_of(request)
        check_named_loop(principal, loop_id)
        found = await control.dead_letters(loop_id, limit_of(request),
                                           allowed=loop_ids_of(principal))
        return web.json_response({"dead_letters": found})

    @routes.get("/invalid")
    @access("operator")
    async def invalid(request: web.Request) -> web.Response:
        q = query_of(request, "topic", "reason", "limit")
        found = await control.invalid(q.get("topic"), q.get("reason"), limit_of(request))
        return web.json_response({"invalid": found})

    @routes.post("/invalid/replay")
    @access("operator")
    async def replay(request: web.Request) -> web.Response:
        topic, reason, since_ms, until_ms, dry_run = parse_replay(await body_of(request))
        return web.json_response(await control.replay_invalid(topic, reason, since_ms, until_ms,
                                                              dry_run))

    app = health_app(ready)
    app.middlewares.append(cast(Any, authorize(directory, owned_loop)))
    app.middlewares.append(errors)
    app.add_routes(routes)
    app.add_routes(esp_routes(esp))
    app.add_routes(account_routes(directory))
    app.add_routes(ui_routes())
    for table in extra:
        app.add_routes(table)
    return app
