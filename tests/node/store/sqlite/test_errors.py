"""SQLite's errors leave the store as the store's own (node/store/sqlite/errors.py), whichever SQLite library
runs it, and reach a user as a message that says what to do: from the CLI one line, from the API a status and
a JSON error, never a traceback or a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app import build_app
from node.config import load_config
from node.errors import NodeError
from node.server import Server, read_token
from node.store import StoreConflict, StoreError, StoreUnavailable
from node.store.sqlite import driver
from node.store.sqlite.db import Database
from node.store.sqlite.errors import store_error
from node.store.sqlite.store import SERVER_FILE, SqliteGraphStore

MODULES = {m.__name__: m for m in driver.modules()}


def _coded(module: Any, cls: str, message: str, name: str) -> BaseException:
    """An error as the library raises it: its class and SQLite's result code (both libraries carry the code
    as ``sqlite_errorname``)."""
    exc: Any = getattr(module, cls)(message)
    exc.sqlite_errorname = name
    return exc


@pytest.mark.parametrize("module", MODULES.values(), ids=list(MODULES))
@pytest.mark.parametrize(
    ("cls", "message", "code", "kind", "advice"),
    [
        ("OperationalError", "database is locked", "SQLITE_BUSY", StoreUnavailable, "try again"),
        ("OperationalError", "database table is locked", "SQLITE_LOCKED", StoreUnavailable, "try again"),
        (
            "DatabaseError",
            "database disk image is malformed",
            "SQLITE_CORRUPT",
            StoreUnavailable,
            "kith backup",
        ),
        ("DatabaseError", "file is not a database", "SQLITE_NOTADB", StoreUnavailable, "kith backup"),
        ("OperationalError", "database or disk is full", "SQLITE_FULL", StoreUnavailable, "free some space"),
        ("OperationalError", "disk I/O error", "SQLITE_IOERR_WRITE", StoreUnavailable, "check the disk"),
        (
            "OperationalError",
            "unable to open database file",
            "SQLITE_CANTOPEN",
            StoreUnavailable,
            "data folder",
        ),
        (
            "OperationalError",
            "attempt to write a readonly database",
            "SQLITE_READONLY",
            StoreUnavailable,
            "belongs",
        ),
        (
            "IntegrityError",
            "UNIQUE constraint failed: person.id",
            "SQLITE_CONSTRAINT_UNIQUE",
            StoreConflict,
            "",
        ),
        ("OperationalError", "no such table: person", "SQLITE_ERROR", StoreError, "report it"),
        ("ProgrammingError", "Cannot operate on a closed database.", "", StoreError, "report it"),
    ],
)
def test_each_kind_of_failure_says_what_to_do(
    module: Any, cls: str, message: str, code: str, kind: type[StoreError], advice: str
) -> None:
    mapped = store_error(_coded(module, cls, message, code), Path("/data/accounts/ann.sqlite3"), module)
    assert type(mapped) is kind and isinstance(mapped, NodeError)
    assert "/data/accounts/ann.sqlite3" in mapped.message or kind is StoreConflict
    assert (advice in mapped.message and message in mapped.message) or kind in (StoreUnavailable,)


@pytest.mark.parametrize("module", MODULES.values(), ids=list(MODULES))
async def test_a_foreign_or_damaged_file_is_store_unavailable(tmp_path: Path, module: Any) -> None:
    """Real failures, not made-up ones: a file that is no database, and a database in a folder that cannot
    exist, on each SQLite library this machine has."""
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database" * 300)
    with pytest.raises(StoreUnavailable, match="kith backup") as info:
        await Database.open(garbage, module=module)
    assert isinstance(info.value.__cause__, module.DatabaseError)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable, match="data folder"):
        await Database.open(blocker / "graph.sqlite3", module=module)


async def test_a_broken_rule_is_a_conflict_and_the_store_goes_on(tmp_path: Path) -> None:
    store = await SqliteGraphStore.open(tmp_path / "g.sqlite3")
    try:

        async def duplicate(conn: Any) -> None:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', '1')")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', '2')")

        with pytest.raises(StoreConflict):
            await store.db.write(duplicate)
        await store.misc.meta_set("k", "after")  # the writer is fine
        assert await store.misc.meta_get("k") == "after"
    finally:
        await store.close()


def _damage(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 300)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@pytest.mark.parametrize("which", ["graph", "server"])
async def test_the_api_answers_a_damaged_database_with_what_to_do(data_dir: Path, which: str) -> None:
    """A graph damaged while the server runs (read again when the pool opens it) answers 503 with a JSON error
    that names the file and the way out, not a 500. The server's own database is opened at start: damaged,
    the start fails with the store's error, which the CLI prints as one line."""
    config = load_config(data_dir, env={})
    token = read_token(data_dir, "alice")
    if which == "server":
        _damage(data_dir / SERVER_FILE)
        with pytest.raises(StoreUnavailable, match="kith backup"):
            await Server.open(config)
        return
    server = await Server.open(config)
    try:
        _damage(data_dir / "accounts" / "alice.sqlite3")
        runner = web.AppRunner(build_app(server, extensions=[]), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            async with aiohttp.ClientSession() as http:
                for path in ("/api/people", "/api/search?q=ann", "/api/due"):
                    async with http.get(
                        f"http://{host}:{port}{path}", headers={"Authorization": f"Bearer {token}"}
                    ) as resp:
                        body: dict[str, Any] = await resp.json()
                        assert resp.status == 503, (path, body)
                        said = body["error"]["message"]
                        assert "alice.sqlite3" in said and "kith backup" in said
        finally:
            await runner.cleanup()
    finally:
        await server.close()
