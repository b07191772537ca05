"""SQLite implementation of the server's account registry (node/store/accounts.py) in server.sqlite3: accounts,
their keys, and the server's own key/value settings. Every public coroutine is one transaction or one
consistent read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import aiosqlite

from node.errors import Conflict, NotFound
from node.models import AccountRow
from node.store.errors import StoreUnavailable
from node.store.row_records import account_from_row
from node.store.sqlite.db import Database
from node.store.sqlite.driver import sqlite
from node.store.sqlite.errors import store_error
from node.store.sqlite.rows import fetch_all, fetch_one, stamp, stamp_or_none

__all__ = ["SqliteAccounts", "read_registry"]

_COLUMNS = "pk, name, type, display_name, state, graph_file, created_at, updated_at, removed_at, purge_after"


class SqliteAccounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- accounts -------------------------------------------------------------------------------------------
    async def create(
        self,
        *,
        name: str,
        type: str,
        display_name: str,
        graph_file: str,
        token_sha256: str | None,
        keys: Mapping[str, str],
        now: datetime,
    ) -> AccountRow:
        """Register an account with its token digest and keys in one transaction; Conflict if the name was
        ever used (names of removed accounts stay reserved)."""
        at = stamp(now)

        async def run(conn: aiosqlite.Connection) -> AccountRow:
            if await fetch_one(conn, "SELECT 1 FROM account WHERE name = ?", (name,)) is not None:
                raise Conflict(
                    f"the name {name!r} is taken (names of removed accounts are never reused)", field="name"
                )
            cur = await conn.execute(
                "INSERT INTO account (name, type, display_name, state, graph_file, token_sha256, created_at, "
                "updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?, ?)",
                (name, type, display_name, graph_file, token_sha256, at, at),
            )
            pk = int(cur.lastrowid or 0)
            await conn.executemany(
                "INSERT INTO account_key (account_pk, purpose, pem, created_at) VALUES (?, ?, ?, ?)",
                [(pk, purpose, pem, at) for purpose, pem in keys.items()],
            )
            return await _get(conn, "pk = ?", pk)

        return await self.db.write(run)

    async def get(self, name: str) -> AccountRow:
        return await self.db.read(lambda conn: _get(conn, "name = ?", name))

    async def get_pk(self, pk: int) -> AccountRow:
        return await self.db.read(lambda conn: _get(conn, "pk = ?", pk))

    async def find(self, name: str) -> AccountRow | None:
        async def run(conn: aiosqlite.Connection) -> AccountRow | None:
            row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM account WHERE name = ?", (name,))
            return None if row is None else account_from_row(row)

        return await self.db.read(run)

    async def list(self, *, states: tuple[str, ...] = ()) -> list[AccountRow]:
        async def run(conn: aiosqlite.Connection) -> list[AccountRow]:
            if states:
                marks = ",".join("?" * len(states))
                rows = await fetch_all(
                    conn, f"SELECT {_COLUMNS} FROM account WHERE state IN ({marks}) ORDER BY pk", states
                )
            else:
                rows = await fetch_all(conn, f"SELECT {_COLUMNS} FROM account ORDER BY pk")
            return [account_from_row(r) for r in rows]

        return await self.db.read(run)

    async def set_state(
        self,
        pk: int,
        *,
        expect: tuple[str, ...],
        state: str,
        now: datetime,
        removed_at: datetime | None = None,
        purge_after: datetime | None = None,
    ) -> AccountRow:
        """Move the account to ``state`` if it is in one of ``expect`` (checked in the same transaction, so two
        commands racing cannot both win); the caller has checked the move against protocol.states.ACCOUNT."""

        async def run(conn: aiosqlite.Connection) -> AccountRow:
            marks = ",".join("?" * len(expect))
            cur = await conn.execute(
                f"UPDATE account SET state = ?, updated_at = ?, removed_at = coalesce(?, removed_at), "
                f"purge_after = coalesce(?, purge_after) WHERE pk = ? AND state IN ({marks})",
                (state, stamp(now), stamp_or_none(removed_at), stamp_or_none(purge_after), pk, *expect),
            )
            if cur.rowcount == 0:
                current = await _get(conn, "pk = ?", pk)
                raise Conflict(f"account {current.name} is {current.state}", field="state")
            if state == "purged":  # nothing of it is kept but its name
                await conn.execute("DELETE FROM account_key WHERE account_pk = ?", (pk,))
                await conn.execute("UPDATE account SET token_sha256 = NULL WHERE pk = ?", (pk,))
            return await _get(conn, "pk = ?", pk)

        return await self.db.write(run)

    async def forget(self, pk: int) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute("DELETE FROM account_key WHERE account_pk = ?", (pk,))
            await conn.execute("DELETE FROM account WHERE pk = ?", (pk,))

        await self.db.write(run)

    async def set_display(self, pk: int, *, display_name: str, type: str, now: datetime) -> AccountRow:
        async def run(conn: aiosqlite.Connection) -> AccountRow:
            await conn.execute(
                "UPDATE account SET display_name = ?, type = ?, updated_at = ? WHERE pk = ?",
                (display_name, type, stamp(now), pk),
            )
            return await _get(conn, "pk = ?", pk)

        return await self.db.write(run)

    # -- owner API tokens -----------------------------------------------------------------------------------
    async def set_token(self, pk: int, token_sha256: str, now: datetime) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE account SET token_sha256 = ?, updated_at = ? WHERE pk = ?",
                (token_sha256, stamp(now), pk),
            )

        await self.db.write(run)

    async def by_token(self, token_sha256: str) -> AccountRow | None:
        """The account this token digest belongs to, if it may use the API (active accounts only)."""

        async def run(conn: aiosqlite.Connection) -> AccountRow | None:
            row = await fetch_one(
                conn,
                f"SELECT {_COLUMNS} FROM account WHERE token_sha256 = ? AND state = 'active'",
                (token_sha256,),
            )
            return None if row is None else account_from_row(row)

        return await self.db.read(run)

    async def token_digest(self, pk: int) -> str | None:
        async def run(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(conn, "SELECT token_sha256 FROM account WHERE pk = ?", (pk,))
            return None if row is None or row[0] is None else str(row[0])

        return await self.db.read(run)

    # -- keys -----------------------------------------------------------------------------------------------
    async def keys(self, pk: int) -> dict[str, str]:
        async def run(conn: aiosqlite.Connection) -> dict[str, str]:
            rows = await fetch_all(conn, "SELECT purpose, pem FROM account_key WHERE account_pk = ?", (pk,))
            return {r[0]: r[1] for r in rows}

        return await self.db.read(run)

    async def replace_keys(self, pems: Mapping[int, Mapping[str, str]], now: datetime) -> None:
        """Rewrite the key PEMs of many accounts in one transaction (a passphrase set, changed or removed)."""
        at = stamp(now)

        async def run(conn: aiosqlite.Connection) -> None:
            for pk, keys in pems.items():
                for purpose, pem in keys.items():
                    await conn.execute(
                        "INSERT INTO account_key (account_pk, purpose, pem, created_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT DO UPDATE SET pem = excluded.pem",
                        (pk, purpose, pem, at),
                    )

        await self.db.write(run)

    # -- the server's settings --------------------------------------------------------------------------------
    async def meta_get(self, key: str) -> str | None:
        async def run(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(conn, "SELECT value FROM server_meta WHERE key = ?", (key,))
            return None if row is None else str(row[0])

        return await self.db.read(run)

    async def meta_set(self, key: str, value: str) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO server_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        await self.db.write(run)


async def _get(conn: aiosqlite.Connection, where: str, value: object) -> AccountRow:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM account WHERE {where}", (value,))
    if row is None:
        raise NotFound(f"no account {value!r}", field="account")
    return account_from_row(row)


def read_registry(path: Path) -> list[AccountRow]:
    """The accounts in the server database at ``path``, read without an event loop (for commands that only
    need to know which account they act for before they talk to the running server over HTTP)."""
    if not path.exists():
        raise StoreUnavailable(f"no Kith server in {path.parent}; run `kith init` first (or pass --data)")
    try:
        conn = sqlite.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            rows = conn.execute(f"SELECT {_COLUMNS} FROM account ORDER BY pk").fetchall()
            return [account_from_row(r) for r in rows]
        finally:
            conn.close()
    except sqlite.Error as exc:
        raise store_error(exc, path, sqlite) from exc
