"""PostgreSQL implementation of the graph store's export (node/store/export.py): every table of an account's graph
as rows, and their restore into an empty graph; what node/store/sqlite/export.py does, to the same document.

The same document on both engines is what proves a copy between them lossless (issue #14, `kith storage copy`):
the tables and columns are SQLite's, in the same column order (migration 0001 keeps it), rows in the same order
(by every column, NULLs first as SQLite sorts them, text by code point under the database's C.UTF-8 collation),
values as the same JSON (integers and text: moments are the same ISO text on both engines). The document's
``schema`` is the SQLite graph schema whose tables these are (EXPORT_SCHEMA), not this engine's migration
count: the two engines number their migrations apart, and the document describes tables, not an engine.

A restore writes every row in one transaction with the references checked once all are in (the foreign keys
are DEFERRABLE: SET CONSTRAINTS ALL DEFERRED, then IMMEDIATE), moves each identity column past the keys it
received, and computes the derived values again (counts, due dates, search) as SQLite's does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg

from node.errors import BadInput, Conflict
from node.store.export import GRAPH_EXPORT_TABLES, ExportedTable, ExportSnapshot
from node.store.postgres.db import PgDatabase
from node.store.postgres.people import recompute_people
from node.store.postgres.person_rows import refresh_fts
from node.store.postgres.rows import Conn, execute, executemany, fetch_all, fetch_one, placeholders
from node.store.sqlite.db import GRAPH_MIGRATIONS as SQLITE_GRAPH_MIGRATIONS
from node.store.sqlite.db import migrations as sqlite_migrations

__all__ = ["EXPORT_SCHEMA", "PgExport", "move_identities"]

#: The SQLite graph schema version whose tables the exported ones are (the document's ``schema``).
EXPORT_SCHEMA = sqlite_migrations(SQLITE_GRAPH_MIGRATIONS)[-1].version


async def _columns(conn: Conn, table: str) -> list[str]:
    rows = await fetch_all(
        conn,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
        (table,),
    )
    if not rows:
        raise BadInput(f"this graph has no table {table}; is its schema older than this Kith?", field=table)
    return [str(r[0]) for r in rows]


class PgExport:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def export_all(
        self, meta_keys: Sequence[str] = (), meta_prefixes: Sequence[str] = ()
    ) -> ExportSnapshot:
        """Every exported table's columns and rows and the ``meta_keys`` rows (and those whose key starts with
        one of ``meta_prefixes``), read in one snapshot (REPEATABLE READ)."""

        async def run(conn: Conn) -> ExportSnapshot:
            tables: dict[str, ExportedTable] = {}
            for table in GRAPH_EXPORT_TABLES:
                cols = await _columns(conn, table)
                order = ", ".join(f"{i + 1} NULLS FIRST" for i in range(len(cols)))  # SQLite's order
                rows = await fetch_all(conn, f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
                tables[table] = ExportedTable(columns=tuple(cols), rows=[list(r) for r in rows])
            meta: dict[str, str | None] = {}
            for key in meta_keys:
                row = await fetch_one(conn, "SELECT value FROM meta WHERE key = %s", (key,))
                meta[key] = None if row is None else str(row[0])
            for prefix in meta_prefixes:
                for key, value in await fetch_all(
                    conn,
                    "SELECT key, value FROM meta WHERE substr(key, 1, %s) = %s ORDER BY key",
                    (len(prefix), prefix),
                ):
                    meta[str(key)] = str(value)
            return ExportSnapshot(schema=EXPORT_SCHEMA, tables=tables, meta=meta)

        return await self.db.read(run, snapshot=True)

    async def require_empty(self, *, meta_keys: Sequence[str] = ()) -> None:
        """Conflict when this graph holds any exported row (import_all checks again, in its transaction)."""

        async def run(conn: Conn) -> None:
            await _require_empty(conn, meta_keys)

        await self.db.read(run)

    async def import_all(
        self,
        tables: Mapping[str, ExportedTable],
        meta: Mapping[str, str],
        *,
        meta_keys: Sequence[str] = (),
    ) -> dict[str, int]:
        """Write checked rows and meta rows into this graph, which must hold none of the exported rows nor any
        of ``meta_keys``. One transaction: all of it, or nothing."""
        unknown = set(tables) - set(GRAPH_EXPORT_TABLES)
        if unknown:
            raise BadInput(
                f"export tables must be among {', '.join(GRAPH_EXPORT_TABLES)}", field=sorted(unknown)[0]
            )

        async def run(conn: Conn) -> dict[str, int]:
            await _require_empty(conn, meta_keys)
            # Rows reference each other in both directions (a merged person's merged_into names a survivor that
            # may come later), so references are checked once all rows are in, not row by row.
            await execute(conn, "SET CONSTRAINTS ALL DEFERRED")
            counts = await _insert_tables(conn, tables)
            try:
                await execute(conn, "SET CONSTRAINTS ALL IMMEDIATE")
            except psycopg.errors.ForeignKeyViolation as exc:
                table = exc.diag.table_name or "?"
                raise BadInput(
                    f"table {table}: a row refers to a missing row ({exc.diag.message_detail or exc}); "
                    "the export is inconsistent",
                    field=table,
                ) from None
            await move_identities(conn, [t for t in GRAPH_EXPORT_TABLES if counts.get(t)])
            # Derived values are the graph's own: computed from the rows they derive from, never taken from a
            # document. (Merged people keep theirs: frozen at the merge, as the merge left them.)
            live = [r[0] for r in await fetch_all(conn, "SELECT pk FROM person WHERE status <> 'merged'")]
            await recompute_people(conn, live)
            await refresh_fts(conn, [r[0] for r in await fetch_all(conn, "SELECT pk FROM person")])
            await executemany(conn, "INSERT INTO meta (key, value) VALUES (%s, %s)", list(meta.items()))
            return counts

        return await self.db.write(run)


async def _require_empty(conn: Conn, meta_keys: Sequence[str]) -> None:
    for table in GRAPH_EXPORT_TABLES:
        if await fetch_one(conn, f"SELECT 1 FROM {table} LIMIT 1") is not None:
            what = "people" if table == "person" else f"{table} rows"
            raise Conflict(
                f"this account already holds {what}; restore only into a new, empty account "
                "(`kith restore --account NEW_NAME FILE`)",
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
                f"this account already has an owner's card or settings ({row[0]}); restore only into a new, "
                "empty account",
                field="card",
            )


async def _insert_tables(conn: Conn, tables: Mapping[str, ExportedTable]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in GRAPH_EXPORT_TABLES:
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
                await executemany(
                    conn, f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders(len(cols))})", rows
                )
            except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
                reason = (exc.diag.message_primary or type(exc).__name__).strip()
                raise BadInput(f"table {table}: {reason}; the export is inconsistent", field=table) from None
        counts[table] = len(rows)
    return counts


async def move_identities(conn: Conn, tables: Sequence[str]) -> None:
    """Each identity column of ``tables`` past the largest key the restore gave it, so that the next row made
    does not take a restored row's key (SQLite's INTEGER PRIMARY KEY needs no such step)."""
    if not tables:
        return
    for table, column in await fetch_all(
        conn,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND is_identity = 'YES' AND table_name = ANY(%s)",
        (list(tables),),
    ):
        await execute(
            conn,
            f"SELECT setval(pg_get_serial_sequence(%s, %s), greatest(max({column}), 1)) FROM {table}",
            (table, column),
        )
