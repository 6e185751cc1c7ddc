"""Standard Webhooks headers, checked the way a customer's receiver would: v1 by the reference
implementation (the standardwebhooks package), v1a (ed25519) by PyNaCl following the spec."""
from __future__ import annotations

import base64
import time

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.secrets import SigningSecret
from senders.signing import (Signer, check_secret, generate_secret, generate_signing_key,
                             public_key_of, sign, webhook_headers)

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


# -- v1a: ed25519 ----------------------------------------------------------------------------
# Verified with PyNaCl (libsodium), an implementation independent of the `cryptography` package
# (OpenSSL) that signs, following the specification: the receiver splits webhook-signature on
# spaces, keeps the "v1a," entries and checks each against "{id}.{timestamp}.{body}" with the
# public key it was given (whpk_ + base64 of 32 bytes).

def verify_v1a(public_key: str, body: bytes, headers: dict[str, str]) -> bool:
    assert public_key.startswith("whpk_")
    verify_key = VerifyKey(base64.b64decode(public_key[len("whpk_"):]))
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version != "v1a":
            continue
        try:
            verify_key.verify(content, base64.b64decode(signature))
            return True
        except BadSignatureError:
            continue
    return False


def test_generated_signing_keys_and_their_public_keys() -> None:
    key = generate_signing_key()
    assert key.startswith("whsk_") and len(base64.b64decode(key[5:])) == 32
    assert generate_signing_key() != key
    public = public_key_of(key)
    assert public.startswith("whpk_") and len(base64.b64decode(public[5:])) == 32
    # libsodium derives the same public key from the same 32-byte seed
    seed = base64.b64decode(key[5:])
    assert base64.b64decode(public[5:]) == bytes(SigningKey(seed).verify_key)
    assert public_key_of(key) == public  # deterministic
    check_secret(key)


def test_a_symmetric_secret_has_no_public_key() -> None:
    secret = generate_secret()
    with pytest.raises(ValueError, match="symmetric and has no public key") as info:
        public_key_of(secret)
    assert secret[6:] not in str(info.value)
    with pytest.raises(ValueError, match="must start with") as bad:
        public_key_of("nope-" + secret)
    assert secret[6:] not in str(bad.value)


def test_an_independent_verifier_accepts_v1a_and_rejects_tampering() -> None:
    key = generate_signing_key()
    public = public_key_of(key)
    now = int(time.time())
    headers = webhook_headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, BODY, [key])
    version, _, signature = headers["webhook-signature"].partition(",")
    assert version == "v1a" and len(base64.b64decode(signature)) == 64
    assert verify_v1a(public, BODY, headers)
    assert not verify_v1a(public, BODY.replace(b"open", b"click"), headers)
    assert not verify_v1a(public, BODY, {**headers, "webhook-id": "msg_other"})
    assert not verify_v1a(public, BODY, {**headers, "webhook-timestamp": str(now + 1)})
    assert not verify_v1a(public_key_of(generate_signing_key()), BODY, headers)
    # the symmetric verifier ignores v1a entries: it finds no signature of its own
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_rotation_signs_with_every_key_and_each_public_key_verifies() -> None:
    old, new = generate_signing_key(), generate_signing_key()
    now = time.time()
    signer = Signer([SigningSecret(new), SigningSecret(old, expires_at=now + 60)])
    during = signer.headers("w1", now, BODY)
    assert [e.split(",")[0] for e in during["webhook-signature"].split(" ")] == ["v1a", "v1a"]
    assert verify_v1a(public_key_of(old), BODY, during)
    assert verify_v1a(public_key_of(new), BODY, during)
    after = signer.headers("w1", now + 61, BODY)
    assert len(after["webhook-signature"].split(" ")) == 1
    assert verify_v1a(public_key_of(new), BODY, after)
    assert not verify_v1a(public_key_of(old), BODY, after)


def test_moving_from_v1_to_v1a_sends_both_kinds() -> None:
    hmac_secret, ed_key = generate_secret(), generate_signing_key()
    headers = Signer([SigningSecret(ed_key), SigningSecret(hmac_secret, time.time() + 60)]).headers(
        "w1", time.time(), BODY)
    assert [e.split(",")[0] for e in headers["webhook-signature"].split(" ")] == ["v1a", "v1"]
    assert verify_v1a(public_key_of(ed_key), BODY, headers)
    Webhook(hmac_secret).verify(BODY, headers)  # the reference v1 verifier skips the v1a entry


def test_v1a_known_vector() -> None:
    # the ed25519 example of the Standard Webhooks reference libraries' tests (a 32-byte seed)
    key = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
    headers = webhook_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              b'{"test": 2432232314}', [key])
    assert headers["webhook-signature"] == (
        "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==")


def test_signing_secrets_follow_the_one_rule() -> None:
    with pytest.raises(ValueError, match="this one has 16"):
        SigningSecret("whsec_" + base64.b64encode(b"s" * 16).decode())
    with pytest.raises(ValueError, match="is a public key"):
        SigningSecret(public_key_of(generate_signing_key()))
    assert SigningSecret(generate_signing_key()).kind == "v1a"
    assert SigningSecret(generate_secret(24)).kind == "v1"
    key = generate_signing_key()
    assert key[5:] not in repr(SigningSecret(key))
