"""Canonical identities: every raw address a person has on any network, turned into one typed, unique key.

Pure: no I/O, no network, no clock. Implements the "Identities" requirement of issue 2, docs/ARCHITECTURE.md §1 and §7,
and docs/SILOS.md §3 (identity resolution). Nodes, bridges and federation all key identities by ``Address.uri``,
so two spellings of the same address must give the same ``uri`` and ``normalize(a.uri).uri == a.uri``.

Canonical forms (part of the spec; changing one is a data migration):

- **acct** (fediverse account): ``acct:user@host``. Accepted: ``acct:user@host``, ``@user@host``, and a bare
  ``user@host`` only when ``kind="acct"`` (a bare ``user@host`` with no kind is an e-mail address). The user
  part is lowercased (Mastodon and its peers treat usernames case-insensitively) and limited to ASCII
  ``[a-z0-9_.~+-]``; the host is IDNA-encoded (UTS #46), lowercased, without a trailing dot, and may carry a
  port. Development servers are addresses too, as every node domain the configuration accepts must be: an
  IPv4 literal, a bracketed IPv6 literal (``@bob@[::1]:8722``, compressed) and a one-label name with its port
  (``@admin@localhost:3000``, Mastodon's own development address; a bare ``@bob@localhost`` is refused).
- **email**: ``mailto:local@domain``. Accepted: bare addresses, ``mailto:`` URIs (query dropped,
  percent-escapes decoded), ``Jane Doe <jane@example.com>`` and ``jane@example.com (Jane Doe)``. The domain is
  IDNA-encoded and lowercased. The local part is lowercased too: RFC 5321 lets it be case-sensitive, but
  practically every provider treats it case-insensitively, and the design merges people automatically on
  normalised e-mail, so ``Jane@`` and ``jane@`` must meet. Provider-specific rewrites (Gmail dots, ``+tag``
  sub-addresses) are *not* applied: they are not universal, and a wrong rewrite would auto-merge two humans.
  Quoted local parts and IP-literal domains are rejected. Non-ASCII characters in the local part are
  percent-encoded in ``uri`` (RFC 6068).
- **tel**: E.164 ``tel:+447700900123`` (``;ext=123`` appended for an extension) when the number starts with
  ``+`` or a ``region`` (ISO 3166 alpha-2, e.g. ``"GB"``) is given; parsed with Google's ``phonenumbers``
  metadata and checked to be a *possible* number (right length for its country). "Valid" is not required:
  metadata lags new ranges, and an address book must not lose a real number. With neither ``+`` nor region the
  number is kept as ``tel:`` + digits and its display says "(local)". ``tel:``, RFC 3966 ``;ext=`` and
  ``;phone-context=+CC`` parameters, visual separators and ``ext.``/``x``/``#`` extensions are understood.
  Display: international format (``+44 7700 900123``). At most 128 characters.
- **web** (a person's site): ``scheme://host[:port]/path[?query]``. Scheme lowercased and kept (``http`` stays
  ``http``: we cannot know the site serves https); no scheme means ``https``; host IDNA-encoded, lowercased,
  no trailing dot; default port removed; empty path becomes ``/``; fragment removed; percent-escapes
  normalised (unreserved characters decoded, hex uppercased, non-ASCII encoded); dot segments removed.
  ``www.`` is *not* stripped (a different host may be a different site). Rejected: schemes other than http(s),
  userinfo, hosts without a dot (unless a port names a development server, ``http://localhost:3000/``, when
  the port is kept even if it is the scheme's default), control or invisible characters, whitespace, and any
  input over 2 KiB, percent-escapes included.
- **url** (a profile page on some service, notably fediverse ``https://host/@user``): normalised as web,
  except that a ``/@user`` (or ``/@user@host``) path is lowercased, since fediverse user names are
  case-insensitive; the kind records that it names a profile. Without a kind, only ``/@user`` paths are
  recognised as profiles; ``kind="url"`` marks any URL (an actor id such as ``/users/bob``) as one.
  :func:`fediverse_guess` proposes the ``acct:`` such a URL probably belongs to; that is evidence for a
  *suggested* merge, never an automatic one (the WebFinger domain can differ from the web host).
- **x**: ``https://x.com/i/user/<id>`` when the numeric account id is known (archives hold ids only), else
  ``https://x.com/<handle>`` with the handle lowercased. Accepted: ``x.com``/``twitter.com`` URLs (``www.``,
  ``mobile.``, ``m.``), ``/i/user/<id>``, ``/intent/user?user_id=`` or ``?screen_name=``, ``/#!/handle``,
  ``x:<id>``, and with ``kind="x"`` also ``@handle``, ``handle`` and bare digits. Handles are 1-15 of
  ``[A-Za-z0-9_]``; site routes (``home``, ``i``, ``search``, ``settings``...) are rejected. ``handle`` holds
  the lowercased handle whenever it is known.
- **linkedin**: ``https://www.linkedin.com/in/<slug>`` for people and
  ``https://www.linkedin.com/company/<slug>`` (or ``/school/<slug>``) for organisations, which can be contacts
  too (customers, suppliers): same silo, same kind, and the path keeps them apart. Any linkedin.com host
  (country subdomains, ``m.``, http) is accepted; query, fragment and trailing sub-pages are dropped;
  percent-escapes are decoded and the slug lowercased (vanity slugs are case-insensitive), then re-encoded in
  ``uri``. Opaque member ids (``ACoAA...``, seen in message exports) are case-sensitive and keep their case.
  Other linkedin.com pages are plain web addresses.
- **bluesky**: the DID when known (``did:plc:`` + 24 lowercase base32 characters, or ``did:web:host``), else
  ``at://handle`` with the handle lowercased (handles change; DIDs do not). Accepted: DIDs, ``at://`` URIs,
  ``https://bsky.app/profile/<handle-or-did>``, ``@handle.with.dots``, bare ``*.bsky.social``, and with
  ``kind="bluesky"`` any bare handle.

Auto-detection when ``kind`` is None, in order: ``acct:``, ``mailto:``, ``tel:``, ``did:``, ``at://``, ``x:``,
``@user@host`` (acct), ``@name.with.dots`` (Bluesky), ``local@domain`` (e-mail), ``+`` or digits (tel), URLs
and bare domains (X, LinkedIn and Bluesky hosts get their own kinds, ``host/@user`` is a profile URL, anything
else is web). A bare ``@name`` is ambiguous and needs a kind. An explicit ``kind="web"`` or ``"url"`` never
re-kinds a silo URL (``https://x.com/jack`` stays a web address).

Displays are what a person would write (``@bob@example.social``, ``jane@example.com``, ``@jack``,
``linkedin.com/in/jane-doe``, ``example.com/blog``, non-ASCII shown decoded); they read back to the same
``uri`` when given with the same kind, except where a stable id (X account id, Bluesky DID) is shown by its
handle. Every error is :class:`~protocol.errors.InvalidRecord` with
``field="uri"`` (or ``"kind"``, ``"region"``) and a message that shows a valid form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import quote, unquote

import phonenumbers

from protocol._addr_base import (
    _KIND_ALIASES,
    MAX_ADDRESS_LENGTH,
    Address,
    IdentityKind,
    _clean,
    _fail,
    parse_kind,
)
from protocol._addr_silos import (
    _BSKY_HOSTS,
    _LINKEDIN_HOST,
    _X_HOSTS,
    _bluesky,
    _bsky_actor,
    _linkedin_any,
    _linkedin_from_url,
    _x,
    _x_from_url,
    bluesky_identity,
    normalize_bluesky,
    normalize_linkedin,
    normalize_x,
    x_identity,
)
from protocol._addr_web import (
    _PROFILE_PATH,
    _fold_profile_path,
    _host,
    _host_display,
    _host_port,
    _split_url,
    _web,
    _web_display,
    _web_uri,
    normalize_web,
)
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


# ---------------------------------------------------------------------------------------------------------
# Fediverse accounts

_ACCT_USER = re.compile(r"[a-z0-9_.~+-]{1,128}")
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
    host = _host_port(host, dev=True)
    return Address(
        kind=IdentityKind.ACCT, uri=f"acct:{user}@{host}", display=f"@{user}@{_host_display(host)}"
    )


def fediverse_guess(address: Address | str) -> str | None:
    """The ``acct:`` a profile URL probably belongs to (``https://host/@user`` or ``/users/user``), else None.

    ``address`` is an :class:`Address` of kind url or web, or a URL string. A guess: use it to *suggest* a
    merge, never to merge automatically.
    """
    if isinstance(address, Address):
        if address.kind not in (IdentityKind.URL, IdentityKind.WEB):
            return None
        address = address.uri
    try:
        u = _split_url(_clean(address))
    except InvalidRecord:
        return None
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
    if s.endswith(")") and "(" in s:
        s = s[: s.rfind("(")].rstrip()  # the old "jane@example.com (Jane Doe)" comment form
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

# "x12" counts only after a digit, space or bracket: the X of a vanity number ("+1 800 MAX 1234") stays.
_TEL_EXT = re.compile(r"(?:;\s*ext=|ext\.?|extension|#|(?<=[\d\s.)])x\.?)\s*(\d{1,10})$", re.IGNORECASE)
_TEL_MAX = 128  # RFC 3966 parameters included; anything longer is not a phone number, and regexes stay cheap
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
    if len(s) > _TEL_MAX:
        raise _fail(f"a phone number is at most {_TEL_MAX} characters; write it as +44 7700 900123")
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
        ext, s = m.group(1), s[: m.start()].rstrip(" ,")
    s = s.strip()
    if not _TEL_CHARS.fullmatch(s):
        raise _fail(f"{s[:80]!r} is not a phone number; write it as +44 7700 900123")
    if s.startswith("+") or region is not None:
        e164, shown, found_ext = _e164(s, region)
        ext = ext or found_ext
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
def _e164(number: str, region: str | None) -> tuple[str, str, str]:
    # phonenumbers is the slowest step of all; bridges see the same numbers again and again across exports.
    try:
        n = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise _fail(f"{number[:80]!r} is not a phone number ({exc}); write it as +44 7700 900123") from None
    if not phonenumbers.is_possible_number(n):
        raise _fail(f"{number[:80]!r} has the wrong number of digits for its country")
    # An extension spelled in a way we did not strip ("extn. 12") is one phonenumbers still finds: keep it.
    ext = n.extension or ""
    n.extension = None
    return (
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        ext,
    )


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
        if len(segs) == 2 and segs[0].lower() == "profile":
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
        if s.count("@") >= 2:
            return _acct(s)
        if _AT_DOTTED.fullmatch(s):
            return _bluesky(s)
        raise _fail(f"{s[:40]!r} could be an X or other handle; say which with kind='x' (or another kind)")
    if "/" not in s and ("@" in s or s.endswith(">")):
        return _email(s)
    if s.startswith("+") or _LOOKS_TEL.fullmatch(s):
        return _tel(s, region)
    if " " in s and "://" not in s:  # a name or a note, not an address (a URL gets the %20 advice)
        raise _fail(
            f"{s[:40]!r} is not an address; write jane@example.com, @jane@example.social, +44 7700 900123, "
            "https://example.com/ or another address with its kind"
        )
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
#: The parser for each word a caller may name a kind by: a bulk import names one for every address.
_PARSER_OF_WORD = {word: _PARSERS[kind] for word, kind in _KIND_ALIASES.items()}


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
    parser = _PARSER_OF_WORD.get(kind)
    return (_PARSERS[parse_kind(kind)] if parser is None else parser)(s, r)
