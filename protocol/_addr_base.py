"""Shared pieces of protocol.addresses: the Address record, its kinds, input hygiene and the error helper.

Private to protocol.addresses (which re-exports the public names); see its docstring for the canonical forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import InvalidRecord

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
            # Rows read back from storage carry the kind as its string value; accept exactly those.
            try:
                object.__setattr__(self, "kind", IdentityKind(self.kind))
            except ValueError:
                raise InvalidRecord(f"kind must be one of {_KIND_LIST}", field="kind") from None
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
