"""Export of the whole graph as one JSON document, and its lossless import into an empty node.

The document lists every graph table's columns and rows (internal row ids included, so that merge history and
its undo survive the trip). Import treats the document as hostile: only known tables and columns are accepted,
every row is inserted through parameters, and the whole import is one transaction.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from node.errors import BadInput, Conflict
from node.store.db import Database
from node.store.rows import fetch_all, fetch_one, placeholders, refresh_fts

__all__ = ["EXPORT_FORMAT", "EXPORT_TABLES", "SqliteExport"]

EXPORT_FORMAT = "kith-export"
#: In dependency order: a table appears after every table it references.
EXPORT_TABLES = (
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


async def _columns(conn: aiosqlite.Connection, table: str) -> list[str]:
    return [r[1] for r in await fetch_all(conn, f"PRAGMA table_info({table})")]


class SqliteExport:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def export_all(self, now: str) -> dict[str, Any]:
        async def run(conn: aiosqlite.Connection) -> dict[str, Any]:
            version = await fetch_one(conn, "PRAGMA user_version")
            tables: dict[str, Any] = {}
            for table in EXPORT_TABLES:
                cols = await _columns(conn, table)
                order = ", ".join(
                    str(i + 1) for i in range(len(cols))
                )  # every column: deterministic, rowid or not
                rows = await fetch_all(conn, f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
                tables[table] = {"columns": cols, "rows": [list(r) for r in rows]}
            return {
                "format": EXPORT_FORMAT,
                "version": 1,
                "schema": int(version[0]) if version else 0,
                "exported_at": now,
                "tables": tables,
            }

        return await self.db.read(run)

    async def import_all(self, doc: Any) -> dict[str, int]:
        if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
            raise BadInput(
                "not a Kith export: expected a JSON object with format 'kith-export'", field="format"
            )
        if doc.get("version") != 1:
            raise BadInput(f"unsupported export version {doc.get('version')!r}; this Kith reads version 1")
        tables = doc.get("tables")
        if not isinstance(tables, dict) or set(tables) - set(EXPORT_TABLES):
            raise BadInput(f"export tables must be among {', '.join(EXPORT_TABLES)}", field="tables")

        async def run(conn: aiosqlite.Connection) -> dict[str, int]:
            if await fetch_one(conn, "SELECT 1 FROM person LIMIT 1") is not None:
                raise Conflict("this node already holds people; import an export only into an empty node")
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
            pks = [r[0] for r in await fetch_all(conn, "SELECT pk FROM person")]
            await refresh_fts(conn, pks)
            return counts

        return await self.db.write(run)


async def _insert_tables(
    conn: aiosqlite.Connection, tables: dict[str, Any], integrity_error: type[Exception]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in EXPORT_TABLES:
        spec = tables.get(table)
        if spec is None:
            continue
        known = await _columns(conn, table)
        cols = spec.get("columns") if isinstance(spec, dict) else None
        rows = spec.get("rows") if isinstance(spec, dict) else None
        if not isinstance(cols, list) or not set(cols) <= set(known) or not isinstance(rows, list):
            raise BadInput(f"table {table}: columns must be among {', '.join(known)}", field=table)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(cols):
                raise BadInput(f"table {table}, row {i}: expected {len(cols)} values", field=table)
            if any(isinstance(v, dict | list) for v in row):
                raise BadInput(f"table {table}, row {i}: values must be scalars", field=table)
        try:
            await conn.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders(len(cols))})", rows
            )
        except integrity_error as exc:
            raise BadInput(f"table {table}: {exc}; the export is inconsistent", field=table) from None
        counts[table] = len(rows)
    return counts
