"""Digest (RFC 3230) and Content-Digest (RFC 9530) beyond the published vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest

from protocol.digest import check_content_digest, check_digest_header, content_digest_header, digest_header
from protocol.errors import DigestMismatch, MalformedInput, SignatureError

BODY = b'{"type":"Follow"}'
SHA256 = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
SHA512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()


def test_empty_body_digest_is_the_known_sha256() -> None:
    assert digest_header(b"") == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    check_digest_header("SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", b"")


def test_algorithm_names_are_case_insensitive_and_lists_are_read() -> None:
    check_digest_header(f"sha-256={SHA256}", BODY)
    check_digest_header(f"MD5=AAAA, SHA-256={SHA256},SHA-512={SHA512}", BODY)


def test_every_supported_digest_present_must_match() -> None:
    with pytest.raises(DigestMismatch, match="SHA-512"):
        check_digest_header(f"SHA-256={SHA256}, SHA-512={SHA256}", BODY)
    with pytest.raises(DigestMismatch, match="does not match its Digest"):
        check_digest_header(f"SHA-256={SHA256}", BODY + b" ")


def test_unsupported_only_and_malformed_digests() -> None:
    with pytest.raises(SignatureError, match=r"no supported algorithm \(md5, unixsum\)"):
        check_digest_header("MD5=AAAA, UNIXSUM=1", BODY)
    with pytest.raises(MalformedInput, match="algorithm=base64"):
        check_digest_header("SHA-256", BODY)
    with pytest.raises(MalformedInput, match="not valid base64"):
        check_digest_header("SHA-256=@@@@", BODY)
    with pytest.raises(MalformedInput, match="twice"):
        check_digest_header(f"SHA-256={SHA256}, sha-256={SHA256}", BODY)
    with pytest.raises(MalformedInput, match="longer than 4096"):
        check_digest_header("SHA-256=" + "A" * 5000, BODY)


def test_content_digest_round_trip_both_algorithms() -> None:
    assert content_digest_header(BODY) == f"sha-256=:{SHA256}:"
    assert content_digest_header(BODY, "sha-512") == f"sha-512=:{SHA512}:"
    check_content_digest(f"sha-256=:{SHA256}:, sha-512=:{SHA512}:", BODY)
    check_content_digest(f"unixcksum=1, sha-512=:{SHA512}:", BODY)


def test_content_digest_failures() -> None:
    with pytest.raises(DigestMismatch, match="sha-256"):
        check_content_digest(f"sha-256=:{SHA512}:", BODY)
    with pytest.raises(MalformedInput, match="not a byte sequence"):
        check_content_digest(f'sha-256="{SHA256}"', BODY)
    with pytest.raises(SignatureError, match="no supported algorithm"):
        check_content_digest("md5=:AAAA:", BODY)
    with pytest.raises(MalformedInput, match="structured field"):
        check_content_digest("sha-256=:AAAA", BODY)
    with pytest.raises(MalformedInput, match="repeated"):
        check_content_digest(f"sha-256=:{SHA256}:, sha-256=:{SHA256}:", BODY)
    with pytest.raises(MalformedInput, match="unsupported Content-Digest algorithm"):
        content_digest_header(BODY, "md5")  # type: ignore[arg-type]
