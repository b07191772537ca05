"""Which storage engine a server runs on, chosen in this one place from ``storage.url`` (node/config.py,
specs/POSTGRESQL.md §1): everything else holds the store's Protocols (node/store/stores.py) and never learns
which engine is underneath.

    store = await open_server_store(config)            # the registry, federation's state (store.federation); graphs through store.open_graph(...)
    graph = await open_graph_at(location)              # an account's graph again, in an import worker
    rows = read_accounts(config)                       # the registry without an event loop (CLI)

The engine is SQLite (files in the data folder) by default, or PostgreSQL behind a ``postgresql://`` URL
(node/store/postgres/, imported only then: its driver is the optional ``postgres`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from node.config import Config, ConfigError
from node.models import AccountRow
from node.store.errors import StoreUnavailable
from node.store.sqlite.accounts import read_registry
from node.store.sqlite.db import Database
from node.store.sqlite.legacy import create_server_from_legacy, legacy_pending
from node.store.sqlite.store import LOCATION_SCHEME, SERVER_FILE, SqliteGraphStore, SqliteServerStore
from node.store.stores import GraphStore, ServerStore

#: A PostgreSQL graph's location (node/store/postgres/store.py's LOCATION_SCHEME, said here so that reading a
#: SQLite location never imports the PostgreSQL engine).
PG_LOCATION_SCHEME = "postgresql-graph:"

__all__ = [
    "BACKENDS",
    "PG_LOCATION_SCHEME",
    "check_storage",
    "open_graph_at",
    "open_server_store",
    "read_accounts",
    "upgrade_one_owner_store",
    "upgrading_one_owner_folder",
]

#: The engines this version can run on (node.storage_url names them: StorageUrl.backend).
BACKENDS = ("sqlite", "postgresql")


def check_storage(config: Config) -> None:
    """ConfigError when ``storage.url`` names an engine this version cannot run on, or PostgreSQL while its
    driver is not installed. Refused rather than ignored: an operator who names PostgreSQL must not find the
    data in SQLite."""
    backend = config.storage.backend
    if backend not in BACKENDS:
        raise ConfigError(f"storage.url names {backend}, which this version of Kith cannot use")
    if backend == "postgresql":
        from node.store.postgres.driver import require_driver

        try:
            require_driver()
        except StoreUnavailable as exc:
            raise ConfigError(str(exc)) from None


async def open_server_store(config: Config, *, progress: Callable[[str], None] | None = None) -> ServerStore:
    """The server's store for ``config`` (created and migrated as needed). ``progress`` is told what a long
    migration is doing, the server's and later each graph's (the CLI prints it; by default it is logged)."""
    check_storage(config)
    if config.storage.backend == "postgresql":
        from node.store.postgres.store import PgServerStore

        return await PgServerStore.open(
            config.storage.url,
            progress=progress,
            data_dir=config.data_dir,
            listen_url=config.storage.listen_url or None,
        )
    return await SqliteServerStore.open(config.data_dir, progress=progress)


async def open_graph_at(location: str, *, background: bool = False) -> GraphStore:
    """The graph that ``location`` (GraphStore.location) names, opened again by another process.
    ``background``: the process works beside the node that owns the graph (an import worker), which keeps up
    the housekeeping (on SQLite: checkpoints)."""
    if location.startswith(LOCATION_SCHEME):
        path = location.removeprefix(LOCATION_SCHEME)
        return SqliteGraphStore.of(await Database.open(path, checkpoints=not background))
    if location.startswith(PG_LOCATION_SCHEME):
        from node.store.postgres.store import open_location

        return await open_location(location)
    raise ValueError(f"no storage engine of this Kith opens {location.split(':', 1)[0]!r} graphs")


def read_accounts(config: Config) -> list[AccountRow]:
    """The account registry, read without an event loop (commands that only need to know which account they
    act for before they talk to the running server over HTTP). StoreUnavailable when there is no server."""
    check_storage(config)
    if config.storage.backend == "postgresql":
        from node.store.postgres.accounts import read_registry as read_pg_registry

        return read_pg_registry(config.storage.url)
    return read_registry(config.data_dir / SERVER_FILE)


def upgrading_one_owner_folder(config: Config) -> bool:
    """The data folder was made before accounts (one owner's SQLite database) and is not yet a server's. Such
    folders only ever existed on SQLite: with another engine there is nothing to upgrade."""
    return config.storage.backend == "sqlite" and legacy_pending(config.data_dir)


async def upgrade_one_owner_store(
    config: Config,
    *,
    name: str,
    type: str,
    display_name: str,
    keys: Mapping[str, str],
    sealed: bool,
    now: datetime,
) -> None:
    """The server's store of a one-owner folder (upgrading_one_owner_folder): one account, ``name``, whose graph
    is the folder's database as it is, with the owner's keys and token; all of it, or nothing."""
    await create_server_from_legacy(
        config.data_dir, name=name, type=type, display_name=display_name, keys=keys, sealed=sealed, now=now
    )
