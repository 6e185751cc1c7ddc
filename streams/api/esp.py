"""The ESP routes of the worker API: the public one-click unsubscribe, and (authenticated)
the parked unmapped reports and the headers for outgoing mail."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from enrichers.esp import ProfileRef, message_headers
from streams.api.auth import PUBLIC, access
from streams.api.inputs import InputError
from streams.config.esp import EspConfig
from streams.config.settings import KafkaConfig
from streams.esp import parked
from streams.esp.unsubscribe import OneClick, confirmation_page, now_rfc3339
from streams.kafka.topics import Topics

__all__ = ["EspApi", "esp_routes", "parse_headers_request"]

_REF_FIELDS = ("database", "profile", "mailing", "collection", "subprofile")


@dataclass(frozen=True)
class EspApi:
    """What the ESP routes need."""

    config: EspConfig
    kafka: KafkaConfig
    topics: Topics
    one_click: OneClick


def parse_headers_request(body: Any) -> ProfileRef:
    """``{"database": ..., "profile"?, "mailing"?, "collection"?, "subprofile"?}`` as a
    ``ProfileRef``; raises ``InputError`` naming the field."""
    if not isinstance(body, dict):
        raise InputError(None, "the body must be a JSON object")
    unknown = sorted(set(body) - set(_REF_FIELDS))
    if unknown:
        raise InputError(unknown[0], f"unknown field (allowed: {', '.join(_REF_FIELDS)})")
    for name in _REF_FIELDS:
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 255):
            raise InputError(name, "must be a string of 1..255 characters")
    if not body.get("database"):
        raise InputError("database", "is required")
    return ProfileRef(body["database"], profile=body.get("profile"), mailing=body.get("mailing"),
                      collection=body.get("collection"), subprofile=body.get("subprofile"))


def headers_for(config: EspConfig, ref: ProfileRef) -> dict[str, str]:
    """The headers of one outgoing message; raises ``InputError`` without ``esp.ref_secret``."""
    secrets = config.secrets()
    if not secrets:
        raise InputError(None, "esp.ref_secret is not configured")
    return message_headers(secrets[0], ref, unsubscribe_base_url=config.unsubscribe.base_url,
                           feedback_sender=config.feedback_id_sender)


def esp_routes(given: EspApi | None) -> web.RouteTableDef:
    """The routes; without ``given`` (an API process that is no worker) each answers 503."""
    routes = web.RouteTableDef()

    def available() -> EspApi:
        if given is None:
            raise web.HTTPServiceUnavailable(reason="ESP routes are not served here")
        return given

    @routes.post("/unsubscribe/{ref}")
    @access(PUBLIC)  # the signed reference is the credential
    async def one_click(request: web.Request) -> web.Response:
        esp = available()
        form: dict[str, str] = {}
        if request.can_read_body and request.content_length is not None and (
                request.content_length <= 4096):
            posted = await request.post()
            form = {k: v for k, v in posted.items() if isinstance(v, str)}
        answer = await esp.one_click.post(request.match_info["ref"], form,
                                          request.remote or "unknown", now_rfc3339())
        return web.json_response(answer.doc, status=answer.status, headers=answer.headers)

    @routes.get("/unsubscribe/{ref}")
    @access(PUBLIC)
    async def one_click_page(request: web.Request) -> web.Response:
        return web.Response(text=confirmation_page(), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    @routes.get("/esp/unmapped")
    @access("operator")
    async def unmapped(request: web.Request) -> web.Response:
        esp = available()
        unknown = sorted(set(request.query) - {"type", "limit"})
        if unknown:
            raise InputError(unknown[0], "unknown query parameter (allowed: type, limit)")
        kind = request.query.get("type")
        if kind not in (None, "bounce", "complaint"):
            raise InputError("type", f"must be bounce or complaint, got {kind!r}")
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise InputError("limit", f"must be an integer 1..1000, got {raw!r}")
        found = await asyncio.get_running_loop().run_in_executor(
            None, lambda: parked.recent(esp.kafka, esp.topics.esp_unmapped, kind, int(raw)))
        return web.json_response({"unmapped": found})

    @routes.post("/esp/headers")
    @access("operator")
    async def headers(request: web.Request) -> web.Response:
        esp = available()
        try:
            body = await request.json()
        except ValueError as exc:
            raise InputError(None, f"the request body is not JSON ({exc})") from None
        ref = parse_headers_request(body)
        return web.json_response({"headers": headers_for(esp.config, ref)})

    return routes
