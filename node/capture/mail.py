"""What one e-mail's headers say about a conversation: who took part, who wrote, when, and whether it is personal.

Only these headers are ever read (issue 16): From, To, Cc, Date, Message-ID, In-Reply-To, and the ones that say
a message is bulk mail (List-Id, Precedence, Auto-Submitted); the Subject only when the owner turned subjects
on. Bodies are never fetched.

Headers are untrusted input (docs/ARCHITECTURE.md §7): encoded words in any charset or none, ten thousand
recipients, dates that do not parse or lie in the future, In-Reply-To pointing at itself or round in a loop.
Every function here returns a value for any bytes; nothing raises on a hostile header, and every text is
clipped and stripped of control characters before it reaches the graph.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.errors import MessageError
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime

__all__ = [
    "CROWD",
    "HEADER_FIELDS",
    "MAX_PARTICIPANTS",
    "CapturedMessage",
    "MailHeaders",
    "classify",
    "fold_address",
    "parse_headers",
]

#: Fetched for every message (BODY.PEEK[HEADER.FIELDS (...)]); SUBJECT is added only when the owner wants it.
HEADER_FIELDS = (
    "FROM",
    "TO",
    "CC",
    "DATE",
    "MESSAGE-ID",
    "IN-REPLY-TO",
    "LIST-ID",
    "PRECEDENCE",
    "AUTO-SUBMITTED",
)
#: A message to more people than this (besides the owner) is a broadcast, not a conversation: it makes no
#: interaction at all, and its recipients are not stored.
MAX_PARTICIPANTS = 50
#: A correspondent counts towards "exchanged mail both ways" only in messages with at most this many others:
#: a CC in a crowd is not a relationship (issue 16).
CROWD = 5
_MAX_ID = 998  # RFC 5322's line limit: no real Message-ID is longer
_MAX_NAME = 200
_MAX_SUBJECT = 300
_MAX_ADDRESSES = 2000  # parsed from one header; beyond that the message is a broadcast anyway
_ID = re.compile(r"<[^<>\s]{1,990}>")
_NO_REPLY = re.compile(
    r"^(?:no-?reply|do-?not-?reply|noreply|mailer-daemon|postmaster|bounces?|notifications?|news(?:letter)?)"
    r"(?:[+._-].*)?$"
)
_ADDRESS = re.compile(r"[^@\s<>()\",;:\\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class MailHeaders:
    """The headers of one message as read from the server, decoded and bounded."""

    message_id: str
    date: datetime | None
    sender: tuple[str, str] | None  # (folded address, display name)
    recipients: tuple[tuple[str, str], ...]  # To and Cc, in order, without duplicates
    in_reply_to: str | None
    subject: str
    bulk: bool  # List-Id, Precedence: bulk/list/junk, or Auto-Submitted other than "no"


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One message as the graph records it."""

    message_id: str
    occurred_at: datetime
    from_owner: bool
    participants: tuple[tuple[str, str], ...]  # the others (folded mailto: uri, name); empty for broadcasts
    broadcast: bool  # more than MAX_PARTICIPANTS others: no interaction, no participants kept
    personal: bool  # counts towards proposing people: not bulk, at most CROWD others
    in_reply_to: str | None
    subject: str


def fold_address(raw: str) -> str | None:
    """The ``mailto:`` uri an address is matched by: lowercased, ``+tag`` sub-addresses folded
    (``Ada+kith@Example.org`` → ``mailto:ada@example.org``). None for what is not an address."""
    text = raw.strip().strip("<>").strip()
    if not _ADDRESS.fullmatch(text):
        return None
    local, _, host = text.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if not local or "." not in host or host.startswith(".") or ".." in host:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"mailto:{local}@{host}"


def _clean(text: str, limit: int) -> str:
    """Printable text on one line: control and bidirectional-override characters dropped, spaces squeezed."""
    if len(text) <= limit and text.isascii() and text.isprintable() and "  " not in text:
        return text.strip()
    out = "".join(
        " " if c in "\t\r\n" else c
        for c in text[: limit * 4]
        if c in "\t\r\n" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return " ".join(out.split())[:limit]


def _decode(value: str | None, limit: int) -> str:
    """A header's encoded words decoded (RFC 2047); a word in an unknown charset or broken base64 is kept as
    it was written rather than lost."""
    if not value:
        return ""
    value = value[: limit * 8]
    try:
        text = str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, AssertionError, IndexError, MessageError):
        text = value
    return _clean(text, limit)


def _first_id(raw: str | None) -> str | None:
    if not raw:
        return None
    found = _ID.search(raw, 0, 8192)
    return None if found is None else found.group(0)[:_MAX_ID]


_COMPLEX = re.compile(r'["()\\;:]|=\?')  # quoting, comments, groups, encoded words: the full parser's job
_FOLD_CACHE: dict[str, str | None] = {}
_UNFOLD = re.compile(r"\r?\n[ \t]+")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_SIMPLE_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})"
)


def _fold(addr: str) -> str | None:
    """fold_address, remembered: a mailbox names the same few thousand correspondents again and again."""
    try:
        return _FOLD_CACHE[addr]
    except KeyError:
        pass
    uri = fold_address(addr)
    if len(_FOLD_CACHE) > 100_000:
        _FOLD_CACHE.clear()
    _FOLD_CACHE[addr] = uri
    return uri


def _pairs(text: str) -> list[tuple[str, str]]:
    """(name, address) pairs of an address list. Plain lists (``Name <a@b>, c@d``: nearly every header) are
    split here; anything with quoting, comments, groups or encoded words goes to the standard library's parser."""
    if _COMPLEX.search(text) is None:
        out = []
        for piece in text.split(","):
            lt = piece.find("<")
            if lt >= 0:
                gt = piece.find(">", lt)
                out.append((piece[:lt].strip(), piece[lt + 1 : gt if gt > lt else len(piece)].strip()))
            elif piece.strip():
                out.append(("", piece.strip()))
        return out
    try:
        return getaddresses([text])
    except (ValueError, IndexError, RecursionError):
        return []


def _addresses(values: Iterable[str | None]) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for value in values:
        if not value:
            continue
        for name, addr in _pairs(value[: 1 << 20])[:_MAX_ADDRESSES]:
            uri = _fold(addr)
            if uri is None or uri in out:
                continue
            out[uri] = (_decode(name, _MAX_NAME) if "=?" in name else _clean(name, _MAX_NAME)) if name else ""
            if len(out) >= _MAX_ADDRESSES:
                return list(out.items())
    return list(out.items())


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    m = _SIMPLE_DATE.match(value)
    if m is not None and m.group(2).lower() in _MONTHS:
        day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
        try:
            offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
            moment = datetime(
                int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mm), int(ss or 0), tzinfo=UTC
            )
            return moment - offset
        except (ValueError, OverflowError):
            return None
    try:
        parsed = parsedate_to_datetime(value[:200])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _fields(raw: bytes) -> dict[str, list[str]]:
    """The header block's fields by lower-case name, values unfolded (RFC 5322 §2.2.3). Bytes that are not
    UTF-8 become U+FFFD: a name written raw in Latin-1 is shown damaged, never dropped with its address."""
    fields: dict[str, list[str]] = {}
    text = _UNFOLD.sub(" ", raw[: 1 << 20].decode("utf-8", "replace"))
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key and " " not in key:
            fields.setdefault(key.lower(), []).append(value.strip())
    return fields


def parse_headers(raw: bytes, *, want_subject: bool) -> MailHeaders:
    """Parse a message's header block (as BODY.PEEK[HEADER.FIELDS ...] returns it)."""
    fields = _fields(raw)

    def get(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    senders = _addresses([get("from")])
    recipients = _addresses([*fields.get("to", ()), *fields.get("cc", ())])
    message_id = _first_id(get("message-id"))
    if message_id is None:
        # No (usable) Message-ID: the same message in two folders still has the same headers.
        digest = hashlib.sha256(raw[: 1 << 16]).hexdigest()[:32]
        message_id = f"<no-id.{digest}@kith.invalid>"
    precedence = (get("precedence") or "").strip().lower()
    auto = (get("auto-submitted") or "").strip().lower()
    return MailHeaders(
        message_id=message_id,
        date=_date(get("date")),
        sender=senders[0] if senders else None,
        recipients=tuple(recipients),
        in_reply_to=_first_id(get("in-reply-to")),
        subject=_decode(get("subject"), _MAX_SUBJECT) if want_subject else "",
        bulk=bool(get("list-id")) or precedence in ("bulk", "list", "junk") or auto not in ("", "no"),
    )


def _no_reply(uri: str) -> bool:
    return bool(_NO_REPLY.match(uri[7:].split("@", 1)[0]))


def classify(
    headers: MailHeaders, *, owner: frozenset[str], internal_date: datetime | None, now: datetime
) -> CapturedMessage:
    """What the message is for the owner: who the others are, whether the owner wrote it, and when it happened
    (the Date header, else the server's arrival time, never in the future)."""
    from_owner = headers.sender is not None and headers.sender[0] in owner
    others: dict[str, str] = {}
    if headers.sender is not None and not from_owner:
        others[headers.sender[0]] = headers.sender[1]
    for uri, name in headers.recipients:
        if uri not in owner and uri not in others:
            others[uri] = name
    occurred = headers.date
    latest = now + timedelta(days=1)
    if occurred is None or occurred > latest or occurred.year < 1980:
        occurred = internal_date if internal_date is not None and internal_date <= latest else now
    broadcast = len(others) > MAX_PARTICIPANTS
    personal = not headers.bulk and not broadcast and len(others) <= CROWD and bool(others)
    return CapturedMessage(
        message_id=headers.message_id,
        occurred_at=occurred,
        from_owner=from_owner,
        participants=() if broadcast else tuple(others.items()),
        broadcast=broadcast,
        personal=personal and not (headers.sender is not None and _no_reply(headers.sender[0])),
        in_reply_to=headers.in_reply_to if headers.in_reply_to != headers.message_id else None,
        subject=headers.subject,
    )
