"""Capture from a mailbox over IMAP: new messages' headers become e-mail interactions (issue 16).

Rules kept:
- Headers only (node/capture/mail.py says which); a partial fetch bounds each message's header block, so a
  message with ten thousand recipients costs at most ``_HEADER_BYTES``.
- Resumable: each folder's resume point is (UIDVALIDITY, last UID stored). A batch of messages and the resume
  point after it are written in one transaction (node/store/capture.py), so a connection dropped
  mid-fetch keeps every batch before it and the next sync starts after the last one kept. A changed
  UIDVALIDITY starts the folder again from the first message; Message-IDs keep that from counting anything
  twice.
- The IMAP protocol runs in the standard library's ``imaplib`` (a client every server has been tested with),
  in a worker thread: nothing blocks the event loop.
- TLS (implicit or STARTTLS) is verified against the system's CAs, or the link's own CA file for a server with
  a private CA; plain text is refused unless the server is on this machine (node/capture/links.py).
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MessageError

from node.capture.links import ImapLink, imap_links, is_loopback, password_of
from node.capture.mail import HEADER_FIELDS, classify, parse_headers
from node.errors import Conflict, NotFound
from node.graph import Clock, iso, new_ids, utcnow
from node.store import GraphStore
from node.store.capture import MailRow

__all__ = ["BATCH", "CaptureResult", "ImapClient", "ImapError", "sync_imap", "uid_set"]

#: Messages fetched and stored together: one round trip and one transaction each.
BATCH = 1000
_HEADER_BYTES = 65536
_TIMEOUT = 60.0
_SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent", "[Gmail]/Sent Mail")
_FETCH_ITEM = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]{1,64})"')
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_LIST = re.compile(rb'\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>"(?:[^"\\]|\\.)*"|\S+)')


class ImapError(Exception):
    """The mailbox could not be read; the message says why and what to do."""


@dataclass
class CaptureResult:
    """What one sync did, for the owner: ``messages`` new messages read, and what they made."""

    source: str
    account: str
    status: str  # complete, interrupted (resumes next time), failed (nothing read; see message)
    messages: int = 0
    interactions_added: int = 0
    people_proposed: int = 0
    folders: dict[str, int] = field(default_factory=dict)  # folder -> new messages read
    message: str = ""


def uid_set(uids: Sequence[int]) -> str:
    """``1:3,7,9:10`` for [1, 2, 3, 7, 9, 10] (sorted input)."""
    parts: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _internal_date(text: bytes) -> datetime | None:
    try:
        return datetime.strptime(text.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except (ValueError, UnicodeDecodeError):
        return None


class ImapClient:
    """A blocking IMAP session (imaplib); every method is called through ``asyncio.to_thread``."""

    def __init__(self, link: ImapLink, password: str, *, timeout: float = _TIMEOUT) -> None:
        self.link = link
        self.password = password
        self.timeout = timeout
        self.conn: imaplib.IMAP4 | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.link.ca_file or None)

    def connect(self) -> None:
        link = self.link
        if link.security == "plain" and not is_loopback(link.host):
            raise ImapError(f"refusing to send the password to {link.host} without TLS; link with --tls")
        host = link.host.strip("[]")
        try:
            if link.security == "tls":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, link.port, ssl_context=self._context(), timeout=self.timeout
                )
            else:
                conn = imaplib.IMAP4(host, link.port, timeout=self.timeout)
                if link.security == "starttls":
                    conn.starttls(ssl_context=self._context())
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(
                f"the certificate of {link.host} could not be verified ({exc.verify_message}); if the server "
                "uses a private CA, link again with --ca-file"
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(
                f"cannot reach the IMAP server {link.host}:{link.port} ({exc}); check --host and --port"
            ) from None
        self.conn = conn
        try:
            conn.login(link.user, self.password)
        except imaplib.IMAP4.error as exc:
            raise ImapError(
                f"the IMAP server refused the login of {link.user} ({_text(exc)}); check the password (an app "
                "password where the provider asks for one) and link again"
            ) from None

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error, ssl.SSLError):
            try:
                conn.shutdown()
            except OSError:
                pass

    def folders(self) -> list[str]:
        """INBOX and the Sent folder (RFC 6154 \\Sent, else a usual name): mail both ways."""
        assert self.conn is not None
        typ, data = self.conn.list()
        names: list[str] = []
        sent: str | None = None
        for item in data if typ == "OK" else []:
            if not isinstance(item, bytes):
                continue
            m = _LIST.match(item)
            if m is None:
                continue
            raw = m.group("name")
            name = (
                raw[1:-1].decode("utf-8", "replace")
                if raw.startswith(b'"')
                else raw.decode("utf-8", "replace")
            )
            names.append(name)
            if b"\\sent" in m.group("flags").lower() and sent is None:
                sent = name
        if sent is None:
            sent = next((n for n in _SENT_NAMES if n in names), None)
        return ["INBOX", *([sent] if sent and sent.upper() != "INBOX" else [])]

    def select(self, folder: str) -> int:
        """Open ``folder`` read-only; its UIDVALIDITY."""
        assert self.conn is not None
        typ, data = self.conn.select(_quote(folder), readonly=True)
        if typ != "OK":
            raise ImapError(f"the folder {folder!r} cannot be opened ({_text(data)}); check --folder")
        _typ, codes = self.conn.response("UIDVALIDITY")
        for code in codes or []:
            if isinstance(code, bytes) and code.isdigit():
                return int(code)
        typ, status = self.conn.status(_quote(folder), "(UIDVALIDITY)")
        for item in status or []:
            if isinstance(item, bytes) and (m := _UIDVALIDITY.search(item)):
                return int(m.group(1))
        raise ImapError(f"the server gave no UIDVALIDITY for {folder!r}; it cannot be read resumably")

    def uids_from(self, first: int) -> list[int]:
        assert self.conn is not None
        typ, data = self.conn.uid("SEARCH", f"UID {first}:*")
        if typ != "OK":
            raise ImapError(f"the server refused to list messages ({_text(data)})")
        found = sorted({int(x) for part in data if part for x in part.split() if x.isdigit()})
        return [u for u in found if u >= first]  # "n:*" also matches the last message when n is past it

    def fetch(self, uids: Sequence[int], *, subjects: bool) -> list[tuple[int, datetime | None, bytes]]:
        assert self.conn is not None
        names = " ".join((*HEADER_FIELDS, *(("SUBJECT",) if subjects else ())))
        typ, data = self.conn.uid(
            "FETCH",
            uid_set(uids),
            f"(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({names})]<0.{_HEADER_BYTES}>)",
        )
        if typ != "OK":
            raise ImapError(f"the server refused to send headers ({_text(data)})")
        out: list[tuple[int, datetime | None, bytes]] = []
        item: _Item | None = None  # an item whose UID may come after its literal, in the closing bytes
        for part in data:
            if isinstance(part, tuple):
                if item is not None and item.uid is not None:
                    out.append(item.done())
                literal = part[1]
                item = _Item(raw=literal if isinstance(literal, bytes) else b"")
                item.read(part[0])
            elif isinstance(part, bytes) and item is not None:
                item.read(part)
                if item.uid is not None:
                    out.append(item.done())
                item = None
        if item is not None and item.uid is not None:
            out.append(item.done())
        return out


@dataclass
class _Item:
    raw: bytes
    uid: int | None = None
    date: datetime | None = None

    def read(self, meta: object) -> None:
        if not isinstance(meta, bytes):
            return
        if self.uid is None and (m := _FETCH_ITEM.search(meta)):
            self.uid = int(m.group(1))
        if self.date is None and (d := _INTERNALDATE.search(meta)):
            self.date = _internal_date(d.group(1))

    def done(self) -> tuple[int, datetime | None, bytes]:
        assert self.uid is not None
        return self.uid, self.date, self.raw


def _text(value: object) -> str:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, BaseException) and value.args:
        return _text(value.args[0])
    return str(value)[:200]


_log = logging.getLogger("kith.capture")
_DROPPED = (imaplib.IMAP4.abort, OSError, EOFError, ssl.SSLError, socket.timeout)


async def sync_imap(
    store: GraphStore,
    *,
    passphrase: str | None,
    account: str | None = None,
    clock: Clock = utcnow,
    progress: Callable[[str, int, int], None] | None = None,
    batch: int = BATCH,
) -> list[CaptureResult]:
    """Read what is new in every linked mailbox of the account (or the one ``account`` names)."""
    links = await imap_links(store, account)
    if not links:
        raise NotFound(
            "no mailbox linked; link one with `kith link imap --host HOST --user USER --password-stdin`",
            field="source",
        )
    return [await _sync_one(store, link, passphrase, clock, progress, batch) for link in links]


async def _sync_one(
    store: GraphStore,
    link: ImapLink,
    passphrase: str | None,
    clock: Clock,
    progress: Callable[[str, int, int], None] | None,
    batch: int,
) -> CaptureResult:
    result = CaptureResult(source="imap", account=link.account, status="complete")
    capture = store.capture
    password = await password_of(store, "imap", link.account, passphrase)
    client = ImapClient(link, password)
    owner = link.owner
    if not owner:
        raise Conflict(  # the stored link's fault, not the request's
            f"Kith cannot tell which messages are yours: the login {link.user!r} is not an e-mail address; "
            "link again with --me YOUR@ADDRESS",
            field="me",
        )
    current = ""
    try:
        await asyncio.to_thread(client.connect)
        folders = list(link.folders) or await asyncio.to_thread(client.folders)
        people = await capture.email_people()
        for folder in folders:
            current = folder
            validity = await asyncio.to_thread(client.select, folder)
            cursor = await store.links.cursor("imap", link.account, folder)
            start = 1
            if cursor and cursor.get("uidvalidity") == validity:
                start = int(cursor.get("uid", 0)) + 1
            uids = await asyncio.to_thread(client.uids_from, start)
            done = 0
            result.folders[folder] = 0
            if progress is not None:
                progress(folder, 0, len(uids))
            chunks = [uids[i : i + batch] for i in range(0, len(uids), batch)]

            def read(chunk: list[int]) -> list[MailRow]:
                fetched = client.fetch(chunk, subjects=link.subjects)
                return _rows(fetched, owner, clock(), link.subjects)

            # Fetch-and-parse and the write take turns: overlapping them (the next batch read while this one is
            # written) measured slower, both being Python work that contends for the one interpreter lock.
            for chunk in chunks:
                rows = await asyncio.to_thread(read, chunk)
                outcome = await capture.record_mail(
                    rows,
                    people=people,
                    interaction_ids=new_ids("i", len(rows)),
                    cursor=("imap", link.account, folder, {"uidvalidity": validity, "uid": chunk[-1]}),
                    now=iso(clock()),
                )
                done += len(chunk)
                result.messages += outcome.messages
                result.folders[folder] += outcome.messages
                result.interactions_added += outcome.interactions_added
                result.people_proposed += outcome.people_proposed
                if progress is not None:
                    progress(folder, done, len(uids))
    except ImapError as exc:
        result.status, result.message = ("failed" if not result.folders else "interrupted"), str(exc)
    except _DROPPED as exc:
        where = f" while reading {current!r}" if current else ""
        result.status = "interrupted"
        result.message = (
            f"the IMAP server closed the connection{where} ({_text(exc) or type(exc).__name__}); "
            f"everything read before was kept: run `kith sync imap` again to resume"
        )
    finally:
        await asyncio.to_thread(client.close)
    moment = clock()
    if result.status == "complete":
        result.message = (
            f"read {result.messages:,} new messages; {result.interactions_added:,} interactions added, "
            f"{result.people_proposed:,} people proposed"
        )
        await store.links.update("imap", link.account, moment, last_sync_at=moment, last_error=None)
    else:
        await store.links.update("imap", link.account, moment, last_error=result.message[:500])
    return result


def _rows(
    fetched: list[tuple[int, datetime | None, bytes]], owner: frozenset[str], now: datetime, subjects: bool
) -> list[MailRow]:
    """Parse and classify a batch (in a worker thread: parsing headers is CPU work)."""
    out = []
    for uid, internal, raw in fetched:
        try:
            headers = parse_headers(raw, want_subject=subjects)
            msg = classify(headers, owner=owner, internal_date=internal, now=now)
        except (ValueError, LookupError, UnicodeError, MessageError) as exc:  # a header no rule foresaw
            _log.warning("message UID %s could not be read (%s); it was left out", uid, exc)
            continue
        out.append(
            MailRow(
                message_id=msg.message_id,
                occurred_at=iso(msg.occurred_at),
                from_owner=msg.from_owner,
                participants=msg.participants,
                broadcast=msg.broadcast,
                personal=msg.personal,
                bulk=headers.bulk,
                in_reply_to=msg.in_reply_to,
                subject=msg.subject,
            )
        )
    return out
