"""Mastodon CSV exports (Settings → Import and export) and the live follow lists (docs/SILOS.md §1, §2).

Rules kept:
- Files are told apart by name (``<controller>.csv``); a lone renamed file is recognised only by a header
  (``Account address,...``), since a header-less list of accounts could be blocks or anything else.
- ``following_accounts.csv`` has a header (four columns, or two in Fedifinder's form); ``muted_accounts.csv``
  has one; ``blocked_accounts.csv`` and ``lists.csv`` have none.
- Blocks become BlockDraft, mutes BlockDraft(action="mute"); list titles become circles on the same contact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp

from bridges._files import Source, csv_records
from bridges.base import (
    BlockDraft,
    Bridge,
    ContactDraft,
    ExportError,
    Follow,
    IdentityDraft,
    ImportItem,
    Skipped,
)
from bridges.live import (
    CAP,
    Clock,
    Cursor,
    LiveError,
    Page,
    RateLimited,
    get_json,
    paginate,
    same_origin,
    utcnow,
)

__all__ = ["MastodonBridge", "lookup_account_id", "sync_followers", "sync_following", "sync_follows"]

_NAMES = {
    "following_accounts.csv": "following",
    "blocked_accounts.csv": "blocked",
    "muted_accounts.csv": "muted",
    "lists.csv": "lists",
}


def _acct(raw: str) -> str | None:
    acct = raw.strip().removeprefix("@")
    user, _, host = acct.partition("@")
    if not user or not host or any(ch.isspace() for ch in acct) or "@" in host or "." not in host:
        return None
    return acct


def _kind_of(src: Source, name: str) -> str | None:
    by_name = _NAMES.get(PurePosixPath(name).name.lower())
    if by_name or not src.is_single_file:
        return by_name
    first = src.head_text(name, 512).splitlines()[:1]
    header = first[0].lower() if first else ""
    if header.startswith("account address,show boosts"):
        return "following"
    if header.startswith("account address,hide notifications"):
        return "muted"
    return None


def _rows(src: Source, name: str) -> Iterator[tuple[int, list[str]] | Skipped]:
    """Rows minus a header row (any row whose first cell is "Account address")."""
    for rec in csv_records(src, name):
        if isinstance(rec, Skipped) or (
            any(c.strip() for c in rec[1]) and rec[1][0].strip().lower() != "account address"
        ):
            yield rec


class MastodonBridge(Bridge):
    name: ClassVar[str] = "mastodon"
    scheme: ClassVar[str] = "acct"
    description: ClassVar[str] = "Mastodon CSV exports (following_accounts, blocked, muted, lists)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            return any(_kind_of(src, n) for n in src.names())

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            files: dict[str, list[str]] = {}
            for name in src.names():
                kind = _kind_of(src, name)
                if kind:
                    files.setdefault(kind, []).append(name)
            if not files:
                raise ExportError(
                    f"{path}: no following_accounts.csv, blocked_accounts.csv, muted_accounts.csv or "
                    "lists.csv; a renamed header-less file cannot be told apart, keep Mastodon's file name"
                )
            # Lists are small (a row per member); holding them lets each account arrive once, with circles.
            # Titles per account in a dict, as an ordered set: a list's ``in`` made a long lists.csv quadratic.
            circles: dict[str, tuple[str, dict[str, None]]] = {}
            for name in files.get("lists", []):
                yield from _lists(src, name, circles)
            for name in files.get("following", []):
                yield from _following(src, name, circles)
            for acct, titles in circles.values():
                yield ContactDraft(
                    source_record_id=f"list-member:{acct.lower()}",
                    identities=(IdentityDraft(address=acct, kind="acct"),),
                    circles=tuple(titles),
                )
            for action, kind in (("block", "blocked"), ("mute", "muted")):
                for name in files.get(kind, []):
                    yield from _blocks(src, name, action)


def _lists(src: Source, name: str, circles: dict[str, tuple[str, dict[str, None]]]) -> Iterator[ImportItem]:
    shown = src.display(name)
    for rec in _rows(src, name):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, row = rec
        acct = _acct(row[1]) if len(row) >= 2 else None
        title = row[0].strip()
        if acct is None or not title:
            yield Skipped(file=shown, line=line, reason="expected: list title,user@domain")
            continue
        circles.setdefault(acct.lower(), (acct, {}))[1][title] = None


def _accounts(src: Source, name: str) -> Iterator[tuple[str, int] | Skipped]:
    """The account address in the first column of each row, or a report for rows without one."""
    shown = src.display(name)
    for rec in _rows(src, name):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, row = rec
        acct = _acct(row[0])
        if acct is None:
            yield Skipped(file=shown, line=line, reason=f"not an account address: {row[0][:80]!r}")
        else:
            yield acct, line


def _following(
    src: Source, name: str, circles: dict[str, tuple[str, dict[str, None]]]
) -> Iterator[ImportItem]:
    for rec in _accounts(src, name):
        if isinstance(rec, Skipped):
            yield rec
            continue
        acct = rec[0]
        _acct_again, titles = circles.pop(acct.lower(), (acct, {}))
        yield ContactDraft(
            source_record_id=f"following:{acct.lower()}",
            identities=(IdentityDraft(address=acct, kind="acct"),),
            circles=tuple(titles),
            follow="following",
        )


def _blocks(src: Source, name: str, action: str) -> Iterator[ImportItem]:
    for rec in _accounts(src, name):
        if isinstance(rec, Skipped):
            yield rec
            continue
        acct = rec[0]
        yield BlockDraft(
            identity=IdentityDraft(address=acct, kind="acct"),
            source_record_id=f"{action}:{acct.lower()}",
            action="mute" if action == "mute" else "block",
        )


# -- live API (docs/SILOS.md §2 "Mastodon client API") ----------------------------------------------------


def _account_draft(account: Any, direction: Follow, instance_host: str) -> ContactDraft | None:
    if not isinstance(account, dict) or not isinstance(account.get("acct"), str):
        return None
    acct = account["acct"]
    if "@" not in acct:  # local accounts come without their domain
        host = urlsplit(str(account.get("url", ""))).hostname or instance_host
        acct = f"{acct}@{host}"
    ids = [IdentityDraft(address=acct, kind="acct")]
    for key in ("uri", "url"):  # the actor id (4.2+) and the profile page
        value = account.get(key)
        if isinstance(value, str) and value.startswith("https://") and all(i.address != value for i in ids):
            ids.append(IdentityDraft(address=value, kind="url"))
    name = account.get("display_name") or account.get("username")
    avatar = account.get("avatar")
    return ContactDraft(
        source_record_id=f"{direction}:{acct.lower()}",
        display_name=name if isinstance(name, str) and name else None,
        photo_url=avatar if isinstance(avatar, str) and avatar.startswith("https://") else None,
        identities=tuple(ids),
        follow=direction,
    )


async def lookup_account_id(
    session: aiohttp.ClientSession, *, base_url: str, acct: str, token: str | None = None
) -> str:
    """The instance-local id of ``acct`` (``/api/v1/accounts/lookup``): follow lists are keyed by it."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    url = f"{base_url.rstrip('/')}/api/v1/accounts/lookup"
    data, _resp = await get_json(session, url, params={"acct": acct.removeprefix("@")}, headers=headers)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise LiveError(f"{url}: no account id in the answer")
    return str(data["id"])


async def sync_follows(
    session: aiohttp.ClientSession,
    *,
    direction: Literal["following", "followers"],
    base_url: str,
    account_id: str,
    token: str | None = None,
    cursor: Cursor | None = None,
    limit: int = 80,
    cap: int = CAP,
    now: Clock = utcnow,
) -> AsyncIterator[Page | RateLimited]:
    """Accounts ``account_id`` follows (or that follow it), page by page along ``Link: <...>; rel="next"``."""
    follow: Follow = "following" if direction == "following" else "follower"
    base = base_url.rstrip("/")
    first = f"{base}/api/v1/accounts/{account_id}/{direction}?limit={min(max(limit, 1), 80)}"
    headers = {"Authorization": f"Bearer {token}"} if token else None
    host = urlsplit(base).hostname or ""

    async def fetch(next_url: str | None) -> tuple[list[ContactDraft], str | None]:
        url = next_url or first
        data, resp = await get_json(session, url, headers=headers, now=now)
        if not isinstance(data, list):
            raise LiveError(f"{url}: expected a list of accounts")
        drafts = [d for d in (_account_draft(a, follow, host) for a in data) if d is not None]
        link = resp.links.get("next")
        nxt = str(link["url"]) if link and data else None
        if nxt is not None and not same_origin(nxt, base):
            raise LiveError(f"{url}: the next-page link leaves {host}; refusing to follow it")
        return drafts, nxt

    start: Cursor = {"silo": "mastodon", "direction": follow, "account": account_id, "base": base}
    async for item in paginate(fetch, start=start, cursor=cursor, cap=cap):
        yield item


sync_following = partial(sync_follows, direction="following")
sync_followers = partial(sync_follows, direction="followers")
