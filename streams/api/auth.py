"""Who may call which route: a policy declared on every handler, enforced by one middleware.

Declare it under the route decorator::

    @routes.patch("/loops/{id}")
    @access("editor", loop="id")          # role, and the path parameter naming a loop
    async def patch(request): ...

    @routes.post("/unsubscribe/{ref}")
    @access(PUBLIC)                       # no token: the route carries its own credential
    async def one_click(request): ...

The middleware (:func:`authorize`) then, before the handler runs:

1. lets public routes through (``PUBLIC``, and ``/healthz``, ``/readyz``, ``/metrics``);
2. answers 401 without a valid bearer token (unknown, revoked, expired);
3. answers 403 when the token's role is below the route's (the role alone decides, so a 403
   says nothing about any resource);
4. answers 404 — the very answer a missing id gets — when ``loop=`` names a loop the token's
   account does not own, so ids of other accounts never leak;
5. puts the :class:`~streams.api.accounts.Principal` in ``request["principal"]`` for handlers
   that filter what they list (``visible_to``).

A route without a declared policy answers 500 to everyone: forgetting one fails closed, and a
test lists every route with its policy against docs/openapi.yaml (``x-access``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Final, TypeVar

from aiohttp import web

from streams.api.accounts import ROLES, Principal, Role
from streams.api.directory import Directory
from streams.errors import Forbidden, InputError

__all__ = ["Access", "Forbidden", "PUBLIC", "PUBLIC_PATHS", "access", "authorize", "not_found",
           "policy_of", "principal_of"]

PUBLIC: Final = "public"
#: the health application's routes (streams/api/server.py), public on every process
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: where the middleware leaves the caller (a typed key where aiohttp has them: 3.13+)
PRINCIPAL: Any = (web.RequestKey("principal", Principal) if hasattr(web, "RequestKey")
                  else "principal")
H = TypeVar("H", bound=Handler)
FindLoop = Callable[[str], Any]


@dataclass(frozen=True)
class Access:
    """A route's policy: the least ``role`` (or ``"public"``) and, with ``loop``, the path
    parameter holding a loop id that must belong to the caller's account."""

    role: str
    loop: str | None = None

    @property
    def public(self) -> bool:
        return self.role == PUBLIC


def access(role: Role | str, *, loop: str | None = None) -> Callable[[H], H]:
    """Declare the policy of the handler below (see the module docstring)."""
    if role != PUBLIC and role not in ROLES:
        raise InputError("role", f"unknown role {role!r}")

    def mark(handler: H) -> H:
        handler.__fl_access__ = Access(role, loop)  # type: ignore[attr-defined]
        return handler

    return mark


def policy_of(handler: Any) -> Access | None:
    """The policy declared on ``handler`` (None: none declared)."""
    return getattr(handler, "__fl_access__", None)


def principal_of(request: web.Request) -> Principal:
    """The authenticated caller of a non-public route."""
    principal: Principal = request[PRINCIPAL]
    return principal


def not_found(loop_id: str) -> web.Response:
    """The one answer for a loop that does not exist *or* is not the caller's."""
    return web.json_response({"error": f"no loop with id {loop_id!r}", "field": "id"}, status=404)


def _refuse(status: int, problem: str, field: str | None = "Authorization") -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="feedbackloops"'} if status == 401 else None
    return web.json_response({"error": problem, "field": field}, status=status, headers=headers)


def authorize(directory: Directory, find_loop: FindLoop) -> Callable[[web.Request, Handler],
                                                                     Awaitable[web.StreamResponse]]:
    """The middleware enforcing each route's :class:`Access` (see the module docstring)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        policy = policy_of(match.handler) if match.http_exception is None else None
        if request.path in PUBLIC_PATHS or (policy is not None and policy.public):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        principal = (directory.principal(given.strip())
                     if scheme.lower() == "bearer" and given.strip() else None)
        if principal is None:
            return _refuse(401, "missing bearer token" if not header else "invalid bearer token")
        if match.http_exception is not None:  # no such route: its own 404/405
            return await handler(request)
        if policy is None:
            return _refuse(500, "this route declares no access policy", None)
        if not principal.may(policy.role):  # type: ignore[arg-type]
            return _refuse(403, f"this route needs the role {policy.role} "
                                f"(this token: {principal.role})")
        if policy.loop is not None:
            loop_id = match[policy.loop]
            loop = find_loop(loop_id)
            if loop is None or not principal.owns(loop):
                return not_found(loop_id)
        request[PRINCIPAL] = principal
        return await handler(request)

    return middleware
