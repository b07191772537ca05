"""node.store.sqlite.db: pragmas, migrations (upgrade, too new), group commit, per-write failure, online backup."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiosqlite
import pytest

from node.graph import Graph
from node.store import MigrationFailed, SchemaTooNew, StoreConflict
from node.store.sqlite.db import Database, migrations
from node.store.sqlite.driver import sqlite
from node.store.sqlite.store import SqliteGraphStore
from tests.conftest import FixedClock

_WRITER_PRAGMAS = ("synchronous", "wal_autocheckpoint", "foreign_keys")  # per connection: the writer's matter


async def _pragma(db: Database, name: str) -> object:
    async def run(conn: aiosqlite.Connection) -> object:
        async with conn.execute(f"PRAGMA {name}") as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    return await db.write(run) if name in _WRITER_PRAGMAS else await db.read(run)


async def test_wal_and_synchronous_full(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "k.sqlite3")
    try:
        assert str(await _pragma(db, "journal_mode")).lower() == "wal"
        # synchronous is per connection: the writer's is what makes a commit durable (2 = FULL).
        assert await _pragma(db, "synchronous") == 2
        assert await _pragma(db, "foreign_keys") == 1
        assert await _pragma(db, "user_version") == migrations()[-1].version
    finally:
        await db.close()


def _make_v0(path: Path) -> None:
    conn = sqlite.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.commit()
    conn.close()


def _make_v1_with_data(path: Path) -> None:
    """A database as the first migration left it, written by hand (no Kith code), holding one person."""
    conn = sqlite.connect(path)
    first = migrations()[0]
    assert first.version == 1
    conn.executescript(first.sql)
    conn.execute(
        "INSERT INTO person (id, display_name, created_at, updated_at) VALUES "
        "('p_old', 'Old Timer', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')"
    )
    conn.execute("INSERT INTO person_fts(rowid, names) VALUES (1, 'Old Timer')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()


async def test_empty_db_at_version_0_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v0.sqlite3"
    _make_v0(path)
    db = await Database.open(path)
    try:
        assert await _pragma(db, "user_version") == migrations()[-1].version
        graph = Graph(SqliteGraphStore.of(db), FixedClock())
        person = await graph.create_person({"display_name": "New One"})
        assert (await graph.get_person(person.id)).display_name == "New One"
    finally:
        await db.close()


async def test_version_1_db_upgrades_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    _make_v1_with_data(path)
    db = await Database.open(path)
    try:
        assert await _pragma(db, "user_version") == migrations()[-1].version
        graph = Graph(SqliteGraphStore.of(db), FixedClock())
        old = await graph.get_person("p_old")
        assert old.display_name == "Old Timer"
        page = await graph.search("timer")
        assert [p.id for p in page.items] == ["p_old"]
    finally:
        await db.close()
    # Opening again applies nothing twice.
    db = await Database.open(path)
    await db.close()


async def test_newer_schema_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    db = await Database.open(path)
    await db.close()
    conn = sqlite.connect(path)
    conn.execute(f"PRAGMA user_version={migrations()[-1].version + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew) as info:
        await Database.open(path)
    message = str(info.value)
    assert "schema version" in message and "upgrade Kith" in message
    # Refusing did not touch the file.
    conn = sqlite.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations()[-1].version + 5
    conn.close()


async def test_group_commit_batches_concurrent_writes(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "g.sqlite3")
    try:
        before = db.commits

        def insert(i: int):
            async def run(conn: aiosqlite.Connection) -> int:
                await conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", str(i)))
                return i

            return run

        results = await asyncio.gather(*(db.write(insert(i)) for i in range(300)))
        assert results == list(range(300))
        commits = db.commits - before
        assert 1 <= commits < 300 / 4, commits

        async def count(conn: aiosqlite.Connection) -> int:
            async with conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'k%'") as cur:
                row = await cur.fetchone()
            return int(row[0]) if row else -1

        assert await db.read(count) == 300
    finally:
        await db.close()


async def test_one_failing_write_does_not_lose_the_batch(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "f.sqlite3")
    try:

        def good(i: int):
            async def run(conn: aiosqlite.Connection) -> int:
                await conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"ok{i}", "x"))
                return i

            return run

        async def bad(conn: aiosqlite.Connection) -> None:
            # Writes something, then fails: its own write must vanish, the others' must stay.
            await conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'written')")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('ok0', 'duplicate')")

        before = db.commits
        tasks = [db.write(good(i)) for i in range(10)]
        tasks.insert(5, db.write(bad))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        # The driver's error leaves the store as the store's own, with the driver's as its cause.
        assert isinstance(results[5], StoreConflict)
        assert isinstance(results[5].__cause__, sqlite.IntegrityError)
        assert [r for i, r in enumerate(results) if i != 5] == list(range(10))
        assert db.commits - before < 11

        async def keys(conn: aiosqlite.Connection) -> dict[str, str]:
            async with conn.execute("SELECT key, value FROM meta") as cur:
                return {r[0]: r[1] for r in await cur.fetchall()}

        stored = await db.read(keys)
        assert "half" not in stored
        assert stored["ok0"] == "x"
        assert all(f"ok{i}" in stored for i in range(10))
    finally:
        await db.close()


async def test_write_after_close_is_refused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.sqlite3")
    await db.close()

    async def run(conn: aiosqlite.Connection) -> None:
        await conn.execute("SELECT 1")

    with pytest.raises(RuntimeError, match="closed"):
        await db.write(run)


async def test_online_backup_while_writes_continue(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "live.sqlite3")
    graph = Graph(SqliteGraphStore.of(db), FixedClock())
    try:
        for i in range(50):
            await graph.create_person({"display_name": f"Before {i}", "identities": [f"acct:b{i}@ex.org"]})
        stop = asyncio.Event()

        async def writer() -> int:
            n = 0
            while not stop.is_set():
                await graph.create_person({"display_name": f"During {n}"})
                n += 1
            return n

        task = asyncio.create_task(writer())
        await asyncio.sleep(0.05)
        dest = tmp_path / "backups" / "copy.sqlite3"
        await db.backup(dest)
        await asyncio.sleep(0.05)
        stop.set()
        written = await task
        assert written > 0
        assert not (tmp_path / "backups" / "copy.sqlite3.partial").exists()
    finally:
        await db.close()
    conn = sqlite.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert (
            conn.execute("SELECT count(*) FROM person WHERE display_name LIKE 'Before %'").fetchone()[0] == 50
        )
        assert conn.execute("SELECT count(*) FROM identity").fetchone()[0] == 50
    finally:
        conn.close()
    # The copy is a node database in its own right: it opens (migrations see it current) and reads.
    copy = await Database.open(dest)
    try:
        page = await Graph(SqliteGraphStore.of(copy), FixedClock()).search("before")
        assert len(page.items) == 50
    finally:
        await copy.close()


async def test_reads_are_snapshots_and_run_concurrently(tmp_path: Path) -> None:
    """More concurrent reads than reader connections, each a consistent snapshot while writes land."""
    db = await Database.open(tmp_path / "r.sqlite3")
    try:
        stop = asyncio.Event()

        async def writer() -> int:
            n = 0
            while not stop.is_set():

                async def put(conn: aiosqlite.Connection, n: int = n) -> None:
                    await conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (f"w{n}",))

                await db.write(put)
                n += 1
            return n

        async def count(conn: aiosqlite.Connection) -> int:
            async with conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'w%'") as cur:
                row = await cur.fetchone()
            return int(row[0]) if row else -1

        async def twice(conn: aiosqlite.Connection) -> tuple[int, int]:
            first = await count(conn)
            await asyncio.sleep(0.01)  # writes commit meanwhile
            return first, await count(conn)

        task = asyncio.create_task(writer())
        results = await asyncio.gather(*(db.read(twice) for _ in range(20)))
        stop.set()
        written = await task
        assert all(a == b for a, b in results), results
        assert written > 0
        assert await db.read(count) == written
    finally:
        await db.close()


async def test_migration_failure_leaves_the_file_unchanged(tmp_path: Path) -> None:
    """A database whose schema clashes with a migration is refused whole, at its old version."""
    path = tmp_path / "clash.sqlite3"
    _make_v1_with_data(path)
    conn = sqlite.connect(path)
    # Something already occupies a name the next migration creates.
    taken = re.search(r"CREATE TABLE (\w+)", migrations()[1].sql)
    assert taken is not None
    conn.execute(f"CREATE TABLE {taken.group(1)} (x)")
    conn.commit()
    conn.close()
    with pytest.raises(MigrationFailed, match="rolled back"):
        await Database.open(path)
    conn = sqlite.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT display_name FROM person").fetchall() == [("Old Timer",)]
    finally:
        conn.close()


async def test_checkpoints_run_in_the_background_not_in_commits(tmp_path: Path) -> None:
    """The writer never checkpoints (a commit would wait for the copy); the checkpointer's connection copies
    the WAL into the database file soon after a commit, with the node still open."""
    path = tmp_path / "k.sqlite3"
    db = await Database.open(path)
    try:
        assert await _pragma(db, "wal_autocheckpoint") == 0

        async def fill(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)", [(f"k{i}", "v" * 200) for i in range(2000)]
            )

        await db.write(fill)

        def rows_in_file_alone() -> int:
            """The rows the database file holds without its WAL."""
            alone = tmp_path / "copy.sqlite3"
            alone.write_bytes(path.read_bytes())
            conn = sqlite.connect(alone)
            try:
                return int(conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'k%'").fetchone()[0])
            except sqlite.OperationalError:  # not even the schema checkpointed yet (a busy machine)
                return 0
            finally:
                conn.close()

        for _ in range(100):  # within five seconds (one checkpoint per CHECKPOINT_PAUSE at most)
            if rows_in_file_alone() == 2000:
                break
            await asyncio.sleep(0.05)
        assert rows_in_file_alone() == 2000
        assert db.checkpoints >= 1
    finally:
        await db.close()


async def test_a_lone_failing_write_leaves_nothing_and_the_writer_goes_on(tmp_path: Path) -> None:
    """A write in a transaction of its own (an import) is rolled back whole when it fails, also when the error
    already ended the transaction, and the caller gets its own exception."""
    db = await Database.open(tmp_path / "l.sqlite3")

    async def half_then_fails(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'written')")
        raise RuntimeError("failed after writing")

    async def ends_its_transaction(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('ended', 'written')")
        await conn.execute("ROLLBACK")  # as SQLite does itself on some errors (a full disk, an interrupt)
        raise RuntimeError("transaction gone")

    async def fine(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('fine', 'x')")

    async def keys(conn: aiosqlite.Connection) -> set[str]:
        async with conn.execute("SELECT key FROM meta") as cur:
            return {r[0] for r in await cur.fetchall()}

    try:
        with pytest.raises(RuntimeError, match="failed after writing"):
            await db.write(half_then_fails, alone=True)
        with pytest.raises(RuntimeError, match="transaction gone"):
            await db.write(ends_its_transaction, alone=True)
        with pytest.raises(RuntimeError, match="failed after writing"):
            await db.write(half_then_fails)  # a batch of one goes the same way
        await db.write(fine, alone=True)
        stored = await db.read(keys)
        assert "fine" in stored
        assert not stored & {"half", "ended"}
    finally:
        await db.close()


async def test_a_write_alone_may_go_without_reference_checks(tmp_path: Path) -> None:
    """foreign_keys=False covers that one transaction only, and only a transaction of its own."""
    db = await Database.open(tmp_path / "k.sqlite3")

    async def orphan(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "INSERT INTO identity (person_pk, uri, kind, display, verification, created_at, updated_at) "
            "VALUES (999, 'mailto:a@example.com', 'email', 'a@example.com', 'claimed', 'x', 'x')"
        )

    try:
        with pytest.raises(StoreConflict):
            await db.write(orphan)  # checked by default
        with pytest.raises(ValueError, match="alone"):
            await db.write(orphan, foreign_keys=False)
        await db.write(orphan, alone=True, foreign_keys=False)
        assert await _pragma(db, "foreign_keys") == 1  # back on for everyone after
        async with (
            aiosqlite.connect(tmp_path / "k.sqlite3") as conn,
            conn.execute("PRAGMA foreign_key_check(identity)") as cur,
        ):
            assert len(await cur.fetchall()) == 1  # the orphan went in unchecked
    finally:
        await db.close()
