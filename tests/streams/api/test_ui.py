"""The dashboard's files as served (README "The dashboard"): the security headers on every
file, nothing fetched from another origin, no inline script, and a script that never writes
HTML (no browser here; tests/integration/test_dashboard.py drives a real one)."""
from __future__ import annotations

import re
from importlib import resources

import aiohttp
from aiohttp import web

from streams.api.ui import ui_routes

FILES = ("", "app.js", "style.css")


def static(name: str) -> str:
    return resources.files("streams.api").joinpath("static", name).read_text()


async def test_every_file_carries_the_security_headers() -> None:
    app = web.Application()
    app.add_routes(ui_routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            for name in FILES:
                async with session.get(f"http://127.0.0.1:{port}/ui/{name}") as response:
                    assert response.status == 200, name
                    headers = response.headers
                    csp = headers["Content-Security-Policy"]
                    assert "default-src 'none'" in csp and "script-src 'self'" in csp, name
                    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
                    assert headers["X-Frame-Options"] == "DENY", name
                    assert headers["Referrer-Policy"] == "no-referrer", name
    finally:
        await runner.cleanup()


def test_nothing_is_fetched_from_elsewhere_and_no_script_is_inline() -> None:
    html = static("index.html")
    for attribute, value in re.findall(r'\b(src|href)="([^"]*)"', html):
        assert value.startswith(("/", "#")), (attribute, value)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+=", html), "no inline event handlers"
    assert "url(http" not in static("style.css") and "@import" not in static("style.css")
    script = static("app.js")
    assert not re.search(r"""(fetch|import)\s*\(\s*["'`]https?:""", script)
    assert not re.search(r"""from\s+["']https?:""", script)


def test_the_script_never_writes_html() -> None:
    """Whatever a receiver or an event sent is shown as text: the script sets textContent
    and never parses a string as HTML."""
    script = static("app.js")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                 "createContextualFragment", "DOMParser", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent" in script
