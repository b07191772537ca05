"""Canonical identities: every raw address a person has on any network, turned into one typed, unique key.

Pure: no I/O, no network, no clock. Implements the "Identities" requirement of issue 2, DESIGN.md §1 and §7,
and FORMATS.md §3 (identity resolution). Nodes, bridges and federation all key identities by ``Address.uri``,
so two spellings of the same address must give the same ``uri`` and ``normalize(a.uri).uri == a.uri``.

Canonical forms (part of the spec; changing one is a data migration):

- **acct** (fediverse account): ``acct:user@host``. Accepted: ``acct:user@host``, ``@user@host``, and a bare
  ``user@host`` only when ``kind="acct"`` (a bare ``user@host`` with no kind is an e-mail address). The user
  part is lowercased (Mastodon and its peers treat usernames case-insensitively) and limited to ASCII
  ``[a-z0-9_.~+-]``; the host is IDNA-encoded (UTS #46), lowercased, without a trailing dot, and may carry a
  port.
- **email**: ``mailto:local@domain``. Accepted: bare addresses, ``mailto:`` URIs (query dropped,
  percent-escapes decoded) and ``Jane Doe <jane@example.com>``. The domain is IDNA-encoded and lowercased.
  The local part is lowercased too: RFC 5321 lets it be case-sensitive, but practically every provider
  treats it case-insensitively, and the design merges people automatically on normalised e-mail, so
  ``Jane@`` and ``jane@`` must meet. Provider-specific rewrites (Gmail dots, ``+tag`` sub-addresses) are
  *not* applied: they are not universal, and a wrong rewrite would auto-merge two humans. Quoted local parts
  and IP-literal domains are rejected. Non-ASCII characters in the local part are percent-encoded in ``uri``
  (RFC 6068).
- **tel**: E.164 ``tel:+447700900123`` (``;ext=123`` appended for an extension) when the number starts with
  ``+`` or a ``region`` (ISO 3166 alpha-2, e.g. ``"GB"``) is given; parsed with Google's ``phonenumbers``
  metadata and checked to be a *possible* number (right length for its country). "Valid" is not required:
  metadata lags new ranges, and an address book must not lose a real number. With neither ``+`` nor region
  the number is kept as ``tel:`` + digits and its display says "(local)". ``tel:``, RFC 3966 ``;ext=`` and
  ``;phone-context=+CC`` parameters, visual separators and ``ext.``/``x``/``#`` extensions are understood.
- **web** (a person's site): ``scheme://host[:port]/path[?query]``. Scheme lowercased and kept (``http``
  stays ``http``: we cannot know the site serves https); no scheme means ``https``; host IDNA-encoded,
  lowercased, no trailing dot; default port removed; empty path becomes ``/``; fragment removed;
  percent-escapes normalised (unreserved characters decoded, hex uppercased, non-ASCII encoded); dot
  segments removed. ``www.`` is *not* stripped (a different host may be a different site). Rejected: schemes
  other than http(s), userinfo, hosts without a dot, control or invisible characters, whitespace, and any
  input over 2 KiB.
- **url** (a profile page on some service, notably fediverse ``https://host/@user``): normalised exactly as
  web; the kind only records that it names a profile. :func:`fediverse_guess` proposes the ``acct:`` such a
  URL probably belongs to; that is evidence for a *suggested* merge, never an automatic one (the WebFinger
  domain can differ from the web host).
- **x**: ``https://x.com/i/user/<id>`` when the numeric account id is known (archives hold ids only), else
  ``https://x.com/<handle>`` with the handle lowercased. Accepted: ``x.com``/``twitter.com`` URLs (``www.``,
  ``mobile.``, ``m.``), ``/i/user/<id>``, ``/intent/user?user_id=`` or ``?screen_name=``, ``/#!/handle``,
  ``x:<id>``, and with ``kind="x"`` also ``@handle``, ``handle`` and bare digits. Handles are 1-15 of
  ``[A-Za-z0-9_]``; site routes (``home``, ``i``, ``search``, ``settings``...) are rejected. ``handle``
  holds the lowercased handle whenever it is known.
- **linkedin**: ``https://www.linkedin.com/in/<slug>`` for people and
  ``https://www.linkedin.com/company/<slug>`` (or ``/school/<slug>``) for organisations, which can be
  contacts too (customers, suppliers): same silo, same kind, and the path keeps them apart. Any linkedin.com
  host (country subdomains, ``m.``, http) is accepted; query, fragment and trailing sub-pages are dropped;
  percent-escapes are decoded and the slug lowercased (vanity slugs are case-insensitive), then re-encoded
  in ``uri``. Opaque member ids (``ACoAA...``, seen in message exports) are case-sensitive and keep their
  case. Other linkedin.com pages are plain web addresses.
- **bluesky**: the DID when known (``did:plc:`` + 24 lowercase base32 characters, or ``did:web:host``), else
  ``at://handle`` with the handle lowercased (handles change; DIDs do not). Accepted: DIDs, ``at://`` URIs,
  ``https://bsky.app/profile/<handle-or-did>``, ``@handle.with.dots``, bare ``*.bsky.social``, and with
  ``kind="bluesky"`` any bare handle.

Auto-detection when ``kind`` is None, in order: ``acct:``, ``mailto:``, ``tel:``, ``did:``, ``at://``,
``x:``, ``@user@host`` (acct), ``@name.with.dots`` (Bluesky), ``local@domain`` (e-mail), ``+`` or digits
(tel), URLs and bare domains (X, LinkedIn and Bluesky hosts get their own kinds, ``host/@user`` is a profile
URL, anything else is web). A bare ``@name`` is ambiguous and needs a kind.

"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, unquote

import idna
import phonenumbers

from protocol.errors import InvalidRecord

__all__ = [
    "MAX_ADDRESS_LENGTH",
    "Address",
    "IdentityKind",
    "bluesky_identity",
    "fediverse_guess",
    "normalize",
    "normalize_acct",
    "normalize_bluesky",
    "normalize_email",
    "normalize_linkedin",
    "normalize_tel",
    "normalize_web",
    "normalize_x",
    "parse_kind",
    "x_identity",
]

MAX_ADDRESS_LENGTH = 2048
_FIELD = "uri"


class IdentityKind(StrEnum):
    ACCT = "acct"
    URL = "url"
    X = "x"
    LINKEDIN = "linkedin"
    BLUESKY = "bluesky"
    EMAIL = "email"
    TEL = "tel"
    WEB = "web"


# What each kind's uri starts with; checked on every Address so that a hand-built one cannot be nonsense.
_URI_PREFIXES: dict[IdentityKind, tuple[str, ...]] = {
    IdentityKind.ACCT: ("acct:",),
    IdentityKind.URL: ("https://", "http://"),
    IdentityKind.X: ("https://x.com/",),
    IdentityKind.LINKEDIN: ("https://www.linkedin.com/",),
    IdentityKind.BLUESKY: ("did:plc:", "did:web:", "at://"),
    IdentityKind.EMAIL: ("mailto:",),
    IdentityKind.TEL: ("tel:",),
    IdentityKind.WEB: ("https://", "http://"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Address:
    """One canonical identity. ``uri`` is the unique key; ``display`` is what a person would write."""

    kind: IdentityKind
    uri: str
    display: str
    handle: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, IdentityKind):
            raise InvalidRecord(f"kind must be one of {_KIND_LIST}", field="kind")
        if not self.uri.startswith(_URI_PREFIXES[self.kind]):
            expected = " or ".join(_URI_PREFIXES[self.kind])
            raise InvalidRecord(f"a {self.kind} identity's uri starts with {expected}", field=_FIELD)
        if not self.display:
            raise InvalidRecord("display must not be empty", field="display")


_KIND_LIST = ", ".join(k.value for k in IdentityKind)
_KIND_ALIASES: dict[str, IdentityKind] = {k.value: k for k in IdentityKind} | {
    "fediverse": IdentityKind.ACCT,
    "mastodon": IdentityKind.ACCT,
    "activitypub": IdentityKind.ACCT,
    "profile": IdentityKind.URL,
    "twitter": IdentityKind.X,
    "bsky": IdentityKind.BLUESKY,
    "atproto": IdentityKind.BLUESKY,
    "e-mail": IdentityKind.EMAIL,
    "mail": IdentityKind.EMAIL,
    "mailto": IdentityKind.EMAIL,
    "phone": IdentityKind.TEL,
    "website": IdentityKind.WEB,
}


def parse_kind(kind: str | IdentityKind) -> IdentityKind:
    """The kind named by ``kind``: its value or a common alias (``twitter``, ``phone``, ``mastodon``...)."""
    if isinstance(kind, IdentityKind):
        return kind
    found = _KIND_ALIASES.get(kind.strip().lower())
    if found is None:
        raise InvalidRecord(f"unknown identity kind {kind[:40]!r}; use one of {_KIND_LIST}", field="kind")
    return found


def _fail(message: str) -> InvalidRecord:
    return InvalidRecord(message, field=_FIELD)


# ---------------------------------------------------------------------------------------------------------
# Input hygiene

_EDGE_JUNK = " \t\r\n\f\v\u00a0\u200b\u200e\u200f\u2060\ufeff"
_WIDE_SPACES = re.compile("[\u00a0\u2007\u202f\u2009\u3000]")


def _clean(raw: str) -> str:
    if not isinstance(raw, str):
        raise _fail("an address must be a string")
    if len(raw) > MAX_ADDRESS_LENGTH:
        raise _fail(f"an address is at most {MAX_ADDRESS_LENGTH} characters long")
    s = raw.strip(_EDGE_JUNK)
    if not s.isascii():
        # Copy-pasted numbers and names carry no-break spaces; they mean a space. Everything else invisible
        # (controls, bidi overrides, zero-width characters) is refused: it can make two addresses look alike.
        s = _WIDE_SPACES.sub(" ", s)
    if not s.isprintable():
        raise _fail("an address must not contain control or invisible characters")
    if not s:
        raise _fail("an address must not be empty")
    return s


# ---------------------------------------------------------------------------------------------------------
# Hosts

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_ASCII_HOST = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")
_IPV4ISH = re.compile(r"[0-9.]+")


def _host(raw: str, *, what: str = "host") -> str:
    """An IDNA-encoded (UTS #46), lowercased hostname with at least one dot and no trailing dot."""
    h = raw[:-1] if raw.endswith(".") else raw
    if h.isascii():
        h = h.lower()
    else:
        try:
            h = idna.encode(h, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise _fail(f"{what} {raw[:80]!r} is not a valid international domain name ({exc})") from None
    if len(h) > 253 or not _ASCII_HOST.fullmatch(h) or h[h.rfind(".") + 1 :].isdigit():
        raise _fail(f"{what} {raw[:80]!r} is not a domain name like example.com")
    if "xn--" in h:
        try:
            idna.decode(h)
        except (idna.IDNAError, UnicodeError) as exc:
            raise _fail(f"{what} {raw[:80]!r} holds a malformed xn-- label ({exc})") from None
    return h


def _host_display(h: str) -> str:
    if "xn--" not in h:
        return h
    try:
        return idna.decode(h)
    except (idna.IDNAError, UnicodeError):
        return h


def _host_port(raw: str, *, what: str = "host") -> str:
    """``host`` or ``host:port`` (acct: and did:web allow a port, e.g. for a development server)."""
    host, sep, port = raw.rpartition(":") if raw.count(":") == 1 else (raw, "", "")
    if not sep:
        return _host(raw, what=what)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(f"{what} {raw[:80]!r} has a bad port; write host or host:port with a port of 1-65535")
    return f"{_host(host, what=what)}:{int(port)}"


# ---------------------------------------------------------------------------------------------------------
# Web

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_AUTHORITY_END = re.compile(r"[/?#]")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters allowed unescaped in a path or query (RFC 3986 pchar plus "/" and "?"); "%" handled separately.
_PATH_SAFE = "/:@!$&'()*+,;=-._~?%"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Url(NamedTuple):
    scheme: str
    host: str  # canonical ASCII, IPv6 in brackets
    port: str  # "" or ":8080"
    path: str  # as written (not yet normalised), "" allowed
    query: str  # as written, without "?"
    fragment: str
    bare: bool  # written without a scheme


def _split_url(s: str) -> _Url:
    if " " in s:
        raise _fail("a web address must not contain spaces; percent-encode them as %20")
    bare = False
    idx = s.find("://")
    if idx < 0:
        m = _SCHEME.match(s)
        if s.startswith("//"):
            s = "https:" + s
        elif m and not s[m.end() : m.end() + 1].isdigit():
            raise _fail(f"{m.group(1)[:20]!r} addresses are not web addresses; use https://host/path")
        else:
            s, bare = "https://" + s, True
        idx = s.find("://")
    scheme = s[:idx].lower()
    if scheme not in _DEFAULT_PORTS:
        raise _fail(f"only http and https web addresses are accepted, not {scheme[:20]!r}")
    rest = s[idx + 3 :]
    m = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: m.start()], rest[m.start() :]) if m else (rest, "")
    if "@" in authority:
        raise _fail("a web address must not carry a user name or password (user@ before the host)")
    if not authority:
        raise _fail("a web address needs a host, like https://example.com/")
    port = ""
    if authority.startswith("["):
        end = authority.find("]")
        try:
            host = "[" + ipaddress.IPv6Address(authority[1:end]).compressed + "]"
        except ValueError:
            raise _fail(f"{authority[:60]!r} is not a valid IPv6 address in brackets") from None
        after = authority[end + 1 :]
        if after and not after.startswith(":"):
            raise _fail(f"{authority[:60]!r} is not host or host:port")
        port = after[1:]
    else:
        hostpart, _, port = authority.partition(":")
        if _IPV4ISH.fullmatch(hostpart):
            try:
                host = str(ipaddress.IPv4Address(hostpart))
            except ValueError:
                raise _fail(f"{hostpart[:60]!r} is not a valid IPv4 address") from None
        else:
            host = _host(hostpart)
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise _fail(f"port {port[:10]!r} must be a number from 1 to 65535")
        port = "" if int(port) == _DEFAULT_PORTS[scheme] else f":{int(port)}"
    frag_at = tail.find("#")
    fragment = ""
    if frag_at >= 0:
        tail, fragment = tail[:frag_at], tail[frag_at + 1 :]
    path, _, query = tail.partition("?")
    return _Url(scheme, host, port, path, query, fragment, bare)


def _pct_fix(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _normalize_component(text: str) -> str:
    if not text.isascii() or any(c in text for c in '"<>\\^`{|}'):
        text = quote(text, safe=_PATH_SAFE)
    if "%" in text:
        text = _PCT.sub(_pct_fix, _LONE_PCT.sub("%25", text))
    return text


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    last = path.rsplit("/", 1)[-1]
    return "/" + "/".join(out) + ("/" if last in {".", ".."} and out else "")


def _web_uri(u: _Url) -> str:
    path = u.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    path = _normalize_component(path)
    if "/." in path:
        path = _remove_dot_segments(path)
    query = "?" + _normalize_component(u.query) if u.query else ""
    return f"{u.scheme}://{u.host}{u.port}{path}{query}"


_PCT_UTF8_RUN = re.compile(r"(?:%[89A-F][0-9A-F])+")


def _decode_run(m: re.Match[str]) -> str:
    # Display only non-ASCII text decoded: an ASCII escape such as %2F would change the address if shown bare.
    try:
        return unquote(m.group(0), errors="strict")
    except UnicodeDecodeError:
        return m.group(0)


def _web_display(uri: str, u: _Url) -> str:
    rest = uri[len(u.scheme) + 3 :]
    host_end = len(u.host) + len(u.port)
    tail = rest[host_end:]
    if "%" in tail:
        tail = _PCT_UTF8_RUN.sub(_decode_run, tail)
    shown = _host_display(u.host) + rest[len(u.host) : host_end] + tail
    if shown.endswith("/") and shown.count("/") == 1:
        shown = shown[:-1]
    return shown if u.scheme == "https" else "http://" + shown


def normalize_web(raw: str) -> str:
    """The canonical uri of a web address (see the module docstring)."""
    return _web(_clean(raw), IdentityKind.WEB).uri


def _web(s: str, kind: IdentityKind) -> Address:
    u = _split_url(s)
    if kind is IdentityKind.URL:
        u = _fold_profile_path(u)
    uri = _web_uri(u)
    return Address(kind=kind, uri=uri, display=_web_display(uri, u))


# ---------------------------------------------------------------------------------------------------------
# Fediverse accounts

_ACCT_USER = re.compile(r"[a-z0-9_.~+-]{1,128}")
_PROFILE_PATH = re.compile(r"/@([A-Za-z0-9_.~+-]{1,128})(?:@([^/?#@]+))?/?")
_ACTOR_PATH = re.compile(r"/users/([A-Za-z0-9_.~+-]{1,128})/?")
# Sites that use /@name paths but speak no ActivityPub: a guess there would only ever be wrong.
_NOT_FEDIVERSE = frozenset(
    {"medium.com", "www.youtube.com", "youtube.com", "m.youtube.com", "www.tiktok.com", "tiktok.com"}
)


def normalize_acct(raw: str) -> str:
    """The canonical ``acct:user@host`` of a fediverse account address."""
    return _acct(_clean(raw)).uri


def _acct(s: str) -> Address:
    if s[:5].lower() == "acct:":
        s = s[5:]
    elif s.startswith("@"):
        s = s[1:]
    if "://" in s:
        raise _fail("that is a profile URL, not an account address; use kind='url', or write user@host")
    user, at, host = s.rpartition("@")
    if not at or not user or not host:
        raise _fail(f"{s[:80]!r} is not a fediverse address; write it as @user@host or acct:user@host")
    user = user.lower()
    if not _ACCT_USER.fullmatch(user):
        raise _fail(f"fediverse user name {user[:80]!r} may use only letters, digits and _ . ~ + -")
    host = _host_port(host)
    return Address(
        kind=IdentityKind.ACCT, uri=f"acct:{user}@{host}", display=f"@{user}@{_host_display(host)}"
    )


def _fold_profile_path(u: _Url) -> _Url:
    # Fediverse user names are case-insensitive, so https://host/@Bob and /@bob are one profile.
    return u._replace(path=u.path.lower()) if _PROFILE_PATH.fullmatch(u.path) else u


def fediverse_guess(address: Address) -> str | None:
    """The ``acct:`` a profile URL probably belongs to (``https://host/@user`` or ``/users/user``), else None.

    A guess: use it to *suggest* a merge, never to merge automatically.
    """
    if address.kind not in (IdentityKind.URL, IdentityKind.WEB):
        return None
    u = _split_url(address.uri)
    if u.host in _NOT_FEDIVERSE or u.port or u.host.startswith("["):
        return None
    m = _PROFILE_PATH.fullmatch(u.path) or _ACTOR_PATH.fullmatch(u.path)
    if m is None:
        return None
    host = m.group(2) if m.re is _PROFILE_PATH and m.group(2) else u.host
    try:
        return _acct(f"{m.group(1)}@{host}").uri
    except InvalidRecord:
        return None


# ---------------------------------------------------------------------------------------------------------
# E-mail

_ANGLE = re.compile(r"[^<>]*<([^<>]+)>")
_SIMPLE_LOCAL = re.compile(r"[a-z0-9._+-]+")
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~.")
_MAILTO_SAFE = "!$&'*+/=_-.~"


def normalize_email(raw: str) -> str:
    """The canonical ``mailto:local@domain`` of an e-mail address."""
    return _email(_clean(raw)).uri


def _email(s: str) -> Address:
    if s.endswith(">"):
        m = _ANGLE.fullmatch(s)
        if m is None:
            raise _fail("write an e-mail address as jane@example.com or Jane <jane@example.com>")
        s = m.group(1).strip()
    if s[:7].lower() == "mailto:":
        s = s[7:].split("?", 1)[0]
        if "%" in s:
            try:
                s = unquote(s, errors="strict")
            except UnicodeDecodeError:
                raise _fail("the mailto: address holds percent-escapes that are not UTF-8") from None
    local, at, domain = s.rpartition("@")
    if not at or not local or not domain:
        raise _fail(f"{s[:80]!r} is not an e-mail address; write it as jane@example.com")
    if local.startswith('"'):
        raise _fail("quoted e-mail local parts are not accepted; write it as jane@example.com")
    local = local.lower()
    if not _SIMPLE_LOCAL.fullmatch(local) and not all(c in _ATEXT or (c.isalnum()) for c in local):
        bad = local[:80]
        raise _fail(
            f"e-mail local part {bad!r} holds characters an address cannot; write it as jane@example.com"
        )
    if local.startswith(".") or local.endswith(".") or ".." in local or len(local) > 64:
        raise _fail(
            f"e-mail local part {local[:80]!r} must be 1-64 characters, no leading, trailing or double dot"
        )
    if domain.startswith("["):
        raise _fail("e-mail addresses at IP literals are not accepted; use a domain like example.com")
    host = _host(domain, what="e-mail domain")
    if len(local) + 1 + len(host) > 254:
        raise _fail("an e-mail address is at most 254 characters long")
    coded = local if _SIMPLE_LOCAL.fullmatch(local) else quote(local, safe=_MAILTO_SAFE)
    return Address(
        kind=IdentityKind.EMAIL, uri=f"mailto:{coded}@{host}", display=f"{local}@{_host_display(host)}"
    )


# ---------------------------------------------------------------------------------------------------------
# Telephone

_TEL_EXT = re.compile(r"\s*(?:;\s*ext=|,?\s*(?:ext\.?|extension|x|#)\s*)(\d{1,10})$", re.IGNORECASE)
_TEL_LOCAL = re.compile(r"[0-9 ().\-/]+")
_TEL_CHARS = re.compile(r"\+?[0-9A-Za-z ().\-/]+")
_NON_DIGIT = re.compile(r"\D")
_REGION = re.compile(r"[A-Z]{2}")


def _region(region: str | None) -> str | None:
    if region is None:
        return None
    r = region.strip().upper()
    if not _REGION.fullmatch(r) or r not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidRecord(
            f"region {region[:20]!r} must be a two-letter country code such as GB, US or DE", field="region"
        )
    return r


def normalize_tel(raw: str, *, region: str | None = None) -> str:
    """The canonical ``tel:`` uri of a phone number: E.164 with a ``+`` or a region, else local digits."""
    return _tel(_clean(raw), _region(region)).uri


def _tel(s: str, region: str | None) -> Address:
    if s[:4].lower() == "tel:":
        s = s[4:]
    elif s.endswith(" (local)"):
        s = s[:-8]  # our own display form reads back
    ext = ""
    if ";" in s:
        s, *params = s.split(";")
        for p in params:
            name, _, value = p.strip().partition("=")
            name = name.lower()
            if name == "ext" and value.isdigit():
                ext = value
            elif name == "phone-context" and value.startswith("+") and not s.startswith("+"):
                s = value + s
    m = _TEL_EXT.search(s)
    if m and not ext:
        ext, s = m.group(1), s[: m.start()]
    s = s.strip()
    if not _TEL_CHARS.fullmatch(s):
        raise _fail(f"{s[:80]!r} is not a phone number; write it as +44 7700 900123")
    if s.startswith("+") or region is not None:
        e164, shown = _e164(s, region)
        if ext:
            return Address(kind=IdentityKind.TEL, uri=f"tel:{e164};ext={ext}", display=f"{shown} ext. {ext}")
        return Address(kind=IdentityKind.TEL, uri=f"tel:{e164}", display=shown)
    if not _TEL_LOCAL.fullmatch(s):
        raise _fail(f"{s[:80]!r} is not a phone number; write it with its country code, like +44 7700 900123")
    digits = _NON_DIGIT.sub("", s)
    if not 3 <= len(digits) <= 15:
        raise _fail(f"{s[:80]!r} has {len(digits)} digits; a phone number has 3 to 15")
    suffix = f";ext={ext}" if ext else ""
    shown = f"{digits} ext. {ext} (local)" if ext else f"{digits} (local)"
    return Address(kind=IdentityKind.TEL, uri=f"tel:{digits}{suffix}", display=shown)


@lru_cache(maxsize=4096)
def _e164(number: str, region: str | None) -> tuple[str, str]:
    # phonenumbers is the slowest step of all; bridges see the same numbers again and again across exports.
    try:
        n = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise _fail(f"{number[:80]!r} is not a phone number ({exc}); write it as +44 7700 900123") from None
    if not phonenumbers.is_possible_number(n):
        raise _fail(f"{number[:80]!r} has the wrong number of digits for its country")
    return (
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    )


# ---------------------------------------------------------------------------------------------------------
# X / Twitter

_X_HOSTS = frozenset(
    {
        "x.com",
        "www.x.com",
        "mobile.x.com",
        "twitter.com",
        "www.twitter.com",
        "mobile.twitter.com",
        "m.twitter.com",
    }
)
_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
_X_ID = re.compile(r"[0-9]{1,20}")
# Site routes that look like handles; X reserves them, so no account can be named so.
_X_RESERVED = frozenset(
    {
        *("home", "i", "intent", "search", "settings", "share", "explore", "notifications", "messages"),
        *("compose", "hashtag", "login", "logout", "signup", "signin", "tos", "privacy", "account"),
        *("oauth", "download", "lists", "bookmarks", "communities", "premium", "jobs", "who_to_follow"),
    }
)
# Tabs under a profile: a URL to one of them still names the profile.
_X_TABS = frozenset(
    {
        "with_replies",
        "media",
        "likes",
        "followers",
        "following",
        "verified_followers",
        "highlights",
        "articles",
    }
)


def _x_handle(h: str) -> str:
    if not _X_HANDLE.fullmatch(h):
        raise _fail(f"X handle {h[:40]!r} must be 1-15 letters, digits or underscores, like @jack")
    if h.lower() in _X_RESERVED:
        raise _fail(f"{h!r} is a page of x.com, not an account; give the account's handle or profile URL")
    return h


def _x_id(account_id: str) -> str:
    if not _X_ID.fullmatch(account_id) or int(account_id) == 0:
        raise _fail(f"X account id {account_id[:40]!r} must be a positive number of up to 20 digits")
    return str(int(account_id))


def x_identity(account_id: str | None, handle: str | None) -> Address:
    """An X identity from an account id and/or handle; the numeric id is the key when known."""
    h = _x_handle(handle.strip().removeprefix("@")) if handle else None
    if account_id:
        i = _x_id(account_id.strip())
        return Address(
            kind=IdentityKind.X,
            uri=f"https://x.com/i/user/{i}",
            display=f"@{h}" if h else f"x.com/i/user/{i}",
            handle=h.lower() if h else None,
        )
    if h is None:
        raise _fail("an X identity needs an account id or a handle")
    return Address(kind=IdentityKind.X, uri=f"https://x.com/{h.lower()}", display=f"@{h}", handle=h.lower())


def _query_value(query: str, name: str) -> str | None:
    for pair in query.split("&"):
        k, _, v = pair.partition("=")
        if k == name and v:
            return unquote(v)
    return None


def _x_from_url(u: _Url) -> Address:
    path = u.path
    if path in ("", "/") and u.fragment.startswith("!/"):
        path = u.fragment[1:]  # legacy https://twitter.com/#!/jack
    segs = [p for p in path.split("/") if p]
    if len(segs) == 3 and segs[0] == "i" and segs[1] == "user":
        return x_identity(segs[2], None)
    if len(segs) == 2 and segs[0] == "intent" and segs[1] in ("user", "follow"):
        uid, name = _query_value(u.query, "user_id"), _query_value(u.query, "screen_name")
        if uid or name:
            return x_identity(uid, name)
    if len(segs) == 1 or (len(segs) == 2 and segs[1] in _X_TABS):
        return x_identity(None, segs[0])
    raise _fail("an X address is a profile URL like https://x.com/jack or https://x.com/i/user/12")


def normalize_x(raw: str) -> str:
    """The canonical uri of an X/Twitter account: ``https://x.com/i/user/<id>`` or ``https://x.com/<handle>``."""
    return _x(_clean(raw)).uri


def _x(s: str) -> Address:
    if s[:2].lower() == "x:":
        return x_identity(s[2:], None)
    if s.isdigit():
        return x_identity(s, None)
    if "/" in s or "." in s:
        u = _split_url(s)
        if u.host not in _X_HOSTS:
            raise _fail(f"{u.host!r} is not x.com or twitter.com; give an X profile URL or @handle")
        return _x_from_url(u)
    return x_identity(None, s.removeprefix("@"))


# ---------------------------------------------------------------------------------------------------------
# LinkedIn

_LINKEDIN_HOST = re.compile(r"(?:[a-z]{2,3}\.|www\.|m\.|mobile\.)?linkedin\.com")
_LINKEDIN_SLUG = re.compile(r"[\w-]{2,100}")
_LINKEDIN_SECTIONS = {"in": "in", "company": "company", "school": "school"}


def _linkedin(section: str, raw_slug: str) -> Address:
    slug = unquote(raw_slug) if "%" in raw_slug else raw_slug
    if not _LINKEDIN_SLUG.fullmatch(slug):
        raise _fail(f"LinkedIn name {slug[:60]!r} must be 2-100 letters, digits or hyphens, like jane-doe")
    # Member ids (ACoAA...) are case-sensitive; vanity names are not.
    if not (section == "in" and slug.startswith("ACoAA") and len(slug) > 30):
        slug = slug.lower()
    coded = slug if slug.isascii() else quote(slug, safe="-_")
    return Address(
        kind=IdentityKind.LINKEDIN,
        uri=f"https://www.linkedin.com/{section}/{coded}",
        display=f"linkedin.com/{section}/{slug}",
    )


def _linkedin_from_url(u: _Url) -> Address | None:
    segs = [p for p in u.path.split("/") if p]
    if segs and segs[0] == "mwlite":
        segs = segs[1:]
    if len(segs) >= 2 and segs[0].lower() in _LINKEDIN_SECTIONS:
        return _linkedin(_LINKEDIN_SECTIONS[segs[0].lower()], segs[1])
    return None


def normalize_linkedin(raw: str) -> str:
    """The canonical ``https://www.linkedin.com/in/<slug>`` (or ``/company/<slug>``) of a LinkedIn page."""
    return _linkedin_any(_clean(raw)).uri


def _linkedin_any(s: str) -> Address:
    if "linkedin.com" in s.lower():
        u = _split_url(s)
        if _LINKEDIN_HOST.fullmatch(u.host):
            found = _linkedin_from_url(u)
            if found is not None:
                return found
        raise _fail("a LinkedIn address is a profile URL like https://www.linkedin.com/in/jane-doe")
    section, sep, slug = s.strip("/").partition("/")
    if sep and section.lower() in _LINKEDIN_SECTIONS:
        return _linkedin(_LINKEDIN_SECTIONS[section.lower()], slug)
    return _linkedin("in", s)


# ---------------------------------------------------------------------------------------------------------
# Bluesky

_BSKY_HOSTS = frozenset({"bsky.app", "www.bsky.app"})
_DID_PLC = re.compile(r"did:plc:[a-z2-7]{24}")
_BSKY_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _did(s: str) -> str:
    low = s.lower()
    if low.startswith("did:plc:"):
        if not _DID_PLC.fullmatch(low):
            raise _fail("a did:plc identifier is did:plc: followed by 24 characters of a-z and 2-7")
        return low
    if low.startswith("did:web:"):
        host = unquote(s[8:]) if "%3" in s[8:].upper() else s[8:]
        return "did:web:" + _host_port(host, what="did:web host").replace(":", "%3A")
    raise _fail("Bluesky identifiers are did:plc:... or did:web:host; other DID methods are not supported")


def _bsky_handle(h: str) -> str:
    h = h.lower()
    h = h[:-1] if h.endswith(".") else h
    labels = h.split(".")
    if (
        len(h) > 253
        or len(labels) < 2
        or not all(_BSKY_LABEL.fullmatch(label) for label in labels)
        or labels[-1][0].isdigit()
    ):
        raise _fail(f"Bluesky handle {h[:80]!r} must be a domain name like alice.bsky.social")
    return h


def bluesky_identity(did: str | None, handle: str | None) -> Address:
    """A Bluesky identity from a DID and/or handle; the DID is the key when known."""
    h = _bsky_handle(handle.strip().removeprefix("@")) if handle else None
    if did:
        d = _did(did.strip())
        return Address(kind=IdentityKind.BLUESKY, uri=d, display=f"@{h}" if h else d, handle=h)
    if h is None:
        raise _fail("a Bluesky identity needs a DID or a handle")
    return Address(kind=IdentityKind.BLUESKY, uri=f"at://{h}", display=f"@{h}", handle=h)


def _bsky_actor(actor: str) -> Address:
    actor = unquote(actor) if "%" in actor else actor
    if actor[:4].lower() == "did:":
        return bluesky_identity(actor, None)
    return bluesky_identity(None, actor)


def normalize_bluesky(raw: str) -> str:
    """The canonical uri of a Bluesky account: its DID, else ``at://<handle>``."""
    return _bluesky(_clean(raw)).uri


def _bluesky(s: str) -> Address:
    if s[:5].lower() == "at://":
        authority = s[5:].rstrip("/")
        if "/" in authority:
            raise _fail("an at:// address of an account has no path; write at://alice.bsky.social")
        return _bsky_actor(authority)
    if s[:4].lower() == "did:":
        return bluesky_identity(s, None)
    if "/" in s:
        u = _split_url(s)
        segs = [p for p in u.path.split("/") if p]
        if u.host in _BSKY_HOSTS and len(segs) == 2 and segs[0] == "profile":
            return _bsky_actor(segs[1])
        raise _fail("a Bluesky address is a handle, a DID or https://bsky.app/profile/<handle>")
    return bluesky_identity(None, s.removeprefix("@"))


# ---------------------------------------------------------------------------------------------------------
# Dispatch

_AT_DOTTED = re.compile(r"@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+")
_LOOKS_TEL = re.compile(r"\+?\(?[0-9][0-9 ().\-/]*")


def _url_kind(s: str) -> Address:
    u = _split_url(s)
    host = u.host
    if host in _X_HOSTS:
        return _x_from_url(u)
    if host.endswith("linkedin.com") and _LINKEDIN_HOST.fullmatch(host):
        found = _linkedin_from_url(u)
        if found is not None:
            return found
    if host in _BSKY_HOSTS:
        segs = [p for p in u.path.split("/") if p]
        if len(segs) == 2 and segs[0] == "profile":
            return _bsky_actor(segs[1])
    if u.bare and host.endswith(".bsky.social") and u.path in ("", "/") and not u.query:
        return bluesky_identity(None, host)
    if _PROFILE_PATH.fullmatch(u.path):
        u = _fold_profile_path(u)
        kind = IdentityKind.URL
    else:
        kind = IdentityKind.WEB
    uri = _web_uri(u)
    return Address(kind=kind, uri=uri, display=_web_display(uri, u))


def _detect(s: str, region: str | None) -> Address:
    head = s[:8].lower()
    if head.startswith("acct:"):
        return _acct(s)
    if head.startswith("mailto:"):
        return _email(s)
    if head.startswith("tel:"):
        return _tel(s, region)
    if head.startswith(("did:", "at://")):
        return _bluesky(s)
    if head.startswith("x:"):
        return _x(s)
    if s.startswith("@"):
        if s.count("@") == 2:
            return _acct(s)
        if _AT_DOTTED.fullmatch(s):
            return _bluesky(s)
        raise _fail(f"{s[:40]!r} could be an X or other handle; say which with kind='x' (or another kind)")
    if "/" not in s and ("@" in s or s.endswith(">")):
        return _email(s)
    if _LOOKS_TEL.fullmatch(s) or (s.startswith("+") and _TEL_EXT.search(s)):
        return _tel(s, region)
    return _url_kind(s)


_PARSERS: dict[IdentityKind, Callable[[str, str | None], Address]] = {
    IdentityKind.ACCT: lambda s, _r: _acct(s),
    IdentityKind.URL: lambda s, _r: _web(s, IdentityKind.URL),
    IdentityKind.X: lambda s, _r: _x(s),
    IdentityKind.LINKEDIN: lambda s, _r: _linkedin_any(s),
    IdentityKind.BLUESKY: lambda s, _r: _bluesky(s),
    IdentityKind.EMAIL: lambda s, _r: _email(s),
    IdentityKind.TEL: _tel,
    IdentityKind.WEB: lambda s, _r: _web(s, IdentityKind.WEB),
}


def normalize(raw: str, *, kind: str | IdentityKind | None = None, region: str | None = None) -> Address:
    """The canonical identity of ``raw``; ``kind`` forces a kind (else it is detected), ``region`` is a
    phone number's default country (ISO 3166 alpha-2) and is ignored for other kinds.

    Raises :class:`~protocol.errors.InvalidRecord` (``field="uri"``, or ``"kind"``/``"region"``) with a
    message that shows a valid form.
    """
    r = _region(region)
    s = _clean(raw)
    if kind is None:
        return _detect(s, r)
    return _PARSERS[parse_kind(kind)](s, r)
