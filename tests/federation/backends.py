"""Federation tests on both storage engines (issue #14): a test module that imports ``backend`` runs each of its
tests on SQLite and on PostgreSQL, every server its helpers (tests/federation/nodes.py) make getting an empty
database of its own on the throw-away cluster (tests/support/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.node.store.contract.conftest import PG_PENDING

from . import nodes

__all__ = ["backend", "rows"]


@pytest.fixture(params=["sqlite", "postgres"], autouse=True)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    if "imports" in PG_PENDING:  # opening an account's context sweeps its imports (node/import_jobs.py)
        pytest.skip("the federation tests run on PostgreSQL once its imports store is ported (PG_PENDING)")
    server = request.getfixturevalue("pg_server")
    made: list[str] = []

    def fresh() -> str:
        made.append(server.create_database("kith_f"))
        return str(server.url(made[-1]))

    monkeypatch.setattr(nodes, "storage_url", fresh)
    try:
        yield "postgres"
    finally:
        for name in made:
            server.drop_database(name)


async def rows(db: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (``?`` placeholders) read through ``db``, a node's server or graph database on either
    engine: for tests that look at what a node stored."""
    from node.store.sqlite.db import Database

    if isinstance(db, Database):
        from node.store.sqlite.rows import fetch_all

        found: list[Any] = await db.read(lambda conn: fetch_all(conn, sql, args))
    else:
        from node.store.postgres.rows import fetch_all as pg_fetch_all

        found = await db.read(lambda conn: pg_fetch_all(conn, sql.replace("?", "%s"), args))
    return [tuple(r[i] for i in range(len(r))) for r in found]
