"""SQLite implementation of the graph store's small parts (node/store/misc.py): the account's key/value meta
rows and the owner's blocked addresses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import aiosqlite

from node.store.misc import BlockedAddress
from node.store.sqlite.db import Database
from node.store.sqlite.rows import fetch_all, fetch_one, stamp

__all__ = ["SqliteMisc"]


class SqliteMisc:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def meta_get(self, key: str) -> str | None:
        async def run(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(conn, "SELECT value FROM meta WHERE key = ?", (key,))
            return None if row is None else str(row[0])

        return await self.db.read(run)

    async def meta_set(self, key: str, value: str) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        await self.db.write(run)

    async def meta_change(
        self, values: Mapping[str, str], *, record: str, advance: Callable[[str | None], str]
    ) -> str:
        """Set ``values`` and the change record ``record`` (``advance(its old value)``) in ONE transaction: a
        change and the record that it must be sent on cannot be separated by a crash (the owner's card and its
        version, node/owner_card.py). Returns the new record."""

        async def run(conn: aiosqlite.Connection) -> str:
            row = await fetch_one(conn, "SELECT value FROM meta WHERE key = ?", (record,))
            new = advance(None if row is None else str(row[0]))
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [*values.items(), (record, new)],
            )
            return new

        return await self.db.write(run)

    async def block(self, uri: str, source: str, now: datetime) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO blocked_address (uri, source, created_at) VALUES (?, ?, ?)",
                (uri, source, stamp(now)),
            )
            return cur.rowcount > 0

        return await self.db.write(run)

    async def unblock(self, uri: str) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute("DELETE FROM blocked_address WHERE uri = ?", (uri,))
            return cur.rowcount > 0

        return await self.db.write(run)

    async def blocked(self) -> list[BlockedAddress]:
        async def run(conn: aiosqlite.Connection) -> list[BlockedAddress]:
            rows = await fetch_all(conn, "SELECT uri, source, created_at FROM blocked_address ORDER BY uri")
            return [BlockedAddress(uri=r[0], source=r[1], created_at=r[2]) for r in rows]

        return await self.db.read(run)
