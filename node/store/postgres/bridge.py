"""PostgreSQL implementation of the Bluesky bridge's state (node/store/bridge.py) in schema kith (server migration
0003_bridge.sql), the SQLite one's statements (node/store/sqlite/bridge.py). Every write is one statement on one
row, so it takes no schema-wide lock (``lock=False``, node/store/postgres/db.py): the row's own lock orders two
processes' writes to one actor, and writes to different actors never wait for each other."""

from __future__ import annotations

import builtins
from datetime import datetime

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
from node.store.postgres.db import PgDatabase
from node.store.postgres.rows import Conn, execute, fetch_all, fetch_one
from node.store.values import stamp

__all__ = ["PgBridgeState"]

_PUT_ACTOR = PUT_ACTOR.format(p="%s")
_QUEUE = QUEUE.format(p="%s")
_TRAFFIC = TRAFFIC.format(p="%s")


class PgBridgeState:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # -- actors ---------------------------------------------------------------------------------------------
    async def actors(self) -> builtins.list[BridgedActor]:
        async def run(conn: Conn) -> list[BridgedActor]:
            rows = await fetch_all(conn, f"SELECT {ACTOR_COLUMNS} FROM bridge_actor ORDER BY did")
            return [actor_from_row(r) for r in rows]

        return await self.db.read(run)

    async def actor(self, did: str) -> BridgedActor | None:
        async def run(conn: Conn) -> BridgedActor | None:
            r = await fetch_one(conn, f"SELECT {ACTOR_COLUMNS} FROM bridge_actor WHERE did = %s", (did,))
            return None if r is None else actor_from_row(r)

        return await self.db.read(run)

    async def by_handle(self, handle: str) -> BridgedActor | None:
        async def run(conn: Conn) -> BridgedActor | None:
            r = await fetch_one(
                conn,
                f"SELECT {ACTOR_COLUMNS} FROM bridge_actor WHERE lower(handle) = lower(%s) AND state = 'bridged' "
                "ORDER BY did LIMIT 1",
                (handle,),
            )
            return None if r is None else actor_from_row(r)

        return await self.db.read(run)

    async def counts(self) -> dict[str, int]:
        async def run(conn: Conn) -> dict[str, int]:
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

        async def run(conn: Conn) -> BridgedActor:
            r = await fetch_one(
                conn, _PUT_ACTOR, (did, handle, account, state, reason, at, at, at, at, handle)
            )
            if r is None:  # an opted-out actor, left as it is (node/store/bridge.py)
                r = await fetch_one(conn, f"SELECT {ACTOR_COLUMNS} FROM bridge_actor WHERE did = %s", (did,))
                assert r is not None  # the row the insert ran into
            return actor_from_row(r)

        return await self.db.write(run, lock=False)

    async def forget(self, did: str) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await execute(conn, "DELETE FROM bridge_actor WHERE did = %s", (did,))
            return cur.rowcount > 0

        return await self.db.write(run, lock=False)

    # -- the operator's blocks ------------------------------------------------------------------------------
    async def blocked(self) -> builtins.list[str]:
        async def run(conn: Conn) -> list[str]:
            return [str(r[0]) for r in await fetch_all(conn, "SELECT did FROM bridge_block ORDER BY did")]

        return await self.db.read(run)

    async def is_blocked(self, did: str) -> bool:
        async def run(conn: Conn) -> bool:
            return await fetch_one(conn, "SELECT 1 FROM bridge_block WHERE did = %s", (did,)) is not None

        return await self.db.read(run)

    async def block(self, did: str, *, now: datetime) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await execute(
                conn,
                "INSERT INTO bridge_block (did, created_at) VALUES (%s, %s) ON CONFLICT (did) DO NOTHING",
                (did, stamp(now)),
            )
            return cur.rowcount > 0

        return await self.db.write(run, lock=False)

    async def unblock(self, did: str) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await execute(conn, "DELETE FROM bridge_block WHERE did = %s", (did,))
            return cur.rowcount > 0

        return await self.db.write(run, lock=False)

    # -- streams --------------------------------------------------------------------------------------------
    async def stream(self, name: str) -> StreamPosition:
        async def run(conn: Conn) -> StreamPosition:
            r = await fetch_one(
                conn, "SELECT cursor, synced_at FROM bridge_stream WHERE stream = %s", (name,)
            )
            if r is None:
                return StreamPosition(cursor=None, synced_at=None)
            return StreamPosition(cursor=None if r[0] is None else int(r[0]), synced_at=moment(r[1]))

        return await self.db.read(run)

    async def set_cursor(self, name: str, cursor: int | None, *, now: datetime, synced: bool = False) -> None:
        at = stamp(now)

        async def run(conn: Conn) -> None:
            await execute(
                conn,
                "INSERT INTO bridge_stream (stream, cursor, synced_at, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor, "
                "synced_at = COALESCE(excluded.synced_at, bridge_stream.synced_at), updated_at = excluded.updated_at",
                (name, cursor, at if synced else None, at),
            )

        await self.db.write(run, lock=False)

    async def mark_synced(self, name: str, *, now: datetime) -> None:
        at = stamp(now)

        async def run(conn: Conn) -> None:
            await execute(
                conn,
                "INSERT INTO bridge_stream (stream, cursor, synced_at, updated_at) VALUES (%s, NULL, %s, %s) "
                "ON CONFLICT (stream) DO UPDATE SET synced_at = excluded.synced_at, "
                "updated_at = excluded.updated_at",
                (name, at, at),
            )

        await self.db.write(run, lock=False)

    # -- the operator's views over federation's rows --------------------------------------------------------
    async def queue(self, *, now: float) -> builtins.list[HostQueue]:
        async def run(conn: Conn) -> list[HostQueue]:
            return [host_queue_from_row(r) for r in await fetch_all(conn, _QUEUE, (now,))]

        return await self.db.read(run)

    async def traffic(self, *, now: float) -> BridgeTraffic:
        async def run(conn: Conn) -> BridgeTraffic:
            r = await fetch_one(conn, _TRAFFIC, (now - 60.0, now - 3600.0))
            assert r is not None  # one row of counts
            return BridgeTraffic(
                follows=int(r["follows"]),
                delivered_last_minute=int(r["minute"]),
                delivered_last_hour=int(r["hour"]),
                waiting=int(r["waiting"]),
            )

        return await self.db.read(run)
