"""The graph store's contract, part seven: everything an account holds as tables of rows (the export document's
``tables``: node/exporting.py), and their restore into an empty graph.

The tables and columns are the export format's, the same on every backend, so that an export from one restores
into another and ``kith storage copy`` can prove it moved everything (the exports before and after are equal).
Rows carry the graph's own keys (``pk``), so that merge history and its undo survive the trip.

Rules every backend keeps:
- ``export_all`` reads one snapshot; rows come in a fixed order (by every column), so two exports of the same
  graph are equal.
- ``import_all`` writes into a graph that holds none of the exported rows nor any of ``meta_keys`` (else
  Conflict), all of it or nothing, with references checked once every row is in (BadInput names the first
  broken one); unknown tables or columns are BadInput. Values the store derives (counts, last interaction, due
  dates, search) are computed again from the rows, never taken from the document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from node.store.federation import EXPORTED_FED_SETTINGS, FEDERATION_TABLES

__all__ = [
    "EXPORTED_FED_SETTINGS",
    "EXPORT_TABLES",
    "FEDERATION_TABLES",
    "GRAPH_EXPORT_TABLES",
    "GRAPH_TABLES",
    "LINK_TABLES",
    "LOOP_TABLES",
    "Export",
    "ExportSnapshot",
    "ExportedTable",
]

#: In dependency order: a table appears after every table it references.
GRAPH_TABLES = (
    "person",
    "identity",
    "provenance",
    "source_record",
    "circle",
    "circle_member",
    "relationship",
    "interaction",
    "interaction_person",
    "note",
    "merge_log",
    "merge_suggestion",
    "blocked_address",
)
LINK_TABLES = ("bridge_link", "sync_cursor")
#: The stay-in-touch loop's (issue 16): captured mail headers (never a body) and the correspondents they
#: count, reminders the owner snoozed or marked done, and the preferred way to reach each person. Not the
#: record of which digests went out (digest_sent): that is what this node mailed, which a restored node has not.
#: Fediverse messages (fedi_message) are kept as mail is: where each note is and its conversation, no text.
LOOP_TABLES = (
    "mail_message",
    "mail_participant",
    "mail_correspondent",
    "reminder_state",
    "reach_preference",
    "fedi_message",
)
#: What the graph store exports (federation's tables are in the server's store: node/store/federation.py).
GRAPH_EXPORT_TABLES = GRAPH_TABLES + LINK_TABLES + LOOP_TABLES
#: Every table of the export document.
EXPORT_TABLES = GRAPH_EXPORT_TABLES + FEDERATION_TABLES


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportedTable:
    columns: tuple[str, ...]
    rows: list[list[Any]]  # JSON values: text, numbers, None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportSnapshot:
    schema: int  # the graph's schema version
    tables: dict[str, ExportedTable]  # every one of GRAPH_EXPORT_TABLES
    meta: dict[str, str | None]  # the meta_keys asked for, and every key starting with a meta_prefix


class Export(Protocol):
    async def export_all(
        self, meta_keys: Sequence[str] = (), meta_prefixes: Sequence[str] = ()
    ) -> ExportSnapshot:
        """Every one of the graph's tables (EXPORT_TABLES but FEDERATION_TABLES: federation's rows are in the
        server's store, node/store/federation.py), the ``meta_keys`` rows (None where absent) and every meta row whose key
        starts with one of ``meta_prefixes`` (the links' settings), in one snapshot."""
        ...

    async def require_empty(self, *, meta_keys: Sequence[str] = ()) -> None:
        """Conflict when the graph holds any exported row or any of ``meta_keys`` (import_all checks again)."""
        ...

    async def import_all(
        self,
        tables: Mapping[str, ExportedTable],
        meta: Mapping[str, str],
        *,
        meta_keys: Sequence[str] = (),
    ) -> dict[str, int]:
        """Write checked rows (node/restore.py checked every value) and meta rows; returns rows per table."""
        ...
