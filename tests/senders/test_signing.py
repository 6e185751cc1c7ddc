"""Standard Webhooks headers, checked by the reference implementation (the standardwebhooks
package) the way a customer's receiver would."""
from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.secrets import SigningSecret
from senders.signing import Signer, generate_secret, sign, webhook_headers

BODY = '{"id":"m1","type":"open","fields":{"city":"Köln"}}'.encode()


def test_generated_secrets() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert generate_secret() != secret
    assert len(base64.b64decode(generate_secret(24)[6:])) == 24
    with pytest.raises(ValueError, match="size_bytes"):
        generate_secret(8)


def test_reference_verifier_accepts_our_headers() -> None:
    secret = generate_secret()
    headers = webhook_headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int(time.time()), BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {"id": "m1", "type": "open",
                                                      "fields": {"city": "Köln"}}


def test_rotation_sends_both_signatures_and_each_secret_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = webhook_headers("w1", int(time.time()), BODY, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_tampered_body_id_or_timestamp_is_rejected() -> None:
    secret = generate_secret()
    now = int(time.time())
    headers = webhook_headers("w1", now, BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"open", b"click"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "w2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-timestamp": str(now + 1)})


def test_signer_drops_expired_secrets() -> None:
    old, new = generate_secret(), generate_secret()
    now = time.time()
    signer = Signer([SigningSecret(new), SigningSecret(old, expires_at=now + 60)])
    during = signer.headers("w1", now, BODY)
    assert len(during["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, during)
    after = signer.headers("w1", now + 61, BODY)
    assert after["webhook-signature"] == sign(SigningSecret(new).key, "w1", int(now + 61), BODY)
    assert after["webhook-timestamp"] == str(int(now + 61))


def test_no_secret_means_no_signature_header() -> None:
    assert webhook_headers("w1", 1, b"{}", []) == {"webhook-id": "w1", "webhook-timestamp": "1"}


def test_known_vector() -> None:
    # the example from the Standard Webhooks specification's reference tests
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = webhook_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              b'{"test": 2432232314}', [secret])
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
