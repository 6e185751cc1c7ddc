"""URL ownership validation: prove a loop's URL is the customer's before profile data goes there.

File method (the seed's mechanism): each loop gets a unique file name and content
(:func:`new_challenge`); the owner places the file at the web root *or* in the directory of the
feedback script, and :func:`check_file` GETs the :func:`candidate_urls` in that order through the
SSRF-guarded :class:`~senders.client.HttpClient`. A candidate proves ownership when it answers 2xx
with exactly the content (surrounding whitespace and a UTF-8 byte-order mark aside) within
``max_bytes`` and ``timeout_s``. Redirects are never followed: the file must be served at one
of the two URLs itself, and a 3xx (same host or not) is a failure that says so.

DNS method (optional): a TXT record ``feedbackloop-verification=<content>`` on the URL's host or
on ``_feedbackloop.<host>``, looked up through a :class:`TxtResolver` (:class:`AiodnsTxtResolver`
for real, :class:`StaticTxtResolver` as the in-memory twin).

Neither check raises for a failure of the other side: every failure is a not-ok
:class:`OwnershipCheck` whose ``problem`` a customer can act on.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Mapping, Protocol, Sequence

import aiodns
import pycares
from yarl import URL

from .client import HttpClient, HttpResponse
from .errors import (DeliveryError, DnsError, InvalidUrl, RequestTimeout, ResponseTooLarge,
                     SsrfRefused)
from .ssrf import literal_address

__all__ = [
    "AiodnsTxtResolver",
    "DNS_PREFIX",
    "DNS_SUBDOMAIN",
    "OwnershipCheck",
    "OwnershipResult",
    "StaticTxtResolver",
    "TxtResolver",
    "candidate_urls",
    "check_dns",
    "check_file",
    "new_challenge",
]

log = logging.getLogger(__name__)

#: the TXT record's text is this prefix followed by the challenge content.
DNS_PREFIX = "feedbackloop-verification="
#: the record may also sit on this label under the URL's host.
DNS_SUBDOMAIN = "_feedbackloop"
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_NO_RECORD = frozenset({aiodns.error.ARES_ENOTFOUND, aiodns.error.ARES_ENODATA})


def new_challenge() -> tuple[str, str]:
    """A fresh ``(file_name, content)``: ``feedbackloop-<16 hex>.txt`` and 32 hex characters,
    drawn independently from :mod:`secrets` (the name does not give the content away)."""
    return f"feedbackloop-{secrets.token_hex(8)}.txt", secrets.token_hex(16)


def candidate_urls(loop_url: str, file_name: str) -> list[str]:
    """Where the challenge file may sit, in the order tried: the web root, then the directory of
    the feedback script (the path up to its last ``/``), without duplicates. Scheme, host and
    port are kept; user info, query and fragment are dropped.

    Raises InvalidUrl when ``loop_url`` is not an absolute http(s) URL with a host, and
    ValueError when ``file_name`` is not a plain file name (a path or a dot-file)."""
    if not _SAFE_FILE_NAME.fullmatch(file_name):
        raise ValueError(f"file_name {file_name!r} is not a plain file name")
    origin = _origin(loop_url)
    path = URL(loop_url).raw_path or "/"
    directory = path[: path.rfind("/") + 1] or "/"
    urls: list[str] = []
    for folder in ("/", directory):
        url = str(origin.with_path(folder + file_name, encoded=True))
        if url not in urls:
            urls.append(url)
    return urls


@dataclass(frozen=True)
class OwnershipCheck:
    """One place looked at: a URL (or ``dns:<name>``), whether it proved ownership, the HTTP
    status when there was an answer, and, when not ok, a reason a customer can act on."""

    url: str
    ok: bool
    status: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, object]:
        """``{"url", "ok", "status", "problem"}`` for the API's JSON."""
        return {"url": self.url, "ok": self.ok, "status": self.status, "problem": self.problem}


@dataclass(frozen=True)
class OwnershipResult:
    """The verdict: ``valid`` with the ``url`` (or ``dns:<name>``) that proved it, and every
    check made, in order (checking stops at the first success)."""

    valid: bool
    url: str | None
    checks: list[OwnershipCheck]


async def check_file(client: HttpClient, loop_url: str, file_name: str, content: str, *,
                     max_bytes: int = 4096, timeout_s: float = 10.0) -> OwnershipResult:
    """GET each of :func:`candidate_urls` in turn until one holds exactly ``content``.

    Each candidate gets ``timeout_s`` seconds (so at most two times that in all) and at most
    ``max_bytes`` of body. The client is SSRF-guarded and follows no redirect: a 3xx, any
    DeliveryError and any answer but a matching 2xx become a not-ok check whose problem says
    why (for a 3xx: where it points, and that the file must be served directly). An empty
    ``content`` raises ValueError (an empty 200 page would otherwise prove anything)."""
    _require(content)
    try:
        urls = candidate_urls(loop_url, file_name)
    except InvalidUrl as exc:
        return OwnershipResult(False, None, [OwnershipCheck(loop_url, False, None, str(exc))])
    checks: list[OwnershipCheck] = []
    for url in urls:
        check = await _check_url(client, url, content, max_bytes, timeout_s)
        checks.append(check)
        if check.ok:
            log.info("ownership: %s proved by %s", loop_url, url)
            return OwnershipResult(True, url, checks)
    log.info("ownership: %s not proved by a file: %s", loop_url,
             "; ".join(f"{c.url}: {c.problem}" for c in checks))
    return OwnershipResult(False, None, checks)


async def _check_url(client: HttpClient, url: str, content: str, max_bytes: int,
                     timeout_s: float) -> OwnershipCheck:
    try:
        response = await client.get(url, max_bytes, timeout_s)
    except ResponseTooLarge:
        return OwnershipCheck(url, False, None, f"body is over {max_bytes} bytes")
    except RequestTimeout:
        return OwnershipCheck(url, False, None, f"timed out after {timeout_s:g}s")
    except SsrfRefused as exc:
        return OwnershipCheck(url, False, None, f"refused: {exc} (SSRF guard)")
    except DeliveryError as exc:
        return OwnershipCheck(url, False, exc.status, str(exc))
    return OwnershipCheck(url, *_judge(response, content))


def _judge(response: HttpResponse, content: str) -> tuple[bool, int, str | None]:
    status = response.status
    if 300 <= status < 400:
        location = response.headers.get("Location")
        where = f"redirects to {location}" if location else "a redirect (without a Location)"
        return False, status, (f"{_status_text(status)}: {where}; redirects are not followed, "
                               f"the file must be served directly at {response.url}")
    if not 200 <= status < 300:
        return False, status, _status_text(status)
    try:
        # utf-8-sig: a byte-order mark is encoding, not content (Windows editors write one)
        text = response.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False, status, "body is not UTF-8 text"
    if text.strip() != content.strip():
        return False, status, "content does not match"
    return True, status, None


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _require(content: str) -> None:
    if not content.strip():
        raise ValueError("the challenge content is empty")


def _origin(loop_url: str) -> URL:
    """The URL's scheme://host[:port], or InvalidUrl."""
    try:
        url = URL(loop_url)
        if url.scheme not in ("http", "https"):
            raise InvalidUrl(loop_url, "the scheme must be http or https")
        if not url.raw_host:
            raise InvalidUrl(loop_url, "has no host")
        return url.origin()
    except (ValueError, TypeError) as exc:
        raise InvalidUrl(loop_url, str(exc) or "cannot be parsed") from None


# -- DNS ---------------------------------------------------------------------------------------

class TxtResolver(Protocol):
    """Looks up TXT records: each record's strings joined, one str per record; ``[]`` when the
    name does not exist or has none. Raises DnsError when the lookup itself fails."""

    async def txt(self, name: str) -> list[str]:
        ...


class AiodnsTxtResolver:
    """The real TxtResolver, over aiodns (c-ares), created lazily inside the running loop.

    ``nameservers`` (``"ip"`` or ``"ip:port"``) default to the system's. NXDOMAIN and NODATA
    answer ``[]``; every other aiodns failure is raised as DnsError (this adapter is the DNS
    client's one boundary, as :mod:`senders.upstream` is aiohttp's). Close with ``close()``."""

    def __init__(self, nameservers: Sequence[str] | None = None) -> None:
        self._nameservers = list(nameservers) if nameservers else None
        self._resolver: aiodns.DNSResolver | None = None

    async def txt(self, name: str) -> list[str]:
        try:
            if self._resolver is None:
                self._resolver = aiodns.DNSResolver(nameservers=self._nameservers)
            result = await self._resolver.query_dns(name, "TXT")
        except (aiodns.error.DNSError, pycares.AresError) as exc:
            code = exc.args[0] if exc.args else None
            if code in _NO_RECORD:
                return []
            reason = exc.args[1] if len(exc.args) > 1 else type(exc).__name__
            raise DnsError(f"TXT lookup for {name} failed: {reason}") from exc
        return [record.data.data.decode("utf-8", "replace") for record in result.answer
                if isinstance(record.data, pycares.TXTRecordData)]

    async def close(self) -> None:
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            await resolver.close()


@dataclass
class StaticTxtResolver:
    """The in-memory TxtResolver: ``records`` maps a name to its TXT texts, or to a DnsError to
    raise; unknown names have none. ``delay_s`` slows every answer; ``calls`` lists the names."""

    records: Mapping[str, Sequence[str] | DnsError] = field(default_factory=dict)
    delay_s: float = 0.0
    calls: list[str] = field(default_factory=list)

    async def txt(self, name: str) -> list[str]:
        self.calls.append(name)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = self.records.get(name, ())
        if isinstance(answer, DnsError):
            raise answer
        return list(answer)


async def check_dns(loop_url: str, content: str, resolver: TxtResolver | None = None, *,
                    timeout_s: float = 5.0) -> OwnershipResult:
    """Look for the TXT record ``feedbackloop-verification=<content>`` (exact, surrounding
    whitespace aside) on the URL's host, then on ``_feedbackloop.<host>``; stop at the first
    match. Each lookup gets ``timeout_s``. Without ``resolver`` an AiodnsTxtResolver on the
    system's name servers is made and closed. IP-literal hosts cannot be proved this way.
    An empty ``content`` raises ValueError."""
    _require(content)
    try:
        host = (_origin(loop_url).raw_host or "").rstrip(".").lower()
    except InvalidUrl as exc:
        return OwnershipResult(False, None, [OwnershipCheck(loop_url, False, None, str(exc))])
    if literal_address(host) is not None:
        problem = f"{host} is an IP address: DNS validation needs a host name (use the file)"
        return OwnershipResult(False, None, [OwnershipCheck(f"dns:{host}", False, None, problem)])
    if resolver is None:
        own = AiodnsTxtResolver()
        try:
            return await _check_names(own, loop_url, host, content, timeout_s)
        finally:
            await own.close()
    return await _check_names(resolver, loop_url, host, content, timeout_s)


async def _check_names(resolver: TxtResolver, loop_url: str, host: str, content: str,
                       timeout_s: float) -> OwnershipResult:
    checks: list[OwnershipCheck] = []
    for name in (host, f"{DNS_SUBDOMAIN}.{host}"):
        check = await _check_name(resolver, name, content, timeout_s)
        checks.append(check)
        if check.ok:
            log.info("ownership: %s proved by TXT on %s", loop_url, name)
            return OwnershipResult(True, check.url, checks)
    return OwnershipResult(False, None, checks)


async def _check_name(resolver: TxtResolver, name: str, content: str,
                      timeout_s: float) -> OwnershipCheck:
    url = f"dns:{name}"
    try:
        async with asyncio.timeout(timeout_s):
            texts = await resolver.txt(name)
    except TimeoutError:
        return OwnershipCheck(url, False, None, f"timed out after {timeout_s:g}s")
    except DnsError as exc:
        return OwnershipCheck(url, False, None, str(exc))
    expected = DNS_PREFIX + content.strip()
    texts = [t.strip() for t in texts]
    if expected in texts:
        return OwnershipCheck(url, True)
    if any(t.startswith(DNS_PREFIX) for t in texts):
        return OwnershipCheck(url, False, None, "content does not match")
    if texts:
        return OwnershipCheck(url, False, None,
                              f"no TXT record starting with {DNS_PREFIX!r} ({len(texts)} other)")
    return OwnershipCheck(url, False, None, "no TXT record")
