"""The bridge between federation's HTTP traffic and the pure signature code in protocol/ (cavage, RFC 9421).

Outbound: every request is signed; cavage over ``(request-target) host date digest content-type`` first, and
RFC 9421 when a host answered 401/403 to cavage (the "double knock"; the delivery loop remembers the winner).
Inbound: which scheme a request uses is read from its headers; the key is looked up by its id by the caller
and the algorithm always comes from that stored key (protocol/ enforces it), never from the request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from multidict import CIMultiDict, CIMultiDictProxy

from federation.fetch import Signer
from protocol import cavage, rfc9421
from protocol.errors import SignatureError
from protocol.keys import PublicKey, SigningKey, load_public_key_pem
from protocol.wire import VerifiedRequest

__all__ = [
    "Scheme",
    "make_signer",
    "public_key",
    "sign",
    "signature_key_id",
    "verify",
]

Scheme = Literal["cavage", "rfc9421"]

_KEY_ID = re.compile(r'(?:^|,)[ \t]*keyId[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"')


def sign(
    scheme: Scheme,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    now: float,
) -> dict[str, str]:
    """The headers to add so that the request is signed (Host and Date included)."""
    parts = urlsplit(url)
    fields = dict(headers)
    fields.setdefault("Host", parts.netloc)
    key = SigningKey(key_id=key_id, private_key=private_key)
    when = datetime.fromtimestamp(now, UTC)
    added: dict[str, str] = {"Host": fields["Host"]}
    if scheme == "cavage":
        added.update(
            cavage.sign_request(
                method=method,
                path=parts.path or "/",
                query=parts.query,
                headers=fields,
                body=body,
                key=key,
                now=when,
            )
        )
    else:
        added.update(
            rfc9421.sign_request(method=method, url=url, headers=fields, body=body, key=key, now=when)
        )
    return added


def make_signer(
    *,
    key_id: str,
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    clock: Callable[[], float],
    scheme: Scheme = "cavage",
) -> Signer:
    """A :data:`federation.fetch.Signer` signing with ``key_id`` at the clock's time."""

    def signer(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Mapping[str, str]:
        return sign(
            scheme,
            method=method,
            url=url,
            headers=headers,
            body=body,
            key_id=key_id,
            private_key=private_key,
            now=clock(),
        )

    return signer


def signature_key_id(headers: Mapping[str, str]) -> tuple[Scheme, str]:
    """Which scheme signs this request, and the key id it names. Raises SignatureError when unsigned."""
    if not isinstance(headers, CIMultiDictProxy | CIMultiDict):  # aiohttp's headers look up without case
        headers = CIMultiDict(headers)
    if "Signature-Input" in headers:
        inputs = rfc9421.signature_inputs_from_headers(list(headers.items()))
        for item in inputs:
            if item.key_id:
                return "rfc9421", item.key_id
        raise SignatureError("Signature-Input names no keyid; sign with a key peers can look up")
    value = headers.get("Signature", "")
    if not value:
        auth = headers.get("Authorization", "")
        value = auth[len("signature ") :] if auth[:10].lower() == "signature " else ""
    if value:
        # A cheap look at keyId (for rate limiting and the key look-up); the full parse happens once, in
        # verify, which refuses the request unless the parsed keyId is this same one.
        match = _KEY_ID.search(value[:8192])
        if match:
            return "cavage", match.group(1).replace('\\"', '"').replace("\\\\", "\\")
        return "cavage", cavage.signature_from_headers(list(headers.items())).key_id
    raise SignatureError("request is not signed; sign it with HTTP Signatures (draft-cavage or RFC 9421)")


@functools.lru_cache(maxsize=4096)
def _load_public_key(pem: str, key_id: str, owner: str) -> PublicKey:
    return load_public_key_pem(pem, key_id=key_id, owner=owner)


def public_key(pem: str, *, key_id: str, owner: str) -> PublicKey:
    """The parsed key, cached: PEM parsing costs more than the RSA verification it serves."""
    return _load_public_key(pem, key_id, owner)


def verify(
    scheme: Scheme,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key: PublicKey,
    now: float,
) -> VerifiedRequest:
    """Verify on the raw bytes; time window and digest are checked by protocol/ under the inbox policy.

    ``url`` is this server's own URL for the request (its public base URL and the request's path): both schemes
    bind the signature to its host, RFC 9421 through ``@authority``/``@target-uri``, cavage through the signed
    ``Host`` header."""
    when = datetime.fromtimestamp(now, UTC)
    if scheme == "rfc9421":
        return rfc9421.verify_request(method=method, url=url, headers=headers, body=body, key=key, now=when)
    parts = urlsplit(url)
    return cavage.verify_request(
        method=method,
        path=parts.path or "/",
        query=parts.query,
        headers=headers,
        body=body,
        key=key,
        now=when,
        authority=parts.netloc,
    )
