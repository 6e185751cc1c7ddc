"""The one boundary where aiohttp, libcurl, asyncio and OS exceptions become :mod:`senders.errors`.

``UPSTREAM_ERRORS`` names every aiohttp client exception class explicitly (a test walks
``aiohttp.ClientError``'s subclasses and fails when aiohttp grows one we have not placed), plus
the builtin exceptions that escape aiohttp (timeouts, OS errors). :func:`translate` looks the
exception's classes up most-specific first, so the table order does not matter.

Our own DeliveryErrors (SsrfRefused from the resolver, say) pass through unchanged;
SsrfRefused raised at connect time arrives wrapped in aiohttp's ClientConnectorError and is
unwrapped here. ``asyncio.CancelledError`` is never translated.

libcurl (:mod:`senders.curl`) reports a numeric ``CURLcode``; ``CURL_ERRORS`` places every
code pycurl names (a test walks ``pycurl.E_*`` and fails on a code nobody decided about), and
:func:`translate_curl` builds ours from it. Codes of protocols we never speak (FTP, LDAP, TFTP,
SSH, ...) are listed too, as plain TransportErrors; a code newer than this table becomes a
TransportError naming it, never an unhandled exception.
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

__all__ = ["CURL_ERRORS", "UPSTREAM_ERRORS", "translate", "translate_curl", "translated"]

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


#: libcurl's CURLcode -> ours. The numbers are libcurl's ABI (stable); names in comments.
CURL_ERRORS: Mapping[int, type[DeliveryError]] = {
    # HTTP/0.9 or garbage instead of an answer: the scheme itself is checked before any call
    1: ProtocolError,        # UNSUPPORTED_PROTOCOL
    2: TransportError,       # FAILED_INIT
    3: InvalidUrl,           # URL_MALFORMAT
    4: TransportError,       # NOT_BUILT_IN
    5: ConnectError,         # COULDNT_RESOLVE_PROXY (no proxy is ever configured)
    6: DnsError,             # COULDNT_RESOLVE_HOST
    7: ConnectError,         # COULDNT_CONNECT (also: every address refused by the SSRF guard)
    8: ProtocolError,        # WEIRD_SERVER_REPLY
    16: ProtocolError,       # HTTP2 framing
    18: ConnectionLost,      # PARTIAL_FILE: the body ended before its length
    22: ProtocolError,       # HTTP_RETURNED_ERROR (FAILONERROR is never set)
    23: TransportError,      # WRITE_ERROR (our body callback refused; a cut drain is not an error)
    25: ConnectionLost,      # UPLOAD_FAILED
    26: TransportError,      # READ_ERROR
    27: TransportError,      # OUT_OF_MEMORY
    28: RequestTimeout,      # OPERATION_TIMEDOUT
    33: ProtocolError,       # RANGE_ERROR
    34: TransportError,      # HTTP_POST_ERROR
    35: TlsError,            # SSL_CONNECT_ERROR
    40: TransportError,      # LIBRARY_NOT_FOUND
    41: TransportError,      # FUNCTION_NOT_FOUND
    42: TransportError,      # ABORTED_BY_CALLBACK
    43: TransportError,      # BAD_FUNCTION_ARGUMENT
    44: TransportError,      # BAD_CALLING_ORDER
    45: ConnectError,        # INTERFACE_FAILED
    47: RedirectRefused,     # TOO_MANY_REDIRECTS (redirects are never followed)
    48: TransportError,      # UNKNOWN_OPTION
    52: ConnectionLost,      # GOT_NOTHING: closed without an answer
    53: TlsError,            # SSL_ENGINE_NOTFOUND
    54: TlsError,            # SSL_ENGINE_SETFAILED
    55: ConnectionLost,      # SEND_ERROR
    56: ConnectionLost,      # RECV_ERROR
    57: TransportError,      # SHARE_IN_USE
    58: TlsError,            # SSL_CERTPROBLEM
    59: TlsError,            # SSL_CIPHER
    60: TlsError,            # PEER_FAILED_VERIFICATION
    61: ProtocolError,       # BAD_CONTENT_ENCODING
    63: ProtocolError,       # FILESIZE_EXCEEDED
    64: TlsError,            # USE_SSL_FAILED
    65: ConnectionLost,      # SEND_FAIL_REWIND
    66: TlsError,            # SSL_ENGINE_INITFAILED
    75: TransportError,      # CONV_FAILED
    76: TransportError,      # CONV_REQD
    77: TlsError,            # SSL_CACERT_BADFILE
    80: TlsError,            # SSL_SHUTDOWN_FAILED
    81: TransportError,      # AGAIN
    82: TlsError,            # SSL_CRL_BADFILE
    83: TlsError,            # SSL_ISSUER_ERROR
    88: TransportError,      # CHUNK_FAILED
    89: TransportError,      # NO_CONNECTION_AVAILABLE
    90: TlsError,            # SSL_PINNEDPUBKEYNOTMATCH
    91: TlsError,            # SSL_INVALIDCERTSTATUS
    92: ProtocolError,       # HTTP2_STREAM
    93: TransportError,      # RECURSIVE_API_CALL
    94: TransportError,      # AUTH_ERROR
    95: ProtocolError,       # HTTP3
    96: ConnectError,        # QUIC_CONNECT_ERROR
    97: ConnectError,        # PROXY
    98: TlsError,            # SSL_CLIENTCERT
    99: TransportError,      # UNRECOVERABLE_POLL
    100: ProtocolError,      # TOO_LARGE: an answer's headers beyond libcurl's limits
    101: TlsError,           # ECH_REQUIRED
    # protocols we never speak (FTP, TFTP, LDAP, telnet, SSH, RTSP, ...): never seen for
    # http(s), placed so that the table is complete
    **{code: TransportError for code in (
        9, 10, 11, 12, 13, 14, 15, 17, 19, 20, 21, 24, 29, 30, 31, 32, 36, 37, 38, 39, 46,
        49, 62, 67, 68, 69, 70, 71, 72, 73, 74, 78, 79, 84, 85, 86, 87)},
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


def translate_curl(code: int, message: str, url: str, timeout_s: float | None = None) -> DeliveryError:
    """Our exception for libcurl's ``code`` (with its ``message``) while calling ``url``."""
    ours = CURL_ERRORS.get(code, TransportError)
    return _build(ours, LibcurlError(code, message), url, timeout_s)


class LibcurlError(Exception):
    """libcurl's code and message, shaped for :func:`_build`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message or 'libcurl error'} (curl {code})")


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
