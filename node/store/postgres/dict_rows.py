"""Rows as dicts, for the store methods whose contract hands back a table's row as a mapping (organisations'
members, policies, introductions): psycopg's dict_row, so that a column added to such a table reaches the
caller as SQLite's ``dict(row)`` would hand it over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row

from node.store.postgres.rows import Conn

__all__ = ["dict_all", "dict_one"]


async def dict_all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def dict_one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()
