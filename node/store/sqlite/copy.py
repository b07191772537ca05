"""SQLite's side of ``kith storage copy`` (node/store/copy.py): a database's tables read in one snapshot, or
written in one transaction.

Left out of a copy: SQLite's own tables, the full-text index (``person_fts`` and its shadow tables: derived
from the rows, and rebuilt after a copy into SQLite), and the one-owner layout's ``moved_fed_*`` tables (what
they held moved to the server database when the account was opened: docs/ARCHITECTURE.md §8).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiosqlite

from node.store.copy import Deliver
from node.store.errors import StoreError
from node.store.sqlite.db import Database
from node.store.sqlite.rows import fetch_all, fetch_one, placeholders, refresh_fts

__all__ = ["SqliteTableCopy"]

_DERIVED_PREFIXES = ("sqlite_", "person_fts", "moved_fed_")


class SqliteTableCopy:
    """The tables of one SQLite database; ``graph`` when it is an account's graph (whose search index a write
    rebuilds)."""

    def __init__(self, db: Database, *, graph: bool) -> None:
        self.db = db
        self.graph = graph

    async def shape(self) -> dict[str, tuple[str, ...]]:
        async def run(conn: aiosqlite.Connection) -> dict[str, tuple[str, ...]]:
            names = [
                str(r[0])
                for r in await fetch_all(
                    conn, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            shape: dict[str, tuple[str, ...]] = {}
            for name in names:
                if name.startswith(_DERIVED_PREFIXES):
                    continue
                rows = await fetch_all(conn, f"PRAGMA table_info({name})")
                shape[name] = tuple(str(r[1]) for r in rows)
            return shape

        return await self.db.read(run)

    async def count(self, shape: Mapping[str, Sequence[str]]) -> dict[str, int]:
        async def run(conn: aiosqlite.Connection) -> dict[str, int]:
            counts = {}
            for table in shape:
                row = await fetch_one(conn, f"SELECT count(*) FROM {table}")
                counts[table] = int(row[0]) if row else 0
            return counts

        return await self.db.read(run)

    async def read_tables(self, shape: Mapping[str, Sequence[str]], deliver: Deliver, *, batch: int) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            for table, columns in shape.items():
                async with conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1") as cur:
                    while rows := await cur.fetchmany(batch):
                        await deliver(table, columns, [tuple(r) for r in rows])

        await self.db.read(run)

    async def write_tables(
        self, shape: Mapping[str, Sequence[str]], fill: Callable[[Deliver], Awaitable[None]]
    ) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            # Rows reference each other in both directions (a merged person names a survivor that may come
            # later), so references are checked once all rows are in.
            await conn.execute("PRAGMA defer_foreign_keys = ON")

            async def insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
                await conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})", rows
                )

            # Triggers derive rows from rows (CardDAV's change log from people): the copy carries what they
            # derived at the source, so they must not fire again. SQLite's DDL is transactional: they are back
            # before the commit, and never gone if the copy fails.
            triggers = await fetch_all(conn, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            for name, _ in triggers:
                await conn.execute(f'DROP TRIGGER "{name}"')
            try:
                for table in shape:
                    await conn.execute(f"DELETE FROM {table}")
                await fill(insert)
                dangling = await fetch_one(conn, "PRAGMA foreign_key_check")
                if dangling is not None:
                    raise StoreError(
                        f"table {dangling[0]}: row {dangling[1]} refers to a missing {dangling[2]} row; the "
                        "source database is inconsistent; nothing was copied"
                    )
            finally:
                await conn.execute("PRAGMA defer_foreign_keys = OFF")
            for _, sql in triggers:
                await conn.execute(sql)
            if self.graph:
                await refresh_fts(conn, [r[0] for r in await fetch_all(conn, "SELECT pk FROM person")])

        await self.db.write(run, alone=True)
