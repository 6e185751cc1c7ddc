"""The one boundary where aiohttp, asyncio and OS exceptions become :mod:`senders.errors`.

``UPSTREAM_ERRORS`` names every aiohttp client exception class explicitly (a test walks
``aiohttp.ClientError``'s subclasses and fails when aiohttp grows one we have not placed), plus
the builtin exceptions that escape aiohttp (timeouts, OS errors). :func:`translate` looks the
exception's classes up most-specific first, so the table order does not matter.

Our own DeliveryErrors (SsrfRefused from the resolver, say) pass through unchanged;
SsrfRefused raised at connect time arrives wrapped in aiohttp's ClientConnectorError and is
unwrapped here. ``asyncio.CancelledError`` is never translated.
"""
from __future__ import annotations

import asyncio
import ssl
from contextlib import contextmanager
from typing import Iterator, Mapping

import aiohttp

from .errors import (
    ConnectError,
    ConnectionLost,
    DeliveryError,
    DnsError,
    InvalidUrl,
    ProtocolError,
    RedirectRefused,
    RequestTimeout,
    TlsError,
    TransportError,
)
from .ssrf import AddressRefused

__all__ = ["UPSTREAM_ERRORS", "translate", "translated"]

UPSTREAM_ERRORS: Mapping[type[BaseException], type[DeliveryError]] = {
    # aiohttp.ClientError and every subclass, named one by one
    aiohttp.ClientError: TransportError,
    aiohttp.ClientResponseError: ProtocolError,
    aiohttp.ContentTypeError: ProtocolError,
    aiohttp.WSServerHandshakeError: ProtocolError,
    aiohttp.ClientHttpProxyError: ConnectError,
    aiohttp.TooManyRedirects: RedirectRefused,
    aiohttp.ClientConnectionError: ConnectError,
    aiohttp.ClientConnectionResetError: ConnectionLost,
    aiohttp.ClientOSError: ConnectError,
    aiohttp.ClientConnectorError: ConnectError,
    aiohttp.ClientConnectorDNSError: DnsError,
    aiohttp.ClientProxyConnectionError: ConnectError,
    aiohttp.client_exceptions.UnixClientConnectorError: ConnectError,
    aiohttp.ClientSSLError: TlsError,
    aiohttp.ClientConnectorSSLError: TlsError,
    aiohttp.ClientConnectorCertificateError: TlsError,
    aiohttp.ServerConnectionError: ConnectionLost,
    aiohttp.ServerDisconnectedError: ConnectionLost,
    aiohttp.ServerTimeoutError: RequestTimeout,
    aiohttp.ConnectionTimeoutError: RequestTimeout,
    aiohttp.SocketTimeoutError: RequestTimeout,
    aiohttp.ServerFingerprintMismatch: TlsError,
    aiohttp.ClientPayloadError: ConnectionLost,
    aiohttp.UploadAbortedError: ConnectionLost,
    aiohttp.InvalidURL: InvalidUrl,
    aiohttp.InvalidUrlClientError: InvalidUrl,
    aiohttp.InvalidUrlRedirectClientError: RedirectRefused,
    aiohttp.RedirectClientError: RedirectRefused,
    aiohttp.NonHttpUrlClientError: InvalidUrl,
    aiohttp.NonHttpUrlRedirectClientError: RedirectRefused,
    # what escapes aiohttp unwrapped
    asyncio.TimeoutError: RequestTimeout,
    ssl.SSLError: TlsError,
    ConnectionResetError: ConnectionLost,
    BrokenPipeError: ConnectionLost,
    ConnectionError: ConnectError,
    OSError: ConnectError,
}


def translate(exc: BaseException, url: str, timeout_s: float | None = None) -> DeliveryError | None:
    """Our exception for ``exc`` (raised while calling ``url``), or None when ``exc`` is not an
    upstream failure (a bug, or CancelledError) and must propagate as it is."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefused):
        return exc.os_error.refusal
    for cls in type(exc).__mro__:
        ours = UPSTREAM_ERRORS.get(cls)
        if ours is not None:
            return _build(ours, exc, url, timeout_s)
    return None


@contextmanager
def translated(url: str, timeout_s: float | None = None) -> Iterator[None]:
    """Run the block; re-raise any upstream failure as our exception (``from`` the original)."""
    try:
        yield
    except DeliveryError:
        raise
    except Exception as exc:
        ours = translate(exc, url, timeout_s)
        if ours is None:
            raise
        raise ours from exc


def _build(ours: type[DeliveryError], exc: BaseException, url: str,
           timeout_s: float | None) -> DeliveryError:
    try:
        detail = str(exc) or type(exc).__name__
    except Exception:  # some aiohttp __str__s assume fields a bare instance lacks
        detail = type(exc).__name__
    if ours is RequestTimeout:
        within = "" if timeout_s is None else f" within {timeout_s:g} s"
        return RequestTimeout(f"no complete answer from {url}{within} ({type(exc).__name__})")
    if ours is InvalidUrl:
        return InvalidUrl(url, detail)
    if ours is RedirectRefused:
        return RedirectRefused(f"{url}: {detail}")
    if issubclass(ours, TransportError):
        return ours(f"{url}: {detail}")
    raise AssertionError(f"no constructor for {ours.__name__}")  # pragma: no cover
