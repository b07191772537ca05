"""PostgreSQL implementation of the graph store's small parts (node/store/misc.py): the account's key/value meta
rows and the owner's blocked addresses (the SQLite engine's SQL: node/store/sqlite/misc.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from node.store.misc import BlockedAddress
from node.store.postgres.db import PgDatabase
from node.store.postgres.rows import Conn, execute, executemany, fetch_all, fetch_one
from node.store.values import stamp

__all__ = ["PgMisc"]

_UPSERT = (
    "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class PgMisc:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def meta_get(self, key: str) -> str | None:
        async def run(conn: Conn) -> str | None:
            row = await fetch_one(conn, "SELECT value FROM meta WHERE key = %s", (key,))
            return None if row is None else str(row[0])

        return await self.db.read(run)

    async def meta_set(self, key: str, value: str) -> None:
        async def run(conn: Conn) -> None:
            await execute(conn, _UPSERT, (key, value))

        await self.db.write(run)

    async def meta_change(
        self, values: Mapping[str, str], *, record: str, advance: Callable[[str | None], str]
    ) -> str:
        """Set ``values`` and the change record ``record`` (``advance(its old value)``) in ONE transaction (the
        graph's write lock makes the read of the old record and the write one step)."""

        async def run(conn: Conn) -> str:
            row = await fetch_one(conn, "SELECT value FROM meta WHERE key = %s", (record,))
            new = advance(None if row is None else str(row[0]))
            await executemany(conn, _UPSERT, [*values.items(), (record, new)])
            return new

        return await self.db.write(run)

    async def block(self, uri: str, source: str, now: datetime) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await execute(
                conn,
                "INSERT INTO blocked_address (uri, source, created_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (uri, source, stamp(now)),
            )
            return cur.rowcount > 0

        return await self.db.write(run)

    async def unblock(self, uri: str) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await execute(conn, "DELETE FROM blocked_address WHERE uri = %s", (uri,))
            return cur.rowcount > 0

        return await self.db.write(run)

    async def blocked(self) -> list[BlockedAddress]:
        async def run(conn: Conn) -> list[BlockedAddress]:
            rows = await fetch_all(conn, "SELECT uri, source, created_at FROM blocked_address ORDER BY uri")
            return [BlockedAddress(uri=r[0], source=r[1], created_at=r[2]) for r in rows]

        return await self.db.read(run)
