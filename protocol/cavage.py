"""draft-cavage-http-signatures-12, as the fediverse (Mastodon first) sends and checks it.

Rules kept here (specs/HTTP-SIGNATURES.md §3):
- The algorithm comes from the stored key, never from the request. ``rsa-sha256`` and ``hs2019`` (or no
  ``algorithm``) verify as RSA PKCS#1 v1.5 SHA-256 with an RSA key and as Ed25519 with an Ed25519 key;
  ``hmac-sha256`` and every other name are refused before any cryptography runs.
- Required coverage (Mastodon's rules, slightly stricter): ``(request-target)``, ``host``, ``date`` or
  ``(created)``, and ``digest`` on requests that carry a body; ``Digest`` is checked against the raw body.
- Time window: created at ``(created)`` or ``Date``; not more than 1 h in the future; expired 5 min after
  creation unless ``expires`` says otherwise, never later than 12 h after; 1 h of clock skew on both sides.
- ``(request-target)`` is tried with the query string, then without it (some servers sign the path only).
- Bound to the receiving host: given the node's own ``authority``, the signature must cover ``host`` and the
  ``Host`` it covers must be that authority, so that a request signed for another server (which RFC 9421's
  ``@authority`` would catch) cannot be replayed here.
- Parameters are parsed once, strictly: a repeated parameter, a missing ``keyId`` or ``signature``, or a
  signature that is not base64 is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from protocol.digest import check_digest_header, digest_header
from protocol.errors import LocalError, MalformedInput, SignatureError, TooLarge
from protocol.keys import PublicKey, SigningKey
from protocol.wire import (
    Headers,
    VerifiedRequest,
    format_http_date,
    header_map,
    parse_http_date,
    shown,
    sign_bytes,
    timestamp_of,
    verify_bytes,
)

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_EXPIRY",
    "MAX_COVERED",
    "MAX_EXPIRY",
    "MAX_SIGNATURE_HEADER",
    "CavagePolicy",
    "CavageSignature",
    "parse_signature_header",
    "sign_request",
    "signature_from_headers",
    "signing_string",
    "verify_request",
]

CLOCK_SKEW = 3600
DEFAULT_EXPIRY = 300
MAX_EXPIRY = 12 * 3600
MAX_SIGNATURE_HEADER = 8192
MAX_COVERED = 32

# Algorithm names a request may claim for each key type; the key decides, the claim must merely agree.
_ACCEPTED_NAMES = {
    "rsa-v1_5-sha256": frozenset({"rsa-sha256", "hs2019"}),
    "ed25519": frozenset({"hs2019", "ed25519"}),
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The exact shape Mastodon (and most of the fediverse) sends, matched in one go before the general grammar.
_MASTODON_SHAPE = re.compile(
    r'keyId="([^"\\]*)",algorithm="([^"\\]*)",headers="([^"\\]*)",signature="([^"\\]*)"'
)
# The quoted value is written as an unrolled loop: an alternation per character made parsing a 344-character
# RSA signature cost as much as verifying it.
_PARAM = re.compile(r'[ \t]*([A-Za-z]+)[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([0-9]+))[ \t]*(?:,|$)')


class CavageSignature(NamedTuple):
    """The parameters of one ``Signature`` header, parsed and checked for shape (not yet verified).

    An immutable NamedTuple rather than a frozen dataclass: it is built once per inbox request, where a
    frozen dataclass's field-by-field ``object.__setattr__`` cost more than a tenth of an RSA verification.
    """

    key_id: str
    algorithm: str | None
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CavagePolicy:
    """What an incoming request must satisfy beyond a valid signature. Defaults are the inbox policy."""

    require_coverage: bool = True
    clock_skew: int = CLOCK_SKEW
    default_expiry: int = DEFAULT_EXPIRY
    max_expiry: int = MAX_EXPIRY


def parse_signature_header(value: str) -> CavageSignature:
    """Parse ``keyId="…",algorithm="…",headers="…",signature="…"`` (the ``Signature`` header's value)."""
    if len(value) > MAX_SIGNATURE_HEADER:
        raise TooLarge(f"Signature header longer than {MAX_SIGNATURE_HEADER} characters", field="signature")
    text = value.strip()
    shaped = _MASTODON_SHAPE.fullmatch(text)
    created = expires = None
    if shaped is not None:
        key_id, algorithm, names_or_none, encoded = shaped.groups()
    else:
        params = _split_params_regex(text) if "\\" in text else _split_params(text)
        key_id, algorithm = params.get("keyId"), params.get("algorithm")
        names_or_none, encoded = params.get("headers"), params.get("signature")
        if "created" in params:
            created = _int_param(params, "created")
        if "expires" in params:
            expires = _int_param(params, "expires")
    if not key_id:
        raise SignatureError("Signature header has no keyId", field="signature")
    if not encoded:
        raise SignatureError("Signature header has no signature", field="signature")
    try:
        signature = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedInput("Signature's signature is not base64", field="signature") from None
    # draft-cavage-12 §2.1.6: without "headers", hs2019 signs (created) and older algorithms sign date.
    names = names_or_none
    if names is None:
        names = "(created)" if algorithm == "hs2019" else "date"
    covered = tuple(names.lower().split())
    if not covered:
        raise MalformedInput("Signature covers no headers", field="signature")
    if len(covered) > MAX_COVERED or len(set(covered)) != len(covered):
        raise MalformedInput("Signature headers list is too long or repeats a name", field="signature")
    return CavageSignature(
        key_id=key_id,
        algorithm=algorithm,
        headers=covered,
        signature=signature,
        created=created,
        expires=expires,
    )


def _malformed(text: str, pos: int) -> MalformedInput:
    return MalformedInput(
        f'Signature header is not a list of name="value" pairs near {text[pos : pos + 30]!r}',
        field="signature",
    )


def _add_param(params: dict[str, str], name: str, value: str) -> None:
    if name in params:
        raise MalformedInput(f"Signature parameter {shown(name)} appears twice", field="signature")
    params[name] = value


def _split_params(text: str) -> dict[str, str]:
    """The common case, no backslash anywhere: split on the quotes instead of running a regex per parameter.

    Without escapes a quoted value cannot contain a quote, so the pieces alternate between separators
    (``,name=`` possibly preceded by unquoted ``name=digits`` parameters) and values. Accepts exactly what
    ``_split_params_regex`` accepts for such input (a test holds the two to it).
    """
    params: dict[str, str] = {}
    if not text:
        return params
    pieces = text.split('"')
    last = len(pieces) - 1
    if last % 2:
        raise _malformed(text, len(text))
    for i in range(0, last + 1, 2):
        between = pieces[i]
        if i:
            between = between.lstrip(" \t")
            if i == last and between in ("", ","):
                break
            if not between.startswith(","):
                raise _malformed(text, i)
            between = between[1:]
        tokens = between.split(",")
        for j, token in enumerate(tokens):
            name, eq, raw = token.partition("=")
            name = name.strip(" \t")
            raw = raw.strip(" \t")
            if not eq or not (name.isascii() and name.isalpha()):
                raise _malformed(text, i)
            if i < last and j == len(tokens) - 1:
                if raw:
                    raise _malformed(text, i)
                _add_param(params, name, pieces[i + 1])
            elif raw.isascii() and raw.isdigit():
                _add_param(params, name, raw)
            else:
                raise _malformed(text, i)
    return params


def _split_params_regex(text: str) -> dict[str, str]:
    """The general grammar, with backslash escapes inside quoted values."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _PARAM.match(text, pos)
        if m is None or m.end() == pos:
            raise _malformed(text, pos)
        quoted = m.group(2)
        _add_param(params, m.group(1), m.group(3) if quoted is None else re.sub(r"\\(.)", r"\1", quoted))
        pos = m.end()
    return params


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise MalformedInput(f"Signature parameter {name} is not a Unix time", field="signature")
    return int(raw)


def signature_from_headers(headers: Headers) -> CavageSignature:
    """The signature a request carries: ``Signature``, or else ``Authorization: Signature …``."""
    fields = header_map(headers)
    return _signature_from_map(fields)


def _signature_from_map(fields: dict[str, str]) -> CavageSignature:
    value = fields.get("signature")
    if value is None:
        auth = fields.get("authorization", "")
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() != "signature" or not rest:
            raise SignatureError("request is not signed (no Signature header)", field="signature")
        value = rest
    return parse_signature_header(value)


def signing_string(
    covered: Sequence[str],
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """The string that is signed (draft-cavage-12 §2.3). ``headers`` is a ``header_map`` result."""
    lines: list[str] = []
    for name in covered:
        if name == "(request-target)":
            target = f"{path}?{query}" if query else path
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name == "(created)" or name == "(expires)":
            value = created if name == "(created)" else expires
            if value is None:
                raise SignatureError(f"Signature covers {name} but has no {name[1:-1]} parameter")
            lines.append(f"{name}: {value}")
        else:
            field = headers.get(name)
            if field is None:
                raise SignatureError(
                    f"Signature covers {shown(name)} but the request has no such header", field=name
                )
            lines.append(f"{name}: {field}")
    return "\n".join(lines)


def sign_request(
    *,
    method: str,
    path: str,
    query: str = "",
    headers: Headers,
    body: bytes | None,
    key: SigningKey,
    now: datetime,
    covered: Sequence[str] | None = None,
) -> dict[str, str]:
    """Sign a request; returns the headers to add (``Date`` if missing, ``Digest`` for a body, ``Signature``).

    Default coverage: ``(request-target) host date digest content-type`` when there is a body (content-type if
    the request has one), ``(request-target) host date`` (+ ``accept`` if present) otherwise.
    """
    fields = header_map(headers)
    if "host" not in fields:
        raise LocalError("pass the Host header the request will be sent with; it is signed")
    added: dict[str, str] = {}
    if "date" not in fields:
        added["Date"] = fields["date"] = format_http_date(now)
    if body is not None:
        digest = digest_header(body)
        if "digest" in fields and fields["digest"] != digest:
            raise LocalError("the Digest header passed does not match the body")
        if "digest" not in fields:
            added["Digest"] = fields["digest"] = digest
    if covered is None:
        names = ["(request-target)", "host", "date"]
        if body is not None:
            names.append("digest")
            if "content-type" in fields:
                names.append("content-type")
        elif "accept" in fields:
            names.append("accept")
        covered = names
    covered = [n.lower() for n in covered]
    created = timestamp_of(now) if "(created)" in covered else None
    try:
        base = signing_string(covered, method=method, path=path, query=query, headers=fields, created=created)
    except SignatureError as exc:
        raise LocalError(f"cannot sign: {exc.message}") from None
    signature = base64.b64encode(sign_bytes(key, base.encode())).decode()
    algorithm = "hs2019" if key.algorithm == "ed25519" or created is not None else "rsa-sha256"
    created_param = f",created={created}" if created is not None else ""
    key_id = key.key_id.replace("\\", "\\\\").replace('"', '\\"')
    added["Signature"] = (
        f'keyId="{key_id}",algorithm="{algorithm}"{created_param},'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )
    return added


def verify_request(
    *,
    method: str,
    path: str,
    query: str = "",
    headers: Headers,
    body: bytes | None,
    key: PublicKey,
    now: datetime,
    policy: CavagePolicy = CavagePolicy(),
    authority: str | None = None,
) -> VerifiedRequest:
    """Verify a signed request against ``key`` (looked up by the caller from the request's ``keyId``).

    ``authority``: the ``host[:port]`` peers reach this server at; when given, the signed ``Host`` must be it."""
    fields = header_map(headers)
    parsed = _signature_from_map(fields)
    if parsed.key_id != key.key_id:
        raise SignatureError(
            f"request is signed by {shown(parsed.key_id)}, not by the key {shown(key.key_id)} given"
        )
    accepted = _ACCEPTED_NAMES.get(key.algorithm)
    if accepted is None:
        raise SignatureError(f"{key.algorithm} keys are not accepted for draft-cavage signatures")
    if parsed.algorithm is not None and parsed.algorithm.lower() not in accepted:
        raise SignatureError(
            f"algorithm {shown(parsed.algorithm)} does not match the stored {key.algorithm} key; "
            f"use one of {', '.join(sorted(accepted))}",
            field="algorithm",
        )
    covered = parsed.headers
    has_body = bool(body) or method.upper() in _BODY_METHODS
    if policy.require_coverage:
        _check_coverage(covered, has_body)
    if authority is not None:
        _check_host(covered, fields.get("host"), authority)
    if ("(created)" in covered or "(expires)" in covered) and (
        parsed.algorithm or "hs2019"
    ).lower() != "hs2019":
        raise SignatureError(f"(created) and (expires) are not allowed with {shown(parsed.algorithm)}")
    created = _check_window(parsed, fields, timestamp_of(now), policy)
    if "digest" in fields:
        check_digest_header(fields["digest"], body or b"")
    signature = parsed.signature
    base = signing_string(
        covered, method=method, path=path, query=query, headers=fields,
        created=parsed.created, expires=parsed.expires,
    )  # fmt: skip
    ok = verify_bytes(key, base.encode(), signature)
    if not ok and query and "(request-target)" in covered:
        base = signing_string(
            covered, method=method, path=path, query="", headers=fields,
            created=parsed.created, expires=parsed.expires,
        )  # fmt: skip
        ok = verify_bytes(key, base.encode(), signature)
    if not ok:
        raise SignatureError(f"signature by {shown(parsed.key_id)} does not verify")
    return VerifiedRequest(
        key_id=parsed.key_id,
        scheme="cavage",
        algorithm=key.algorithm,
        covered=covered,
        created=created,
        expires=parsed.expires,
    )


def _check_coverage(covered: tuple[str, ...], has_body: bool) -> None:
    missing = [n for n in ("(request-target)", "host") if n not in covered]
    if "date" not in covered and "(created)" not in covered:
        missing.append("date")
    if has_body and "digest" not in covered:
        missing.append("digest")
    if missing:
        raise SignatureError(
            f"signature must cover {', '.join(missing)} (covers: {' '.join(covered)})", field="signature"
        )


def _normal_authority(value: str) -> str:
    # Host names compare without case, and a default port may be written or not (RFC 9110 §4.2.3)
    text = value.strip().lower()
    for default in (":443", ":80"):
        if text.endswith(default):
            return text[: -len(default)]
    return text


def _check_host(covered: tuple[str, ...], host: str | None, authority: str) -> None:
    if "host" not in covered:
        raise SignatureError(f"signature must cover host (covers: {' '.join(covered)})", field="signature")
    if host is None or _normal_authority(host) != _normal_authority(authority):
        raise SignatureError(
            f"request is signed for host {shown(host or '')}, not for this server ({shown(authority)}); "
            "sign each request for the server it is sent to",
            field="host",
        )


def _check_window(
    parsed: CavageSignature, fields: dict[str, str], now: int, policy: CavagePolicy
) -> int | None:
    created: int | None
    if "(created)" in parsed.headers:
        created = parsed.created
    elif "date" in fields:
        created = parse_http_date(fields["date"])
    else:
        created = parsed.created
    if created is None:
        if parsed.expires is not None and now > parsed.expires + policy.clock_skew:
            raise SignatureError("signature has expired")
        return None
    if created > now + policy.clock_skew:
        raise SignatureError(f"signature is dated {created - now} s in the future; check the sender's clock")
    expires = parsed.expires if parsed.expires is not None else created + policy.default_expiry
    expires = min(expires, created + policy.max_expiry)
    if now > expires + policy.clock_skew:
        raise SignatureError(f"signature expired {now - expires} s ago; sign each request afresh")
    return created
