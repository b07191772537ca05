"""One account's federation rows as a whole (what its export carries, its restore writes and its purge
removes), kept in the server's store beside every other account's (specs/STORAGE.md §3). Federation's own
queries go through federation/ports.py's FederationStore; this is the account's side of export and restore.

An export document keeps the one-owner layout of these tables (no account column: the document is one
account's), so that documents exported before federation's state moved restore, and restore elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["EXPORTED_FED_SETTINGS", "FEDERATION_COLUMNS", "FEDERATION_TABLES", "AccountFederation"]

#: The federation tables an export carries, with their columns in the document (the account is implied).
FEDERATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "fed_follows": ("follow_id", "direction", "actor_id", "state", "created_at", "updated_at"),
    "fed_offers": (
        "offer_id",
        "direction",
        "actor_id",
        "rel_type",
        "record",
        "final",
        "state",
        "created_at",
        "updated_at",
    ),
    "fed_blocks": ("kind", "value", "block_id", "created_at"),
    "fed_blocked_by": ("actor_id", "block_id", "created_at"),
    "fed_settings": ("key", "value"),
}
FEDERATION_TABLES = tuple(FEDERATION_COLUMNS)
#: The federation settings an export carries: what the owner chose (aliases, a move). The others are federation's
#: bookkeeping of what it last sent (the card version, the profile's digest), which a restored account must not
#: inherit: it has sent nothing yet.
EXPORTED_FED_SETTINGS = ("also_known_as", "moved_to")


class AccountFederation(Protocol):
    """One account's federation rows in the server's store, as a whole."""

    async def export_tables(self) -> dict[str, dict[str, Any]]:
        """The account's follows, offers, blocks both ways and chosen settings, as export tables."""
        ...

    async def import_tables(
        self, tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]
    ) -> dict[str, int]:
        """Write checked export rows (table -> (columns, rows)) for this account, which must hold none of them
        yet, in one transaction; the very rows again are taken as written already, others are a Conflict."""
        ...

    async def require_empty(self) -> None:
        """Conflict when the account holds any of the exported rows."""
        ...

    async def clear_imported(self) -> None:
        """Take back what import_tables wrote (the graph's part of the restore failed after it)."""
        ...

    async def purge(self) -> None:
        """A removed account's grace period is over: its federation rows go, its tombstones stay."""
        ...
