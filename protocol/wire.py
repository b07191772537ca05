"""What both HTTP-signature schemes share: headers, dates, the key-dictated primitive, the double knock.

Rules kept here (specs/HTTP-SIGNATURES.md §1):
- Header names are case-insensitive; a field sent on several lines is joined with ", " (RFC 9110 §5.3), with
  surrounding whitespace of each line removed. Callers may pass a mapping or the raw (name, value) pairs.
- No clock: every check takes ``now`` from the caller, an aware UTC ``datetime``.
- Inputs are hostile: header values and counts are bounded before any work is done on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeAlias, cast

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
    "knock_order",
    "parse_http_date",
    "retry_with_other_scheme",
    "shown",
    "sign_bytes",
    "signature_scheme",
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
    if len(headers) > MAX_HEADER_COUNT:
        raise TooLarge(f"more than {MAX_HEADER_COUNT} header fields")
    items = headers.items() if isinstance(headers, dict | Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        if len(value) > MAX_HEADER_BYTES:
            raise TooLarge(f"header {shown(name)} is longer than {MAX_HEADER_BYTES} bytes", field=name)
        key = name.lower()
        value = value.strip()
        previous = out.get(key)
        out[key] = value if previous is None else f"{previous}, {value}"
    return out


def shown(value: object) -> str:
    """A remote value quoted for an error message, cut to 64 characters so no message carries a payload."""
    text = str(value)
    return repr(text if len(text) <= 64 else text[:64] + "…")


def knock_order(*, remembered: Scheme | None = None, kith_peer: bool = False) -> tuple[Scheme, Scheme]:
    """The order in which to sign towards a host (specs/HTTP-SIGNATURES.md §7, the "double knock").

    The scheme that last worked for the host goes first; otherwise RFC 9421 towards a known Kith peer and
    draft-cavage towards everyone else. The second is tried once, only after ``retry_with_other_scheme``.
    """
    first: Scheme = remembered or ("rfc9421" if kith_peer else "cavage")
    return (first, "cavage" if first == "rfc9421" else "rfc9421")


def retry_with_other_scheme(status: int) -> bool:
    """Whether an answer means "this signature scheme was not understood": 401 and 403, nothing else."""
    return status in (401, 403)


def signature_scheme(headers: Headers) -> Scheme | None:
    """Which scheme a request is signed with: ``Signature-Input`` means RFC 9421 (whose ``Signature`` field
    shares its name with draft-cavage's); else ``Signature`` or ``Authorization: Signature`` means cavage."""
    fields = (
        headers if isinstance(headers, dict) and all(k.islower() for k in headers) else header_map(headers)
    )
    if "signature-input" in fields:
        return "rfc9421"
    if "signature" in fields or fields.get("authorization", "")[:10].lower() == "signature ":
        return "cavage"
    return None


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)


def parse_http_date(value: str) -> int:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``, RFC 9110 §5.6.7) -> Unix seconds.

    Only the preferred format: every fediverse server sends it. A strict regex and calendar arithmetic are
    several times faster than ``email.utils`` on the inbox hot path. The weekday name must be one but is not
    checked against the date (draft-cavage test values in circulation carry a wrong one).
    """
    m = _IMF_FIXDATE.fullmatch(value)
    if m is None:
        raise _bad_date(value)
    day, month_name, year, hour, minute, second = m.groups()
    month = _MONTHS[month_name]
    d, y, hh, mm, ss = int(day), int(year), int(hour), int(minute), int(second)
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not 1 <= d <= (29 if month == 2 and leap else _MONTH_DAYS[month - 1]) or hh > 23 or mm > 59 or ss > 59:
        raise _bad_date(value)
    # Days since 1970-01-01 (H. Hinnant's days_from_civil): plain arithmetic instead of building a datetime,
    # which was a tenth of the cost of an RSA verification on the inbox path.
    y -= month <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hh * 3600 + mm * 60 + ss


def _bad_date(value: str) -> SignatureError:
    return SignatureError(
        f"Date {value[:64]!r} is not an IMF-fixdate such as 'Sun, 06 Nov 1994 08:49:37 GMT'"
    )


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


# Padding and hash objects are immutable; building them per call showed up in the inbox profile.
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)  # RFC 9421 §3.3.1: 64-byte salt
_SHA512 = hashes.SHA512()
_ECDSA = ec.ECDSA(hashes.SHA256())


def sign_bytes(key: SigningKey, data: bytes) -> bytes:
    """Sign a signature base with our key: RSA PKCS#1 v1.5 SHA-256 or Ed25519, as the key type says."""
    if key.algorithm == "ed25519":
        return cast(ed25519.Ed25519PrivateKey, key.private_key).sign(data)
    return cast(rsa.RSAPrivateKey, key.private_key).sign(data, _PKCS1, _SHA256)


def verify_bytes(key: PublicKey, data: bytes, signature: bytes) -> bool:
    """Check a signature over ``data`` with the algorithm the stored key dictates; False if it fails."""
    algorithm = key.algorithm
    try:
        if algorithm == "rsa-v1_5-sha256":
            cast(rsa.RSAPublicKey, key.key).verify(signature, data, _PKCS1, _SHA256)
        elif algorithm == "ed25519":
            cast(ed25519.Ed25519PublicKey, key.key).verify(signature, data)
        elif algorithm == "rsa-pss-sha512":
            cast(rsa.RSAPublicKey, key.key).verify(signature, data, _PSS, _SHA512)
        else:
            # RFC 9421 §3.3.4: the signature is r || s, 32 bytes each, not DER.
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
            cast(ec.EllipticCurvePublicKey, key.key).verify(der, data, _ECDSA)
    except InvalidSignature:
        return False
    return True
