"""The store's contract tests run on every backend: one fixture, ``backend``, parametrised by the engines this
Kith can run on, and everything else (the server's store, an account's graph store, the Graph over it) made
from it through node/store/factory.py, the way a server makes them from ``storage.url``.

To add an engine, give STORAGE_URLS its entry: a function of the test's request that returns the
``storage.url`` of a fresh, empty database (PostgreSQL: ``request.getfixturevalue("postgres_db_url")``, from
tests/support/postgres.py), and add its name to BACKENDS. Tests that only make sense on one engine live beside
it (tests/node/store/sqlite/, tests/node/store/postgres/), not here.

Each test names the parts of the store it uses (``@pytest.mark.part("people", "dav")``, or a module's
``pytestmark``); on PostgreSQL, a test using a part still in PG_PENDING is skipped until that part is ported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from node.config import Config, load_config
from node.graph import Graph
from node.store import GraphStore, ServerStore, open_server_store
from tests.conftest import FixedClock

#: The engines every contract test runs on.
BACKENDS = ["sqlite", "postgres"]
#: The storage.url of an empty database of each engine, for one test.
STORAGE_URLS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": lambda request: "",
    "postgres": lambda request: str(request.getfixturevalue("postgres_db_url")),
}
#: The parts of the store not yet ported to PostgreSQL: their contract tests skip there. Every part runs on both
#: engines now (issue #14); a part added to the store later is named here until its PostgreSQL side lands.
PG_PENDING: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "part(*names): the parts of the store a contract test uses")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres":
        marker = request.node.get_closest_marker("part")
        waiting = sorted(PG_PENDING & set(marker.args if marker else ()))
        if waiting:
            pytest.skip(f"{', '.join(waiting)} ported in P3/P4 (not yet on PostgreSQL)")
    return name


@pytest.fixture
def store_config(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Config:
    """A configuration whose storage.url names an empty database of ``backend`` (and a data folder of its own,
    where SQLite keeps its files and every engine its import uploads)."""
    url = STORAGE_URLS[backend](request)
    return load_config(tmp_path_factory.mktemp("store"), env={"KITH_STORAGE_URL": url} if url else {})


@pytest.fixture
async def server_store(store_config: Config) -> AsyncIterator[ServerStore]:
    store = await open_server_store(store_config)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(server_store: ServerStore) -> AsyncIterator[GraphStore]:
    """An empty graph of one account, "alice"."""
    graph = await server_store.open_graph(await server_store.create_graph("alice"))
    try:
        yield graph
    finally:
        await graph.close()


@pytest.fixture
def graph(store: GraphStore, clock: FixedClock) -> Graph:
    """The owner's graph over ``store``: most contract tests speak through it, since what the graph relies on
    is the contract."""
    return Graph(store, clock)
