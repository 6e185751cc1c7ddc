"""The pooled HTTP client every customer call goes through.

One aiohttp ``ClientSession`` per process: a TCPConnector with a large pool, keep-alive, a DNS
cache, the SSRF guard wired into both resolution (GuardedResolver) and connection
(``socket_factory``), no cookies, no proxies from the environment, no automatic redirects and no
automatic decompression (``Accept-Encoding: identity``; what we read is what was sent, so size
limits count real bytes).

DNS cache vs rebinding: the cache stores only the GuardedResolver's *filtered* answer, and the
socket factory checks every address again right before ``connect()``, so neither the cache
(``ttl_dns_cache_s``) nor a rebinding DNS server can get a refused address dialled. The cache
actually narrows rebinding: an address is pinned for the TTL. Keep-alive connections were checked
when they were opened.

Errors: every upstream exception is translated in :func:`senders.upstream.translated`; this
module raises only :mod:`senders.errors` (and RuntimeError when used before ``start()``).
"""
from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Self

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from .errors import InvalidUrl, ResponseTooLarge
from .ssrf import GuardedResolver, SsrfPolicy, literal_address
from .upstream import translated

__all__ = ["DEFAULT_USER_AGENT", "DeliveryClient", "HttpClient", "HttpResponse", "PooledClient",
           "SNIPPET_BYTES", "checked_url"]

DEFAULT_USER_AGENT = "FeedbackLoops/0.1 (+https://www.standardwebhooks.com)"
#: how much of a POST answer we keep (the attempt log's response snippet).
SNIPPET_BYTES = 1024
_MAX_CACHED_URLS = 4096


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One answer: status, headers (case-insensitive), the body read (POST: at most the first
    1 KiB; GET: all of it, at most max_bytes), seconds from send to body read, the URL asked."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    latency_s: float
    url: str


class DeliveryClient(Protocol):
    """What the dispatcher needs from a client; :class:`senders.testing.RecordingClient` is the
    in-memory twin. Failures are raised as :mod:`senders.errors`."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout_s: float) -> HttpResponse:
        ...


class PooledClient:
    """``async with client:`` for a client whose pool is made by ``start()`` (inside the
    running event loop) and released by ``close()``."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()


class HttpClient(PooledClient):
    """The real client. ``async with HttpClient(policy) as client:`` or ``await start()`` /
    ``await close()``.

    ``limit`` caps connections in total (default 1000); ``limit_per_host`` 0 means no per-host
    cap, because per-loop concurrency is capped by the dispatcher and a pool wait would eat into
    the request's timeout. ``resolver`` is the inner resolver wrapped by the guard (default:
    getaddrinfo in a thread; tests pass a fake). ``ttl_dns_cache_s`` None caches forever, 0
    disables the cache.
    """

    def __init__(
        self,
        policy: SsrfPolicy | None = None,
        *,
        resolver: AbstractResolver | None = None,
        limit: int = 1000,
        limit_per_host: int = 0,
        ttl_dns_cache_s: int | None = 10,
        keepalive_s: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        drain_max_bytes: int = 64 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy if policy is not None else SsrfPolicy()
        self._inner_resolver = resolver
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._ttl_dns_cache_s = ttl_dns_cache_s
        self._keepalive_s = keepalive_s
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self._drain_max_bytes = drain_max_bytes
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        self._targets: dict[str, URL] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        """Create the pool (inside the running event loop)."""
        if self._session is not None:
            return
        self._resolver = GuardedResolver(self.policy, self._inner_resolver)
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            use_dns_cache=self._ttl_dns_cache_s != 0,
            ttl_dns_cache=self._ttl_dns_cache_s,
            keepalive_timeout=self._keepalive_s,
            resolver=self._resolver,
            socket_factory=self.policy.socket_factory,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # an HTTP(S)_PROXY would be dialled instead of the checked address
            auto_decompress=False,
            raise_for_status=False,
        )

    async def close(self) -> None:
        """Close the pool and the resolver; idempotent."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout_s: float) -> HttpResponse:
        """POST ``body``; never follows redirects. Returns any status (the caller classifies);
        raises DeliveryError subclasses when there is no complete answer within ``timeout_s``."""
        session = self._started()
        target = self.target(url)
        started = time.monotonic()
        with translated(url, timeout_s):
            async with session.post(target, data=body, headers=headers,
                                    timeout=self._timeout(timeout_s),
                                    allow_redirects=False) as resp:
                snippet = await _read_upto(resp.content, SNIPPET_BYTES)
                if len(snippet) == SNIPPET_BYTES and not resp.content.at_eof():
                    # read the rest (bounded) so the connection can be reused
                    rest = await _read_upto(resp.content, self._drain_max_bytes)
                    if len(rest) == self._drain_max_bytes:
                        resp.close()
                return HttpResponse(resp.status, resp.headers, snippet,
                                    time.monotonic() - started, url)

    async def get(self, url: str, max_bytes: int, timeout_s: float) -> HttpResponse:
        """GET the whole body (at most ``max_bytes``, else ResponseTooLarge) within
        ``timeout_s``; never follows redirects (a 3xx is returned like any other status, its
        ``Location`` in the headers, for the caller to judge)."""
        session = self._started()
        target = self.target(url)
        started = time.monotonic()
        with translated(url, timeout_s):
            async with session.get(target, timeout=self._timeout(timeout_s),
                                   allow_redirects=False) as resp:
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise ResponseTooLarge(url, max_bytes)
                body = await _read_upto(resp.content, max_bytes + 1)
                if len(body) > max_bytes:
                    raise ResponseTooLarge(url, max_bytes)
                return HttpResponse(resp.status, resp.headers, body,
                                    time.monotonic() - started, url)

    def target(self, url: str) -> URL:
        """Parse and check ``url`` (cached): http(s), a host, and, for IP-literal hosts, an
        allowed address in canonical notation. Raises InvalidUrl or SsrfRefused."""
        target = self._targets.get(url)
        if target is None:
            target = checked_url(self.policy, url)
            if len(self._targets) >= _MAX_CACHED_URLS:
                self._targets.clear()
            self._targets[url] = target
        return target


    def _started(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpClient is not started: await start() or use 'async with'")
        return self._session

    def _timeout(self, timeout_s: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            timeout = self._timeouts[timeout_s] = aiohttp.ClientTimeout(total=timeout_s)
        return timeout


def checked_url(policy: SsrfPolicy, url: str) -> URL:
    """Parse and check ``url``: http(s), a host, a port, and, for IP-literal hosts, an allowed
    address in canonical notation. Raises InvalidUrl or SsrfRefused."""
    try:
        parsed = URL(url)
        port = parsed.port
    except (ValueError, TypeError) as exc:
        raise InvalidUrl(url, str(exc) or "cannot be parsed") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidUrl(url, "the scheme must be http or https")
    host = parsed.raw_host
    if not host or port is None:
        raise InvalidUrl(url, "has no host")
    policy.check_host(host)
    address = literal_address(host)
    if address is not None and address.version == 4 and str(address) != host:
        raise InvalidUrl(url, f"{host} is a non-canonical IPv4 address (it means {address})")
    return parsed.with_fragment(None)


async def _read_upto(content: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes, fewer only at the end of the body."""
    first = await content.read(limit)
    if len(first) == limit or not first:
        return first
    chunks = [first]
    size = len(first)
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)

