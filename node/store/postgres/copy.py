"""PostgreSQL's side of ``kith storage copy`` (node/store/copy.py on main: the TableCopy contract): a schema's
tables read in one snapshot, or written in one transaction, as node/store/sqlite/copy.py does for SQLite.

Left out of a copy: ``schema_version`` (each database's own), and the search rows (``person_fts``: derived from
the rows, rebuilt after a copy into PostgreSQL); generated columns are not columns a copy writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from node.store.errors import StoreError
from node.store.postgres.db import PgDatabase
from node.store.postgres.export import move_identities
from node.store.postgres.person_rows import refresh_fts
from node.store.postgres.rows import Conn, execute, fetch_all, fetch_one

__all__ = ["DERIVED_TABLES", "PgTableCopy"]

#: Tables of a schema that no copy carries.
DERIVED_TABLES = ("schema_version", "person_fts")

#: (table, columns, rows) handed on in batches: node/store/copy.py's Deliver.
_Deliver = Callable[[str, Sequence[str], Sequence[Sequence[Any]]], Awaitable[None]]


class PgTableCopy:
    """The tables of one schema; ``graph`` when it is an account's graph (whose search rows a write rebuilds)."""

    def __init__(self, db: PgDatabase, *, graph: bool) -> None:
        self.db = db
        self.graph = graph

    async def shape(self) -> dict[str, tuple[str, ...]]:
        async def run(conn: Conn) -> dict[str, tuple[str, ...]]:
            rows = await fetch_all(
                conn,
                "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
                "AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' "
                "WHERE c.table_schema = current_schema() AND c.is_generated = 'NEVER' "
                "AND NOT (c.table_name = ANY(%s)) ORDER BY c.table_name, c.ordinal_position",
                (list(DERIVED_TABLES),),
            )
            shape: dict[str, list[str]] = {}
            for table, column in rows:
                shape.setdefault(str(table), []).append(str(column))
            return {table: tuple(columns) for table, columns in shape.items()}

        return await self.db.read(run)

    async def count(self, shape: Mapping[str, Sequence[str]]) -> dict[str, int]:
        async def run(conn: Conn) -> dict[str, int]:
            counts = {}
            for table in shape:
                row = await fetch_one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                counts[table] = int(row[0]) if row else 0
            return counts

        return await self.db.read(run, snapshot=True)

    async def read_tables(self, shape: Mapping[str, Sequence[str]], deliver: _Deliver, *, batch: int) -> None:
        async def run(conn: Conn) -> None:
            for table, columns in shape.items():
                query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)
                )
                # a server-side cursor: a large table comes a batch at a time, not whole into memory
                async with conn.cursor(name="kith_copy") as cur:
                    await cur.execute(query)
                    while rows := await cur.fetchmany(batch):
                        await deliver(table, columns, [tuple(r) for r in rows])

        await self.db.read(run, snapshot=True)

    async def write_tables(
        self, shape: Mapping[str, Sequence[str]], fill: Callable[[_Deliver], Awaitable[None]]
    ) -> None:
        async def run(conn: Conn) -> None:
            # Rows reference each other in both directions (a merged person names a survivor that may come
            # later): the foreign keys are DEFERRABLE, checked once all rows are in.
            await execute(conn, "SET CONSTRAINTS ALL DEFERRED")
            # Triggers derive rows from rows (CardDAV's change log from people): the copy carries what they
            # derived at the source, so they must not fire again. ALTER TABLE is transactional: they are back
            # before the commit, and never off if the copy fails.
            triggered = [
                str(r[0])
                for r in await fetch_all(
                    conn,
                    "SELECT DISTINCT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
                    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT g.tgisinternal",
                )
            ]
            for table in triggered:
                await execute(
                    conn, sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table))
                )
            for table in shape:
                await execute(conn, sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))

            async def insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
                copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                async with conn.cursor() as cur, cur.copy(copy) as into:
                    for row in rows:
                        await into.write_row(row)

            await fill(insert)
            try:
                await execute(conn, "SET CONSTRAINTS ALL IMMEDIATE")
            except psycopg.errors.ForeignKeyViolation as exc:
                raise StoreError(
                    f"table {exc.diag.table_name or '?'}: a row refers to a missing row "
                    f"({exc.diag.message_detail or exc}); the source database is inconsistent; nothing was copied"
                ) from None
            for table in triggered:
                await execute(
                    conn, sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table))
                )
            await move_identities(conn, list(shape))
            if self.graph:
                await refresh_fts(conn, [r[0] for r in await fetch_all(conn, "SELECT pk FROM person")])

        await self.db.write(run)
