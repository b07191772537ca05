"""Linked mailboxes (IMAP) and calendars (CalDAV) of one account: where they are, how to reach them, and their
password sealed like every other link token (node/link_secrets.py, with KITH_PASSPHRASE).

A link is a ``bridge_link`` row (source ``imap`` or ``caldav``; the password in its sealed ``secret``) plus
its settings in the account's meta table (folders, the owner's own addresses, whether subjects are kept), which
are not secret and so can be listed without the passphrase.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from node.capture.mail import fold_address
from node.errors import BadInput, Conflict, NotFound
from node.link_secrets import SecretError, open_secret, seal
from node.store import GraphStore

__all__ = [
    "SECURITY",
    "CaldavLink",
    "ImapLink",
    "caldav_links",
    "imap_links",
    "is_loopback",
    "link_caldav",
    "link_imap",
    "owner_addresses",
    "password_of",
]

SECURITY = ("tls", "starttls", "plain")
_HOST = re.compile(r"(?i)[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]+\]")
_MAX_FOLDERS = 50


def is_loopback(host: str) -> bool:
    """Only a loopback address (or the name localhost) may be reached without TLS: a password sent in the
    clear never leaves the machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True, slots=True)
class ImapLink:
    account: str  # user@host[:port], the link's key
    host: str
    port: int
    security: str
    user: str
    folders: tuple[str, ...] = ()  # empty: INBOX and the server's Sent folder
    me: tuple[str, ...] = ()  # the owner's own addresses (folded mailto: uris) besides the login
    subjects: bool = False
    ca_file: str | None = None
    status: str = "active"
    last_sync_at: str | None = None
    last_error: str | None = None
    encrypted: bool = False

    @property
    def owner(self) -> frozenset[str]:
        login = fold_address(self.user)
        return frozenset([*self.me, *([login] if login else [])])


@dataclass(frozen=True, kw_only=True, slots=True)
class CaldavLink:
    account: str  # user@host of the URL, the link's key
    url: str
    user: str
    me: tuple[str, ...] = ()
    ca_file: str | None = None
    status: str = "active"
    last_sync_at: str | None = None
    last_error: str | None = None
    encrypted: bool = False

    @property
    def owner(self) -> frozenset[str]:
        login = fold_address(self.user)
        return frozenset([*self.me, *([login] if login else [])])


def _me(addresses: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for raw in addresses:
        uri = fold_address(raw)
        if uri is None:
            raise BadInput(
                f"{raw[:80]!r} is not an e-mail address (--me takes your own addresses)", field="me"
            )
        out.append(uri)
    return tuple(dict.fromkeys(out))


def _settings_key(source: str, account: str) -> str:
    return f"capture:{source}:{account}"


async def link_imap(
    store: GraphStore,
    *,
    host: str,
    port: int | None,
    security: str,
    user: str,
    password: str,
    folders: list[str] | tuple[str, ...] = (),
    me: list[str] | tuple[str, ...] = (),
    subjects: bool = False,
    ca_file: str | None = None,
    passphrase: str | None,
    now: str,
) -> ImapLink:
    """Store (or replace) a mailbox link. TLS is required unless the host is a loopback address."""
    host = host.strip().lower()
    if not _HOST.fullmatch(host):
        raise BadInput(f"--host must be a host name or address, like imap.example.org, not {host[:80]!r}")
    if security not in SECURITY:
        raise BadInput(f"security must be one of {', '.join(SECURITY)}", field="security")
    if security == "plain" and not is_loopback(host):
        raise BadInput(
            f"--plain sends the password unencrypted, so it is allowed only for a server on this machine "
            f"(127.0.0.1, ::1, localhost); use --tls or --starttls for {host}",
            field="security",
        )
    port = port or (993 if security == "tls" else 143)
    if not 0 < port < 65536:
        raise BadInput("--port must be from 1 to 65535", field="port")
    user = user.strip()
    if not user or len(user) > 320 or any(c in user for c in "\r\n\x00"):
        raise BadInput("--user must be the mailbox's login name", field="user")
    if not password or any(c in password for c in "\r\n\x00"):
        raise BadInput(
            "the password (read from standard input) is empty or holds line breaks", field="password"
        )
    folder_list = tuple(dict.fromkeys(f.strip() for f in folders if f.strip()))
    if len(folder_list) > _MAX_FOLDERS or any(
        len(f) > 200 or any(c in f for c in "\r\n\x00") for f in folder_list
    ):
        raise BadInput(f"name at most {_MAX_FOLDERS} folders, each a plain folder name", field="folder")
    account = f"{user}@{host}" + ("" if port in (993, 143) else f":{port}")
    base = f"{'imaps' if security == 'tls' else 'imap'}://{host}:{port}"
    secret = seal({"password": password}, passphrase=passphrase, source="imap", account=account)
    settings = {
        "host": host,
        "port": port,
        "security": security,
        "user": user,
        "folders": list(folder_list),
        "me": list(_me(list(me))),
        "subjects": bool(subjects),
        "ca_file": ca_file,
    }
    await store.links.put(source="imap", account=account, base_url=base, secret=secret, now=now)
    await store.misc.meta_set(_settings_key("imap", account), json.dumps(settings, sort_keys=True))
    return (await imap_links(store, account))[0]


async def link_caldav(
    store: GraphStore,
    *,
    url: str,
    user: str,
    password: str,
    me: list[str] | tuple[str, ...] = (),
    ca_file: str | None = None,
    passphrase: str | None,
    now: str,
) -> CaldavLink:
    """Store (or replace) a CalDAV collection link. https is required unless the host is a loopback address."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise BadInput(
            "--url must be the calendar collection's https:// address (no user in it)", field="url"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise BadInput(
            "a calendar on another machine must be reached over https (the password would travel in the "
            "clear); http is allowed only for 127.0.0.1, ::1 or localhost",
            field="url",
        )
    user = user.strip()
    if not user or len(user) > 320 or any(c in user for c in "\r\n\x00:"):
        raise BadInput("--user must be the calendar account's login name", field="user")
    if not password or any(c in password for c in "\r\n\x00"):
        raise BadInput(
            "the password (read from standard input) is empty or holds line breaks", field="password"
        )
    if not url.endswith("/"):
        url += "/"
    account = f"{user}@{parts.netloc}"
    secret = seal({"password": password}, passphrase=passphrase, source="caldav", account=account)
    settings = {"url": url, "user": user, "me": list(_me(list(me))), "ca_file": ca_file}
    await store.links.put(source="caldav", account=account, base_url=url, secret=secret, now=now)
    await store.misc.meta_set(_settings_key("caldav", account), json.dumps(settings, sort_keys=True))
    return (await caldav_links(store, account))[0]


async def _rows(
    store: GraphStore, source: str, account: str | None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for row in await store.links.get(source, account):
        raw = await store.misc.meta_get(_settings_key(source, row["account"]))
        out.append((row, json.loads(raw) if raw else {}))
    if account is not None and not out:
        raise NotFound(f"no {source} link {account!r}; see `kith link {source}`", field="account")
    return out


async def imap_links(store: GraphStore, account: str | None = None) -> list[ImapLink]:
    return [
        ImapLink(
            account=row["account"],
            host=s.get("host", ""),
            port=int(s.get("port", 993)),
            security=s.get("security", "tls"),
            user=s.get("user", ""),
            folders=tuple(s.get("folders") or ()),
            me=tuple(s.get("me") or ()),
            subjects=bool(s.get("subjects")),
            ca_file=s.get("ca_file"),
            status=row["status"],
            last_sync_at=row["last_sync_at"],
            last_error=row["last_error"],
            encrypted=row["secret"].startswith("enc:"),
        )
        for row, s in await _rows(store, "imap", account)
    ]


async def caldav_links(store: GraphStore, account: str | None = None) -> list[CaldavLink]:
    return [
        CaldavLink(
            account=row["account"],
            url=s.get("url", row["base_url"]),
            user=s.get("user", ""),
            me=tuple(s.get("me") or ()),
            ca_file=s.get("ca_file"),
            status=row["status"],
            last_sync_at=row["last_sync_at"],
            last_error=row["last_error"],
            encrypted=row["secret"].startswith("enc:"),
        )
        for row, s in await _rows(store, "caldav", account)
    ]


async def password_of(store: GraphStore, source: str, account: str, passphrase: str | None) -> str:
    rows = await store.links.get(source, account)
    if not rows:
        raise NotFound(f"no {source} link {account!r}", field="account")
    try:
        creds = open_secret(rows[0]["secret"], passphrase=passphrase, source=source, account=account)
    except SecretError as exc:
        raise Conflict(str(exc), field="passphrase") from None
    password = creds.get("password")
    if not isinstance(password, str) or not password:
        raise Conflict(f"the {source} link {account} has no password; link it again", field="password")
    return password


async def owner_addresses(store: GraphStore) -> frozenset[str]:
    """Every address the owner said is theirs, across their mailbox and calendar links: an import of a calendar
    file leaves these out of each event's attendees."""
    out: set[str] = set()
    for link in await imap_links(store):
        out |= link.owner
    for cal in await caldav_links(store):
        out |= cal.owner
    return frozenset(out)
