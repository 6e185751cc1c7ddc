"""The delivery client on libcurl: POSTs driven from asyncio through libcurl's multi interface.

Why: a POST through aiohttp costs ~60-110 µs of Python per call; here the request, the
connection pool, TLS and the HTTP parser run in C, and Python is left with a few ``setopt``
calls and one completion per request (the benchmark's ceilings, docs/benchmarks.md). Only POST
(the :class:`senders.client.DeliveryClient` protocol): ownership GETs and the test tool keep the
aiohttp :class:`senders.client.HttpClient`.

How: one multi handle per client, driven by the event loop (:mod:`senders.curlmulti`). Easy
handles are pooled and reused; idle connections stay in the multi handle's connection cache
(keep-alive).

The same promises as the aiohttp client, each set explicitly:

- SSRF: the URL's host is checked first (:func:`senders.client.checked_url`, every literal
  notation); then libcurl resolves, and ``OPENSOCKETFUNCTION`` sees every address it is about
  to connect to, after resolution and after its DNS cache: a refused one gets no socket
  (libcurl tries the next address, as the aiohttp guard keeps only the allowed ones), so DNS
  rebinding and caches cannot get a refused address dialled. A reused keep-alive connection
  was checked when it was opened.
- no redirects (``FOLLOWLOCATION`` off), no proxies (``PROXY ""`` overrides ``http_proxy`` and
  friends from the environment), no cookies (no cookie engine), no decompression (no
  ``ACCEPT_ENCODING``; ``Accept-Encoding: identity`` is sent), http and https only, HTTP/1.1.
- a total timeout per request (``TIMEOUT_MS``); the answer's first 1 KiB is kept and at most
  ``drain_max_bytes`` more are read so the connection can be reused (beyond that the transfer
  is cut and the connection dropped, the answer still counts).
- HTTPS with the system's CA certificates (the file or directory Python's ``ssl`` module
  uses; the wheel's libcurl does not know where Debian keeps them).
- every libcurl error becomes a :mod:`senders.errors` exception in one place,
  :func:`senders.upstream.translate_curl`.

``resolver`` (tests): an aiohttp-style resolver asked for every request's host name; its
answer is pinned for that request with ``RESOLVE``, so the connect-time check still decides.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from typing import Any, Mapping

import pycurl
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict, CIMultiDictProxy

from .client import DEFAULT_USER_AGENT, SNIPPET_BYTES, HttpResponse, PooledClient, checked_url
from .errors import DeliveryError, DnsError, SsrfRefused
from .curlmulti import AsyncMulti
from .ssrf import SsrfPolicy
from .upstream import translate_curl

__all__ = ["CurlClient"]

log = logging.getLogger(__name__)

_MAX_CACHED_URLS = 4096
_MAX_IDLE_HANDLES = 256


class _Transfer:
    """One reusable easy handle and the state of the request it is carrying."""

    __slots__ = ("curl", "policy", "host", "url", "snippet", "drained", "drain_max", "cut",
                 "header_lines", "refused")

    def __init__(self, curl: pycurl.Curl, policy: SsrfPolicy, drain_max: int) -> None:
        self.curl = curl
        self.policy = policy
        self.drain_max = drain_max
        self.host = ""
        self.url = ""
        self.snippet = bytearray()
        self.drained = 0
        self.cut = False
        self.header_lines: list[bytes] = []
        self.refused: SsrfRefused | None = None

    def begin(self, url: str, host: str) -> None:
        self.url = url
        self.host = host
        self.snippet = bytearray()
        self.drained = 0
        self.cut = False
        self.header_lines = []
        self.refused = None

    # -- libcurl callbacks (run inside socket_action, on the event loop thread) ---------------
    def on_header(self, line: bytes) -> None:
        if line.startswith(b"HTTP/"):
            self.header_lines.clear()  # a 1xx interim answer came first: keep the final one
        else:
            self.header_lines.append(line)

    def on_body(self, chunk: bytes) -> int | None:
        room = SNIPPET_BYTES - len(self.snippet)
        if room > 0:
            self.snippet += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.drained += len(chunk)
            if self.drained > self.drain_max:
                self.cut = True
                return 0  # abort the transfer: the connection is closed, the answer kept
        return None

    def on_open_socket(self, purpose: int, address: Any) -> int:
        family, socktype, protocol, sockaddr = address
        ip = str(sockaddr[0])
        try:
            self.policy.check_address(ip, self.host)
        except SsrfRefused as refusal:
            if self.refused is None:
                self.refused = refusal
            log.warning("ssrf: %s resolves to %s, which %s: not connected", self.host, ip,
                        refusal.reason)
            return pycurl.SOCKET_BAD
        try:
            return socket.socket(family, socktype, protocol).detach()  # libcurl owns the fd
        except OSError:
            return pycurl.SOCKET_BAD

    def headers(self) -> CIMultiDictProxy[str]:
        parsed: CIMultiDict[str] = CIMultiDict()
        for raw in self.header_lines:
            line = raw.decode("latin-1").rstrip("\r\n")
            name, sep, value = line.partition(":")
            if sep and name and not name[0].isspace():
                parsed.add(name.strip(), value.strip())
        return CIMultiDictProxy(parsed)


class CurlClient(PooledClient):
    """A :class:`senders.client.DeliveryClient` on libcurl. ``async with CurlClient(policy)``
    or ``await start()`` / ``await close()``.

    ``limit`` caps connections in total (default 1000); ``ttl_dns_cache_s`` is libcurl's DNS
    cache (10 s); idle keep-alive connections are closed after ``keepalive_s`` (30 s).
    ``ca_file`` / ``ca_path``: the certificates HTTPS trusts (default: the system's).
    """

    def __init__(
        self,
        policy: SsrfPolicy | None = None,
        *,
        resolver: AbstractResolver | None = None,
        limit: int = 1000,
        ttl_dns_cache_s: int = 10,
        keepalive_s: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        drain_max_bytes: int = 64 * 1024,
        ca_file: str | None = None,
        ca_path: str | None = None,
    ) -> None:
        self.policy = policy if policy is not None else SsrfPolicy()
        self._resolver = resolver
        self._limit = limit
        self._ttl_dns_cache_s = ttl_dns_cache_s
        self._keepalive_s = keepalive_s
        self._user_agent = user_agent
        self._drain_max = drain_max_bytes
        self.ca_file, self.ca_path = (ca_file, ca_path) if ca_file or ca_path else _system_cas()
        self._multi: AsyncMulti | None = None
        self._idle: list[_Transfer] = []
        self._targets: dict[str, tuple[str, str, int]] = {}

    async def start(self) -> None:
        """Create the multi handle (inside the running event loop)."""
        if self._multi is None:
            self._multi = AsyncMulti(self._limit)

    async def close(self) -> None:
        """Abort what is in flight, close every connection; idempotent."""
        multi, self._multi = self._multi, None
        if multi is not None:
            multi.close()
        for transfer in self._idle:
            transfer.curl.close()
        self._idle.clear()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout_s: float) -> HttpResponse:
        """POST ``body``; never follows redirects. Returns any status (the caller classifies);
        raises DeliveryError subclasses when there is no complete answer within ``timeout_s``."""
        multi = self._multi
        if multi is None:
            raise RuntimeError("CurlClient is not started: await start() or use 'async with'")
        wire_url, host, port = self._target(url)
        transfer = self._idle.pop() if self._idle else self._new_transfer()
        transfer.begin(wire_url, host)
        curl = transfer.curl
        curl.setopt(pycurl.URL, wire_url)
        curl.setopt(pycurl.POSTFIELDS, body)
        curl.setopt(pycurl.HTTPHEADER, _header_lines(headers))
        curl.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout_s * 1000)))
        if self._resolver is not None:
            await self._pin(transfer, host, port)
        started = time.monotonic()
        try:
            error = await multi.perform(curl)
        except asyncio.CancelledError:
            multi.abort(curl)
            curl.close()  # its state is unknown: never reuse it
            raise
        try:
            if error is not None and not transfer.cut:
                raise self._translate(error, transfer, url, timeout_s) from error
            return HttpResponse(curl.getinfo(pycurl.RESPONSE_CODE), transfer.headers(),
                                bytes(transfer.snippet), time.monotonic() - started, url)
        finally:
            self._release(transfer)

    def _release(self, transfer: _Transfer) -> None:
        if self._multi is not None and len(self._idle) < _MAX_IDLE_HANDLES:
            self._idle.append(transfer)
        else:
            transfer.curl.close()

    def _translate(self, error: pycurl.error, transfer: _Transfer, url: str,
                   timeout_s: float) -> DeliveryError:
        if transfer.refused is not None:
            return transfer.refused
        code = error.args[0] if error.args else 0
        message = error.args[1] if len(error.args) > 1 else ""
        return translate_curl(int(code), str(message), url, timeout_s)

    # -- handles and targets ----------------------------------------------------------------
    def _new_transfer(self) -> _Transfer:
        curl = pycurl.Curl()
        transfer = _Transfer(curl, self.policy, self._drain_max)
        setopt = curl.setopt
        setopt(pycurl.NOSIGNAL, 1)
        setopt(pycurl.FOLLOWLOCATION, 0)
        setopt(pycurl.PROXY, "")
        setopt(pycurl.NOPROXY, "*")
        setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        setopt(pycurl.USERAGENT, self._user_agent)
        setopt(pycurl.DNS_CACHE_TIMEOUT, self._ttl_dns_cache_s)
        setopt(pycurl.MAXAGE_CONN, max(1, int(self._keepalive_s)))
        setopt(pycurl.TCP_NODELAY, 1)
        setopt(pycurl.SSL_VERIFYPEER, 1)
        setopt(pycurl.SSL_VERIFYHOST, 2)
        if self.ca_file:
            setopt(pycurl.CAINFO, self.ca_file)
        if self.ca_path:
            setopt(pycurl.CAPATH, self.ca_path)
        setopt(pycurl.OPENSOCKETFUNCTION, transfer.on_open_socket)
        setopt(pycurl.HEADERFUNCTION, transfer.on_header)
        setopt(pycurl.WRITEFUNCTION, transfer.on_body)
        return transfer

    def _target(self, url: str) -> tuple[str, str, int]:
        """``(url as sent, host, port)``, checked once per URL (cached)."""
        target = self._targets.get(url)
        if target is None:
            parsed = checked_url(self.policy, url)
            assert parsed.raw_host is not None and parsed.port is not None
            target = (str(parsed), parsed.raw_host, parsed.port)
            if len(self._targets) >= _MAX_CACHED_URLS:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _pin(self, transfer: _Transfer, host: str, port: int) -> None:
        """Resolve with the injected resolver and pin the answer for this request."""
        assert self._resolver is not None
        try:
            results = await self._resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            self._release(transfer)
            raise DnsError(f"{transfer.url}: cannot resolve {host}: {exc}") from exc
        addresses = ",".join(f"[{r['host']}]" if ":" in r["host"] else r["host"] for r in results)
        transfer.curl.setopt(pycurl.RESOLVE, [f"-{host}:{port}", f"{host}:{port}:{addresses}"])
        transfer.curl.setopt(pycurl.DNS_CACHE_TIMEOUT, 0)


def _header_lines(headers: Mapping[str, str]) -> list[str]:
    lines = [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Accept-Encoding: identity")
    lines.append("Expect:")  # never wait for a 100-continue before sending the body
    if not any(k.lower() == "content-type" for k in headers):
        lines.append("Content-Type:")  # not libcurl's form default
    return lines


def _system_cas() -> tuple[str | None, str | None]:
    """The CA file and directory Python's ssl module uses (``SSL_CERT_FILE``/``SSL_CERT_DIR``
    honoured), so libcurl trusts what the rest of the process trusts."""
    paths = ssl.get_default_verify_paths()
    ca_file = paths.cafile if paths.cafile and os.path.exists(paths.cafile) else None
    ca_path = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
    return ca_file, ca_path

