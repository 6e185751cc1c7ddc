"""A demo receiver: an aiohttp server on 127.0.0.1 that prints one line per call it gets."""
from __future__ import annotations

import asyncio
import sys
import time
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

__all__ = ["make_receiver_app", "serve"]


def _summary(body: bytes, content_type: str) -> str:
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields = dict(parse_qsl(body.decode("utf-8", "replace")))
        return f"{fields.get('type', '?'):7} {fields.get('recipient', fields.get('profile', '?'))}"
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"{len(body)} bytes"
    items = doc if isinstance(doc, list) else [doc]
    parts = []
    for item in items[:3]:
        if isinstance(item, dict):
            who = item.get("email") or item.get("recipient") or item.get("profile") or "?"
            parts.append(f"{item.get('type', '?'):7} {who}")
    more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
    return "; ".join(parts) + more


def make_receiver_app(out=sys.stdout) -> web.Application:  # type: ignore[no-untyped-def]
    counter = {"calls": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        counter["calls"] += 1
        stamp = time.strftime("%H:%M:%S")
        wid = request.headers.get("webhook-id", "-")
        replay = request.headers.get("webhook-replay")
        mark = f"REPLAY {replay} " if replay else ""
        print(f"[receiver {stamp}] #{counter['calls']:<5} {mark}"
              f"{_summary(body, request.content_type)}  webhook-id={wid}", file=out, flush=True)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    return app


async def serve(port: int, host: str = "127.0.0.1") -> None:
    runner = web.AppRunner(make_receiver_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"[receiver] listening on http://{host}:{port}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
