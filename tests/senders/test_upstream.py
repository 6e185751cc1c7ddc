"""The one boundary: every upstream exception has a place in our tree."""
from __future__ import annotations

import asyncio
import ssl
from typing import Callable

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from senders import errors
from senders.errors import DeliveryError, SsrfRefused
from senders.ssrf import AddressRefused
from senders.upstream import CURL_ERRORS, UPSTREAM_ERRORS, translate, translate_curl, translated

KEY = ConnectionKey("hooks.example", 443, True, True, None, None, None, None)
REFUSED = ConnectionRefusedError(111, "Connect call failed")


INFO = aiohttp.RequestInfo(URL("https://hooks.example/x"), "POST", CIMultiDictProxy(CIMultiDict()),
                           URL("https://hooks.example/x"))


def _response_error(cls: type[aiohttp.ClientResponseError]) -> aiohttp.ClientResponseError:
    return cls(INFO, (), status=400, message="Invalid constant string")


UPSTREAM: list[tuple[Callable[[], BaseException], type[DeliveryError]]] = [
    (lambda: aiohttp.ClientError("x"), errors.TransportError),
    (lambda: _response_error(aiohttp.ClientResponseError), errors.ProtocolError),
    (lambda: _response_error(aiohttp.ContentTypeError), errors.ProtocolError),
    (lambda: _response_error(aiohttp.WSServerHandshakeError), errors.ProtocolError),
    (lambda: _response_error(aiohttp.ClientHttpProxyError), errors.ConnectError),
    (lambda: _response_error(aiohttp.TooManyRedirects), errors.RedirectRefused),
    (lambda: aiohttp.ClientConnectionError("x"), errors.ConnectError),
    (lambda: aiohttp.ClientConnectionResetError("reset"), errors.ConnectionLost),
    (lambda: aiohttp.ClientOSError(104, "reset by peer"), errors.ConnectError),
    (lambda: aiohttp.ClientConnectorError(KEY, REFUSED), errors.ConnectError),
    (lambda: aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
     errors.DnsError),
    (lambda: aiohttp.ClientProxyConnectionError(KEY, REFUSED), errors.ConnectError),
    (lambda: aiohttp.client_exceptions.UnixClientConnectorError("/s", KEY, REFUSED),
     errors.ConnectError),
    (lambda: aiohttp.ClientSSLError(KEY, OSError("ssl")), errors.TlsError),
    (lambda: aiohttp.ClientConnectorSSLError(KEY, OSError("handshake")), errors.TlsError),
    (lambda: aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad")),
     errors.TlsError),
    (lambda: aiohttp.ServerConnectionError("x"), errors.ConnectionLost),
    (lambda: aiohttp.ServerDisconnectedError(), errors.ConnectionLost),
    (lambda: aiohttp.ServerTimeoutError("read"), errors.RequestTimeout),
    (lambda: aiohttp.ConnectionTimeoutError("connect"), errors.RequestTimeout),
    (lambda: aiohttp.SocketTimeoutError("read"), errors.RequestTimeout),
    (lambda: aiohttp.ServerFingerprintMismatch(b"a", b"b", "h", 443), errors.TlsError),
    (lambda: aiohttp.ClientPayloadError("truncated"), errors.ConnectionLost),
    (lambda: aiohttp.UploadAbortedError("aborted"), errors.ConnectionLost),
    (lambda: aiohttp.InvalidURL("http://"), errors.InvalidUrl),
    (lambda: aiohttp.InvalidUrlClientError("http://"), errors.InvalidUrl),
    (lambda: aiohttp.InvalidUrlRedirectClientError("http://"), errors.RedirectRefused),
    (lambda: aiohttp.RedirectClientError("x"), errors.RedirectRefused),
    (lambda: aiohttp.NonHttpUrlClientError("ftp://x"), errors.InvalidUrl),
    (lambda: aiohttp.NonHttpUrlRedirectClientError("ftp://x"), errors.RedirectRefused),
    (lambda: asyncio.TimeoutError(), errors.RequestTimeout),
    (lambda: ssl.SSLError("x"), errors.TlsError),
    (lambda: ConnectionResetError(104, "reset"), errors.ConnectionLost),
    (lambda: BrokenPipeError(32, "pipe"), errors.ConnectionLost),
    (lambda: ConnectionRefusedError(111, "refused"), errors.ConnectError),
    (lambda: OSError(101, "Network is unreachable"), errors.ConnectError),
]


@pytest.mark.parametrize("make, ours", UPSTREAM, ids=lambda v: getattr(v, "__name__", ""))
def test_translation_table(make: Callable[[], BaseException], ours: type[DeliveryError]) -> None:
    upstream = make()
    translated_exc = translate(upstream, "https://hooks.example/x", timeout_s=5)
    assert type(translated_exc) is ours
    assert "https://hooks.example/x" in str(translated_exc)


def _all_subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _all_subclasses(sub)
    return found


def test_every_aiohttp_client_exception_is_placed_explicitly() -> None:
    """Fails when aiohttp grows an exception class nobody decided about."""
    classes = _all_subclasses(aiohttp.ClientError)
    exported = {getattr(aiohttp, n) for n in dir(aiohttp)}
    classes |= {c for c in exported if isinstance(c, type) and issubclass(c, aiohttp.ClientError)}
    unmapped = sorted(c.__qualname__ for c in classes if c not in UPSTREAM_ERRORS)
    assert unmapped == [], f"decide where these go in senders.upstream.UPSTREAM_ERRORS: {unmapped}"


def test_the_table_test_covers_every_entry() -> None:
    covered = {type(make()) for make, _ in UPSTREAM}
    assert set(UPSTREAM_ERRORS) <= covered | {ConnectionError}


def test_timeout_message_names_the_limit() -> None:
    exc = translate(asyncio.TimeoutError(), "http://h.example/", timeout_s=2.5)
    assert str(exc) == "no complete answer from http://h.example/ within 2.5 s (TimeoutError)"


def test_ssrf_refusal_at_connect_time_is_unwrapped() -> None:
    refusal = SsrfRefused("10.0.0.5", "is private")
    wrapped = aiohttp.ClientConnectorError(KEY, AddressRefused(refusal))
    assert translate(wrapped, "http://h.example/") is refusal


def test_ours_pass_through_and_others_are_not_translated() -> None:
    ours = errors.GoneError()
    assert translate(ours, "u") is ours
    assert translate(asyncio.CancelledError(), "u") is None
    assert translate(ValueError("bug"), "u") is None


def test_context_manager_raises_ours_from_the_original() -> None:
    upstream = aiohttp.ServerDisconnectedError()
    with pytest.raises(errors.ConnectionLost) as info:
        with translated("http://h.example/"):
            raise upstream
    assert info.value.__cause__ is upstream
    with pytest.raises(ValueError):
        with translated("http://h.example/"):
            raise ValueError("a bug stays a bug")
    with pytest.raises(asyncio.CancelledError):
        with translated("http://h.example/"):
            raise asyncio.CancelledError()


def test_every_libcurl_error_code_is_placed_explicitly() -> None:
    """Fails when pycurl names a CURLcode nobody decided about (multi-interface codes aside)."""
    import pycurl

    codes = {getattr(pycurl, n) for n in dir(pycurl)
             if n.startswith("E_") and not n.startswith("E_MULTI_")
             and n not in ("E_OK", "E_CALL_MULTI_PERFORM", "E_ALREADY_COMPLETE")}
    unmapped = sorted(c for c in codes if c not in CURL_ERRORS)
    assert unmapped == [], f"decide where these go in senders.upstream.CURL_ERRORS: {unmapped}"


@pytest.mark.parametrize("code, ours", [
    (6, errors.DnsError), (7, errors.ConnectError), (28, errors.RequestTimeout),
    (52, errors.ConnectionLost), (56, errors.ConnectionLost), (60, errors.TlsError),
    (35, errors.TlsError), (1, errors.ProtocolError), (3, errors.InvalidUrl),
    (47, errors.RedirectRefused), (9, errors.TransportError), (4242, errors.TransportError),
])
def test_libcurl_codes_become_ours(code: int, ours: type[DeliveryError]) -> None:
    exc = translate_curl(code, "what libcurl said", "https://hooks.example/x", timeout_s=5)
    assert type(exc) is ours
    assert "https://hooks.example/x" in str(exc)
    if ours is not errors.RequestTimeout:
        assert f"(curl {code})" in str(exc)
    else:
        assert "within 5 s" in str(exc)
