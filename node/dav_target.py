"""What a CardDAV request is about: its place in the URL space, the account it acts for, and the names the
protocol gives to versions (ETags, sync tokens).

The URL space (RFC 6352 §7, discovered from /.well-known/carddav, RFC 6764)::

    /dav/                                   the service root
    /dav/principals/NAME/                   the account's principal
    /dav/addressbooks/NAME/                 its address-book home
    /dav/addressbooks/NAME/all/             "All people"
    /dav/addressbooks/NAME/CIRCLE-ID/       a circle the owner published
    /dav/addressbooks/NAME/BOOK/CARD.vcf    a card

Versions: a card's ETag is its change counter (node/store/sqlite/dav.py), the same for its 3.0 and 4.0 forms (a
client compares the ETag of a PROPFIND, which names no version, with the one it stored after a multiget that
asked for 4.0: two ETags would make it download every card on every sync). A sync token names the database's
epoch and the counter, so a token from a replaced or restored database is refused, not misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from node.context import AccountContext
from node.errors import BadInput

__all__ = [
    "DAV_ROOT",
    "DavRequest",
    "Target",
    "card_href",
    "card_name_of",
    "depth",
    "etag",
    "parse_target",
    "read_token",
    "sync_token",
]

DAV_ROOT = "/dav/"
_CARD_NAME = re.compile(r"[^/\x00-\x1f\x7f]{1,255}")
_TOKEN = re.compile(r"urn:kith:sync:([0-9a-f]{1,32}):([0-9]{1,18})")


@dataclass(frozen=True, slots=True)
class Target:
    """``kind``: root, principal, home, book or card; ``account`` is the name in the path (None at the root)."""

    kind: str
    account: str | None = None
    book: str | None = None
    card: str | None = None

    @property
    def href(self) -> str:
        if self.kind == "root":
            return DAV_ROOT
        if self.kind == "principal":
            return f"{DAV_ROOT}principals/{self.account}/"
        home = f"{DAV_ROOT}addressbooks/{self.account}/"
        if self.kind == "home":
            return home
        book = f"{home}{quote(self.book or '', safe='')}/"
        return book if self.kind == "book" else book + quote(self.card or "", safe="@")


def parse_target(path: str) -> Target | None:
    """The target of a decoded request path, or None for a path outside the URL space."""
    if not path.startswith(DAV_ROOT.rstrip("/")):
        return None
    parts = [p for p in path[len(DAV_ROOT) - 1 :].split("/") if p]
    if not parts:
        return Target("root")
    if parts[0] == "principals" and len(parts) == 2:
        return Target("principal", parts[1])
    if parts[0] != "addressbooks" or len(parts) < 2 or len(parts) > 4:
        return None
    if len(parts) == 2:
        return Target("home", parts[1])
    if len(parts) == 3:
        return Target("book", parts[1], parts[2])
    if not _CARD_NAME.fullmatch(parts[3]) or parts[3] in (".", ".."):
        return None
    return Target("card", parts[1], parts[2], parts[3])


def card_href(book_href: str, name: str) -> str:
    return book_href + quote(name, safe="@")


def card_name_of(href: str, book_href: str) -> str | None:
    """The card a client's href names in the book ``book_href`` (an absolute URL or a path, percent-encoded),
    or None when it names nothing in that book."""
    try:
        path = unquote(urlsplit(href.strip()).path)
    except ValueError:
        return None
    book = unquote(book_href)
    if not path.startswith(book):
        return None
    name = path[len(book) :]
    return name if _CARD_NAME.fullmatch(name) and name not in (".", "..") else None


def etag(seq: int) -> str:
    return f'"k{seq}"'


def sync_token(epoch: str, seq: int) -> str:
    return f"urn:kith:sync:{epoch}:{seq}"


def read_token(token: str | None, epoch: str, now: int) -> int | None:
    """The change counter a client's sync token names (0 for none: an initial sync), or None when the token is
    not one of this database's, or names a change that has not happened."""
    if not token or not token.strip():
        return 0
    m = _TOKEN.fullmatch(token.strip())
    if m is None or m.group(1) != epoch or int(m.group(2)) > now:
        return None
    return int(m.group(2))


@dataclass(slots=True)
class DavRequest:
    """One authenticated request: the account's context (its graph, and no other), the app password it came
    with, and the account's change counter when the request began."""

    ctx: AccountContext
    app_password: str
    target: Target
    epoch: str
    seq: int
    max_card_bytes: int

    @property
    def principal(self) -> str:
        return f"{DAV_ROOT}principals/{self.ctx.name}/"

    @property
    def home(self) -> str:
        return f"{DAV_ROOT}addressbooks/{self.ctx.name}/"

    @property
    def token(self) -> str:
        return sync_token(self.epoch, self.seq)

    def book_href(self, book: str) -> str:
        return f"{self.home}{quote(book, safe='')}/"


def depth(header: str | None, default: str = "infinity") -> str:
    value = (header or default).strip().lower()
    if value not in ("0", "1", "infinity"):
        raise BadInput("Depth must be 0, 1 or infinity")
    return value
