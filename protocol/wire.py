"""What both HTTP-signature schemes share: header access, time handling and the verified-request record.

Rules kept here (specs/HTTP-SIGNATURES.md §1):
- Header names are case-insensitive; a field sent on several lines is joined with ", " (RFC 9110 §5.3), with
  surrounding whitespace of each line removed. Callers may pass a mapping or the raw (name, value) pairs.
- No clock: every check takes ``now`` from the caller, an aware UTC ``datetime``.
- Inputs are hostile: header values and counts are bounded before any work is done on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from protocol.errors import LocalError, SignatureError, TooLarge
from protocol.keys import PublicKey, SigningKey

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_COUNT",
    "Headers",
    "Scheme",
    "VerifiedRequest",
    "format_http_date",
    "header_map",
    "parse_http_date",
    "sign_bytes",
    "timestamp_of",
    "verify_bytes",
]

Headers: TypeAlias = Mapping[str, str] | Sequence[tuple[str, str]]
Scheme: TypeAlias = Literal["cavage", "rfc9421"]

# A request with more, or bigger, header lines than this is not a federation request we want to read.
MAX_HEADER_COUNT = 200
MAX_HEADER_BYTES = 16_384


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedRequest:
    """A request whose signature verified under our policy: who signed it and what the signature covers."""

    key_id: str
    scheme: Scheme
    algorithm: str
    covered: tuple[str, ...]
    created: int | None
    expires: int | None
    label: str | None = None


def header_map(headers: Headers) -> dict[str, str]:
    """Lower-cased name -> value, repeated fields joined with ", " in the order they came."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for count, (name, value) in enumerate(items, 1):
        if count > MAX_HEADER_COUNT:
            raise TooLarge(f"more than {MAX_HEADER_COUNT} header fields")
        if len(value) > MAX_HEADER_BYTES:
            raise TooLarge(f"header {name!r} is longer than {MAX_HEADER_BYTES} bytes", field=name)
        key = name.lower()
        value = value.strip()
        previous = out.get(key)
        out[key] = value if previous is None else f"{previous}, {value}"
    return out


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_http_date(value: str) -> int:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``, RFC 9110 §5.6.7) -> Unix seconds.

    Only the preferred format: every fediverse server sends it, and a hand parser is about ten times faster
    than ``email.utils`` on the inbox hot path. The weekday is not checked against the date (draft-cavage's
    own test values name a wrong weekday in some versions).
    """
    parts = value.split(" ")
    if len(parts) != 6 or parts[5] != "GMT" or parts[0][:3] not in _DAYS or not parts[0].endswith(","):
        raise SignatureError(
            f"Date {value[:64]!r} is not an IMF-fixdate such as 'Sun, 06 Nov 1994 08:49:37 GMT'"
        )
    month = _MONTHS.get(parts[2])
    clock = parts[4].split(":")
    try:
        if month is None or len(clock) != 3 or len(parts[1]) != 2 or len(parts[3]) != 4:
            raise ValueError
        when = datetime(
            int(parts[3]), month, int(parts[1]), int(clock[0]), int(clock[1]), int(clock[2]), tzinfo=UTC
        )
    except ValueError:
        raise SignatureError(
            f"Date {value[:64]!r} is not an IMF-fixdate such as 'Sun, 06 Nov 1994 08:49:37 GMT'"
        ) from None
    return int(when.timestamp())


def format_http_date(now: datetime) -> str:
    """An aware datetime -> IMF-fixdate, independent of the process locale."""
    t = datetime.fromtimestamp(timestamp_of(now), UTC)
    month = next(k for k, v in _MONTHS.items() if v == t.month)
    clock = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{_DAYS[t.weekday()]}, {t.day:02d} {month} {t.year:04d} {clock} GMT"


def timestamp_of(now: datetime) -> int:
    """The caller's clock as whole Unix seconds; a naive datetime is a bug, not a guess at a time zone."""
    if now.tzinfo is None:
        raise LocalError("pass an aware datetime (UTC) as now")
    return int(now.timestamp())


def sign_bytes(key: SigningKey, data: bytes) -> bytes:
    """Sign a signature base with our key: RSA PKCS#1 v1.5 SHA-256 or Ed25519, as the key type says."""
    private = key.private_key
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(data)
    return private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify_bytes(key: PublicKey, data: bytes, signature: bytes) -> bool:
    """Check a signature over ``data`` with the algorithm the stored key dictates; False if it fails."""
    public = key.key
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        elif isinstance(public, rsa.RSAPublicKey):
            if key.rsa_pss:
                # RFC 9421 §3.3.1: MGF1 with SHA-512 and a 64-byte salt.
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
                public.verify(signature, data, pss, hashes.SHA512())
            else:
                public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            # RFC 9421 §3.3.4: the signature is r || s, 32 bytes each, not DER.
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
            public.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
