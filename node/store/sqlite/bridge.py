"""SQLite implementation of the Bluesky bridge's state (node/store/bridge.py) in server.sqlite3 (server migration
0003_bridge.sql). Every public coroutine is one transaction of one row, or one consistent read."""

from __future__ import annotations

import builtins
from datetime import datetime

import aiosqlite

from node.store.bridge import BRIDGE_STATES, BridgedActor, BridgeTraffic, HostQueue, StreamPosition
from node.store.bridge_rows import (
    ACTOR_COLUMNS,
    PUT_ACTOR,
    QUEUE,
    TRAFFIC,
    actor_from_row,
    host_queue_from_row,
    moment,
)
from node.store.sqlite.db import Database
from node.store.sqlite.rows import fetch_all, fetch_one
from node.store.values import stamp

__all__ = ["SqliteBridgeState"]

_PUT_ACTOR = PUT_ACTOR.format(p="?")
_QUEUE = QUEUE.format(p="?")
_TRAFFIC = TRAFFIC.format(p="?")


class SqliteBridgeState:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- actors ---------------------------------------------------------------------------------------------
    async def actors(self) -> builtins.list[BridgedActor]:
        async def run(conn: aiosqlite.Connection) -> list[BridgedActor]:
            rows = await fetch_all(conn, f"SELECT {ACTOR_COLUMNS} FROM bridge_actor ORDER BY did")
            return [actor_from_row(r) for r in rows]

        return await self.db.read(run)

    async def actor(self, did: str) -> BridgedActor | None:
        async def run(conn: aiosqlite.Connection) -> BridgedActor | None:
            r = await fetch_one(conn, f"SELECT {ACTOR_COLUMNS} FROM bridge_actor WHERE did = ?", (did,))
            return None if r is None else actor_from_row(r)

        return await self.db.read(run)

    async def by_handle(self, handle: str) -> BridgedActor | None:
        async def run(conn: aiosqlite.Connection) -> BridgedActor | None:
            r = await fetch_one(
                conn,
                f"SELECT {ACTOR_COLUMNS} FROM bridge_actor WHERE lower(handle) = lower(?) AND state = 'bridged' "
                "ORDER BY did LIMIT 1",
                (handle,),
            )
            return None if r is None else actor_from_row(r)

        return await self.db.read(run)

    async def counts(self) -> dict[str, int]:
        async def run(conn: aiosqlite.Connection) -> dict[str, int]:
            rows = await fetch_all(conn, "SELECT state, count(*) FROM bridge_actor GROUP BY state")
            return {state: 0 for state in BRIDGE_STATES} | {str(r[0]): int(r[1]) for r in rows}

        return await self.db.read(run)

    async def put_actor(
        self,
        did: str,
        *,
        account: str,
        state: str,
        reason: str,
        now: datetime,
        handle: str | None = None,
    ) -> BridgedActor:
        at = stamp(now)

        async def run(conn: aiosqlite.Connection) -> BridgedActor:
            r = await fetch_one(
                conn, _PUT_ACTOR, (did, handle, account, state, reason, at, at, at, at, handle)
            )
            if r is None:  # an opted-out actor, left as it is (node/store/bridge.py)
                r = await fetch_one(conn, f"SELECT {ACTOR_COLUMNS} FROM bridge_actor WHERE did = ?", (did,))
                assert r is not None  # the row the insert ran into
            return actor_from_row(r)

        return await self.db.write(run)

    async def forget(self, did: str) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute("DELETE FROM bridge_actor WHERE did = ?", (did,))
            return cur.rowcount > 0

        return await self.db.write(run)

    # -- the operator's blocks ------------------------------------------------------------------------------
    async def blocked(self) -> builtins.list[str]:
        async def run(conn: aiosqlite.Connection) -> list[str]:
            return [str(r[0]) for r in await fetch_all(conn, "SELECT did FROM bridge_block ORDER BY did")]

        return await self.db.read(run)

    async def is_blocked(self, did: str) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            return await fetch_one(conn, "SELECT 1 FROM bridge_block WHERE did = ?", (did,)) is not None

        return await self.db.read(run)

    async def block(self, did: str, *, now: datetime) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "INSERT INTO bridge_block (did, created_at) VALUES (?, ?) ON CONFLICT (did) DO NOTHING",
                (did, stamp(now)),
            )
            return cur.rowcount > 0

        return await self.db.write(run)

    async def unblock(self, did: str) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute("DELETE FROM bridge_block WHERE did = ?", (did,))
            return cur.rowcount > 0

        return await self.db.write(run)

    # -- streams --------------------------------------------------------------------------------------------
    async def stream(self, name: str) -> StreamPosition:
        async def run(conn: aiosqlite.Connection) -> StreamPosition:
            r = await fetch_one(conn, "SELECT cursor, synced_at FROM bridge_stream WHERE stream = ?", (name,))
            if r is None:
                return StreamPosition(cursor=None, synced_at=None)
            return StreamPosition(cursor=None if r[0] is None else int(r[0]), synced_at=moment(r[1]))

        return await self.db.read(run)

    async def set_cursor(self, name: str, cursor: int | None, *, now: datetime, synced: bool = False) -> None:
        at = stamp(now)

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO bridge_stream (stream, cursor, synced_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor, "
                "synced_at = COALESCE(excluded.synced_at, bridge_stream.synced_at), updated_at = excluded.updated_at",
                (name, cursor, at if synced else None, at),
            )

        await self.db.write(run)

    async def mark_synced(self, name: str, *, now: datetime) -> None:
        at = stamp(now)

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO bridge_stream (stream, cursor, synced_at, updated_at) VALUES (?, NULL, ?, ?) "
                "ON CONFLICT (stream) DO UPDATE SET synced_at = excluded.synced_at, "
                "updated_at = excluded.updated_at",
                (name, at, at),
            )

        await self.db.write(run)

    # -- the operator's views over federation's rows --------------------------------------------------------
    async def queue(self, *, now: float) -> builtins.list[HostQueue]:
        async def run(conn: aiosqlite.Connection) -> list[HostQueue]:
            return [host_queue_from_row(r) for r in await fetch_all(conn, _QUEUE, (now,))]

        return await self.db.read(run)

    async def traffic(self, *, now: float) -> BridgeTraffic:
        async def run(conn: aiosqlite.Connection) -> BridgeTraffic:
            r = await fetch_one(conn, _TRAFFIC, (now - 60.0, now - 3600.0))
            assert r is not None  # one row of counts
            return BridgeTraffic(
                follows=int(r["follows"]),
                delivered_last_minute=int(r["minute"]),
                delivered_last_hour=int(r["hour"]),
                waiting=int(r["waiting"]),
            )

        return await self.db.read(run)
