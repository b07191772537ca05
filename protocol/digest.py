"""Body digests: ``Digest`` (RFC 3230, what draft-cavage signs) and ``Content-Digest`` (RFC 9530, RFC 9421's).

Rules kept here (specs/HTTP-SIGNATURES.md §3):
- A digest is always computed over the raw body bytes as received, before any parsing.
- Accepted algorithms: SHA-256 and SHA-512. A header naming only other algorithms (md5, sha, unixsum...) is
  refused: it proves nothing. Every accepted algorithm present must match, so a correct SHA-256 cannot carry
  a wrong SHA-512 along.
- Comparisons are constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal

from protocol.errors import DigestMismatch, MalformedInput, SignatureError
from protocol.sfv import Item, parse_dictionary

__all__ = [
    "ContentDigestAlgorithm",
    "check_content_digest",
    "check_digest_header",
    "content_digest_header",
    "digest_header",
]

ContentDigestAlgorithm = Literal["sha-256", "sha-512"]

_HASHES = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def digest_header(body: bytes) -> str:
    """The ``Digest`` value Mastodon expects: ``SHA-256=<base64>``."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def check_digest_header(value: str, body: bytes) -> None:
    """Check a ``Digest`` header (RFC 3230 list of ``algorithm=base64``) against the raw body."""
    if len(value) > 4096:
        raise MalformedInput("Digest header longer than 4096 characters", field="digest")
    if value.startswith("SHA-256=") and "," not in value:
        # What every fediverse server sends; compared as canonical base64 text to skip a decode.
        canonical = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if hmac.compare_digest(value[8:].strip(), canonical):
            return
    checked = 0
    seen: set[str] = set()
    for part in value.split(","):
        algorithm, sep, encoded = part.strip().partition("=")
        if not sep or not algorithm or not encoded:
            raise MalformedInput(
                f"Digest {part.strip()[:40]!r} is not algorithm=base64 (send SHA-256=<base64>)",
                field="digest",
            )
        name = algorithm.lower()
        if name in seen:
            raise MalformedInput(f"Digest names {algorithm} twice", field="digest")
        seen.add(name)
        hasher = _HASHES.get(name)
        if hasher is None:
            continue
        try:
            expected = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedInput(f"Digest {algorithm} value is not valid base64", field="digest") from None
        if not hmac.compare_digest(expected, hasher(body).digest()):
            raise DigestMismatch(f"body does not match its Digest ({algorithm})", field="digest")
        checked += 1
    if not checked:
        raise SignatureError(
            f"Digest uses no supported algorithm ({', '.join(sorted(seen))}); send SHA-256=<base64>",
            field="digest",
        )


def content_digest_header(body: bytes, algorithm: ContentDigestAlgorithm = "sha-256") -> str:
    """An RFC 9530 ``Content-Digest`` value, e.g. ``sha-256=:<base64>:``."""
    hasher = _HASHES.get(algorithm)
    if hasher is None:
        raise MalformedInput(f"unsupported Content-Digest algorithm {algorithm!r}")
    return f"{algorithm}=:{base64.b64encode(hasher(body).digest()).decode()}:"


def check_content_digest(value: str, body: bytes) -> None:
    """Check an RFC 9530 ``Content-Digest`` dictionary against the raw body."""
    if len(value) > 4096:
        raise MalformedInput("Content-Digest header longer than 4096 characters", field="content-digest")
    members = parse_dictionary(value)
    checked = 0
    for name, member in members.items():
        hasher = _HASHES.get(name)
        if hasher is None:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise MalformedInput(f"Content-Digest {name} is not a byte sequence", field="content-digest")
        if not hmac.compare_digest(member.value, hasher(body).digest()):
            raise DigestMismatch(f"body does not match its Content-Digest ({name})", field="content-digest")
        checked += 1
    if not checked:
        raise SignatureError(
            f"Content-Digest uses no supported algorithm ({', '.join(sorted(members)) or 'none'}); "
            "send sha-256=:<base64>:",
            field="content-digest",
        )
