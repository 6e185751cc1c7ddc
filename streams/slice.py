"""The thin slice: opens from the raw topic POSTed as JSON to the loops declared in the YAML."""
from __future__ import annotations

import logging

import aiohttp
import faust

from .settings import Config
from .topics import Topics

log = logging.getLogger(__name__)


def attach_slice(app: faust.App, config: Config, topics: Topics) -> None:
    opens = app.topic(topics.raw["open"], value_serializer="raw", key_serializer="raw")
    urls = [loop.url for loop in config.loops if "open" in loop.events]

    @app.agent(opens, name="slice-opens")
    async def deliver_opens(stream: faust.StreamT[bytes]) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async for value in stream:
                for url in urls:
                    async with session.post(url, data=value,
                                            headers={"content-type": "application/json"}) as resp:
                        await resp.read()
                        log.info("POST %s -> %s", url, resp.status)
