"""The ``httpsig`` package as an independent draft-cavage implementation, and its known forgery.

httpsig's verifier takes the algorithm from the request, so a ``hmac-sha256`` signature keyed with the
public key PEM verifies there. It is used here only; nothing outside tests/ may import it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpsig
import pytest

from protocol import cavage, keys
from protocol.digest import digest_header
from protocol.errors import SignatureError
from protocol.wire import format_http_date

NOW = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
KEY_ID = "https://a.example/users/alice#main-key"
BODY = b'{"type":"Follow"}'
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def signing() -> keys.SigningKey:
    return keys.SigningKey(key_id=KEY_ID, private_key=keys.generate_rsa_key())


@pytest.fixture(scope="module")
def public(signing: keys.SigningKey) -> keys.PublicKey:
    return keys.public_key_of(signing, owner="https://a.example/users/alice")


def _unsigned() -> dict[str, str]:
    return {
        "Host": "b.example",
        "Date": format_http_date(NOW),
        "Digest": digest_header(BODY),
        "Content-Type": "application/activity+json",
    }


def test_httpsig_signatures_verify_with_ours(signing: keys.SigningKey, public: keys.PublicKey) -> None:
    pem = keys.private_key_to_pem(signing.private_key)
    signer = httpsig.HeaderSigner(
        KEY_ID, pem, algorithm="rsa-sha256", headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )  # fmt: skip
    signed = signer.sign(_unsigned(), method="POST", path="/inbox?x=1")
    verified = cavage.verify_request(
        method="POST", path="/inbox", query="x=1", headers=signed, body=BODY, key=public, now=NOW
    )
    assert verified.key_id == KEY_ID
    assert verified.covered == ("(request-target)", "host", "date", "digest")
    with pytest.raises(SignatureError, match="does not verify"):
        cavage.verify_request(
            method="POST", path="/outbox", query="x=1", headers=signed, body=BODY, key=public, now=NOW
        )


def test_our_signatures_verify_with_httpsig(signing: keys.SigningKey, public: keys.PublicKey) -> None:
    headers = {"Host": "b.example", "Content-Type": "application/activity+json"}
    headers.update(
        cavage.sign_request(method="POST", path="/inbox", headers=headers, body=BODY, key=signing, now=NOW)
    )
    verifier = httpsig.HeaderVerifier(
        headers, keys.public_key_to_pem(public.key), method="POST", path="/inbox", sign_header="signature",
        required_headers=["(request-target)", "host", "date", "digest"],
    )  # fmt: skip
    assert verifier.verify() is True
    headers["Host"] = "c.example"
    assert (
        httpsig.HeaderVerifier(
            headers, keys.public_key_to_pem(public.key), method="POST", path="/inbox", sign_header="signature"
        ).verify()
        is False
    )


def test_httpsig_hmac_forgery_is_refused_by_ours(public: keys.PublicKey) -> None:
    public_pem = keys.public_key_to_pem(public.key)
    forger = httpsig.HeaderSigner(
        KEY_ID, public_pem, algorithm="hmac-sha256", headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )  # fmt: skip
    forged = forger.sign(_unsigned(), method="POST", path="/inbox")
    # The flaw: httpsig's own verifier accepts the forgery when given the public key PEM.
    assert (
        httpsig.HeaderVerifier(
            forged, public_pem, method="POST", path="/inbox", sign_header="signature"
        ).verify()
        is True
    )
    with pytest.raises(SignatureError, match="'hmac-sha256' does not match the stored rsa-v1_5-sha256 key"):
        cavage.verify_request(method="POST", path="/inbox", headers=forged, body=BODY, key=public, now=NOW)
    # Without the algorithm parameter the key decides, and an HMAC is not an RSA signature.
    stripped = {**forged, "signature": forged["signature"].replace('algorithm="hmac-sha256",', "")}
    assert "hmac" not in stripped["signature"]
    with pytest.raises(SignatureError, match="does not verify"):
        cavage.verify_request(method="POST", path="/inbox", headers=stripped, body=BODY, key=public, now=NOW)


def test_httpsig_is_imported_only_by_tests() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for top in ("protocol", "node", "federation", "bridges", "bench")
        for path in (REPO / top).rglob("*.py")
        if "import httpsig" in path.read_text() or "from httpsig" in path.read_text()
    ]
    assert offenders == []
