"""Rows as the PostgreSQL store reads them, and the small query helpers every store module uses.

A :class:`Row` is read like aiosqlite's row (``row[0]`` and ``row["name"]``), so that the store modules read
the SQLite engine's line for line (specs/POSTGRESQL.md §4). Placeholders are psycopg's: ``%s`` or ``%(name)s``
(a literal percent sign in SQL is then written ``%%``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

__all__ = [
    "Conn",
    "Row",
    "execute",
    "executemany",
    "fetch_all",
    "fetch_one",
    "fetch_value",
    "placeholders",
    "row_factory",
]

#: The connection type every store function takes.
Conn = AsyncConnection[Any]


class Row(tuple[Any, ...]):
    """One result row: a tuple whose items can also be read by column name."""

    __slots__ = ()
    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def row_factory(cursor: Any) -> Any:
    """psycopg's row factory for :class:`Row`: one subclass per result shape, made once per query."""
    description = cursor.description
    if description is None:
        return tuple
    names = {d.name: i for i, d in reversed(list(enumerate(description)))}  # the first of equal names wins
    shaped = type("Row", (Row,), {"__slots__": (), "_names": names})

    def make(values: Sequence[Any]) -> Row:
        return shaped(values)  # type: ignore[no-any-return]

    return make


async def execute(conn: AsyncConnection[Any], sql: Any, params: Any = None) -> AsyncCursor[Any]:
    """Run one statement; the cursor's ``rowcount`` says how many rows it changed."""
    return await conn.execute(sql, params)


async def executemany(conn: AsyncConnection[Any], sql: Any, rows: Iterable[Sequence[Any]]) -> None:
    """Run one statement for each of ``rows`` (psycopg pipelines them: one round trip, not one per row)."""
    async with conn.cursor() as cur:
        await cur.executemany(sql, rows)


async def fetch_all(conn: AsyncConnection[Any], sql: Any, params: Any = None) -> list[Row]:
    cur = await conn.execute(sql, params)
    return list(await cur.fetchall())


async def fetch_one(conn: AsyncConnection[Any], sql: Any, params: Any = None) -> Row | None:
    cur = await conn.execute(sql, params)
    row: Row | None = await cur.fetchone()
    return row


async def fetch_value(conn: AsyncConnection[Any], sql: Any, params: Any = None) -> Any:
    """The first column of the first row, or None when there is no row."""
    row = await fetch_one(conn, sql, params)
    return None if row is None else row[0]


def placeholders(n: int) -> str:
    return ",".join(["%s"] * n)
