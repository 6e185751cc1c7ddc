"""Start, list, show and cancel replays: what ``/replays`` and ``feedbackloops replay`` call."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from schemas.loop import Loop

from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics
from streams.replay.book import ReplayBook
from streams.replay.requests import parse_body, plan

__all__ = ["Replays"]


class Replays:
    """Replay operations over ``fl.replays`` (``book``) and the loop definitions."""

    def __init__(self, kafka: KafkaConfig, topics: Topics, book: ReplayBook,
                 loop: Callable[[str], Loop | None]) -> None:
        self.kafka = kafka
        self.topics = topics
        self.book = book
        self.loop = loop

    def start(self, body: Any,
              find: Callable[[str], Loop | None] | None = None) -> dict[str, Any]:
        """Check ``body`` (see :mod:`streams.replay.requests`), write the request, return its
        status. ``find`` looks the loop up instead of ``loop`` (an API caller's own loops).
        Raises InputError naming the field; nothing is written then."""
        checked = parse_body(body)
        request = plan(self.kafka, self.topics, (find or self.loop)(checked["loop_id"]),
                       checked)
        self.book.put(request["id"], "", request)
        return self.book.status(request["id"])

    def list(self) -> list[dict[str, Any]]:
        """Every replay, oldest first."""
        return self.book.all()

    def get(self, replay_id: str) -> dict[str, Any]:
        return self.book.status(replay_id)

    def cancel(self, replay_id: str) -> dict[str, Any]:
        return self.book.cancel(replay_id)

    async def run(self, name: str, *args: Any) -> Any:
        """Call an operation off the event loop (they block on Kafka)."""
        method = getattr(self, name)
        return await asyncio.get_running_loop().run_in_executor(None, lambda: method(*args))
