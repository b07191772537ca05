"""SQLite implementation of the graph store's links (node/store/links.py): linked live accounts (bridge_link)
and where each interrupted sync resumes (sync_cursor)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from node.store.links import KEEP, Keep, LinkRow
from node.store.row_records import link_from_row
from node.store.sqlite.db import Database
from node.store.sqlite.rows import fetch_all, fetch_one, stamp

__all__ = ["LINK_COLUMNS", "SqliteLinks", "save_cursor"]

LINK_COLUMNS = (
    "source, account, base_url, secret, status, resume_at, last_sync_at, last_error, created_at, updated_at"
)


async def save_cursor(
    conn: aiosqlite.Connection,
    *,
    source: str,
    account: str,
    direction: str,
    cursor: dict[str, Any] | None,
    now: str,
) -> None:
    """Store (or, for a finished list, forget) the cursor; used inside an import's transaction."""
    if cursor is None:
        await conn.execute(
            "DELETE FROM sync_cursor WHERE source = ? AND account = ? AND direction = ?",
            (source, account, direction),
        )
        return
    await conn.execute(
        "INSERT INTO sync_cursor (source, account, direction, cursor, updated_at) VALUES (?,?,?,?,?) "
        "ON CONFLICT (source, account, direction) DO UPDATE SET cursor = excluded.cursor, "
        "updated_at = excluded.updated_at",
        (source, account, direction, json.dumps(cursor, sort_keys=True), now),
    )


class SqliteLinks:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, *, source: str, account: str, base_url: str, secret: str, now: datetime) -> None:
        """Create or replace a link; a new token makes a revoked link active again and clears its limits."""
        at = stamp(now)

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO bridge_link (source, account, base_url, secret, status, created_at, updated_at) "
                "VALUES (?,?,?,?,'active',?,?) ON CONFLICT (source, account) DO UPDATE SET "
                "base_url = excluded.base_url, secret = excluded.secret, status = 'active', resume_at = NULL, "
                "last_error = NULL, updated_at = excluded.updated_at",
                (source, account, base_url, secret, at, at),
            )

        await self.db.write(run)

    async def get(self, source: str, account: str | None) -> list[LinkRow]:
        """The links of ``source`` (only ``account``'s when given), oldest first."""

        async def run(conn: aiosqlite.Connection) -> list[LinkRow]:
            if account is None:
                rows = await fetch_all(
                    conn,
                    f"SELECT {LINK_COLUMNS} FROM bridge_link WHERE source = ? ORDER BY created_at",
                    (source,),
                )
            else:
                rows = await fetch_all(
                    conn,
                    f"SELECT {LINK_COLUMNS} FROM bridge_link WHERE source = ? AND account = ?",
                    (source, account),
                )
            return [link_from_row(r) for r in rows]

        return await self.db.read(run)

    async def update(
        self,
        source: str,
        account: str,
        now: datetime,
        *,
        secret: str | Keep = KEEP,
        status: str | Keep = KEEP,
        resume_at: datetime | Keep | None = KEEP,
        last_sync_at: datetime | Keep | None = KEEP,
        last_error: str | Keep | None = KEEP,
    ) -> None:
        given: dict[str, str | datetime | Keep | None] = {
            "last_error": last_error,
            "last_sync_at": last_sync_at,
            "resume_at": resume_at,
            "secret": secret,
            "status": status,
        }
        fields = {k: stamp(v) if isinstance(v, datetime) else v for k, v in given.items() if v is not KEEP}
        if not fields:
            raise ValueError(f"a link update changes at least one of {sorted(given)}")
        names = sorted(fields)

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                f"UPDATE bridge_link SET {', '.join(f'{n} = ?' for n in names)}, updated_at = ? "
                "WHERE source = ? AND account = ?",
                (*[fields[n] for n in names], stamp(now), source, account),
            )

        await self.db.write(run)

    async def cursor(self, source: str, account: str, direction: str) -> dict[str, Any] | None:
        async def run(conn: aiosqlite.Connection) -> dict[str, Any] | None:
            row = await fetch_one(
                conn,
                "SELECT cursor FROM sync_cursor WHERE source = ? AND account = ? AND direction = ?",
                (source, account, direction),
            )
            return None if row is None else dict(json.loads(row[0]))

        return await self.db.read(run)

    async def set_cursor(
        self, source: str, account: str, direction: str, cursor: dict[str, Any] | None, now: datetime
    ) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await save_cursor(
                conn, source=source, account=account, direction=direction, cursor=cursor, now=stamp(now)
            )

        await self.db.write(run)
