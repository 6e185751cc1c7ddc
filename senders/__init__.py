"""Everything that talks HTTP to customers: client, encodings, signing, retry policy, rate
limiting, circuit breaker, SSRF guard. No Faust, no Kafka.

Modules: ``errors`` (the exception tree), ``client`` (the pooled HttpClient), ``upstream`` (the
one place aiohttp errors are translated), ``ssrf`` (with the refused blocks as data in
``special_addresses``), ``signing`` (v1 HMAC and v1a ed25519),
``encoding``, ``retry``, ``ratelimit``, ``inflight``, ``breaker``, ``batching``, ``engine`` (the
Dispatcher), ``clock``, ``testing`` (in-memory twins: FakeClock, FakeResolver, RecordingClient).
"""
from .batching import Batcher
from .breaker import BreakerState, CircuitBreaker
from .client import DeliveryClient, HttpClient, HttpResponse
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .encoding import encode, encode_form, form_pairs
from .engine import Dispatcher, Outcome, OutcomeKind
from .errors import (
    CircuitOpen,
    ClientError,
    ConnectError,
    ConnectionLost,
    DeliveryError,
    DnsError,
    EncodingError,
    GoneError,
    InvalidUrl,
    PermanentDeliveryError,
    ProtocolError,
    RedirectRefused,
    RequestTimeout,
    ResponseTooLarge,
    RetryableDeliveryError,
    RetryableStatus,
    ServerError,
    SsrfRefused,
    TlsError,
    TooManyRequests,
    TransportError,
)
from .inflight import InFlightLimit
from .ownership import (
    AiodnsTxtResolver,
    OwnershipCheck,
    OwnershipResult,
    TxtResolver,
    candidate_urls,
    check_dns,
    check_file,
    new_challenge,
)
from .ratelimit import TokenBucket
from .retry import (
    RetrySchedule,
    classify_status,
    error_for_status,
    parse_retry_after,
    tier_for,
    tier_name,
)
from .signing import Signer, generate_secret, generate_signing_key, public_key_of, webhook_headers
from .ssrf import GuardedResolver, SsrfPolicy

__all__ = [
    "AiodnsTxtResolver",
    "Batcher",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "ClientError",
    "Clock",
    "ConnectError",
    "ConnectionLost",
    "DeliveryClient",
    "DeliveryError",
    "Dispatcher",
    "DnsError",
    "EncodingError",
    "GoneError",
    "GuardedResolver",
    "HttpClient",
    "HttpResponse",
    "InFlightLimit",
    "InvalidUrl",
    "Outcome",
    "OutcomeKind",
    "OwnershipCheck",
    "OwnershipResult",
    "PermanentDeliveryError",
    "ProtocolError",
    "RedirectRefused",
    "RequestTimeout",
    "ResponseTooLarge",
    "RetrySchedule",
    "RetryableDeliveryError",
    "RetryableStatus",
    "SYSTEM_CLOCK",
    "ServerError",
    "Signer",
    "SsrfPolicy",
    "SsrfRefused",
    "SystemClock",
    "TlsError",
    "TokenBucket",
    "TooManyRequests",
    "TransportError",
    "TxtResolver",
    "candidate_urls",
    "check_dns",
    "check_file",
    "classify_status",
    "encode",
    "encode_form",
    "error_for_status",
    "form_pairs",
    "generate_secret",
    "generate_signing_key",
    "new_challenge",
    "parse_retry_after",
    "public_key_of",
    "tier_for",
    "tier_name",
    "webhook_headers",
]
