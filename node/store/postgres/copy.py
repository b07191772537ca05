"""PostgreSQL's side of ``kith storage copy`` (node/store/copy.py): a schema's tables read in one snapshot, or
written in one transaction with COPY.

Left out of a copy: ``schema_version`` (each engine's own bookkeeping) and the search rows (``person_fts``,
derived from the rows and rebuilt after a copy into PostgreSQL from the ``person_search_text`` view), and
generated columns. Rows arrive through COPY in its text form, so each value is read by its column's own type
(SQLite's 0/1 become a boolean, its integers a double where the column is one) exactly as PostgreSQL reads
them from a file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from psycopg import sql

from node.store.copy import Deliver
from node.store.postgres.db import PgDatabase
from node.store.postgres.rows import fetch_all, fetch_value

__all__ = ["PgTableCopy"]

_LEFT_OUT = ("schema_version", "person_fts")


class PgTableCopy:
    """The tables of one schema; ``graph`` when it is an account's graph (whose search rows a write
    rebuilds)."""

    def __init__(self, db: PgDatabase, *, graph: bool) -> None:
        self.db = db
        self.graph = graph

    async def shape(self) -> dict[str, tuple[str, ...]]:
        async def run(conn: Any) -> dict[str, tuple[str, ...]]:
            rows = await fetch_all(
                conn,
                "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                "JOIN information_schema.tables t USING (table_schema, table_name) "
                "WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE' AND c.is_generated = 'NEVER' "
                "ORDER BY c.table_name, c.ordinal_position",
                (self.db.schema,),
            )
            shape: dict[str, list[str]] = {}
            for table, column in rows:
                if table not in _LEFT_OUT:
                    shape.setdefault(str(table), []).append(str(column))
            return {t: tuple(cols) for t, cols in shape.items()}

        return await self.db.read(run)

    async def count(self, shape: Mapping[str, Sequence[str]]) -> dict[str, int]:
        async def run(conn: Any) -> dict[str, int]:
            return {
                t: int(await fetch_value(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))))
                for t in shape
            }

        return await self.db.read(run, snapshot=True)

    async def read_tables(self, shape: Mapping[str, Sequence[str]], deliver: Deliver, *, batch: int) -> None:
        async def run(conn: Any) -> None:
            for table, columns in shape.items():
                query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)
                )
                async with conn.cursor(name="kith_copy") as cur:  # streamed from the server, not all at once
                    await cur.execute(query)
                    while rows := await cur.fetchmany(batch):
                        await deliver(table, columns, [tuple(r) for r in rows])

        await self.db.read(run, snapshot=True)

    async def write_tables(
        self, shape: Mapping[str, Sequence[str]], fill: Callable[[Deliver], Awaitable[None]]
    ) -> None:
        async def run(conn: Any) -> None:
            # References are checked at the commit (every foreign key of Kith's schemas is DEFERRABLE): rows
            # refer to each other in both directions. User triggers (derived rows, such as CardDAV's change log)
            # must not fire: the copy carries what they derived. ALTER TABLE is transactional here too.
            await conn.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in shape:
                await conn.execute(
                    sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table))
                )
                await conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))

            async def insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                async with conn.cursor() as cur, cur.copy(statement) as copy:
                    for row in rows:
                        await copy.write_row(row)

            await fill(insert)
            for table in shape:
                await conn.execute(
                    sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table))
                )
            # Keys the rows brought along: new rows continue after them.
            for table, column in await fetch_all(
                conn,
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND is_identity = 'YES'",
                (self.db.schema,),
            ):
                await conn.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({qualified}, {column}), "
                        "coalesce((SELECT max({ident}) FROM {table}), 0) + 1, false)"
                    ).format(
                        qualified=sql.Literal(f'"{self.db.schema}"."{table}"'),
                        column=sql.Literal(column),
                        ident=sql.Identifier(column),
                        table=sql.Identifier(table),
                    )
                )
            if self.graph:
                await conn.execute("DELETE FROM person_fts")
                await conn.execute(
                    "INSERT INTO person_fts (pk, names, organization, identities, notes) "
                    "SELECT pk, names, organization, identities, notes FROM person_search_text"
                )

        await self.db.write(run)
