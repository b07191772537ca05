"""SQLite implementation of the graph store's export (node/store/export.py): everything a node holds for its
owner as tables of rows, and their restore into an empty node.

What is exported: the contact graph's tables (internal row ids included, so that merge history and its undo
survive the trip), live-sync links (mailboxes and calendars among them) and where their syncs resume, the
stay-in-touch loop's tables (node/store/export.py's LOOP_TABLES), plus the meta rows the caller names (the
owner's card, the digest's and the links' settings). Federation's lasting state (follows both ways, relationship
offers with their signed records, blocks both ways, the owner actor's aliases and move) is in the server
database with its account; the export document carries it in the tables FEDERATION_TABLES names
(node/store/sqlite/federation_rows.py). What is not: this node's secrets and sessions, queues (inbox, outbox,
deliveries), caches of other servers (actor
documents, host health) and import history; see node/exporting.py, which builds the document.

A restore writes rows that node/restore.py has already checked, in one transaction: into a node with none of
these rows yet, with references checked once every row is in, and with every value the node derives from other
rows (interaction counts, last interaction, due dates, the search index) computed again rather than taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiosqlite

from node.errors import BadInput, Conflict
from node.store.export import GRAPH_EXPORT_TABLES, ExportedTable, ExportSnapshot
from node.store.sqlite.db import Database
from node.store.sqlite.people import recompute_people
from node.store.sqlite.rows import fetch_all, fetch_one, placeholders, refresh_fts

__all__ = ["SqliteExport"]

#: The tables of the graph database itself (federation's are in the server database)
_GRAPH_FILE_TABLES = GRAPH_EXPORT_TABLES


async def _columns(conn: aiosqlite.Connection, table: str) -> list[str]:
    return [r[1] for r in await fetch_all(conn, f"PRAGMA table_info({table})")]


class SqliteExport:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def export_all(
        self, meta_keys: Sequence[str] = (), meta_prefixes: Sequence[str] = ()
    ) -> ExportSnapshot:
        """Every exported table's columns and rows, the schema version and the ``meta_keys`` rows (and those whose
        key starts with one of ``meta_prefixes``), read in one snapshot."""

        async def run(conn: aiosqlite.Connection) -> ExportSnapshot:
            version = await fetch_one(conn, "PRAGMA user_version")
            tables: dict[str, ExportedTable] = {}
            for table in _GRAPH_FILE_TABLES:
                cols = await _columns(conn, table)
                order = ", ".join(str(i + 1) for i in range(len(cols)))  # every column: deterministic
                rows = await fetch_all(conn, f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
                tables[table] = ExportedTable(columns=tuple(cols), rows=[list(r) for r in rows])
            meta: dict[str, str | None] = {}
            for key in meta_keys:
                row = await fetch_one(conn, "SELECT value FROM meta WHERE key = ?", (key,))
                meta[key] = None if row is None else str(row[0])
            for prefix in meta_prefixes:
                for key, value in await fetch_all(
                    conn,
                    "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
                    (len(prefix), prefix),
                ):
                    meta[str(key)] = str(value)
            return ExportSnapshot(schema=int(version[0]) if version else 0, tables=tables, meta=meta)

        return await self.db.read(run)

    async def require_empty(self, *, meta_keys: Sequence[str] = ()) -> None:
        """Conflict when this node holds any exported row (import_all checks again, in its transaction)."""

        async def run(conn: aiosqlite.Connection) -> None:
            await _require_empty(conn, meta_keys)

        await self.db.read(run)

    async def import_all(
        self,
        tables: Mapping[str, ExportedTable],
        meta: Mapping[str, str],
        *,
        meta_keys: Sequence[str] = (),
    ) -> dict[str, int]:
        """Write checked rows and meta rows into this node, which must hold none of
        the exported rows nor any of ``meta_keys``. One transaction: all of it, or nothing."""
        unknown = set(tables) - set(_GRAPH_FILE_TABLES)
        if unknown:
            raise BadInput(
                f"export tables must be among {', '.join(_GRAPH_FILE_TABLES)}", field=sorted(unknown)[0]
            )

        async def run(conn: aiosqlite.Connection) -> dict[str, int]:
            await _require_empty(conn, meta_keys)
            # Rows reference each other in both directions (a merged person's merged_into names a survivor that
            # may come later), so references are checked once all rows are in, not row by row.
            await conn.execute("PRAGMA defer_foreign_keys = ON")
            try:
                counts = await _insert_tables(conn, tables, self.db.module.IntegrityError)
                dangling = await fetch_one(conn, "PRAGMA foreign_key_check")
                if dangling is not None:
                    raise BadInput(
                        f"table {dangling[0]}: row {dangling[1]} refers to a missing {dangling[2]} row; "
                        "the export is inconsistent",
                        field=str(dangling[0]),
                    )
            finally:
                await conn.execute("PRAGMA defer_foreign_keys = OFF")
            # Derived values are the node's own: computed from the rows they derive from, never taken from a
            # document. (Merged people keep theirs: frozen at the merge, as the merge left them.)
            live = [r[0] for r in await fetch_all(conn, "SELECT pk FROM person WHERE status != 'merged'")]
            await recompute_people(conn, live)
            await refresh_fts(conn, [r[0] for r in await fetch_all(conn, "SELECT pk FROM person")])
            await conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            return counts

        return await self.db.write(run)


async def _require_empty(conn: aiosqlite.Connection, meta_keys: Sequence[str]) -> None:
    for table in _GRAPH_FILE_TABLES:
        if await fetch_one(conn, f"SELECT 1 FROM {table} LIMIT 1") is not None:
            what = "people" if table == "person" else f"{table} rows"
            raise Conflict(
                f"this node already holds {what}; restore only into a new, empty node "
                "(`kith --data NEW_FOLDER init ...`, then `kith --data NEW_FOLDER restore FILE`)",
                field="tables",
            )
    if meta_keys:
        row = await fetch_one(
            conn,
            f"SELECT key FROM meta WHERE key IN ({placeholders(len(meta_keys))}) LIMIT 1",
            list(meta_keys),
        )
        if row is not None:
            raise Conflict(
                f"this node already has an owner's card or settings ({row[0]}); restore only into a new, empty "
                "node",
                field="card",
            )


async def _insert_tables(
    conn: aiosqlite.Connection,
    tables: Mapping[str, ExportedTable],
    integrity_error: type[Exception],
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in _GRAPH_FILE_TABLES:
        if table not in tables:
            continue
        cols, rows = tables[table].columns, tables[table].rows
        known = await _columns(conn, table)
        if not set(cols) <= set(known) or len(set(cols)) != len(cols) or (rows and not cols):
            raise BadInput(
                f"table {table}: columns must be distinct names among {', '.join(known)}", field=table
            )
        if rows:
            try:
                await conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders(len(cols))})", rows
                )
            except integrity_error as exc:
                raise BadInput(f"table {table}: {exc}; the export is inconsistent", field=table) from None
        counts[table] = len(rows)
    return counts
