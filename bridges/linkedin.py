"""LinkedIn's "Get a copy of your data" export: Connections.csv, messages.csv and Invitations.csv (docs/SILOS.md
§1).

Rules kept:
- Header rows are found by content (the "Notes:" preamble comes and goes) and columns are read by name (old
  exports lack URL, RECIPIENT PROFILE URLS and the invitation URL columns; newer ones add ATTACHMENTS).
- A person in a message or invitation needs an identity: a profile URL, or a name that matches exactly one
  connection in the same export. Anyone else is reported, never guessed.
- The export's owner is inferred from the SENT folder (or OUTGOING invitations, or the one person present in
  every conversation); the owner is never a participant.
- LinkedIn writes invitation times without a zone; they are read in ``options["timezone"]`` (default UTC).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from bridges._files import Source
from bridges._util import Columns, parse_date, parse_datetime, stable_id, table, truncate
from bridges.base import (
    Bridge,
    ContactDraft,
    ExportError,
    IdentityDraft,
    ImportItem,
    Initiator,
    InteractionDraft,
    OwnerDraft,
    Skipped,
)

__all__ = ["LinkedInBridge"]

CONNECTIONS = "Connections.csv"
MESSAGES = "messages.csv"
INVITATIONS = "Invitations.csv"
PROFILE = "Profile.csv"

_CONNECTED_ON = ("%d %b %Y", "%d %B %Y", "%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d")
_MESSAGE_DATE = ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z")
_INVITE_DATE = ("%m/%d/%y, %I:%M %p", "%m/%d/%Y, %I:%M %p", "%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S")
_AMBIGUOUS = "ambiguous"


def _is_connections(c: Columns) -> bool:
    return c.has_all(("First Name", "Last Name", "Connected On"))


def _is_messages(c: Columns) -> bool:
    return c.has_all(("CONVERSATION ID", "FROM", "TO", "DATE", "CONTENT"))


def _is_invitations(c: Columns) -> bool:
    return c.has_all(("From", "To", "Sent At", "Direction"))


def _name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _url_key(url: str) -> str:
    return url.strip().lower().rstrip("/").replace("http://", "https://")


def _split(cell: str) -> list[str]:
    return [p.strip() for p in cell.split(",") if p.strip()]


def _yes(cell: str) -> bool:
    return cell.strip().lower() in ("yes", "true", "1")


@dataclass
class _Person:
    name: str
    url: str


@dataclass
class _Owner:
    url: str = ""
    name: str = ""

    def is_me(self, p: _Person) -> bool:
        if self.url and p.url:
            return _url_key(p.url) == _url_key(self.url)
        return bool(self.name) and _name_key(p.name) == _name_key(self.name)

    @property
    def known(self) -> bool:
        return bool(self.url or self.name)


@dataclass
class _Directory:
    """Connections by full name, giving name-only message participants an identity (exact, unique names)."""

    by_name: dict[str, tuple[IdentityDraft, ...] | str] = field(default_factory=dict)
    urls: set[str] = field(default_factory=set)

    def add(self, name: str, ids: tuple[IdentityDraft, ...]) -> None:
        key = _name_key(name)
        if not key or not ids:
            return
        self.by_name[key] = _AMBIGUOUS if key in self.by_name else ids
        for i in ids:
            if i.kind == "linkedin":
                self.urls.add(_url_key(i.address))

    def resolve(self, p: _Person) -> tuple[IdentityDraft, ...] | str:
        """Identities for the person, or the reason there are none."""
        if p.url:
            return (IdentityDraft(address=p.url, kind="linkedin", label=p.name or None),)
        if not p.name:
            return "no name and no profile URL"
        hit = self.by_name.get(_name_key(p.name))
        if hit is None:
            return f"{p.name!r} has no profile URL and matches no connection in this export"
        if hit == _AMBIGUOUS:
            return f"{p.name!r} has no profile URL and matches several connections"
        assert not isinstance(hit, str)
        return hit

    def is_connection(self, p: _Person) -> bool:
        if p.url:
            return _url_key(p.url) in self.urls
        return isinstance(self.by_name.get(_name_key(p.name)), tuple)


class LinkedInBridge(Bridge):
    name: ClassVar[str] = "linkedin"
    scheme: ClassVar[str] = "linkedin"
    description: ClassVar[str] = (
        "LinkedIn data export (ZIP, or Connections.csv / messages.csv / Invitations.csv)"
    )

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            return bool(_classify(src))

    def _tz(self) -> tzinfo:
        name = self.options.get("timezone", "UTC")
        try:
            return ZoneInfo(name)
        except (KeyError, ValueError) as exc:
            raise ExportError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from exc

    def owner(self, path: Path) -> OwnerDraft | None:
        with Source(path) as src:
            files = _classify(src)
            me = _infer_owner(src, files)
        if not me.known:
            return None
        ids = (IdentityDraft(address=me.url, kind="linkedin", label=me.name or None),) if me.url else ()
        return OwnerDraft(display_name=me.name or None, identities=ids)

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        tz = self._tz()
        with Source(path) as src:
            files = _classify(src)
            if not files:
                raise ExportError(
                    f"{path} holds no LinkedIn Connections.csv, messages.csv or Invitations.csv"
                )
            # Only messages and invitations look people up by name: without them, no directory to build.
            wanted = bool(files.get("messages") or files.get("invitations"))
            directory = _Directory()
            for name in files.get("connections", ()):
                yield from _connections(src, name, directory if wanted else None)
            me = _infer_owner(src, files)
            for name in files.get("messages", ()):
                yield from _messages(src, name, directory, me)
            for name in files.get("invitations", ()):
                yield from _invitations(src, name, directory, tz)


def _classify(src: Source) -> dict[str, list[str]]:
    """Which members are which LinkedIn file: by name inside an export, by header for a lone CSV."""
    out: dict[str, list[str]] = {}
    by_name = {
        "connections": CONNECTIONS,
        "messages": MESSAGES,
        "invitations": INVITATIONS,
        "profile": PROFILE,
    }
    if not src.is_single_file:
        for kind, fname in by_name.items():
            found = src.find(fname)
            if found:
                out[kind] = found
        return out
    (name,) = src.names()
    if not name.lower().endswith(".csv"):
        return out
    try:
        head = src.head_text(name, 8192)
    except OSError:
        return out
    rows = list(csv.reader(io.StringIO(head)))[:12]
    for row in rows:
        cols = Columns(row)
        for kind, test in (
            ("connections", _is_connections),
            ("messages", _is_messages),
            ("invitations", _is_invitations),
        ):
            if test(cols):
                return {kind: [name]}
    return out


_CONNECTION_COLUMNS = (
    "First Name",
    "Last Name",
    "URL",
    "Email Address",
    "Connected On",
    "Company",
    "Position",
)


def _connections(src: Source, name: str, directory: _Directory | None) -> Iterator[ImportItem]:
    shown = src.display(name)
    for rec in table(src, name, _is_connections):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, c, row = rec
        first, last, url, email, connected, company, position = c.pick(row, _CONNECTION_COLUMNS)
        if not (first or last or url or email):
            yield Skipped(
                file=shown, line=line, reason="hidden profile: LinkedIn left the name and URL blank"
            )
            continue
        ids: list[IdentityDraft] = []
        if url:
            ids.append(IdentityDraft(address=url, kind="linkedin"))
        if email:
            ids.append(IdentityDraft(address=email, kind="email"))
        display = f"{first} {last}" if first and last else first or last
        if directory is not None:
            directory.add(display, tuple(ids))
        record = "connection:" + (_url_key(url) if url else stable_id(first, last, email, connected))
        yield ContactDraft(
            source_record_id=record,
            display_name=display or None,
            given_name=first or None,
            family_name=last or None,
            organization=company or None,
            title=position or None,
            identities=tuple(ids),
            met_on=parse_date(connected, _CONNECTED_ON),
            relationship="contact",
        )


def _infer_owner(src: Source, files: dict[str, list[str]]) -> _Owner:
    """The owner: sender of SENT messages, else the inviter of OUTGOING invitations (invitee of INCOMING),
    else the one person in every message when the others are several, else Profile.csv."""
    senders: Counter[tuple[str, str]] = Counter()
    presence: Counter[str] = Counter()
    names: dict[str, _Person] = {}
    rows = 0
    for name in files.get("messages", ()):
        for rec in table(src, name, _is_messages):
            if isinstance(rec, Skipped):
                continue
            _line, c, row = rec
            sender, recipients = _people(c, row)
            if c.get(row, "FOLDER").upper() == "SENT":
                senders[(sender.name, sender.url)] += 1
            rows += 1
            for key, person in {
                _url_key(p.url) or _name_key(p.name): p for p in [sender, *recipients]
            }.items():
                presence[key] += 1
                names.setdefault(key, person)
    if senders:
        (name, url), _n = senders.most_common(1)[0]
        return _Owner(url=url, name=name)
    for name in files.get("invitations", ()):
        for rec in table(src, name, _is_invitations):
            if isinstance(rec, Skipped):
                continue
            _line, c, row = rec
            if c.get(row, "Direction").upper() == "OUTGOING":
                return _Owner(url=c.get(row, "inviterProfileUrl"), name=c.get(row, "From"))
            if c.get(row, "Direction").upper() == "INCOMING":
                return _Owner(url=c.get(row, "inviteeProfileUrl"), name=c.get(row, "To"))
    everywhere = [key for key, n in presence.items() if n == rows]
    if len(everywhere) == 1 and len(presence) > 2:
        found = names[everywhere[0]]
        return _Owner(url=found.url, name=found.name)
    for name in files.get("profile", ()):
        for rec in table(src, name, lambda c: c.has_all(("First Name", "Last Name"))):
            if not isinstance(rec, Skipped):
                _line, c, row = rec
                return _Owner(name=f"{c.get(row, 'First Name')} {c.get(row, 'Last Name')}".strip())
    return _Owner()


def _people(c: Columns, row: list[str]) -> tuple[_Person, list[_Person]]:
    sender = _Person(c.get(row, "FROM"), c.get(row, "SENDER PROFILE URL"))
    names, urls = _split(c.get(row, "TO")), _split(c.get(row, "RECIPIENT PROFILE URLS"))
    if urls and len(urls) == len(names):
        recipients = [_Person(n, u) for n, u in zip(names, urls, strict=True)]
    elif urls:
        recipients = [_Person("", u) for u in urls]  # names and URLs do not pair up; URLs are what counts
    else:
        recipients = [_Person(n, "") for n in names]
    return sender, recipients


def _messages(src: Source, name: str, directory: _Directory, me: _Owner) -> Iterator[ImportItem]:
    shown = src.display(name)
    for rec in table(src, name, _is_messages):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, c, row = rec
        if _yes(c.get(row, "IS MESSAGE DRAFT")) or _yes(c.get(row, "IS CONVERSATION DRAFT")):
            yield Skipped(file=shown, line=line, reason="a draft, never sent")
            continue
        when = parse_datetime(c.get(row, "DATE"), _MESSAGE_DATE)
        if when is None:
            yield Skipped(file=shown, line=line, reason=f"unreadable DATE {c.get(row, 'DATE')!r}")
            continue
        sender, recipients = _people(c, row)
        initiated: Initiator = "unknown"
        if me.known:
            initiated = "owner" if me.is_me(sender) else "them"
        others = [p for p in [sender, *recipients] if not (me.known and me.is_me(p))]
        participants: list[IdentityDraft] = []
        problems: list[str] = []
        for person in others:
            got = directory.resolve(person)
            if isinstance(got, str):
                problems.append(got)
            else:
                participants.extend(got)
        if not participants:
            reason = "; ".join(problems) or "no one but the owner in this message"
            yield Skipped(file=shown, line=line, reason=reason)
            continue
        if problems:
            yield Skipped(
                file=shown, line=line, reason="left out: " + "; ".join(problems), severity="warning"
            )
        content, subject = c.get(row, "CONTENT"), c.get(row, "SUBJECT")
        if not content and c.get(row, "ATTACHMENTS"):
            content = "(attachment)"
        yield InteractionDraft(
            source_record_id="message:"
            + stable_id(
                c.get(row, "CONVERSATION ID"), c.get(row, "DATE"), sender.url or sender.name, content
            ),
            occurred_at=when,
            channel="message",
            initiated_by=initiated,
            participants=tuple(participants),
            summary=truncate(subject or content),
        )


def _invitations(src: Source, name: str, directory: _Directory, tz: tzinfo) -> Iterator[ImportItem]:
    shown = src.display(name)
    for rec in table(src, name, _is_invitations):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, c, row = rec
        direction = c.get(row, "Direction").upper()
        if direction == "OUTGOING":
            other, initiated = _Person(c.get(row, "To"), c.get(row, "inviteeProfileUrl")), "owner"
        elif direction == "INCOMING":
            other, initiated = _Person(c.get(row, "From"), c.get(row, "inviterProfileUrl")), "them"
        else:
            yield Skipped(file=shown, line=line, reason=f"unknown Direction {c.get(row, 'Direction')!r}")
            continue
        sent = parse_datetime(c.get(row, "Sent At"), _INVITE_DATE, tz)
        if sent is None:
            yield Skipped(file=shown, line=line, reason=f"unreadable Sent At {c.get(row, 'Sent At')!r}")
            continue
        got = directory.resolve(other)
        if isinstance(got, str):
            yield Skipped(file=shown, line=line, reason=got)
            continue
        message = c.get(row, "Message")
        record = stable_id(direction, other.url or other.name, c.get(row, "Sent At"))
        yield InteractionDraft(
            source_record_id="invitation:" + record,
            occurred_at=sent,
            channel="other",
            initiated_by="owner" if initiated == "owner" else "them",
            participants=got,
            summary="connection invitation" + (": " + truncate(message) if message else ""),
        )
        if directory.is_connection(other):
            # The invitation is the day the connection began; Connected On is only when it was accepted.
            yield ContactDraft(
                source_record_id="met:" + record,
                display_name=other.name or None,
                identities=got,
                met_on=sent.date(),
            )
