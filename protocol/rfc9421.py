"""RFC 9421 HTTP Message Signatures: signature bases, signing and verification under our inbox policy.

Rules kept here (specs/HTTP-SIGNATURES.md §4):
- We sign with ``rsa-v1_5-sha256`` (RSA keys) or ``ed25519``; we verify those, and ``rsa-pss-sha512`` and
  ``ecdsa-p256-sha256`` for keys stored as such, and ``hmac-sha256`` only when the caller passes an
  ``HmacSecret`` explicitly (test vectors). The algorithm comes from the key; an ``alg`` parameter that names
  anything else is refused.
- Incoming requests: ``keyid`` and ``created`` required; not created more than the clock skew in the future;
  ``expires`` honoured; older than 12 h refused; must cover ``@method`` and ``@target-uri`` (or ``@authority``
  and ``@path``, plus ``@query`` when there is a query), and ``content-digest`` when the request has a body,
  which is checked against the raw body.
- Structured fields are parsed strictly (``protocol.sfv``): a repeated label or parameter is an error.
- Component parameters other than ``name`` on ``@query-param`` are refused rather than half-supported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, unquote_plus, urlsplit

from protocol.digest import ContentDigestAlgorithm, check_content_digest, content_digest_header
from protocol.errors import LocalError, MalformedInput, SignatureError, TooLarge
from protocol.keys import PublicKey, SigningKey
from protocol.sfv import (
    InnerList,
    Item,
    Member,
    Params,
    parse_dictionary,
    serialize_inner_list,
    serialize_item,
)
from protocol.wire import (
    Headers,
    VerifiedRequest,
    header_map,
    shown,
    sign_bytes,
    timestamp_of,
    verify_bytes,
)

__all__ = [
    "CLOCK_SKEW",
    "MAX_AGE",
    "MAX_COMPONENTS",
    "MAX_FIELD",
    "HmacSecret",
    "Rfc9421Policy",
    "SignatureInput",
    "parse_signature_input",
    "sign_request",
    "signature_base",
    "signature_inputs_from_headers",
    "target_uri",
    "verify_request",
    "verify_response",
]

CLOCK_SKEW = 3600
MAX_AGE = 12 * 3600
MAX_FIELD = 8192
MAX_COMPONENTS = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, kw_only=True, slots=True)
class HmacSecret:
    """A shared secret for ``hmac-sha256``. Only ever passed explicitly: no stored key turns into one."""

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise LocalError("an HMAC secret shorter than 32 bytes is too weak", field="secret")


@dataclass(frozen=True, kw_only=True, slots=True)
class SignatureInput:
    """One member of ``Signature-Input``: its label, covered components and parameters."""

    label: str
    components: tuple[Item, ...]
    params: Params
    inner: InnerList = field(repr=False)

    @property
    def key_id(self) -> str | None:
        value = self.params.get("keyid")
        return value if isinstance(value, str) else None

    @property
    def created(self) -> int | None:
        value = self.params.get("created")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def expires(self) -> int | None:
        value = self.params.get("expires")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(str(c.value) for c in self.components)


@dataclass(frozen=True, kw_only=True, slots=True)
class Rfc9421Policy:
    """What an incoming message must satisfy beyond a valid signature. Defaults are the inbox policy."""

    require_coverage: bool = True
    require_created: bool = True
    clock_skew: int = CLOCK_SKEW
    max_age: int = MAX_AGE


_PARAM_TYPES: dict[str, type] = {
    "created": int,
    "expires": int,
    "keyid": str,
    "alg": str,
    "nonce": str,
    "tag": str,
}


def _identifier(item: Item) -> str:
    if not item.params:
        return serialize_item(item.value)
    return serialize_item(item.value) + "".join(
        f";{k}" if v is True else f";{k}={serialize_item(v)}" for k, v in item.params.items()
    )


def _to_input(label: str, member: Member) -> SignatureInput:
    if not isinstance(member, InnerList):
        raise MalformedInput(f"Signature-Input {shown(label)} is not an inner list", field="signature-input")
    if len(member.items) > MAX_COMPONENTS:
        raise TooLarge(f"Signature-Input {shown(label)} covers more than {MAX_COMPONENTS} components")
    seen: set[str] = set()
    for item in member.items:
        if type(item.value) is not str:
            raise MalformedInput(f"Signature-Input {shown(label)}: component identifiers are strings")
        ident = _identifier(item)
        if ident in seen:
            raise MalformedInput(f"Signature-Input {shown(label)} covers {shown(ident)} twice")
        seen.add(ident)
    for name, value in member.params.items():
        expected = _PARAM_TYPES.get(name)
        if expected is None:
            continue
        if expected is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise MalformedInput(f"Signature-Input {shown(label)}: {name} must be a non-negative integer")
        if expected is str and type(value) is not str:
            raise MalformedInput(f"Signature-Input {shown(label)}: {name} must be a string")
    return SignatureInput(label=label, components=member.items, params=member.params, inner=member)


def parse_signature_input(value: str) -> tuple[SignatureInput, ...]:
    """Every signature a ``Signature-Input`` field declares, in order."""
    if len(value) > MAX_FIELD:
        raise TooLarge(f"Signature-Input longer than {MAX_FIELD} characters", field="signature-input")
    return tuple(_to_input(label, member) for label, member in parse_dictionary(value).items())


def signature_inputs_from_headers(headers: Headers) -> tuple[SignatureInput, ...]:
    """The declared signatures of a message, so the caller can fetch the key a ``keyid`` names."""
    fields = header_map(headers)
    value = fields.get("signature-input")
    if value is None:
        raise SignatureError("message has no Signature-Input header", field="signature-input")
    return parse_signature_input(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Message:
    method: str | None
    url: str | None
    status: int | None
    fields: dict[str, str]


def _derived(name: str, item: Item, msg: _Message) -> str:
    if name == "@status":
        if msg.status is None:
            raise SignatureError("@status covered on a request")
        return str(msg.status)
    if msg.method is None or msg.url is None:
        raise SignatureError(f"{name} covered on a response; request components are not available")
    if name == "@method":
        return msg.method
    if name == "@target-uri":
        return msg.url
    parts = urlsplit(msg.url)
    try:
        port = parts.port
    except ValueError:
        raise MalformedInput(f"target URI {shown(msg.url)} has an invalid port") from None
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@authority":
        host = (parts.hostname or "").lower()
        return host if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()) else f"{host}:{port}"
    path = parts.path or "/"
    if name == "@path":
        return path
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return f"{path}?{parts.query}" if parts.query else path
    if name == "@query-param":
        wanted = item.params.get("name")
        if not isinstance(wanted, str):
            raise MalformedInput("@query-param needs a name parameter")
        values = [
            quote(unquote_plus(v), safe="")
            for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
            if quote(unquote_plus(k), safe="") == wanted
        ]
        if len(values) != 1:
            raise SignatureError(f"@query-param {shown(wanted)} is absent or repeated in the query")
        return values[0]
    raise MalformedInput(f"unsupported derived component {name}")


def _base(components: Sequence[Item], params_line: str, msg: _Message) -> str:
    lines: list[str] = []
    for item in components:
        name = str(item.value)
        extra = set(item.params) - ({"name"} if name == "@query-param" else set())
        if extra:
            raise MalformedInput(f"component parameter {', '.join(sorted(extra))} on {name} is not supported")
        if name.startswith("@"):
            value = _derived(name, item, msg)
        else:
            if name != name.lower():
                raise MalformedInput(f"component {shown(name)} must be lower-case")
            found = msg.fields.get(name)
            if found is None:
                raise SignatureError(
                    f"signature covers {shown(name)} but the message has no such field", field=name
                )
            value = found
        lines.append(f"{_identifier(item)}: {value}")
    lines.append(f'"@signature-params": {params_line}')
    return "\n".join(lines)


def target_uri(*, scheme: str, authority: str, path: str, query: str = "") -> str:
    """The ``@target-uri`` of a request we received, from the public scheme and host peers reach us at (not
    the address a reverse proxy forwarded to) and the request's path and query, as RFC 9110 §7.1 composes it.
    """
    if not path.startswith("/"):
        raise LocalError("the request path must start with '/'")
    return f"{scheme.lower()}://{authority.lower()}{path}{'?' + query if query else ''}"


def signature_base(
    signature_input: SignatureInput,
    *,
    method: str | None = None,
    url: str | None = None,
    status: int | None = None,
    headers: Headers,
) -> str:
    """The signature base (RFC 9421 §2.5) for one declared signature over a request or a response."""
    msg = _Message(method=method, url=url, status=status, fields=header_map(headers))
    return _base(signature_input.components, serialize_inner_list(signature_input.inner), msg)


def sign_request(
    *,
    method: str,
    url: str,
    headers: Headers,
    body: bytes | None,
    key: SigningKey,
    now: datetime,
    covered: Sequence[str] | None = None,
    label: str = "sig1",
    expires_in: int | None = None,
    nonce: str | None = None,
    tag: str | None = None,
    include_alg: bool = False,
    digest_algorithm: ContentDigestAlgorithm = "sha-256",
) -> dict[str, str]:
    """Sign a request; returns ``Signature-Input``, ``Signature`` and, for a body, ``Content-Digest``.

    Default coverage: ``@method @target-uri``, plus ``content-digest`` (and ``content-type`` if present) when
    there is a body. Parameters are written in the order created, keyid, alg, expires, nonce, tag.
    """
    fields = header_map(headers)
    added: dict[str, str] = {}
    if body is not None:
        if "content-digest" in fields:
            try:
                check_content_digest(fields["content-digest"], body)
            except SignatureError as exc:
                raise LocalError(f"the Content-Digest passed does not fit the body: {exc.message}") from None
        else:
            added["Content-Digest"] = fields["content-digest"] = content_digest_header(body, digest_algorithm)
    if covered is None:
        covered = ["@method", "@target-uri"]
        if body is not None:
            covered += ["content-digest", *(["content-type"] if "content-type" in fields else [])]
    created = timestamp_of(now)
    params: Params = {"created": created, "keyid": key.key_id}
    if include_alg:
        params["alg"] = key.algorithm
    if expires_in is not None:
        params["expires"] = created + expires_in
    if nonce is not None:
        params["nonce"] = nonce
    if tag is not None:
        params["tag"] = tag
    inner = InnerList(items=tuple(Item(value=c.lower(), params={}) for c in covered), params=params)
    params_line = serialize_inner_list(inner)
    msg = _Message(method=method.upper(), url=url, status=None, fields=fields)
    try:
        base = _base(inner.items, params_line, msg)
    except SignatureError as exc:
        raise LocalError(f"cannot sign: {exc.message}") from None
    signature = base64.b64encode(sign_bytes(key, base.encode())).decode()
    added["Signature-Input"] = f"{label}={params_line}"
    added["Signature"] = f"{label}=:{signature}:"
    return added


def _verify_message(
    msg: _Message,
    body: bytes | None,
    key: PublicKey | HmacSecret,
    now: datetime,
    label: str | None,
    policy: Rfc9421Policy,
    has_body: bool,
) -> VerifiedRequest:
    inputs = parse_signature_input(_require(msg.fields, "signature-input"))
    sig_value = _require(msg.fields, "signature")
    if len(sig_value) > MAX_FIELD:
        raise TooLarge(f"Signature longer than {MAX_FIELD} characters", field="signature")
    signatures = parse_dictionary(sig_value)
    chosen = _choose(inputs, key.key_id, label)
    sig_member = signatures.get(chosen.label)
    if not isinstance(sig_member, Item) or not isinstance(sig_member.value, bytes):
        raise SignatureError(f"no byte-sequence Signature for label {shown(chosen.label)}", field="signature")
    algorithm: str = "hmac-sha256" if isinstance(key, HmacSecret) else key.algorithm
    claimed = chosen.params.get("alg")
    if claimed is not None and claimed != algorithm:
        raise SignatureError(f"alg {shown(claimed)} does not match the stored key ({algorithm})", field="alg")
    created = _check_time(chosen, timestamp_of(now), policy)
    names = chosen.names
    if policy.require_coverage and msg.method is not None:
        _check_coverage(names, msg, has_body)
    if "content-digest" in msg.fields:
        check_content_digest(msg.fields["content-digest"], body or b"")
    elif has_body and policy.require_coverage:
        raise SignatureError("request has a body but no Content-Digest", field="content-digest")
    base = _base(chosen.components, serialize_inner_list(chosen.inner), msg).encode()
    if isinstance(key, HmacSecret):
        ok = hmac.compare_digest(hmac.new(key.secret, base, hashlib.sha256).digest(), sig_member.value)
    else:
        ok = verify_bytes(key, base, sig_member.value)
    if not ok:
        raise SignatureError(f"signature {shown(chosen.label)} by {shown(key.key_id)} does not verify")
    return VerifiedRequest(
        key_id=key.key_id,
        scheme="rfc9421",
        algorithm=algorithm,
        covered=names,
        created=created,
        expires=chosen.expires,
        label=chosen.label,
    )


def _require(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None:
        display = "-".join(part.capitalize() for part in name.split("-"))
        raise SignatureError(f"message has no {display} header", field=name)
    return value


def _choose(inputs: tuple[SignatureInput, ...], key_id: str, label: str | None) -> SignatureInput:
    for candidate in inputs:
        if label is not None and candidate.label != label:
            continue
        if candidate.key_id == key_id:
            return candidate
        if label is not None:
            raise SignatureError(
                f"signature {shown(label)} names key {shown(candidate.key_id)}, not {shown(key_id)}"
            )
    raise SignatureError(
        f"no signature {'labelled ' + repr(label) if label else 'by key ' + repr(key_id)} in Signature-Input"
    )


def _check_time(chosen: SignatureInput, now: int, policy: Rfc9421Policy) -> int | None:
    created, expires = chosen.created, chosen.expires
    if created is None:
        if policy.require_created:
            raise SignatureError("signature has no created parameter; sign with created=<Unix time>")
    else:
        if created > now + policy.clock_skew:
            raise SignatureError(
                f"signature is created {created - now} s in the future; check the sender's clock"
            )
        if now - created > policy.max_age + policy.clock_skew:
            raise SignatureError(
                f"signature is {now - created} s old; at most {policy.max_age} s is accepted"
            )
    if expires is not None and now > expires + policy.clock_skew:
        raise SignatureError(f"signature expired {now - expires} s ago")
    return created


def _check_coverage(names: tuple[str, ...], msg: _Message, has_body: bool) -> None:
    missing: list[str] = []
    if "@method" not in names:
        missing.append("@method")
    if "@target-uri" not in names:
        query = urlsplit(msg.url or "").query
        needed = ["@authority", "@path"] + (["@query"] if query else [])
        if any(n not in names for n in needed):
            missing.append("@target-uri (or @authority, @path and @query)")
    if has_body and "content-digest" not in names:
        missing.append("content-digest")
    if missing:
        raise SignatureError(f"signature must cover {', '.join(missing)}", field="signature-input")


def verify_request(
    *,
    method: str,
    url: str,
    headers: Headers,
    body: bytes | None,
    key: PublicKey | HmacSecret,
    now: datetime,
    label: str | None = None,
    policy: Rfc9421Policy = Rfc9421Policy(),
) -> VerifiedRequest:
    """Verify the signature by ``key`` (the first one whose ``keyid`` matches, or the one labelled ``label``).

    ``url`` is the absolute target URI as the signer addressed it (scheme and host as the peer sees us).
    """
    msg = _Message(method=method.upper(), url=url, status=None, fields=header_map(headers))
    has_body = bool(body) or method.upper() in _BODY_METHODS
    return _verify_message(msg, body, key, now, label, policy, has_body)


def verify_response(
    *,
    status: int,
    headers: Headers,
    body: bytes | None,
    key: PublicKey | HmacSecret,
    now: datetime,
    label: str | None = None,
    policy: Rfc9421Policy = Rfc9421Policy(require_coverage=False),
) -> VerifiedRequest:
    """Verify a signed response (``@status`` and fields; request-bound ``;req`` components are refused)."""
    msg = _Message(method=None, url=None, status=status, fields=header_map(headers))
    return _verify_message(msg, body, key, now, label, policy, bool(body))
