"""One PostgreSQL schema as the store uses it: an account's graph (``g_...``) or the server's own (``kith``).

Rules this module keeps (specs/POSTGRESQL.md):
- Every call is one explicit transaction on a connection of the shared pool, and begins with
  ``SET LOCAL search_path`` to its schema: never a session-level SET, since PgBouncer in transaction mode hands
  a connection to another client after each transaction. The same SQL as SQLite's then runs unqualified.
- Writes to one schema are serialised, like SQLite's single writer: every write transaction first takes
  ``pg_advisory_xact_lock`` on a key of its schema, so that the read-then-write logic the stores share with the
  SQLite engine stays correct; two schemas (two accounts) still write in parallel. Reads are plain READ
  COMMITTED, or REPEATABLE READ (``snapshot=True``) where several SELECTs must see one moment.
- Migrations are numbered SQL files applied in order at open, under a database-wide advisory lock so that two
  processes opening a fresh database together migrate it once; ``schema_version`` in the schema records the
  version, and a schema newer than this code is refused (SchemaTooNew), as on SQLite.
- psycopg's errors leave as the store's own (node/store/postgres/errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from node.store.errors import MigrationFailed, SchemaTooNew
from node.store.postgres.driver import POOL_MAX_SIZE, new_pool
from node.store.postgres.errors import store_error
from node.store.postgres.rows import Conn, fetch_one
from node.store.sqlite.db import Migration

__all__ = [
    "GRAPH_MIGRATIONS",
    "SERVER_MIGRATIONS",
    "SERVER_SCHEMA",
    "PgDatabase",
    "graph_lock_key",
    "migrations",
]

T = TypeVar("T")

_log = logging.getLogger("kith.store")

GRAPH_MIGRATIONS = "node.store.postgres.graph_migrations"
SERVER_MIGRATIONS = "node.store.postgres.server_migrations"
#: The schema of the server's own tables (the account registry, keys, federation's state).
SERVER_SCHEMA = "kith"
#: Advisory lock namespaces (the first of pg_advisory_xact_lock's two int4 keys): a schema's writes, and the
#: migrations of the whole database.
_WRITE_NS = 0x4B495448  # "KITH"
_MIGRATE_NS = 0x4B49544D  # "KITM"


def migrations(package: str) -> list[Migration]:
    """The numbered SQL files of ``package``, in order; RuntimeError on a gap (a broken install)."""
    found = []
    for entry in resources.files(package).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append(Migration(int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001.. without gaps, found {versions}")
    return found


def graph_lock_key(schema: str) -> sql.Composed:
    """The two-int advisory key of ``schema``'s writes (hashtext: a collision only serialises two schemas)."""
    return sql.SQL("{}, hashtext({})").format(sql.Literal(_WRITE_NS), sql.Literal(schema))


class PgDatabase:
    """One schema of a PostgreSQL database, over a pool of connections that may be shared with other schemas'
    PgDatabase objects (every account of a server). Use :meth:`open`; call :meth:`close` when done."""

    def __init__(self, url: str, schema: str, pool: Any, *, owns_pool: bool) -> None:
        self.url = url
        self.schema = schema
        self.pool = pool
        self._owns_pool = owns_pool
        self._path = sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
        self._lock = sql.SQL("SELECT pg_advisory_xact_lock({})").format(graph_lock_key(schema))
        self.version = 0  # the schema's version once open
        self.applied: list[str] = []  # the migrations this open applied (none when another process had)
        self.closed = False
        self._open_for_writes = asyncio.Event()  # cleared while write_elsewhere runs
        self._open_for_writes.set()
        self._holder = asyncio.Lock()  # one write_elsewhere at a time

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        schema: str,
        migrations: str,
        progress: Callable[[str], None] | None = None,
        pool: Any = None,
        pool_size: int = POOL_MAX_SIZE,
    ) -> PgDatabase:
        """Open ``schema`` (creating and migrating it as needed with the SQL files of the package
        ``migrations``). ``pool``: a psycopg_pool.AsyncConnectionPool to share (the server's); without one, a
        pool of its own of ``pool_size`` connections is made, and closed by :meth:`close`."""
        owns = pool is None
        if owns:
            pool = await new_pool(url, max_size=pool_size)
        db = cls(url, schema, pool, owns_pool=owns)
        try:
            db.version = await db._migrate(migrations, progress or _log.info)
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._owns_pool:
            await self.pool.close()

    @contextlib.asynccontextmanager
    async def _transaction(self, *, snapshot: bool = False, lock: bool = False) -> AsyncIterator[Conn]:
        if self.closed:
            raise RuntimeError("database is closed")
        try:
            async with self.pool.connection() as conn:
                if snapshot:
                    await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                    # psycopg's transaction() inside an explicit BEGIN would be a savepoint: manage it by hand
                    try:
                        await conn.execute(self._path)
                        yield conn
                    except BaseException:
                        with contextlib.suppress(psycopg.Error):
                            await conn.execute("ROLLBACK")
                        raise
                    else:
                        await conn.execute("COMMIT")
                else:
                    async with conn.transaction():
                        await conn.execute(self._path)
                        if lock:
                            await conn.execute(self._lock)
                        yield conn
        except psycopg.Error as exc:
            raise store_error(exc, self.url) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg_pool"):
                raise store_error(exc, self.url) from exc
            raise

    async def read(self, fn: Callable[[Conn], Awaitable[T]], *, snapshot: bool = False) -> T:
        """Run ``fn(conn)`` in a read transaction of its own: READ COMMITTED, or with ``snapshot`` REPEATABLE
        READ (every SELECT sees the same moment: an export, a page with its count)."""
        async with self._transaction(snapshot=snapshot) as conn:
            return await fn(conn)

    async def write(self, fn: Callable[[Conn], Awaitable[T]], *, lock: bool = True) -> T:
        """Run ``fn(conn)`` in one transaction that first takes the schema's write lock (module docstring);
        all of it commits, or nothing. ``lock=False``: no schema-wide lock, for transactions that lock only
        the rows they claim (federation's queues, ``FOR UPDATE SKIP LOCKED``)."""
        await self._open_for_writes.wait()
        async with self._transaction(lock=lock) as conn:
            return await fn(conn)

    async def write_elsewhere(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` while this process begins no write of its own to the schema (GraphStore.hold_writes):
        another process writing it (an import worker) then never waits for ours, and ours do not sit in the
        advisory lock's queue each holding one of the pool's connections for the length of an import; they
        start once ``fn`` ends."""
        async with self._holder:
            self._open_for_writes.clear()
            try:
                return await fn()
            finally:
                self._open_for_writes.set()

    async def _migrate(self, package: str, progress: Callable[[str], None]) -> int:
        known = migrations(package)
        latest = known[-1].version if known else 0
        ident = sql.Identifier(self.schema)
        async with self._transaction() as conn:
            # One migrator at a time in the whole database: two processes starting on a fresh database must not
            # both create the same schema (or extension), and a reader of schema_version must see it whole.
            await conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_MIGRATE_NS,))
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.schema_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
                    "version integer NOT NULL)"
                ).format(ident)
            )
            row = await fetch_one(conn, "SELECT version FROM schema_version")
            current = int(row[0]) if row else 0
            if current > latest:
                raise SchemaTooNew(
                    f"the PostgreSQL schema {self.schema} has schema version {current}, but this Kith knows only "
                    f"up to {latest}: upgrade Kith (pip install -U kith) or restore a backup made by this version"
                )
            pending = [m for m in known if m.version > current]
            for n, m in enumerate(pending, 1):
                if current:  # a new schema's migrations only make empty tables
                    progress(f"migrating {self.schema}: {m.name} ({n} of {len(pending)})…")
                started = time.monotonic()
                try:
                    async with conn.transaction():  # a savepoint: the error names this migration
                        await conn.execute(m.sql.encode())  # bytes: no placeholders in a migration's text
                except psycopg.Error as exc:
                    raise MigrationFailed(
                        f"migration {m.name} of the PostgreSQL schema {self.schema} failed and was rolled back "
                        f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); the "
                        "database is unchanged. Report it with the node's log"
                    ) from exc
                self.applied.append(m.name)
                if current:
                    progress(
                        f"migrated {self.schema}: {m.name} applied in {time.monotonic() - started:.1f} s"
                    )
            if pending:
                await conn.execute(
                    "INSERT INTO schema_version (version) VALUES (%s) "
                    "ON CONFLICT (one) DO UPDATE SET version = excluded.version",
                    (latest,),
                )
        return latest
