"""The dashboard at ``/ui``: static files shipped in the package, served with a strict CSP.

No build step and nothing fetched at run time: ``streams/api/static/`` holds every file (HTML,
one script, one style sheet), read once at start-up. The pages talk only to the
authenticated API with the token the user typed in, kept in the tab's ``sessionStorage``
(never in a URL). The Content-Security-Policy allows scripts, styles and requests from this
origin only and no inline script at all, so text a receiver or an event sent can never run
even if it reached the page unescaped (the script only ever sets ``textContent``).
"""
from __future__ import annotations

from importlib import resources
from typing import Final

from aiohttp import web

from streams.api.auth import PUBLIC, access

__all__ = ["CSP", "SECURITY_HEADERS", "ui_routes"]

CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
_TYPES: Final = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
                 ".png": "image/png"}


def _files() -> dict[str, tuple[bytes, str]]:
    """Every file of the dashboard: name -> (bytes, content type)."""
    out = {}
    for entry in resources.files("streams.api").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            out[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return out


def ui_routes() -> web.RouteTableDef:
    """``GET /ui`` (-> ``/ui/``), ``GET /ui/`` (the page) and ``GET /ui/{name}`` (its files)."""
    files = _files()
    routes = web.RouteTableDef()

    def serve(name: str) -> web.Response:
        found = files.get(name)
        if found is None:
            raise web.HTTPNotFound(reason="no such dashboard file")
        body, content_type = found
        return web.Response(body=body, headers={"Content-Type": content_type, **SECURITY_HEADERS})

    @routes.get("/ui")
    @access(PUBLIC)
    async def root(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ui/")

    @routes.get("/ui/")
    @access(PUBLIC)
    async def index(request: web.Request) -> web.Response:
        return serve("index.html")

    @routes.get("/ui/{name}")
    @access(PUBLIC)
    async def asset(request: web.Request) -> web.Response:
        return serve(request.match_info["name"])

    return routes
