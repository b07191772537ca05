"""X/Twitter archive (ZIP or unpacked folder): follows and direct messages (FORMATS.md §1).

Rules kept:
- Files are found by name in any folder (normally ``data/``), with their split parts (``following-part1.js``)
  read in order after the unnumbered file.
- Following and follower entries hold only numeric ids: each becomes an X identity (``kind="x"``, the digits
  as the address) that a later sync or lookup can name. ``userLink`` is trusted only on twitter.com or x.com.
- The owner comes from ``account.js``; without it, from the one id present in every one-to-one conversation.
  A message the owner sent was initiated by the owner; group messages have no recipient, so their participants
  are every member seen in the conversation except the owner.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from bridges._files import Source
from bridges._jsarray import MalformedElement, iter_js_array
from bridges._util import truncate
from bridges.base import (
    Bridge,
    ContactDraft,
    ExportError,
    Follow,
    IdentityDraft,
    ImportItem,
    InteractionDraft,
    OwnerDraft,
    Skipped,
)

__all__ = ["XBridge", "x_id_from_link"]

_FILE = re.compile(
    r"^(account|profile|following|follower|direct-messages|direct-messages-group)(?:-part(\d+))?\.js$", re.I
)
_X_HOSTS = {"twitter.com", "www.twitter.com", "mobile.twitter.com", "x.com", "www.x.com", "mobile.x.com"}


def x_id_from_link(link: str) -> str | None:
    """The numeric id in ``https://twitter.com/intent/user?user_id=<id>`` (or on x.com); None elsewhere."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in _X_HOSTS:
        return None
    ids = parse_qs(parts.query).get("user_id", [])
    return ids[0] if ids and ids[0].isdigit() else None


def _files(src: Source) -> dict[str, list[str]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for name in src.names():
        m = _FILE.match(PurePosixPath(name).name)
        if m:
            found.setdefault(m.group(1).lower(), []).append((int(m.group(2) or -1), name))
    return {k: [n for _p, n in sorted(v)] for k, v in found.items()}


def _elements(src: Source, name: str) -> Iterator[tuple[int, Any] | Skipped]:
    shown = src.display(name)
    fh, warning = src.open_text(name)
    if warning is not None:
        yield warning
    with fh:
        try:
            yield from iter_js_array(fh, shown)
        except MalformedElement as exc:
            yield Skipped(
                file=shown, line=exc.line, reason=f"{exc.message}; the rest of this file was not read"
            )


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else None


def _x(account_id: str, handle: str | None = None) -> IdentityDraft:
    return IdentityDraft(address=account_id, kind="x", label=handle)


class XBridge(Bridge):
    name: ClassVar[str] = "x"
    scheme: ClassVar[str] = "x"
    description: ClassVar[str] = "X/Twitter archive (ZIP or folder with data/*.js)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            for names in _files(src).values():
                for name in names:
                    if src.head(name, 256).lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"window.YTD."):
                        return True
        return False

    def owner(self, path: Path) -> OwnerDraft | None:
        with Source(path) as src:
            return _owner(src, _files(src))

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            files = _files(src)
            if not any(
                k in files for k in ("following", "follower", "direct-messages", "direct-messages-group")
            ):
                raise ExportError(f"{path} holds no following.js, follower.js or direct-messages.js")
            me = _owner(src, files)
            owner_id = next((i.address for i in me.identities if i.kind == "x"), None) if me else None
            if owner_id is None:
                owner_id = _owner_from_conversations(src, files.get("direct-messages", []))
            kinds: tuple[Follow, ...] = ("following", "follower")
            for kind in kinds:
                for name in files.get(kind, []):
                    yield from _follows(src, name, kind)
            for name in files.get("direct-messages", []):
                yield from _conversations(src, name, owner_id, group=False)
            for name in files.get("direct-messages-group", []):
                yield from _conversations(src, name, owner_id, group=True)


def _owner(src: Source, files: dict[str, list[str]]) -> OwnerDraft | None:
    account: dict[str, Any] = {}
    for name in files.get("account", []):
        for el in _elements(src, name):
            if (
                not isinstance(el, Skipped)
                and isinstance(el[1], dict)
                and isinstance(el[1].get("account"), dict)
            ):
                account = el[1]["account"]
                break
    account_id = str(account.get("accountId", ""))
    if not account_id.isdigit():
        return None
    handle = account.get("username") if isinstance(account.get("username"), str) else None
    ids = [_x(account_id, handle)]
    for name in files.get("profile", []):
        for el in _elements(src, name):
            if isinstance(el, Skipped) or not isinstance(el[1], dict):
                continue
            desc = (el[1].get("profile") or {}).get("description") or {}
            website = desc.get("website") if isinstance(desc, dict) else None
            if isinstance(website, str) and website.strip():
                ids.append(IdentityDraft(address=website.strip(), kind="web"))
    display = account.get("accountDisplayName")
    return OwnerDraft(display_name=display if isinstance(display, str) else None, identities=tuple(ids))


def _owner_from_conversations(src: Source, names: list[str]) -> str | None:
    """The id in every one-to-one conversation id (``<idA>-<idB>``), when the archive lacks account.js."""
    seen: Counter[str] = Counter()
    total = 0
    for name in names:
        for el in _elements(src, name):
            if isinstance(el, Skipped) or not isinstance(el[1], dict):
                continue
            conv = (el[1].get("dmConversation") or {}).get("conversationId", "")
            ids = set(str(conv).split("-"))
            if len(ids) == 2 and all(i.isdigit() for i in ids):
                total += 1
                seen.update(ids)
    common = [i for i, n in seen.items() if n == total]
    return common[0] if total > 1 and len(common) == 1 else None


def _follows(src: Source, name: str, kind: Follow) -> Iterator[ImportItem]:
    shown = src.display(name)
    for el in _elements(src, name):
        if isinstance(el, Skipped):
            yield el
            continue
        line, obj = el
        entry = obj.get(kind) if isinstance(obj, dict) else None
        if not isinstance(entry, dict):
            yield Skipped(file=shown, line=line, reason=f"not a {kind} entry")
            continue
        account_id = str(entry.get("accountId", ""))
        if not account_id.isdigit():
            account_id = x_id_from_link(str(entry.get("userLink", ""))) or ""
        if not account_id:
            yield Skipped(file=shown, line=line, reason="no numeric accountId")
            continue
        yield ContactDraft(source_record_id=f"{kind}:{account_id}", identities=(_x(account_id),), follow=kind)


def _conversations(src: Source, name: str, owner_id: str | None, *, group: bool) -> Iterator[ImportItem]:
    shown = src.display(name)
    for el in _elements(src, name):
        if isinstance(el, Skipped):
            yield el
            continue
        line, obj = el
        conv = obj.get("dmConversation") if isinstance(obj, dict) else None
        if not isinstance(conv, dict) or not isinstance(conv.get("messages"), list):
            yield Skipped(file=shown, line=line, reason="not a dmConversation entry")
            continue
        events = [e for e in conv["messages"] if isinstance(e, dict)]
        members = _members(events) if group else set()
        for event in events:
            msg = event.get("messageCreate")
            if not isinstance(msg, dict):
                continue  # joins, leaves, renames and reactions are not interactions
            sender = str(msg.get("senderId", ""))
            when = _parse_time(msg.get("createdAt"))
            if not sender.isdigit() or when is None or not msg.get("id"):
                yield Skipped(file=shown, line=line, reason="a message without senderId, id or createdAt")
                continue
            if group:
                others = sorted((members | {sender}) - {owner_id or ""})
            else:
                others = sorted({sender, str(msg.get("recipientId", ""))} - {owner_id or "", ""})
            if not others:
                yield Skipped(file=shown, line=line, reason=f"message {msg['id']}: no one but the owner")
                continue
            initiated = "unknown" if owner_id is None else ("owner" if sender == owner_id else "them")
            yield InteractionDraft(
                source_record_id=f"dm:{msg['id']}",
                occurred_at=when,
                channel="message",
                initiated_by=initiated,  # type: ignore[arg-type]
                participants=tuple(_x(i) for i in others if i.isdigit()),
                summary=truncate(str(msg.get("text", ""))),
            )


def _members(events: list[dict[str, Any]]) -> set[str]:
    """Everyone seen in a group conversation: senders, joiners, snapshot participants, initiators."""
    out: set[str] = set()
    for event in events:
        for body in event.values():
            if not isinstance(body, dict):
                continue
            for key in ("senderId", "initiatingUserId"):
                if str(body.get(key, "")).isdigit():
                    out.add(str(body[key]))
            for key in ("userIds", "participantsSnapshot"):
                for uid in body.get(key) or []:
                    if str(uid).isdigit():
                        out.add(str(uid))
    return out
