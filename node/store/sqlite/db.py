"""The SQLite database behind a node: one file, WAL, synchronous=FULL, versioned migrations, group commit.

Rules this module keeps (docs/ARCHITECTURE.md §5-§6):
- One writer connection. Writes are queued and run by one task, which puts every write that is waiting into one
  transaction (group commit): with synchronous=FULL each commit costs an fsync, so batching is what lets inbox
  items and outbox rows arrive at thousands per second while each caller still returns only once its write is
  on disk. Each write runs inside its own SAVEPOINT, so one failing write rolls back alone and the others in
  the batch still commit.
- Readers use a small pool of their own connections (each read is one snapshot transaction, so concurrent
  requests must not share one); WAL lets them read while the writer writes.
- Migrations are numbered SQL files applied in order at open; ``PRAGMA user_version`` records the schema
  version. A database newer than this code refuses to open with a clear error.
- A kill at any moment leaves either the whole batch or none of it: SQLite's journal guarantees it.
- Another process may write the same file while this one's writer is parked (``write_elsewhere``): an import
  runs in a worker process of its own (node/import_worker.py), and SQLite's lock keeps the two apart.
- SQLite's errors leave this class as the store's own (node/store/errors.py, mapped by
  node/store/sqlite/errors.py) from open, read, write and backup: nothing above the storage package sees a
  driver's exception.
- The database and its backups are created readable by the owner only (0600): they hold the whole graph, the
  password hash and the session key. SQLite gives the -wal and -shm files the database file's mode.
- Checkpoints (copying the WAL back into the database file) run in the background on a connection of their
  own, never inside a commit: SQLite's automatic checkpoint would make whichever write happens to cross its
  threshold wait for the whole copy (about 90 ms after a 30,000-row import). A commit is durable once its WAL
  frames are synced; the checkpoint only keeps the WAL from growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from node.store.errors import MigrationFailed, SchemaTooNew
from node.store.sqlite.driver import connect, sqlite
from node.store.sqlite.errors import store_error

__all__ = [
    "CHECKPOINT_PAUSE",
    "GRAPH_MIGRATIONS",
    "MIGRATION_CHECK_STEPS",
    "MIGRATION_REPORT_EVERY",
    "SERVER_MIGRATIONS",
    "Database",
    "Migration",
    "WriteFn",
    "create_private",
    "migrations",
]

T = TypeVar("T")
WriteFn = Callable[[aiosqlite.Connection], Awaitable[T]]

_log = logging.getLogger("kith.store")

_BATCH_MAX = 512
_READERS = 4
CHECKPOINT_PAUSE = 0.5  # seconds between background checkpoints while writes keep coming
#: The two schemas: an account's contact graph (one database file per account) and the server's own database.
GRAPH_MIGRATIONS = "node.store.sqlite.migrations"
SERVER_MIGRATIONS = "node.store.server_migrations"
MIGRATION_REPORT_EVERY = 2.0  # seconds between "still migrating" reports of a long migration
MIGRATION_CHECK_STEPS = 100_000  # SQLite VM steps between looks at the clock during a migration (a few ms)


def create_private(path: Path) -> None:
    """Make ``path`` an empty file readable and writable by its owner only, unless it exists (then its mode is
    left to the start-up check, node/files.py). Made before SQLite opens it: SQLite creates a missing file with
    the process's umask (0644 as a rule) and gives the -wal and -shm files the database file's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(package: str = GRAPH_MIGRATIONS) -> list[Migration]:
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


@contextlib.contextmanager
def _driver_errors(path: Path, module: Any) -> Iterator[None]:
    """The seam: an error of the SQLite library leaves as the store's own (node/store/sqlite/errors.py)."""
    try:
        yield
    except module.Error as exc:
        raise store_error(exc, path, module) from exc


async def _configure(conn: aiosqlite.Connection) -> None:
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=FULL")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA busy_timeout=10000")
    await conn.execute("PRAGMA temp_store=MEMORY")


class _Job:
    __slots__ = ("alone", "checked", "elsewhere", "fn", "future")

    def __init__(
        self,
        fn: WriteFn[Any],
        future: asyncio.Future[Any],
        alone: bool = False,
        checked: bool = True,
        elsewhere: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.fn = fn
        self.future = future
        self.alone = alone or elsewhere is not None
        self.checked = checked
        self.elsewhere = elsewhere


class Database:
    """An open node database. Use :meth:`open`; call :meth:`close` when done."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        readers: list[aiosqlite.Connection],
        checkpointer: aiosqlite.Connection | None = None,
    ) -> None:
        self.path = path
        self.module: Any = sqlite  # the SQLite module the connections run on (Database.open sets it)
        self._writer = writer
        self._readers = readers
        self._checkpointer = checkpointer
        self._committed = asyncio.Event()  # set by each commit, cleared by the checkpoint that follows
        self._checkpoint_task: asyncio.Task[None] | None = None
        self.checkpoints = 0  # background checkpoints run (tests read it)
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # how many transactions the writer has committed (tests and benchmarks read it)

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        module: Any = None,
        schema: str = GRAPH_MIGRATIONS,
        reader_count: int = _READERS,
        progress: Callable[[str], None] | None = None,
        checkpoints: bool = True,
        secure_delete: bool = False,
    ) -> Database:
        """Open (creating and migrating as needed). ``module``: the SQLite module to run on, by default the
        process's (node/store/sqlite/driver.py); the tests pass each one this machine has. ``schema``: which
        migrations apply (GRAPH_MIGRATIONS or SERVER_MIGRATIONS). ``reader_count``: reader connections, each a
        thread of aiosqlite's (an account opened among many needs fewer than a busy one). ``progress`` is told
        what a migration is doing (the CLI prints it; by default it is logged). ``checkpoints=False``: no
        background checkpoints (an import worker, which leaves them to the node that started it).
        ``secure_delete``: what is deleted or rewritten is overwritten in the file, not only unlinked (the
        server database, whose inbox holds for a while what members share with an organisation)."""
        path = Path(path)
        module = module or sqlite
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            create_private(path)
        except OSError as exc:
            raise store_error(exc, path, module) from exc
        with _driver_errors(path, module):
            writer = await connect(path, module=module, isolation_level=None)
        readers: list[aiosqlite.Connection] = []
        try:
            with _driver_errors(path, module):
                await _configure(writer)
                await writer.execute(
                    "PRAGMA wal_autocheckpoint=0"
                )  # the checkpointer's job (module docstring)
                if secure_delete:
                    await writer.execute("PRAGMA secure_delete=ON")
                await _migrate(writer, path, module, schema, progress or _log.info)
                for _ in range(max(1, reader_count) + 1):
                    reader = await connect(path, module=module, isolation_level=None)
                    readers.append(reader)
                    await _configure(reader)
                    reader.row_factory = module.Row
        except BaseException:
            for conn in (writer, *readers):
                with contextlib.suppress(module.Error):
                    await conn.close()
            raise
        writer.row_factory = module.Row
        db = cls(path, writer, readers[:-1], checkpointer=readers[-1])  # one more, configured alike
        db.module = module
        db._task = asyncio.create_task(db._write_loop(), name="kith-db-writer")
        if checkpoints:
            db._checkpoint_task = asyncio.create_task(db._checkpoint_loop(), name="kith-db-checkpoint")
        return db

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
            self._checkpoint_task = None
        for reader in self._readers:
            await reader.close()
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self._writer.close()  # the last connection to close checkpoints whatever is left

    async def _checkpoint_loop(self) -> None:
        """After commits, copy the WAL back into the database (PASSIVE: it waits for no reader and no writer,
        and copies what no reader still needs), at most once per CHECKPOINT_PAUSE."""
        conn = self._checkpointer
        if conn is None:
            return
        while True:
            await self._committed.wait()
            self._committed.clear()
            try:
                async with conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                    row = await cur.fetchone()
                self.checkpoints += 1
                if (
                    row is not None and row[2] < row[1]
                ):  # a reader still needed some frames: come back for them
                    self._committed.set()
            except self.module.Error as exc:  # busy or I/O: the WAL only grows until the next try
                _log.warning("background checkpoint of %s failed: %s; will try again", self.path, exc)
                self._committed.set()
            await asyncio.sleep(CHECKPOINT_PAUSE)

    async def write(self, fn: WriteFn[T], *, alone: bool = False, foreign_keys: bool = True) -> T:
        """Run ``fn(conn)`` in the next group-committed transaction; return once it is on disk.

        ``alone``: in a transaction of its own, begun for it, so that the database as readers see it is exactly
        what ``fn`` starts from (an import reads through a reader's snapshot while it writes).
        ``foreign_keys=False`` (only with ``alone``): SQLite does not check references in that transaction. For a
        bulk writer that assigns every key itself and deletes nothing a reference could point to (the importer:
        its tests check every import with ``PRAGMA foreign_key_check``); the checks are about 8% of its SQLite time."""
        if self._task is None:
            raise RuntimeError("database is closed")
        if not foreign_keys and not alone:
            raise ValueError("foreign_keys=False needs alone=True: it must not cover other callers' writes")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(fn, future, alone, foreign_keys))
        with _driver_errors(self.path, self.module):
            return await future

    async def write_elsewhere(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` in the writer's turn, with no transaction of ours: while it runs, no write of this
        process begins, so another process writing the same file (an import worker, node/import_worker.py)
        gets SQLite's write lock without waiting for ours, and our writes queue as they would behind an import
        run here. What the other process committed is checkpointed as our own commits are."""
        if self._task is None:
            raise RuntimeError("database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(_no_write, future, elsewhere=fn))
        return await future

    async def read(self, fn: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` on a reader connection of its own (a consistent snapshot for its duration)."""
        reader = await self._idle.get()
        try:
            with _driver_errors(self.path, self.module):
                await reader.execute("BEGIN")
                try:
                    return await fn(reader)
                finally:
                    await reader.execute("COMMIT")
        finally:
            self._idle.put_nowait(reader)

    @contextlib.contextmanager
    def blocking_reader(self) -> Iterator[Any]:
        """A query_only connection on the calling thread, closed at the end: for one caller's many small reads
        of committed data (an import's look-ups), which would each wait for a reader's thread and the GIL."""
        conn = self.module.connect(str(self.path), isolation_level=None)
        try:
            conn.row_factory = self.module.Row
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA busy_timeout = 10000")
            yield conn
        finally:
            conn.close()

    async def backup(self, dest: Path | str) -> None:
        """Online backup: a consistent copy of the database while the node keeps running."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = dest.with_name(dest.name + ".partial")
        tmp.unlink(missing_ok=True)
        create_private(tmp)  # a copy of the whole graph: the owner's alone, like the database
        with _driver_errors(tmp, self.module):
            target = await connect(tmp, module=self.module)
            try:
                await self.read(lambda conn: conn.backup(target))
            finally:
                await target.close()
        tmp.replace(dest)  # the copy appears whole or not at all

    async def _write_loop(self) -> None:
        conn = self._writer
        stop = False
        held: _Job | None = None  # an "alone" job met while gathering a batch: the next batch's first
        while not stop:
            first, held = (held, None) if held is not None else (await self._queue.get(), None)
            if first is None:
                break
            if first.elsewhere is not None:
                await self._run_elsewhere(first, first.elsewhere)
                continue
            batch = [first]
            while not first.alone and len(batch) < _BATCH_MAX and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                if nxt.alone:  # it begins the next transaction
                    held = nxt
                    break
                batch.append(nxt)
            results: list[tuple[_Job, bool, Any]] = []
            unchecked = not first.checked  # then the batch is that one job (write() requires alone)
            try:
                if unchecked:  # a no-op inside a transaction: set before BEGIN, put back after the end
                    await conn.execute("PRAGMA foreign_keys=OFF")
                await conn.execute("BEGIN IMMEDIATE")
                if len(batch) == 1:
                    # The transaction is the job's: a failure rolls it back. (No savepoint: releasing one
                    # that covers a large import took 12 ms, spent on what a rollback would have needed.)
                    try:
                        results.append((first, True, await first.fn(conn)))
                    except BaseException as exc:
                        if conn.in_transaction:  # some errors end the transaction themselves
                            await conn.execute("ROLLBACK")
                        results.append((first, False, exc))
                else:
                    for job in batch:  # a savepoint each: one write's failure is that write's alone
                        await conn.execute("SAVEPOINT job")
                        try:
                            value = await job.fn(conn)
                        except BaseException as exc:
                            await conn.execute("ROLLBACK TO job")
                            await conn.execute("RELEASE job")
                            results.append((job, False, exc))
                        else:
                            await conn.execute("RELEASE job")
                            results.append((job, True, value))
                if conn.in_transaction:
                    await conn.execute("COMMIT")
                self.commits += 1
                self._committed.set()
            except BaseException as exc:
                with contextlib.suppress(self.module.Error):
                    await conn.execute("ROLLBACK")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            finally:
                if unchecked:
                    with contextlib.suppress(self.module.Error):
                        await conn.execute("PRAGMA foreign_keys=ON")
            for job, ok, value in results:
                if job.future.done():
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    async def _run_elsewhere(self, job: _Job, fn: Callable[[], Awaitable[Any]]) -> None:
        try:
            value = await fn()
        except BaseException as exc:
            if not job.future.done():
                job.future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            if not job.future.done():
                job.future.set_result(value)
        self._committed.set()  # the other process may have committed: checkpoint as after a commit of ours


async def _no_write(conn: aiosqlite.Connection) -> None:
    """The connection-taking function of a write_elsewhere job, which never runs."""


async def _migrate(
    conn: aiosqlite.Connection, path: Path, module: Any, schema: str, progress: Callable[[str], None]
) -> None:
    known = migrations(schema)
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    latest = known[-1].version if known else 0
    if current > latest:
        raise SchemaTooNew(
            f"{path} has schema version {current}, but this Kith knows only up to {latest}: "
            "upgrade Kith (pip install -U kith) or restore a backup made by this version"
        )
    pending = [m for m in known if m.version > current]
    for n, m in enumerate(pending, 1):
        # Some migrations rebuild an index over every person (0005: minutes on a large graph): say which one
        # runs, and every MIGRATION_REPORT_EVERY seconds that it still runs, so a slow start is not a hang.
        if current:  # a new database's migrations only make empty tables
            progress(f"migrating {path.name}: {m.name} ({n} of {len(pending)})…")
        started = time.monotonic()
        reporter = _MigrationReport(m.name, started, progress) if current else None
        if reporter is not None:
            await conn.set_progress_handler(reporter, MIGRATION_CHECK_STEPS)
        # executescript commits on its own; wrap each migration in one transaction so it applies whole.
        try:
            await conn.executescript(f"BEGIN IMMEDIATE;\n{m.sql}\nPRAGMA user_version={m.version};\nCOMMIT;")
        except module.Error as exc:
            with contextlib.suppress(module.Error):
                await conn.execute("ROLLBACK")
            raise MigrationFailed(
                f"migration {m.name} of {path} failed and was rolled back ({exc}); the database is unchanged. "
                "Restore a copy made by `kith backup` if it was changed by hand, else report it"
            ) from exc
        finally:
            if reporter is not None:
                await conn.set_progress_handler(cast(Any, None), 0)  # None removes it
        if current:
            progress(f"migrated {path.name}: {m.name} applied in {time.monotonic() - started:.1f} s")


class _MigrationReport:
    """SQLite's progress handler during a migration (it runs in the connection's thread, every
    MIGRATION_CHECK_STEPS virtual-machine steps): reports that the migration is still running, at most every MIGRATION_REPORT_EVERY
    seconds. Returning 0 lets the statement go on."""

    def __init__(self, name: str, started: float, progress: Callable[[str], None]) -> None:
        self.name, self.started, self.progress = name, started, progress
        self.last = started

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self.last >= MIGRATION_REPORT_EVERY:
            self.last = now
            self.progress(f"still applying {self.name}: {now - self.started:.0f} s so far…")
        return 0
