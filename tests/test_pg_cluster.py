"""The throw-away PostgreSQL cluster and its fixtures (tests/support/pgcluster.py, tests/support/postgres.py).

What a PostgreSQL backend's tests will stand on: a database per session and per test made from the template,
the search extensions, PgBouncer in transaction mode with the chosen driver's settings (specs/POSTGRESQL.md),
and no server or folder left behind however the process that started the cluster ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.support import pgcluster
from tests.support.postgres import PgServer, unavailable

ROOT = Path(__file__).resolve().parents[1]


def _need_binaries() -> None:
    """The lifecycle tests start clusters of their own: they need the server, as the fixtures do."""
    if pgcluster.find_binaries() is None:
        unavailable(f"no PostgreSQL server on this machine; {pgcluster.INSTALL_HINT}")


def _eventually(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Wait for something that takes a moment (a process reacting to a signal); fail naming it if it never
    happens. A bound on waiting, not a speed assertion."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"still not the case after {seconds:.0f} s: {what}")
        time.sleep(0.1)


def _gone(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie has exited; only its parent has not read its status yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# -- the fixtures ----------------------------------------------------------------------------------------------
def test_a_fresh_database_takes_tables_and_rows(postgres_db_url: str) -> None:
    with psycopg.connect(postgres_db_url) as conn:
        conn.execute("CREATE TABLE person (pk bigint PRIMARY KEY, display_name text NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO person VALUES (%s, %s)", [(1, "Ada"), (2, "Hélène")])
        conn.commit()
    with psycopg.connect(postgres_db_url) as conn:
        rows = conn.execute("SELECT pk, display_name FROM person ORDER BY pk").fetchall()
    assert rows == [(1, "Ada"), (2, "Hélène")]


def test_the_search_extensions_work_in_every_database(postgres_db_url: str, postgres_url: str) -> None:
    for url in (postgres_db_url, postgres_url):
        with psycopg.connect(url) as conn:
            names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
            assert {"unaccent", "pg_trgm"} <= names
            folded = conn.execute("SELECT unaccent('Hélène Œuvre Ångström')").fetchone()
            assert folded == ("Helene OEuvre Angstrom",)
            # lower() folds beyond ASCII (the cluster's C.UTF-8 ctype), as case-blind search needs.
            assert conn.execute("SELECT lower('ÉCOLE ÇA')").fetchone() == ("école ça",)
            conn.execute("CREATE TABLE t (name text)")
            conn.execute("INSERT INTO t SELECT 'person ' || g FROM generate_series(1, 500) g")
            conn.execute("INSERT INTO t VALUES ('Alexandra'), ('Alexander')")
            conn.execute("CREATE INDEX t_trgm ON t USING gin (name gin_trgm_ops)")
            found = conn.execute("SELECT name FROM t WHERE name ILIKE %s ORDER BY name", ("%lexand%",))
            assert [r[0] for r in found.fetchall()] == ["Alexander", "Alexandra"]
            conn.rollback()


def test_each_test_gets_a_database_of_its_own(pg_server: PgServer) -> None:
    first, second = pg_server.create_database("kith_t"), pg_server.create_database("kith_t")
    try:
        assert first != second
        with psycopg.connect(pg_server.url(first), autocommit=True) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
        for other in (second, pg_server.template):
            with psycopg.connect(pg_server.url(other)) as conn:
                assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    finally:
        pg_server.drop_database(first)
        pg_server.drop_database(second)
    with psycopg.connect(pg_server.admin_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname IN (%s, %s)", (first, second))
        assert left.fetchone() == (0,)


# -- PgBouncer in transaction mode, with the chosen driver's settings ---------------------------------------
async def _hammer(url: str, *, prepare_threshold: int | None, clients: int, queries: int) -> list[str]:
    """``clients`` connections, more than PgBouncer's pool of server connections, each running ``queries``
    autocommit queries of a few shapes; the errors they met."""
    errors: list[str] = []

    async def client(n: int) -> None:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, prepare_threshold=prepare_threshold
        ) as conn:
            for k in range(queries):
                try:
                    row = await (await conn.execute(f"SELECT %s::int + {k % 5}", (n,))).fetchone()
                except psycopg.errors.DatabaseError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if row != (n + k % 5,):
                    errors.append(f"wrong answer: {row} for {n} + {k % 5}")

    await asyncio.gather(*(client(n) for n in range(clients)))
    return errors


async def test_pgbouncer_transaction_mode_needs_prepared_statements_off(pgbouncer_url: str) -> None:
    # With the setting the store will use, nothing goes wrong however the connections are shared out...
    assert await _hammer(pgbouncer_url, prepare_threshold=None, clients=40, queries=40) == []
    # ...and the same load with prepared statements goes wrong: proof that PgBouncer really moves a client
    # between server connections (transaction pooling), so that the setting is what makes the difference.
    # Errors ("prepared statement ... does not exist") are the lucky case: a statement prepared under the same
    # name by another client runs the wrong query and answers wrongly, silently.
    errors = await _hammer(pgbouncer_url, prepare_threshold=0, clients=40, queries=40)
    assert errors and all("prepared statement" in e or "wrong answer" in e for e in errors), errors[:3]


async def test_pgbouncer_keeps_transactions_whole_and_skip_locked_claims_apart(pgbouncer_url: str) -> None:
    """Queue claims through PgBouncer, as several `kith worker` processes will make them: each row is claimed
    by exactly one of many concurrent claimers, and a multi-statement transaction stays on one connection."""
    async with await psycopg.AsyncConnection.connect(pgbouncer_url, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS q")
        await conn.execute("CREATE TABLE q (id int PRIMARY KEY, state text NOT NULL, owner int)")
        await conn.execute("INSERT INTO q SELECT g, 'queued', NULL FROM generate_series(1, 640) g")
    pool = AsyncConnectionPool(
        pgbouncer_url, min_size=2, max_size=30, kwargs={"prepare_threshold": None}, open=False
    )
    await pool.open(wait=True)
    claimed: dict[int, list[int]] = {}
    try:

        async def worker(n: int) -> None:
            while True:
                async with pool.connection() as conn:  # one transaction
                    pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or (0,))[0]
                    rows = await (
                        await conn.execute(
                            "UPDATE q SET state = 'taken', owner = %s WHERE id IN (SELECT id FROM q "
                            "WHERE state = 'queued' ORDER BY id LIMIT 16 FOR UPDATE SKIP LOCKED) RETURNING id",
                            (n,),
                        )
                    ).fetchall()
                    again = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or (0,))[0]
                    assert again == pid  # the whole transaction ran on one server connection
                if not rows:
                    return
                claimed.setdefault(n, []).extend(r[0] for r in rows)

        await asyncio.gather(*(worker(n) for n in range(30)))
    finally:
        await pool.close()
    every = sorted(i for ids in claimed.values() for i in ids)
    assert every == list(range(1, 641))  # each row once: none lost, none twice
    assert len(claimed) > 1  # the work was really shared


# -- the cluster's life: started, stopped, killed ----------------------------------------------------------
@pytest.mark.postgres
def test_stop_removes_the_servers_and_the_folder() -> None:
    _need_binaries()
    cluster = pgcluster.start()
    info = cluster.info
    assert info.bouncer_url is not None, info.bouncer_missing
    with psycopg.connect(info.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (pgcluster.DATABASE,)
    with psycopg.connect(info.bouncer_url, prepare_threshold=None) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert Path(info.folder).is_dir()
    cluster.stop()
    for pid in (info.supervisor_pid, info.postgres_pid, info.bouncer_pid):
        assert _gone(pid), pid
    assert not Path(info.folder).exists()


@pytest.mark.postgres
def test_a_killed_owner_leaves_no_server_and_no_folder(tmp_path: Path) -> None:
    """SIGKILL of the process that started the cluster (pytest itself, say): the supervisor notices and removes
    everything."""
    _need_binaries()
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import dataclasses, json, sys, time
                sys.path.insert(0, {str(ROOT)!r})
                from tests.support import pgcluster
                cluster = pgcluster.start()
                print(json.dumps(dataclasses.asdict(cluster.info)), flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    info = json.loads(owner.stdout.readline())
    assert Path(info["folder"]).is_dir() and not _gone(info["postgres_pid"])
    owner.kill()
    owner.wait()
    for key in ("supervisor_pid", "postgres_pid", "bouncer_pid"):
        _eventually(lambda key=key: _gone(info[key]), f"{key} {info[key]} has exited")
    _eventually(lambda: not Path(info["folder"]).exists(), f"{info['folder']} is removed")


@pytest.mark.postgres
def test_a_killed_supervisor_takes_its_servers_along_and_the_next_start_sweeps_its_folder() -> None:
    _need_binaries()
    first = pgcluster.start()
    info = first.info
    os.kill(info.supervisor_pid, signal.SIGKILL)
    first.stop()  # reaps the supervisor
    # The servers had a parent-death signal: nothing of them outlives the supervisor.
    for pid in (info.postgres_pid, info.bouncer_pid):
        _eventually(lambda pid=pid: _gone(pid), f"server {pid} has exited")
    assert Path(info.folder).exists()  # nobody was left to remove it...
    with pgcluster.start() as second:  # ...so the next supervisor does
        assert not Path(info.folder).exists()
        assert second.info.folder != info.folder


@pytest.mark.postgres
def test_scripts_pg_cluster_start_url_stop(tmp_path: Path) -> None:
    _need_binaries()
    state = tmp_path / "state.json"
    script = [str(ROOT / "scripts" / "pg-cluster"), "--state", str(state)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*script, *args], capture_output=True, text=True, timeout=300, check=False)

    assert run("url").returncode == 1  # nothing running yet, and it says so
    started = run("start")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    info = json.loads(state.read_text())
    assert oct(state.stat().st_mode & 0o777) == "0o600"  # it holds the password
    try:
        assert run("start").stdout.strip() == url  # a second start finds the running one
        assert run("url").stdout.strip() == url
        bouncer = run("url", "--bouncer").stdout.strip()
        admin = run("url", "--admin").stdout.strip()
        with psycopg.connect(bouncer, prepare_threshold=None) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("kith",)
        with psycopg.connect(admin) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0, stopped.stderr
    for key in ("supervisor_pid", "postgres_pid", "bouncer_pid"):
        assert _gone(info[key]), key
    assert not Path(info["folder"]).exists() and not state.exists()
    assert run("url").returncode == 1


@pytest.mark.parametrize("ci", ["", "true"])
def test_without_postgresql_tests_skip_with_a_hint_except_in_ci(tmp_path: Path, ci: str) -> None:
    """No server binaries: one line saying how to enable the tests; under CI=true, a failure with the reason."""
    (tmp_path / "test_needs_pg.py").write_text("def test_it(postgres_url):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k not in ("KITH_TEST_POSTGRES_URL", "CI")}
    env.update(KITH_PG_BINDIR=str(tmp_path / "nothing-here"), PYTHONPATH=str(ROOT))
    if ci:
        env["CI"] = ci
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.support.postgres", "test_needs_pg.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    if ci:
        assert done.returncode == 1, out
        assert "CI=true, so the PostgreSQL tests must run" in out and "scripts/pg-cluster install" in out
    else:
        assert done.returncode == 0, out
        assert "1 skipped" in out
        assert "PostgreSQL tests skipped: no PostgreSQL server" in out and "scripts/pg-cluster install" in out


@pytest.mark.postgres
def test_kith_test_postgres_url_points_the_tests_at_an_existing_server(tmp_path: Path) -> None:
    """A developer's own server instead of a throw-away cluster: the template is made there if missing (with
    its extensions), the tests' databases come and go, and no cluster is started."""
    _need_binaries()
    with pgcluster.start(bouncer=False) as cluster:
        info = cluster.info
        with psycopg.connect(info.admin_url, autocommit=True) as conn:  # a server that never had the template
            conn.execute(f"ALTER DATABASE {pgcluster.TEMPLATE} IS_TEMPLATE false")
            conn.execute(f"DROP DATABASE {pgcluster.TEMPLATE}")
        port = info.admin_url.rsplit(":", 1)[1].split("/")[0]
        (tmp_path / "test_external.py").write_text(
            textwrap.dedent(
                f"""
                import psycopg

                def test_it(postgres_db_url):
                    assert ":{port}/kith_t_" in postgres_db_url
                    with psycopg.connect(postgres_db_url) as conn:
                        assert conn.execute("SELECT unaccent('Zoë')").fetchone() == ("Zoe",)
                """
            )
        )
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env.update(KITH_TEST_POSTGRES_URL=info.admin_url, PYTHONPATH=str(ROOT))
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "tests.support.postgres", "test_external.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "throw-away" not in done.stdout  # it used the server it was given
        with psycopg.connect(info.admin_url) as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
        assert pgcluster.TEMPLATE in names
        assert not [n for n in names if n.startswith("kith_t_")]  # the test's database was dropped
