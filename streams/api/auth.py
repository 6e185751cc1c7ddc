"""Bearer-token authentication for every route except health, readiness, metrics and the
one-click unsubscribe (whose signed reference is its credential)."""
from __future__ import annotations

import hmac
from typing import Awaitable, Callable, Iterable

from aiohttp import web

from streams.config.settings import Secret

__all__ = ["PUBLIC_PATHS", "PUBLIC_PREFIXES", "bearer_auth"]

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: routes whose own credential is in the path: RFC 8058 one-click unsubscribe (signed ref)
PUBLIC_PREFIXES = ("/unsubscribe/",)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_auth(tokens: Iterable[Secret]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware: 401 unless ``Authorization: Bearer <one of tokens>`` (constant-time compare).

    With no tokens configured every protected route answers 401: an API without credentials
    is closed, not open.
    """
    accepted = [t.reveal().encode() for t in tokens]

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        ok = False
        if scheme.lower() == "bearer" and given:
            candidate = given.strip().encode()
            # compare against every token so timing does not reveal which one matched
            ok = any([hmac.compare_digest(candidate, t) for t in accepted])
        if not ok:
            problem = "missing bearer token" if not header else "invalid bearer token"
            return web.json_response({"error": problem, "field": "Authorization"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="feedbackloops"'})
        return await handler(request)

    return middleware
