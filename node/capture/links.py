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
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from node.capture.mail import fold_address
from node.errors import BadInput, Conflict, NotFound
from node.link_secrets import SecretError, open_secret, seal
from node.store import GraphStore
from node.store.links import LinkRow

__all__ = [
    "CAPTURE_SOURCES",
    "SECURITY",
    "SETTINGS_PREFIX",
    "CaldavLink",
    "ImapLink",
    "LinkSettings",
    "caldav_links",
    "caldav_settings",
    "imap_links",
    "imap_settings",
    "is_loopback",
    "link_caldav",
    "link_imap",
    "owner_addresses",
    "password_of",
    "restored_settings",
]

SECURITY = ("tls", "starttls", "plain")
#: The links whose rows live beside the silos' in bridge_link (node/cli_import.py's `link` and `sync`).
CAPTURE_SOURCES = ("imap", "caldav")
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


#: The meta rows holding the links' settings start so: capture:imap:ACCOUNT, capture:caldav:ACCOUNT.
SETTINGS_PREFIX = "capture:"


def _settings_key(source: str, account: str) -> str:
    return f"{SETTINGS_PREFIX}{source}:{account}"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """A checked link: its key (``account``), the server address its bridge_link row holds (``base_url``), and
    the settings kept in the account's meta table."""

    source: str
    account: str
    base_url: str
    settings: dict[str, Any]

    @property
    def meta(self) -> tuple[str, str]:
        """The meta row holding the settings: (key, JSON)."""
        return _settings_key(self.source, self.account), json.dumps(self.settings, sort_keys=True)


def _ca_file(value: Any) -> str | None:
    if value is not None and (
        not isinstance(value, str) or not 0 < len(value) <= 4096 or any(c in value for c in "\r\n\x00")
    ):
        raise BadInput("--ca-file must be the path of a CA certificate file", field="ca_file")
    return value


def imap_settings(
    *,
    host: str,
    port: int | None,
    security: str,
    user: str,
    folders: list[str] | tuple[str, ...] = (),
    me: list[str] | tuple[str, ...] = (),
    subjects: bool = False,
    ca_file: str | None = None,
) -> LinkSettings:
    """A mailbox link's settings, checked (`kith link imap`, and a restore: node/restore.py). TLS is required
    unless the host is a loopback address."""
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
    if isinstance(port, bool) or not 0 < port < 65536:
        raise BadInput("--port must be from 1 to 65535", field="port")
    user = user.strip()
    if not user or len(user) > 320 or any(c in user for c in "\r\n\x00"):
        raise BadInput("--user must be the mailbox's login name", field="user")
    folder_list = tuple(dict.fromkeys(f.strip() for f in folders if f.strip()))
    if len(folder_list) > _MAX_FOLDERS or any(
        len(f) > 200 or any(c in f for c in "\r\n\x00") for f in folder_list
    ):
        raise BadInput(f"name at most {_MAX_FOLDERS} folders, each a plain folder name", field="folder")
    account = f"{user}@{host}" + ("" if port in (993, 143) else f":{port}")
    base = f"{'imaps' if security == 'tls' else 'imap'}://{host}:{port}"
    settings = {
        "host": host,
        "port": port,
        "security": security,
        "user": user,
        "folders": list(folder_list),
        "me": list(_me(list(me))),
        "subjects": bool(subjects),
        "ca_file": _ca_file(ca_file),
    }
    return LinkSettings("imap", account, base, settings)


def caldav_settings(
    *, url: str, user: str, me: list[str] | tuple[str, ...] = (), ca_file: str | None = None
) -> LinkSettings:
    """A calendar link's settings, checked (`kith link caldav`, and a restore). https is required unless the
    host is a loopback address."""
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
    if not url.endswith("/"):
        url += "/"
    account = f"{user}@{parts.netloc}"
    settings = {"url": url, "user": user, "me": list(_me(list(me))), "ca_file": _ca_file(ca_file)}
    return LinkSettings("caldav", account, url, settings)


#: Each source's settings, as the meta table holds them and an export carries them.
_SETTINGS: dict[str, dict[str, Any]] = {
    "imap": {
        "host": str,
        "port": int,
        "security": str,
        "user": str,
        "folders": list,
        "me": list,
        "subjects": bool,
        "ca_file": (str, type(None)),
    },
    "caldav": {"url": str, "user": str, "me": list, "ca_file": (str, type(None))},
}


def restored_settings(source: str, account: str, data: Any) -> LinkSettings:
    """A link's settings as an export carries them (node/exporting.py), checked by the rules `kith link`
    applies; the link they make must be the one they are filed under (node/restore.py)."""
    kinds = _SETTINGS.get(source)
    if kinds is None:
        raise BadInput(
            f"only {', '.join(_SETTINGS)} links have settings, not {source[:40]!r}", field="source"
        )
    where = f"the {source} link {account[:100]!r}"
    if not isinstance(data, dict) or set(data) != set(kinds):
        raise BadInput(f"{where} must have the settings {', '.join(kinds)}, and no others", field=source)
    for name, kind in kinds.items():
        value = data[name]
        wrong = (
            isinstance(value, bool) != (kind is bool)
            or not isinstance(value, kind)
            or (kind is list and not all(isinstance(item, str) for item in value))
        )
        if wrong:
            raise BadInput(f"{where}: {name} has the wrong type", field=name)
    # The owner's addresses are kept folded (mailto:...): they are checked as the addresses they were given as.
    me = [m.removeprefix("mailto:") for m in data["me"]]
    build = imap_settings if source == "imap" else caldav_settings
    link = build(**{**data, "me": me})
    if link.account != account or link.settings != data:
        raise BadInput(f"{where}: its settings make another link, {link.account[:100]!r}", field="account")
    return link


def _password(password: str) -> str:
    if not password or any(c in password for c in "\r\n\x00"):
        raise BadInput(
            "the password (read from standard input) is empty or holds line breaks", field="password"
        )
    return password


async def _store(
    store: GraphStore, link: LinkSettings, password: str, passphrase: str | None, now: str
) -> None:
    secret = seal({"password": password}, passphrase=passphrase, source=link.source, account=link.account)
    await store.links.put(
        source=link.source,
        account=link.account,
        base_url=link.base_url,
        secret=secret,
        now=datetime.fromisoformat(
            now
        ),  # the loop's times are ISO-8601 text; the links' contract takes moments
    )
    await store.misc.meta_set(*link.meta)


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
    link = imap_settings(
        host=host,
        port=port,
        security=security,
        user=user,
        folders=folders,
        me=me,
        subjects=subjects,
        ca_file=ca_file,
    )
    await _store(store, link, _password(password), passphrase, now)
    return (await imap_links(store, link.account))[0]


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
    link = caldav_settings(url=url, user=user, me=me, ca_file=ca_file)
    await _store(store, link, _password(password), passphrase, now)
    return (await caldav_links(store, link.account))[0]


async def _rows(store: GraphStore, source: str, account: str | None) -> list[tuple[LinkRow, dict[str, Any]]]:
    out = []
    for row in await store.links.get(source, account):
        raw = await store.misc.meta_get(_settings_key(source, row.account))
        out.append((row, json.loads(raw) if raw else {}))
    if account is not None and not out:
        raise NotFound(f"no {source} link {account!r}; see `kith link {source}`", field="account")
    return out


async def imap_links(store: GraphStore, account: str | None = None) -> list[ImapLink]:
    return [
        ImapLink(
            account=row.account,
            host=s.get("host", ""),
            port=int(s.get("port", 993)),
            security=s.get("security", "tls"),
            user=s.get("user", ""),
            folders=tuple(s.get("folders") or ()),
            me=tuple(s.get("me") or ()),
            subjects=bool(s.get("subjects")),
            ca_file=s.get("ca_file"),
            status=row.status,
            last_sync_at=row.last_sync_at,
            last_error=row.last_error,
            encrypted=row.secret.startswith("enc:"),
        )
        for row, s in await _rows(store, "imap", account)
    ]


async def caldav_links(store: GraphStore, account: str | None = None) -> list[CaldavLink]:
    return [
        CaldavLink(
            account=row.account,
            url=s.get("url", row.base_url),
            user=s.get("user", ""),
            me=tuple(s.get("me") or ()),
            ca_file=s.get("ca_file"),
            status=row.status,
            last_sync_at=row.last_sync_at,
            last_error=row.last_error,
            encrypted=row.secret.startswith("enc:"),
        )
        for row, s in await _rows(store, "caldav", account)
    ]


async def password_of(store: GraphStore, source: str, account: str, passphrase: str | None) -> str:
    rows = await store.links.get(source, account)
    if not rows:
        raise NotFound(f"no {source} link {account!r}", field="account")
    try:
        creds = open_secret(rows[0].secret, passphrase=passphrase, source=source, account=account)
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
