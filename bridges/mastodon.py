"""Mastodon CSV exports (Settings → Import and export) and the live follow lists (FORMATS.md §1, §2).

Rules kept:
- Files are told apart by name (``<controller>.csv``); a lone renamed file is recognised only by a header
  (``Account address,...``), since a header-less list of accounts could be blocks or anything else.
- ``following_accounts.csv`` has a header (four columns, or two in Fedifinder's form); ``muted_accounts.csv``
  has one; ``blocked_accounts.csv`` and ``lists.csv`` have none.
- Blocks become BlockDraft, mutes BlockDraft(action="mute"); list titles become circles on the same contact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import ClassVar

from bridges._files import Source, csv_records
from bridges.base import (
    BlockDraft,
    Bridge,
    ContactDraft,
    ExportError,
    IdentityDraft,
    ImportItem,
    Skipped,
)

__all__ = ["MastodonBridge"]

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
    first = src.head(name, 512).decode("utf-8", "replace").lstrip("\ufeff").splitlines()[:1]
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
            circles: dict[str, tuple[str, list[str]]] = {}
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


def _lists(src: Source, name: str, circles: dict[str, tuple[str, list[str]]]) -> Iterator[ImportItem]:
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
        entry = circles.setdefault(acct.lower(), (acct, []))
        if title not in entry[1]:
            entry[1].append(title)


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


def _following(src: Source, name: str, circles: dict[str, tuple[str, list[str]]]) -> Iterator[ImportItem]:
    for rec in _accounts(src, name):
        if isinstance(rec, Skipped):
            yield rec
            continue
        acct = rec[0]
        _acct_again, titles = circles.pop(acct.lower(), (acct, []))
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
