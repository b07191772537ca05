"""PostgreSQL for the tests (issue #14): a pytest plugin, loaded by tests/conftest.py.

Fixtures
  pg_server        (session) the server: a throw-away cluster started for the session (tests/support/pgcluster.py),
                   or the one KITH_TEST_POSTGRES_URL names (its user must be allowed to create databases)
  postgres_url     (session) the URL of a database made for this session from the template
  postgres_db_url  (each test) the URL of a fresh database of its own, made from the template (a file copy)
  pgbouncer_url    (session) ``postgres_url``'s database through PgBouncer in transaction mode

Every database is made from ``kith_template``, which holds the extensions search will want (unaccent, pg_trgm):
a backend's fixture can migrate the template once per session, then each test's copy costs a file copy.

Where PostgreSQL cannot be started, the tests that need it are skipped with one line that says how to enable
them, except when CI=true: there they fail with the reason, so that CI never passes by skipping them.
Tests that use these fixtures are marked ``postgres`` (``pytest -m postgres`` runs just them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest

from tests.support import pgcluster

__all__ = [
    "ENV_BOUNCER_URL",
    "ENV_URL",
    "FIXTURES",
    "PgServer",
    "pg_server",
    "pgbouncer_url",
    "postgres_db_url",
    "postgres_url",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "unavailable",
]

ENV_URL = "KITH_TEST_POSTGRES_URL"
ENV_BOUNCER_URL = "KITH_TEST_PGBOUNCER_URL"
FIXTURES = frozenset({"pg_server", "postgres_url", "postgres_db_url", "pgbouncer_url"})
_names = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (tests/support/postgres.py starts one)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def unavailable(reason: str) -> NoReturn:
    """Skip the test with one line saying why and how to enable it; under CI=true, fail it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, so the PostgreSQL tests must run, but: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@dataclass
class PgServer:
    admin_url: str  # a database of the server to connect to while creating and dropping others
    template: str
    bouncer_url: str | None  # any database of it through PgBouncer, transaction pooling
    bouncer_missing: str | None

    def url(self, database: str, *, bouncer: bool = False) -> str:
        base = self.bouncer_url if bouncer else self.admin_url
        if base is None:
            unavailable(self.bouncer_missing or "no PgBouncer")
        return base.rsplit("/", 1)[0] + "/" + database

    def create_database(self, prefix: str) -> str:
        """A new database made from the template; its name is unique to this process."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def ensure_template(self) -> None:
        """Make the template on a server the tests did not start (a throw-away cluster has it already)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.template,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{self.template}"')
        with psycopg.connect(self.url(self.template), autocommit=True) as conn:
            for extension in pgcluster.EXTENSIONS:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    external = os.environ.get(ENV_URL)
    if external:
        server = PgServer(
            admin_url=external,
            template=pgcluster.TEMPLATE,
            bouncer_url=os.environ.get(ENV_BOUNCER_URL),
            bouncer_missing=f"{ENV_BOUNCER_URL} is not set",
        )
        try:
            server.ensure_template()
        except Exception as exc:  # any driver error: say which server and why
            unavailable(f"{ENV_URL} is set, but its server cannot be used: {exc}")
        yield server
        return
    try:
        cluster = pgcluster.start()
    except pgcluster.ClusterUnavailable as exc:
        unavailable(str(exc))
    info = cluster.info
    if reporter is not None:
        # Said on the terminal, past pytest's capture of the test's output, so that it can be used meanwhile.
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(
                f"postgres: throw-away PostgreSQL {info.version} at {info.url} (removed at the end)"
            )
    try:
        yield PgServer(
            admin_url=info.admin_url,
            template=info.template,
            bouncer_url=info.bouncer_url,
            bouncer_missing=info.bouncer_missing,
        )
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database("kith_s")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def postgres_db_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database("kith_t")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="session")
def pgbouncer_url(pg_server: PgServer, postgres_url: str) -> str:
    return pg_server.url(postgres_url.rsplit("/", 1)[1], bouncer=True)
