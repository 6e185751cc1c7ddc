"""In-memory twins of the senders' I/O seams, for unit tests here and in other packages:
:class:`FakeClock` (time moves only when told), :class:`FakeResolver` (DNS from a dict),
:class:`RecordingClient` (a DeliveryClient that records calls and answers from a script), and
:func:`make_loop` (a validated loop with test defaults)."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import socket
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy

from schemas.loop import Loop

from .client import HttpResponse
from .errors import DeliveryError
from .signing import generate_secret

__all__ = ["FakeClock", "FakeResolver", "RecordedCall", "RecordingClient", "Reply", "make_loop"]


def make_loop(**overrides: Any) -> Loop:
    """A loop made through :meth:`Loop.from_doc` (so validated like any other), enabled and
    validated for its URL; ``overrides`` are document-shaped (``secrets`` may be a list of
    ``whsec_`` strings)."""
    doc: dict[str, Any] = {
        "id": "l1", "url": "https://hooks.example/receive", "events": ["open"],
        "encoding": "json", "timeout_s": 5.0, "max_in_flight": 4, "rate_per_s": 1000.0,
        "secrets": [generate_secret()], "created_at": 0, "updated_at": 0, "version": 1,
    }
    doc.update(overrides)
    doc["secrets"] = [s if isinstance(s, dict) else {"secret": s, "expires_at": None}
                      for s in doc["secrets"]]
    doc.setdefault("validation", {"file_name": "feedbackloop-test.txt", "content": "x",
                                  "validated_at": 1.0, "validated_url": doc["url"],
                                  "method": "operator"})
    return Loop.from_doc(doc)


class FakeClock:
    """A Clock that stands still until ``await advance(delay_s)``; sleepers wake in deadline
    order, each at its own deadline, and the event loop runs woken tasks before time moves on."""

    def __init__(self, monotonic: float = 1000.0, time: float = 1_795_000_000.0) -> None:
        self._now = monotonic
        self._offset = time - monotonic
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._offset

    async def sleep(self, delay_s: float) -> None:
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + delay_s, next(self._seq), waiter))
        await waiter

    @property
    def sleepers(self) -> int:
        """Tasks asleep on this clock."""
        return sum(1 for _, _, w in self._sleepers if not w.done())

    async def advance(self, delay_s: float) -> None:
        """Move time forward by ``delay_s``, waking every sleeper due on the way."""
        target = self._now + delay_s
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, waiter = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not waiter.done():
                waiter.set_result(None)
            await settle()
        self._now = target
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run (a few trips around the event loop)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeResolver(AbstractResolver):
    """Resolves names from ``hosts`` (name -> addresses; change it between calls to simulate
    DNS rebinding); unknown names fail like getaddrinfo. ``calls`` lists the names asked."""

    def __init__(self, hosts: Mapping[str, Sequence[str]] | None = None) -> None:
        self.hosts: dict[str, Sequence[str]] = dict(hosts or {})
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.calls.append(host)
        addresses = self.hosts.get(host)
        if not addresses:
            raise OSError(socket.EAI_NONAME, f"Name or service not known: {host}")
        return [ResolveResult(hostname=host, host=a, port=port,
                              family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST) for a in addresses]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class RecordedCall:
    """One POST as the RecordingClient saw it."""

    url: str
    body: bytes
    headers: dict[str, str]
    timeout_s: float


#: what a script entry or handler may answer: a status, a full response, or an error to raise.
Reply = int | HttpResponse | DeliveryError


@dataclass
class RecordingClient:
    """A DeliveryClient twin: records every call, answers from ``script`` in turn and then with
    ``default_status``; ``handler`` (async, given the call) overrides both. Tracks concurrency."""

    script: Iterable[Reply] = ()
    default_status: int = 204
    handler: Callable[[RecordedCall], Awaitable[Reply]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_s: float = 0.001
    calls: list[RecordedCall] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._script = iter(list(self.script))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout_s: float) -> HttpResponse:
        call = RecordedCall(url, body, dict(headers), timeout_s)
        self.calls.append(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = await self.handler(call) if self.handler else next(self._script, self.default_status)
        finally:
            self.in_flight -= 1
        if isinstance(reply, DeliveryError):
            raise reply
        if isinstance(reply, int):
            return HttpResponse(reply, CIMultiDictProxy(CIMultiDict(self.headers)), b"",
                                self.latency_s, url)
        return reply
