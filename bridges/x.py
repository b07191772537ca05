"""X/Twitter archive (ZIP or unpacked folder): follows and direct messages (docs/SILOS.md §1).

Rules kept:
- Files are found by name in any folder (normally ``data/``), with their split parts (``following-part1.js``)
  read in order after the unnumbered file.
- Following and follower entries hold only numeric ids: each becomes an X identity (``kind="x"``, the digits
  as the address) that a later sync or lookup can name. ``userLink`` is trusted only on twitter.com or x.com.
- The owner comes from ``account.js``; without it, from the one id present in every one-to-one conversation.
  A message the owner sent was initiated by the owner; group messages have no recipient, so their participants
  are every member seen in the conversation except the owner: worked out once per conversation and shared by
  its messages, so that the drafts grow with the file, not with members times messages. A "group" of more than
  MAX_GROUP members is no conversation among people one knows (X caps groups far lower): it is reported and
  left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bridges._files import Source
from bridges._jsarray import MalformedElement, iter_js_array
from bridges._util import stable_id, truncate
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
from bridges.live import CAP, Clock, Cursor, LiveError, Page, RateLimited, Revoked, get_json, paginate, utcnow
from bridges.oauth import OAuthTokens, refresh_tokens

__all__ = [
    "MAX_GROUP",
    "X_API",
    "X_AUTHORIZE",
    "X_SCOPES",
    "X_TOKEN",
    "XAuth",
    "XBridge",
    "lookup_users",
    "sync_followers",
    "sync_following",
    "sync_follows",
    "x_id_from_link",
]

_FILE = re.compile(
    r"^(account|profile|following|follower|direct-messages|direct-messages-group)(?:-part(\d+))?\.js$", re.I
)
MAX_GROUP = 256
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
                    if src.head_text(name, 256).lstrip(" \r\n\t").startswith("window.YTD."):
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
        if len(members) > MAX_GROUP:
            yield Skipped(
                file=shown,
                line=line,
                reason=f"a group conversation of {len(members)} members (more than {MAX_GROUP}); left out",
            )
            continue
        everyone = tuple(_x(i) for i in sorted(members - {owner_id or ""}))  # senders are members already
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
                participants = everyone
            else:
                others = sorted({sender, str(msg.get("recipientId", ""))} - {owner_id or "", ""})
                participants = tuple(_x(i) for i in others if i.isdigit())
            if not participants:
                yield Skipped(file=shown, line=line, reason=f"message {msg['id']}: no one but the owner")
                continue
            initiated = "unknown" if owner_id is None else ("owner" if sender == owner_id else "them")
            yield InteractionDraft(
                source_record_id=f"dm:{msg['id']}",
                occurred_at=when,
                channel="message",
                initiated_by=initiated,  # type: ignore[arg-type]
                participants=participants,
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


# -- live API (docs/SILOS.md §2 "X API v2") ---------------------------------------------------------------------

X_API = "https://api.x.com"
X_AUTHORIZE = "https://x.com/i/oauth2/authorize"
X_TOKEN = "https://api.x.com/2/oauth2/token"
X_SCOPES = ("tweet.read", "users.read", "follows.read", "offline.access")


@dataclass(kw_only=True)
class XAuth:
    """One linked X account's current tokens, refreshed in place; the node stores ``tokens`` after a sync."""

    tokens: OAuthTokens
    client_id: str
    client_secret: str | None = None
    token_url: str = X_TOKEN

    async def bearer(self, session: aiohttp.ClientSession, now: Clock) -> str:
        if self.tokens.expired(now()) and self.tokens.refresh_token:
            await self.refresh(session, now)
        return self.tokens.access_token

    async def refresh(self, session: aiohttp.ClientSession, now: Clock) -> None:
        if not self.tokens.refresh_token:
            raise Revoked(
                "the X token expired and there is no refresh token; link the account again", status=401
            )
        self.tokens = await refresh_tokens(
            session,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.tokens.refresh_token,
            now=now,
        )


def _user_draft(user: Any, direction: Follow | None) -> ContactDraft | None:
    if not isinstance(user, dict) or not str(user.get("id", "")).isdigit():
        return None
    handle = user.get("username") if isinstance(user.get("username"), str) else None
    name = user.get("name")
    photo = user.get("profile_image_url")
    return ContactDraft(
        source_record_id=f"{direction or 'user'}:{user['id']}",
        display_name=name if isinstance(name, str) and name else None,
        photo_url=photo if isinstance(photo, str) and photo.startswith("https://") else None,
        identities=(_x(str(user["id"]), handle),),
        follow=direction,
    )


async def _get(
    session: aiohttp.ClientSession, url: str, params: dict[str, str], auth: XAuth, now: Clock
) -> Any:
    for attempt in (1, 2):
        headers = {"Authorization": f"Bearer {await auth.bearer(session, now)}"}
        try:
            # X answers 503 when it is over capacity; like granary, treat it as a rate limit.
            data, _resp = await get_json(
                session, url, params=params, headers=headers, now=now, limit_statuses=(429, 503)
            )
            return data
        except Revoked:
            # An access token can die before its stated expiry; one refresh, then the 401 stands.
            if attempt == 2 or not auth.tokens.refresh_token:
                raise
            await auth.refresh(session, now)
    raise AssertionError("unreachable")


async def sync_follows(
    session: aiohttp.ClientSession,
    *,
    direction: Literal["following", "followers"],
    user_id: str,
    auth: XAuth,
    base_url: str = X_API,
    cursor: Cursor | None = None,
    max_results: int = 1000,
    cap: int = CAP,
    now: Clock = utcnow,
) -> AsyncIterator[Page | RateLimited]:
    """``GET /2/users/:id/following`` (or ``/followers``), paged by ``pagination_token`` from
    ``meta.next_token``; the access token is refreshed when expired, and once more on a 401."""
    follow: Follow = "following" if direction == "following" else "follower"
    base = base_url.rstrip("/")
    url = f"{base}/2/users/{user_id}/{direction}"

    async def fetch(token: str | None) -> tuple[list[ContactDraft], str | None]:
        params = {
            "max_results": str(min(max(max_results, 1), 1000)),
            "user.fields": "name,username,profile_image_url",
        }
        if token:
            params["pagination_token"] = token
        data = await _get(session, url, params, auth, now)
        if not isinstance(data, dict):
            raise LiveError(f"{url}: expected a JSON object")
        users = data.get("data") or []
        meta = data.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        drafts = [d for d in (_user_draft(u, follow) for u in users) if d is not None]
        nxt = meta.get("next_token")
        return drafts, nxt if isinstance(nxt, str) and nxt and users else None

    start: Cursor = {"silo": "x", "direction": follow, "account": user_id, "base": base}
    async for item in paginate(fetch, start=start, cursor=cursor, cap=cap):
        yield item


sync_following = partial(sync_follows, direction="following")
sync_followers = partial(sync_follows, direction="followers")


async def lookup_users(
    session: aiohttp.ClientSession,
    *,
    ids: Sequence[str],
    auth: XAuth,
    base_url: str = X_API,
    cursor: Cursor | None = None,
    cap: int = CAP,
    now: Clock = utcnow,
) -> AsyncIterator[Page | RateLimited]:
    """Names for bare ids (an archive's following.js holds nothing else): ``GET /2/users?ids=``, 100 at a
    time. Drafts carry the same X identity with its handle as label; ids X no longer knows are left out."""
    wanted = [i for i in dict.fromkeys(ids) if i.isdigit()]
    url = f"{base_url.rstrip('/')}/2/users"

    async def fetch(offset: int | None) -> tuple[list[ContactDraft], int | None]:
        start = offset or 0
        chunk = wanted[start : start + 100]
        if not chunk:
            return [], None
        params = {"ids": ",".join(chunk), "user.fields": "name,username,profile_image_url"}
        data = await _get(session, url, params, auth, now)
        users = data.get("data") if isinstance(data, dict) else None
        drafts = [d for d in (_user_draft(u, None) for u in users or []) if d is not None]
        return drafts, start + 100 if start + 100 < len(wanted) else None

    start: Cursor = {"silo": "x", "direction": "lookup", "account": stable_id(*wanted), "base": url}
    async for item in paginate(fetch, start=start, cursor=cursor, cap=cap):
        yield item
