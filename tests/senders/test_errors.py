"""The exception tree: one root, drawn in the docstring, decisions as data."""
from __future__ import annotations

import pytest

import senders.errors as errors
from senders.errors import (
    CircuitOpen,
    ClientError,
    ConnectError,
    DeliveryError,
    GoneError,
    InvalidUrl,
    PermanentDeliveryError,
    RedirectRefused,
    ResponseTooLarge,
    RetryableDeliveryError,
    RetryableStatus,
    ServerError,
    SsrfRefused,
    TooManyRequests,
)
from tests.support.errortree import assert_tree_matches


def _classes() -> dict[str, type[DeliveryError]]:
    return {name: getattr(errors, name) for name in errors.__all__}


def test_one_root_and_every_class_below_it() -> None:
    for name, cls in _classes().items():
        assert issubclass(cls, DeliveryError), name
        assert cls.__doc__ and "\n" not in cls.__doc__.strip(), f"{name} needs a one-line docstring"


def test_docstring_draws_the_whole_tree_with_the_real_parents() -> None:
    assert_tree_matches(errors, "DeliveryError")


def test_retry_decision_is_an_attribute() -> None:
    for name, cls in _classes().items():
        if cls in (DeliveryError,):
            continue
        assert cls.retryable is issubclass(cls, RetryableDeliveryError), name
        assert issubclass(cls, RetryableDeliveryError) != issubclass(cls, PermanentDeliveryError), name


@pytest.mark.parametrize("exc, retryable, status, retry_after_s, error_class", [
    (ConnectError("x"), True, None, None, "ConnectError"),
    (ServerError(503, 12.0), True, 503, 12.0, "ServerError"),
    (TooManyRequests(429, 30.0), True, 429, 30.0, "TooManyRequests"),
    (RetryableStatus(408), True, 408, None, "RetryableStatus"),
    (CircuitOpen("open", 4.5), True, None, 4.5, "CircuitOpen"),
    (ClientError(404), False, 404, None, "ClientError"),
    (GoneError(), False, 410, None, "GoneError"),
    (RedirectRefused("no", 302, "http://x/"), False, 302, None, "RedirectRefused"),
    (SsrfRefused("127.0.0.1", "is loopback"), False, None, None, "SsrfRefused"),
    (InvalidUrl("ftp://x", "bad scheme"), False, None, None, "InvalidUrl"),
    (ResponseTooLarge("http://x/", 10), False, None, None, "ResponseTooLarge"),
])
def test_attributes(exc: DeliveryError, retryable: bool, status: int | None,
                    retry_after_s: float | None, error_class: str) -> None:
    assert (exc.retryable, exc.status, exc.retry_after_s, exc.error_class) == \
        (retryable, status, retry_after_s, error_class)


def test_messages_name_what_the_caller_needs() -> None:
    assert str(SsrfRefused("127.0.0.1", "is loopback")) == "127.0.0.1 is loopback"
    assert str(SsrfRefused("10.0.0.5", "is private", host="evil.example")) == \
        "evil.example (10.0.0.5) is private"
    assert isinstance(GoneError(), ClientError)
