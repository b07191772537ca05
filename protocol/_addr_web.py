"""Hosts and web addresses for protocol.addresses: IDNA, URL splitting and the canonical web uri.

Private to protocol.addresses; see its docstring for the canonical forms these functions produce.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import quote, unquote

import idna

from protocol._addr_base import MAX_ADDRESS_LENGTH, Address, IdentityKind, _clean, _fail

# ---------------------------------------------------------------------------------------------------------
# Hosts

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_ASCII_HOST = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")
_IPV4ISH = re.compile(r"[0-9.]+")
_ONE_LABEL = re.compile(_LABEL)


def _host(raw: str, *, what: str = "host", allow_ip: bool = False) -> str:
    """An IDNA-encoded (UTS #46), lowercased hostname with at least one dot and no trailing dot.

    With ``allow_ip``, an IPv4 literal is accepted too: fediverse addresses and actor URLs of development
    servers (``acct:bob@127.0.0.1:8722``) are real addresses; e-mail domains stay names only."""
    h = raw[:-1] if raw.endswith(".") else raw
    if allow_ip and _IPV4ISH.fullmatch(h):
        try:
            return str(ipaddress.IPv4Address(h))
        except ValueError:
            raise _fail(f"{what} {raw[:80]!r} is not a valid IPv4 address") from None
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


def _dev_host(host: str) -> str | None:
    """A one-label name (``localhost``, a container's name) in canonical form, or None when ``host`` is not one.

    Accepted only where a port names the server explicitly (``localhost:3000``, where Mastodon's own development
    server lives; ``takahe:8000`` in a compose network): the configuration accepts such a node domain, so the
    node's own address must read back. A bare one-label host stays refused, being far likelier a typo."""
    h = host[:-1] if host.endswith(".") else host
    if not h.isascii():
        return None
    h = h.lower()
    return h if _ONE_LABEL.fullmatch(h) and not h.isdigit() else None


def _ipv6_literal(authority: str) -> tuple[str, str]:
    """``[v6]`` or ``[v6]:port`` -> (the bracketed canonical address, the port text after the colon or "")."""
    end = authority.find("]")
    try:
        host = "[" + ipaddress.IPv6Address(authority[1:end] if end > 0 else "?").compressed + "]"
    except ValueError:
        raise _fail(f"{authority[:60]!r} is not a valid IPv6 address in brackets") from None
    after = authority[end + 1 :]
    if after and not after.startswith(":"):
        raise _fail(f"{authority[:60]!r} is not host or host:port")
    return host, after[1:]


def _port(raw: str, port: str, *, what: str) -> int:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(f"{what} {raw[:80]!r} has a bad port; write host or host:port with a port of 1-65535")
    return int(port)


def _host_port(raw: str, *, what: str = "host", dev: bool = False) -> str:
    """``host`` or ``host:port`` (acct: and did:web allow a port, e.g. for a development server).

    With ``dev`` (acct: addresses) a bracketed IPv6 literal, and a one-label name with a port, are accepted
    too: every domain the node's configuration accepts must read back as an address (docs/ARCHITECTURE.md §4)."""
    if dev and raw.startswith("["):
        host, port = _ipv6_literal(raw)
        return f"{host}:{_port(raw, port, what=what)}" if port else host
    host, sep, port = raw.rpartition(":") if raw.count(":") == 1 else (raw, "", "")
    if not sep:
        if dev and _dev_host(raw):
            raise _fail(
                f"{what} {raw[:80]!r} is not a domain name like example.com; a one-label host names a "
                "development server only with its port, like localhost:3000"
            )
        return _host(raw, what=what, allow_ip=True)
    number = _port(raw, port, what=what)
    one_label = _dev_host(host) if dev else None
    return f"{one_label or _host(host, what=what, allow_ip=True)}:{number}"


# ---------------------------------------------------------------------------------------------------------
# Web

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_AUTHORITY_END = re.compile(r"[/?#]")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
# What a URI cannot hold bare: anything outside printable ASCII, and the printable few RFC 3986 bars.
_NEEDS_QUOTE = re.compile(r'[^\x21-\x7e]|["<>\\^`{|}]')
_LONE_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters allowed unescaped in a path or query (RFC 3986 pchar plus "/" and "?"); "%" handled separately.
_PATH_SAFE = "/:@!$&'()*+,;=-._~?%"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Url(NamedTuple):
    scheme: str
    host: str  # canonical ASCII, IPv6 in brackets
    port: str  # "" or ":8080"
    path: str  # normalised: starts with "/", escapes canonical, no dot segments
    query: str  # normalised escapes, without "?"
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
    port, one_label = "", None
    if authority.startswith("["):
        host, port = _ipv6_literal(authority)
    else:
        hostpart, _, port = authority.partition(":")
        if _IPV4ISH.fullmatch(hostpart):
            try:
                host = str(ipaddress.IPv4Address(hostpart))
            except ValueError:
                raise _fail(f"{hostpart[:60]!r} is not a valid IPv4 address") from None
        else:
            # a development server (http://localhost:3000/users/admin), named with its port as in acct:
            one_label = _dev_host(hostpart) if port else None
            host = one_label or _host(hostpart, allow_ip=True)
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise _fail(f"port {port[:10]!r} must be a number from 1 to 65535")
        # a one-label host keeps even a default port: without it, the address would no longer read back
        default = int(port) == _DEFAULT_PORTS[scheme] and not one_label
        port = "" if default else f":{int(port)}"
    frag_at = tail.find("#")
    fragment = ""
    if frag_at >= 0:
        tail, fragment = tail[:frag_at], tail[frag_at + 1 :]
    path, _, query = tail.partition("?")
    return _Url(scheme, host, port, _normalize_path(path), _normalize_component(query), fragment, bare)


def _pct_fix(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _normalize_component(text: str) -> str:
    if _NEEDS_QUOTE.search(text):
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


def _normalize_path(path: str) -> str:
    if not path.startswith("/"):
        path = "/" + path
    path = _normalize_component(path)
    return _remove_dot_segments(path) if "/." in path else path


def _web_uri(u: _Url) -> str:
    query = "?" + u.query if u.query else ""
    uri = f"{u.scheme}://{u.host}{u.port}{u.path}{query}"
    if len(uri) > MAX_ADDRESS_LENGTH:  # escaping can lengthen it: the canonical form must read back too
        raise _fail(f"an address is at most {MAX_ADDRESS_LENGTH} characters long, percent-escapes included")
    return uri


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


# A fediverse profile page: /@user, or /@user@host for a remote account seen through another server.
_PROFILE_PATH = re.compile(r"/@([A-Za-z0-9_.~+-]{1,128})(?:@([^/?#@]+))?/?")


def _fold_profile_path(u: _Url) -> _Url:
    # Fediverse user names are case-insensitive, so https://host/@Bob and /@bob are one profile.
    return u._replace(path=u.path.lower()) if _PROFILE_PATH.fullmatch(u.path) else u


def normalize_web(raw: str) -> str:
    """The canonical uri of a web address (see the module docstring)."""
    return _web(_clean(raw), IdentityKind.WEB).uri


def _web(s: str, kind: IdentityKind) -> Address:
    u = _split_url(s)
    if kind is IdentityKind.URL:
        u = _fold_profile_path(u)
    uri = _web_uri(u)
    return Address(kind=kind, uri=uri, display=_web_display(uri, u))
