"""Silo accounts for protocol.addresses: X/Twitter, LinkedIn and Bluesky.

Private to protocol.addresses; see its docstring for the canonical forms these functions produce.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from protocol._addr_base import Address, IdentityKind, _clean, _fail
from protocol._addr_web import _host_port, _split_url, _Url

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
    keys = [p.lower() for p in segs[:2]]
    if len(segs) == 3 and keys == ["i", "user"]:
        return x_identity(segs[2], None)
    if len(segs) == 2 and keys[0] == "intent" and keys[1] in ("user", "follow"):
        uid, name = _query_value(u.query, "user_id"), _query_value(u.query, "screen_name")
        if uid or name:
            return x_identity(uid, name)
    if len(segs) == 1 or (len(segs) == 2 and keys[1] in _X_TABS):
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
    if not _LINKEDIN_SLUG.fullmatch(slug) or slug.startswith("-") or slug.endswith("-"):
        raise _fail(f"LinkedIn name {slug[:60]!r} must be 2-100 letters, digits or hyphens, like jane-doe")
    # Member ids (ACoAA...) are case-sensitive; vanity names are not.
    if not (section == "in" and slug.startswith("ACoAA") and len(slug) > 30):
        slug = slug.lower()
    return _linkedin_address(section, slug if slug.isascii() else quote(slug, safe="-_"), slug)


def _linkedin_address(section: str, coded: str, slug: str) -> Address:
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


# The form nearly every export writes (Connections.csv): read directly, without splitting a general URL. Any
# other spelling (another host, escapes, a query, sections, upper case) takes the general path below.
_LINKEDIN_PLAIN = re.compile(r"https://www\.linkedin\.com/in/([a-z0-9_-]{2,100})/?")


def _linkedin_any(s: str) -> Address:
    plain = _LINKEDIN_PLAIN.fullmatch(s)
    if plain is not None:
        slug = plain.group(1)  # lower-case ASCII already: nothing to unescape, fold or encode (_linkedin)
        if slug[0] != "-" and slug[-1] != "-":
            return _linkedin_address("in", slug, slug)
        return _linkedin("in", slug)  # refused there, with the message
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
        if u.host in _BSKY_HOSTS and len(segs) == 2 and segs[0].lower() == "profile":
            return _bsky_actor(segs[1])
        raise _fail("a Bluesky address is a handle, a DID or https://bsky.app/profile/<handle>")
    return bluesky_identity(None, s.removeprefix("@"))
