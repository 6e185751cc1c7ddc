"""Every way a delivery can fail, as data.

The caller decides what to do from attributes, never from message text: ``retryable`` (retry
through a delay tier, or dead-letter at once), ``retry_after_s`` (the server's or the breaker's
hint, seconds), ``status`` (the HTTP status when there was a response) and ``error_class`` (a
stable name for metrics and the attempt log).

Third-party exceptions (aiohttp, asyncio, OS) become these in exactly one place,
:mod:`senders.upstream`.

Hierarchy::

    DeliveryError
    ├── RetryableDeliveryError            retry later (retry_after_s: float | None)
    │   ├── TransportError                the exchange failed below HTTP
    │   │   ├── ConnectError              no connection was made
    │   │   │   ├── DnsError
    │   │   │   └── TlsError
    │   │   ├── RequestTimeout            no complete answer within the loop's timeout_s
    │   │   ├── ConnectionLost            the connection broke mid-exchange
    │   │   └── ProtocolError             the answer was not valid HTTP/1.1
    │   ├── RetryableStatus               408 or 425 (status)
    │   │   ├── ServerError               5xx
    │   │   └── TooManyRequests           429
    │   └── CircuitOpen                   the loop's breaker refused the call; nothing was sent
    └── PermanentDeliveryError            retrying cannot help: dead-letter at once
        ├── ClientError                   a 4xx other than 408/410/425/429 (status)
        │   └── GoneError                 410: the caller disables the loop
        ├── RedirectRefused               a 3xx to a delivery: redirects are never followed
        ├── SsrfRefused                   the address is private, loopback, metadata, ...
        ├── InvalidUrl                    not an http(s) URL with a host
        ├── ResponseTooLarge              a GET body exceeded its max_bytes
        └── EncodingError                 the payload cannot be encoded as the loop asks
"""
from __future__ import annotations

__all__ = [
    "CircuitOpen",
    "ClientError",
    "ConnectError",
    "ConnectionLost",
    "DeliveryError",
    "DnsError",
    "EncodingError",
    "GoneError",
    "InvalidUrl",
    "PermanentDeliveryError",
    "ProtocolError",
    "RedirectRefused",
    "RequestTimeout",
    "ResponseTooLarge",
    "RetryableDeliveryError",
    "RetryableStatus",
    "ServerError",
    "SsrfRefused",
    "TlsError",
    "TooManyRequests",
    "TransportError",
]


class DeliveryError(Exception):
    """Root of every senders failure; carries status, retry_after_s and error_class as data."""

    #: whether a later attempt may succeed.
    retryable: bool = False
    #: the HTTP status when the failure is an answer, else None.
    status: int | None = None
    #: seconds the other side asked us to wait (Retry-After, breaker), else None.
    retry_after_s: float | None = None

    @property
    def error_class(self) -> str:
        """A stable name for metrics and the attempt log: the class name."""
        return type(self).__name__


class RetryableDeliveryError(DeliveryError):
    """A later attempt may succeed; ``retry_after_s`` is a hint, not a promise."""

    retryable = True

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help; the delivery goes to the dead letters at once."""

    retryable = False


class TransportError(RetryableDeliveryError):
    """The HTTP exchange failed below HTTP semantics."""


class ConnectError(TransportError):
    """No connection could be made (refused, unreachable, reset while connecting)."""


class DnsError(ConnectError):
    """The host name could not be resolved."""


class TlsError(ConnectError):
    """The TLS handshake failed (certificate, protocol or fingerprint)."""


class RequestTimeout(TransportError):
    """No complete answer arrived within the loop's timeout_s."""


class ConnectionLost(TransportError):
    """The connection broke after it was made (reset, disconnect, truncated body)."""


class ProtocolError(TransportError):
    """The other side did not speak valid HTTP/1.1."""


class RetryableStatus(RetryableDeliveryError):
    """An answer whose status asks for a retry: 408 or 425 (subclasses: 5xx, 429)."""

    def __init__(self, status: int, retry_after_s: float | None = None,
                 message: str | None = None) -> None:
        super().__init__(message or f"HTTP {status}", retry_after_s)
        self.status = status


class ServerError(RetryableStatus):
    """A 5xx answer."""


class TooManyRequests(RetryableStatus):
    """A 429 answer; retry_after_s holds the parsed Retry-After, if any."""


class CircuitOpen(RetryableDeliveryError):
    """The loop's circuit breaker is open; nothing was sent."""


class ClientError(PermanentDeliveryError):
    """A 4xx answer other than 408, 410, 425 and 429: the receiver rejects this delivery."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status


class GoneError(ClientError):
    """A 410 answer: the receiver is gone for good and the caller disables the loop."""

    def __init__(self, status: int = 410, message: str | None = None) -> None:
        super().__init__(status, message)


class RedirectRefused(PermanentDeliveryError):
    """A 3xx answer to a delivery; no redirect is ever followed."""

    def __init__(self, message: str, status: int | None = None,
                 location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.location = location


class SsrfRefused(PermanentDeliveryError):
    """The address is not one we may call; the message names the address and why."""

    def __init__(self, address: str, reason: str, host: str | None = None) -> None:
        shown = address if host is None or host == address else f"{host} ({address})"
        super().__init__(f"{shown} {reason}")
        self.address = address
        self.reason = reason
        self.host = host


class InvalidUrl(PermanentDeliveryError):
    """The URL is not an absolute http(s) URL with a host."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url!r}: {reason}")
        self.url = url
        self.reason = reason


class ResponseTooLarge(PermanentDeliveryError):
    """A GET answer was larger than the caller's max_bytes."""

    def __init__(self, url: str, max_bytes: int) -> None:
        super().__init__(f"the answer from {url} is larger than {max_bytes} bytes")
        self.url = url
        self.max_bytes = max_bytes


class EncodingError(PermanentDeliveryError):
    """The payloads cannot be encoded the way the loop asks."""
