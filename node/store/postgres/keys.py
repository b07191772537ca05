"""Integer keys given by the store itself on PostgreSQL (imports, mail capture): the first free keys are read
inside a write transaction, which holds the graph's lock (node/store/postgres/db.py), so no other writer can
take them; once the rows are in, the table's identity sequence is moved past them, so that a later insert
that leaves the key to the sequence cannot collide with one of them.

Sequences are not transactional: a transaction that rolls back after ``advance_keys`` leaves the sequence
ahead, which only leaves a gap in the keys (SQLite's keys have gaps after deletes too)."""

from __future__ import annotations

from psycopg import sql

from node.store.postgres.rows import Conn

__all__ = ["advance_keys", "first_free_key"]


async def first_free_key(conn: Conn, table: str) -> int:
    """The first key above every row of ``table`` (SQLite's max(pk) + 1)."""
    cur = await conn.execute(sql.SQL("SELECT coalesce(max(pk), 0) + 1 FROM {}").format(sql.Identifier(table)))
    row = await cur.fetchone()
    return int(row[0]) if row else 1


async def advance_keys(conn: Conn, table: str) -> None:
    """Move ``table``'s key sequence past its largest key (never back: a key once given is not given again)."""
    await conn.execute(
        sql.SQL(
            "SELECT setval(s::regclass, greatest((SELECT coalesce(max(pk), 0) FROM {t}) + 1, nextval(s::regclass)), false) "
            "FROM pg_get_serial_sequence({name}, 'pk') AS s"
        ).format(t=sql.Identifier(table), name=sql.Literal(table))
    )
