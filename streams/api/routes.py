"""The control API's routes: thin handlers over :class:`ControlPlane` (OpenAPI: docs/openapi.yaml)."""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from streams.esp.ingest import ReportRefused
from streams.config.settings import Secret
from streams.api.auth import bearer_auth
from streams.api.esp import EspApi, esp_routes
from streams.api.control import ControlPlane, NotFound, public_view
from streams.api.inputs import (InputError, parse_create, parse_list_filter, parse_patch,
                                parse_redrive, parse_replay, parse_rotate, parse_test)
from streams.api.server import health_app
from streams.replay.book import ReplayNotFound
from streams.replay.operations import Replays

__all__ = ["control_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON ``{"error": problem, "field": name-or-null}``."""
    try:
        return await handler(request)
    except InputError as exc:
        return web.json_response({"error": exc.problem, "field": exc.field}, status=400)
    except NotFound as exc:
        return web.json_response({"error": str(exc), "field": "id"}, status=404)
    except ReplayNotFound as exc:
        return web.json_response({"error": f"no replay with id {exc.args[0]!r}",
                                  "field": "id"}, status=404)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason, "field": None}, status=exc.status)


async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(None, f"the request body is not JSON ({exc})") from None


def _query(request: web.Request, *allowed: str) -> Mapping[str, str]:
    """The query parameters, refusing any not ``allowed``."""
    unknown = set(request.query) - set(allowed)
    if unknown:
        raise InputError(sorted(unknown)[0], "unknown query parameter "
                         f"(allowed: {', '.join(allowed)})")
    return request.query


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InputError("limit", f"must be an integer 1..1000, got {raw!r}")
    return int(raw)


#: takes one raw report, returns what was written (key, topic, bytes) or raises InputError
EspIngest = Callable[[bytes], Awaitable[dict[str, Any]]]


def control_app(control: ControlPlane, tokens: tuple[Secret, ...], ready: Callable[[], bool],
                esp_ingest: EspIngest | None = None, esp: EspApi | None = None,
                replays: Replays | None = None) -> web.Application:
    """The whole HTTP surface of a worker: health, metrics and the authenticated control API."""
    routes = web.RouteTableDef()

    def replay_ops() -> Replays:
        if replays is None:
            raise web.HTTPServiceUnavailable(reason="replays are not served here")
        return replays

    @routes.post("/replays")
    async def start_replay(request: web.Request) -> web.Response:
        body = await _body(request)
        return web.json_response(await replay_ops().run("start", body), status=201)

    @routes.get("/replays")
    async def list_replays(request: web.Request) -> web.Response:
        _query(request)
        return web.json_response({"replays": await replay_ops().run("list")})

    @routes.get("/replays/{id}")
    async def show_replay(request: web.Request) -> web.Response:
        return web.json_response(await replay_ops().run("get", request.match_info["id"]))

    @routes.delete("/replays/{id}")
    async def cancel_replay(request: web.Request) -> web.Response:
        return web.json_response(await replay_ops().run("cancel", request.match_info["id"]),
                                 status=202)

    @routes.post("/esp/reports")
    async def esp_report(request: web.Request) -> web.Response:
        if esp_ingest is None:
            raise web.HTTPServiceUnavailable(reason="ESP reports are not accepted here")
        try:
            written = await esp_ingest(await request.read())
        except ReportRefused as exc:
            return web.json_response({"error": exc.problem, "field": "body"}, status=exc.status)
        return web.json_response(written, status=202)

    @routes.post("/loops")
    async def create(request: web.Request) -> web.Response:
        loop = await control.create(parse_create(await _body(request)))
        return web.json_response(public_view(loop, reveal_secrets=True), status=201)

    @routes.get("/loops")
    async def listing(request: web.Request) -> web.Response:
        loops = control.list(*parse_list_filter(_query(request, "database", "collection", "event")))
        return web.json_response({"loops": [public_view(loop) for loop in loops]})

    @routes.get("/loops/{id}")
    async def show(request: web.Request) -> web.Response:
        return web.json_response(public_view(control.get(request.match_info["id"])))

    @routes.patch("/loops/{id}")
    async def patch(request: web.Request) -> web.Response:
        loop = await control.patch(request.match_info["id"], parse_patch(await _body(request)))
        return web.json_response(public_view(loop))

    @routes.delete("/loops/{id}")
    async def delete(request: web.Request) -> web.Response:
        await control.delete(request.match_info["id"])
        return web.Response(status=204)

    @routes.post("/loops/{id}/validate")
    async def validate(request: web.Request) -> web.Response:
        method = request.query.get("method", "file")
        loop, result = await control.validate(request.match_info["id"], method)
        return web.json_response({"validated": result.valid, "method": method,
                                  "checks": [c.as_dict() for c in result.checks],
                                  "loop": public_view(loop)})

    @routes.post("/loops/{id}/test")
    async def test(request: web.Request) -> web.Response:
        encoding, data = parse_test(await _body(request))
        return web.json_response(await control.test_call(request.match_info["id"], encoding, data))

    @routes.post("/loops/{id}/secret/rotate")
    async def rotate(request: web.Request) -> web.Response:
        grace_s, signature = parse_rotate(await _body(request))
        loop, new = await control.rotate_secret(request.match_info["id"], grace_s, signature)
        return web.json_response({**new, "loop": public_view(loop)})

    @routes.get("/loops/{id}/public-key")
    async def public_key(request: web.Request) -> web.Response:
        return web.json_response({"public_keys": control.public_keys(request.match_info["id"])})

    @routes.get("/loops/{id}/attempts")
    async def attempts(request: web.Request) -> web.Response:
        found = await control.attempts(request.match_info["id"], _limit(request))
        return web.json_response({"attempts": found})

    @routes.post("/dead-letters/redrive")
    async def redrive(request: web.Request) -> web.Response:
        loop_id, since_ms, until_ms, dry_run = parse_redrive(await _body(request))
        return web.json_response(await control.redrive(loop_id, since_ms, until_ms, dry_run))

    @routes.get("/dead-letters")
    async def dead_letters(request: web.Request) -> web.Response:
        found = await control.dead_letters(request.query.get("loop"), _limit(request))
        return web.json_response({"dead_letters": found})

    @routes.get("/invalid")
    async def invalid(request: web.Request) -> web.Response:
        q = _query(request, "topic", "reason", "limit")
        found = await control.invalid(q.get("topic"), q.get("reason"), _limit(request))
        return web.json_response({"invalid": found})

    @routes.post("/invalid/replay")
    async def replay(request: web.Request) -> web.Response:
        topic, reason, since_ms, until_ms, dry_run = parse_replay(await _body(request))
        return web.json_response(await control.replay_invalid(topic, reason, since_ms, until_ms,
                                                              dry_run))

    app = health_app(ready)
    app.middlewares.append(bearer_auth(tokens))
    app.middlewares.append(errors)
    app.add_routes(routes)
    app.add_routes(esp_routes(esp))
    return app
