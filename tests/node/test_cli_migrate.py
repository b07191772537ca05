"""`kith migrate` (issue #14): applies the server's and every account's migrations on the configured engine,
saying what it did; a database newer than this Kith is refused with the store's error, on SQLite and on
PostgreSQL alike."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from node.config import load_config, write_config
from node.store.postgres.store import PgServerStore
from tests.conftest import T0, run_cli

_FED_TABLES = [
    "actors",
    "follows",
    "offers",
    "inbox",
    "outbox",
    "deliveries",
    "hosts",
    "blocks",
    "blocked_by",
    "settings",
    "tombstones",
    "cards_received",
]


def test_sqlite_an_older_graph_is_migrated_and_said(data_dir: Path) -> None:
    graph = data_dir / "accounts" / "alice.sqlite3"
    with sqlite3.connect(graph) as conn:  # as Kith left it before migration 0012 (federation's tables here)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        # 0013 rebuilds the identity table as it is (a wider CHECK), so it runs again unchanged on this fake;
        # a later migration must say here whether it can, or fake its own older graph
        assert version == 13, "the test fakes the graph before 0012 and 0013: a later migration needs its own"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for name in _FED_TABLES:
            if f"moved_fed_{name}" in tables:
                conn.execute(f"ALTER TABLE moved_fed_{name} RENAME TO fed_{name}")
            else:
                conn.execute(f"CREATE TABLE fed_{name} (x)")
        conn.execute("PRAGMA user_version = 11")
    result = run_cli("--data", data_dir, "migrate")
    assert result.code == 0, result.err
    assert (
        "0012_federation_moved.sql (1 of 2)" in result.err
        and "0013_identity_bridged.sql (2 of 2)" in result.err
        and "[1/1] alice: 2 migrations applied" in result.err
    )
    assert "(2 migrations applied)" in result.out
    with sqlite3.connect(graph) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    again = run_cli("--data", data_dir, "migrate", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out) == {
        "engine": "SQLite",
        "applied": 0,
        "accounts": [{"name": "alice", "migrations_applied": 0}],
    }


def test_sqlite_a_newer_graph_is_refused_and_left_alone(data_dir: Path) -> None:
    graph = data_dir / "accounts" / "alice.sqlite3"
    with sqlite3.connect(graph) as conn:
        conn.execute("PRAGMA user_version = 999")
    result = run_cli("--data", data_dir, "migrate")
    assert result.code == 1
    assert "999" in result.err and "upgrade Kith" in result.err and "Traceback" not in result.err
    with sqlite3.connect(graph) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999


@pytest.fixture
async def pg_node(tmp_path: Path, postgres_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder whose storage.url is a PostgreSQL database with two accounts."""
    for var in ("KITH_DATA", "KITH_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "node"
    folder.mkdir()
    write_config(load_config(folder, env={"KITH_STORAGE_URL": postgres_db_url}))
    store = await PgServerStore.open(postgres_db_url)
    try:
        for name in ("alice", "bob"):
            graph_file = await store.create_graph(name)
            await store.accounts.create(
                name=name,
                type="Person",
                display_name=name,
                graph_file=graph_file,
                token_sha256=None,
                keys={},
                now=T0,
            )
    finally:
        await store.close()
    return folder


def test_postgresql_every_account_is_migrated_and_a_newer_schema_refused(
    pg_node: Path, postgres_db_url: str
) -> None:
    result = run_cli("--data", pg_node, "migrate")
    assert result.code == 0, result.err
    assert "PostgreSQL" in result.err
    assert "[1/2] alice: up to date" in result.err and "[2/2] bob: up to date" in result.err
    assert "the server and 2 account graphs are up to date" in result.out
    secret = postgres_db_url.split(":")[2].split("@")[0]
    assert secret not in result.out + result.err  # the URL's password is never shown
    with psycopg.connect(postgres_db_url, autocommit=True) as conn:
        conn.execute('UPDATE "g_bob".schema_version SET version = 999')
    refused = run_cli("--data", pg_node, "migrate")
    assert refused.code == 1
    assert "g_bob" in refused.err and "999" in refused.err and "upgrade Kith" in refused.err
    assert "Traceback" not in refused.err
