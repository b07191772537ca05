"""node.store.postgres.db's migrations: numbered SQL files per schema, a schema newer than the code refused, a
failed migration rolled back whole, and two processes opening the same fresh database migrating it once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import psycopg
import pytest

from node.config import load_config
from node.store import MigrationFailed, SchemaTooNew, open_server_store
from node.store.postgres.db import GRAPH_MIGRATIONS, SERVER_MIGRATIONS, SERVER_SCHEMA, PgDatabase, migrations
from node.store.postgres.store import PgServerStore
from tests.conftest import T0
from tests.support.postgres import PgServer

ROOT = Path(__file__).resolve().parents[4]


def _set_version(url: str, schema: str, version: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".schema_version SET version = %s', (version,))


async def test_a_schema_newer_than_the_code_is_refused_and_left_alone(
    postgres_db_url: str, tmp_path: Path
) -> None:
    server = await PgServerStore.open(postgres_db_url)
    schema = await server.create_graph("alice")
    await server.accounts.meta_set("kept", "yes")
    await server.close()
    latest_graph = migrations(GRAPH_MIGRATIONS)[-1].version
    _set_version(postgres_db_url, schema, latest_graph + 1)
    server = await PgServerStore.open(postgres_db_url)
    try:
        with pytest.raises(SchemaTooNew) as caught:
            await server.open_graph(schema)
        assert schema in str(caught.value) and "upgrade Kith" in str(caught.value)
    finally:
        await server.close()
    # the server's own schema too, through the factory as a server opens it
    _set_version(postgres_db_url, SERVER_SCHEMA, migrations(SERVER_MIGRATIONS)[-1].version + 1)
    config = load_config(tmp_path, env={"KITH_STORAGE_URL": postgres_db_url})
    with pytest.raises(SchemaTooNew):
        await open_server_store(config)
    with psycopg.connect(postgres_db_url) as conn:  # nothing was touched
        assert conn.execute("SELECT value FROM kith.server_meta WHERE key = 'kept'").fetchone() == ("yes",)
        row = conn.execute(f'SELECT version FROM "{schema}".schema_version').fetchone()
        assert row == (latest_graph + 1,)


async def test_a_failing_migration_is_rolled_back_whole(
    postgres_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails half-way leaves no table of it, and no schema_version saying it ran."""
    package = tmp_path / "broken_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_ok.sql").write_text("CREATE TABLE first (x integer);")
    (package / "0002_bad.sql").write_text("CREATE TABLE second (x integer); SELECT no_such_function();")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationFailed) as caught:
        await PgDatabase.open(postgres_db_url, schema="g_broken", migrations="broken_migrations")
    assert "0002_bad.sql" in str(caught.value)
    with psycopg.connect(postgres_db_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'g_broken'"
        ).fetchone()
        assert found == (0,)


_OPEN = """
import asyncio, json, sys
from node.store.postgres.db import PgDatabase, SERVER_MIGRATIONS, GRAPH_MIGRATIONS

async def main(url, schemas):
    for schema in schemas:
        sys.stdin.readline()  # both processes are connected and waiting: go together
        package = SERVER_MIGRATIONS if schema == "kith" else GRAPH_MIGRATIONS
        db = await PgDatabase.open(url, schema=schema, migrations=package, pool_size=1)
        print(json.dumps(db.applied), flush=True)
        await db.close()

asyncio.run(main(sys.argv[1], sys.argv[2:]))
"""


async def test_two_processes_opening_a_fresh_database_migrate_it_once(postgres_db_url: str) -> None:
    """Both processes open the server's schema, then each of four fresh graph schemas, at the same moment (a race
    each time: without the migration lock one of them fails on a table the other made, now and then)."""
    schemas = ["kith", "g_a", "g_b", "g_c", "g_d"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OPEN,
            postgres_db_url,
            *schemas,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    await asyncio.sleep(0.5)  # let both import and get to their readline
    for schema in schemas:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        said = []
        for proc in procs:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            if not line:
                _, err = await proc.communicate()
                pytest.fail(f"opening {schema} failed in one process: {err.decode()}")
            said += json.loads(line)
        package = SERVER_MIGRATIONS if schema == "kith" else GRAPH_MIGRATIONS
        assert sorted(said) == [m.name for m in migrations(package)]  # each migration in one process once
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    with psycopg.connect(postgres_db_url) as conn:
        assert conn.execute("SELECT version FROM kith.schema_version").fetchone() == (
            migrations(SERVER_MIGRATIONS)[-1].version,
        )


async def test_a_database_without_the_search_extension_gets_it(pg_server: PgServer) -> None:
    """An operator's empty database (not made from the tests' template, which has unaccent already): the server's
    first migration adds the extension, and search folds accents there too."""
    name = f"kith_bare_{os.getpid()}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        url = pg_server.url(name)
        server = await PgServerStore.open(url)
        try:
            graph = await server.open_graph(await server.create_graph("alice"))
            try:
                await graph.people.insert_person(
                    person_id="p_1", fields={"display_name": "José Ñúñez"}, identities=[], now=T0
                )
                page = await graph.insights.search(
                    "jose nunez",
                    circle=None,
                    due_until=None,
                    include_archived=False,
                    now=T0,
                    offset=0,
                    limit=5,
                )
                assert [p.id for p in page.items] == ["p_1"]
            finally:
                await graph.close()
        finally:
            await server.close()
    finally:
        pg_server.drop_database(name)
