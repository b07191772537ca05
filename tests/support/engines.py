"""Node tests on both storage engines (issue #14): a test module that says
``pytestmark = pytest.mark.usefixtures("engine")`` runs each of its tests on SQLite and on PostgreSQL; every server
``tests.conftest.new_server_account`` makes then gets an empty database of its own on the throw-away cluster
(tests/support/postgres.py). The engines are the contract tests' (tests/node/store/contract/conftest.py's
BACKENDS); under CI=true a PostgreSQL that cannot start fails the test instead of skipping it
(tests/support/postgres.py's ``unavailable``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.conftest
from tests.node.store.contract.conftest import BACKENDS

__all__ = ["engine"]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    server = request.getfixturevalue("pg_server")
    made: list[str] = []

    def fresh() -> str:
        made.append(server.create_database("kith_e"))
        return str(server.url(made[-1]))

    monkeypatch.setattr(tests.conftest, "storage_url", fresh)
    try:
        yield "postgres"
    finally:
        for name in made:
            server.drop_database(name)
