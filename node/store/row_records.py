"""The contract's records built from a row of either engine (accounts, links, messages, merge suggestions, a
member's organisations): each engine keeps only the SQL that reads the row, so that both answer identically
(specs/POSTGRESQL.md §4). Positional rows are read in the column order of each engine's SELECT, which the
engines share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from node.models import AccountRow, MergeSuggestion
from node.store.links import LinkRow
from node.store.messages import MessageRow
from node.store.values import NamedRow

if TYPE_CHECKING:  # an aiosqlite.Row (keys() and row[name]) or a PostgreSQL dict row
    from _typeshed import SupportsKeysAndGetItem

__all__ = [
    "account_from_row",
    "link_from_row",
    "membership_from_row",
    "message_from_row",
    "suggestion_from_row",
]


def message_from_row(r: Sequence[Any]) -> MessageRow:
    """A ``message`` row (object id, interaction id, direction, actor, url, in reply to, conversation,
    private, occurred at) as its record."""
    return MessageRow(
        object_id=r[0],
        interaction_id=r[1],
        direction=r[2],
        actor_id=r[3],
        url=r[4],
        in_reply_to=r[5],
        conversation=r[6],
        private=bool(r[7]),
        occurred_at=r[8],
    )


def link_from_row(r: NamedRow) -> LinkRow:
    """A ``link`` row (by column name) as its record."""
    return LinkRow(
        source=r["source"],
        account=r["account"],
        base_url=r["base_url"],
        secret=r["secret"],
        status=r["status"],
        resume_at=r["resume_at"],
        last_sync_at=r["last_sync_at"],
        last_error=r["last_error"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def account_from_row(r: NamedRow) -> AccountRow:
    """An ``account`` row (by column name) as its record."""
    return AccountRow(
        pk=r["pk"],
        name=r["name"],
        type=r["type"],
        display_name=r["display_name"],
        state=r["state"],
        graph_file=r["graph_file"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        removed_at=r["removed_at"],
        purge_after=r["purge_after"],
    )


def suggestion_from_row(r: Sequence[Any]) -> MergeSuggestion:
    """A merge suggestion's row (id, a, b, a's name, b's name, tier, evidence JSON, status, created at) as
    its record."""
    return MergeSuggestion(
        id=r[0],
        a=r[1],
        b=r[2],
        a_name=r[3],
        b_name=r[4],
        tier=r[5],
        evidence=tuple(json.loads(r[6])),
        status=r[7],
        created_at=r[8],
    )


def membership_from_row(row: SupportsKeysAndGetItem[str, Any]) -> dict[str, Any]:
    """A membership row as a dict, its ``info`` JSON read."""
    out = dict(row)
    out["info"] = json.loads(out["info"]) if out.get("info") else None
    return out
