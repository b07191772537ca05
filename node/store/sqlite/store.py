"""The SQLite stores (node/store/stores.py): an account's graph is one database file, the server's own is
another (specs/STORAGE.md §1-§2 say why one file per account).

    DATA/server.sqlite3            SqliteServerStore: the account registry, the accounts' keys, federation's state
    DATA/accounts/NAME.sqlite3     SqliteGraphStore: one account's contact graph

node/store/factory.py opens these when ``storage.url`` names SQLite (the default).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from node.models import AccountRow
from node.store.sqlite.accounts import SqliteAccounts
from node.store.sqlite.bridge import SqliteBridgeState
from node.store.sqlite.capture import SqliteCapture
from node.store.sqlite.copy import SqliteTableCopy
from node.store.sqlite.dav import SqliteDav
from node.store.sqlite.db import GRAPH_MIGRATIONS, SERVER_MIGRATIONS, Database
from node.store.sqlite.export import SqliteExport
from node.store.sqlite.federation import SqliteFederation
from node.store.sqlite.federation_rows import AccountFederationRows, move_graph_federation
from node.store.sqlite.imports import SqliteImports
from node.store.sqlite.insights import SqliteInsights
from node.store.sqlite.links import SqliteLinks
from node.store.sqlite.merges import SqliteMerges
from node.store.sqlite.messages import SqliteMessages
from node.store.sqlite.misc import SqliteMisc
from node.store.sqlite.org import OrgStore
from node.store.sqlite.org_member import MemberOrgStore
from node.store.sqlite.outreach import SqliteOutreach
from node.store.sqlite.peers import SqlitePeers
from node.store.sqlite.people import SqlitePeople
from node.store.stores import GraphStore

__all__ = ["ACCOUNTS_DIR", "LOCATION_SCHEME", "SERVER_FILE", "SqliteGraphStore", "SqliteServerStore"]

T = TypeVar("T")

SERVER_FILE = "server.sqlite3"
ACCOUNTS_DIR = "accounts"
#: A graph's location (GraphStore.location) on SQLite: this, then the database file's absolute path.
LOCATION_SCHEME = "sqlite:"


@dataclass(frozen=True, slots=True, eq=False)
class SqliteGraphStore:
    """One account's graph in its database file."""

    db: Database
    people: SqlitePeople
    insights: SqliteInsights
    merges: SqliteMerges
    export: SqliteExport
    misc: SqliteMisc
    peers: SqlitePeers
    imports: SqliteImports
    links: SqliteLinks
    dav: SqliteDav
    capture: SqliteCapture
    messages: SqliteMessages
    outreach: SqliteOutreach
    org: OrgStore
    org_member: MemberOrgStore

    @classmethod
    def of(cls, db: Database) -> SqliteGraphStore:
        """The graph store over an open database (tests open theirs with Database.open)."""
        return cls(
            db=db,
            people=SqlitePeople(db),
            insights=SqliteInsights(db),
            merges=SqliteMerges(db),
            export=SqliteExport(db),
            misc=SqliteMisc(db),
            peers=SqlitePeers(db),
            imports=SqliteImports(db),
            links=SqliteLinks(db),
            dav=SqliteDav(db),
            capture=SqliteCapture(db),
            messages=SqliteMessages(db),
            outreach=SqliteOutreach(db),
            org=OrgStore(db),
            org_member=MemberOrgStore(db),
        )

    @classmethod
    async def open(cls, path: Path | str, **options: Any) -> SqliteGraphStore:
        """Open (creating and migrating as needed) the graph database at ``path``; ``options`` go to
        Database.open."""
        return cls.of(await Database.open(path, schema=GRAPH_MIGRATIONS, **options))

    @property
    def table_copy(self) -> SqliteTableCopy:
        return SqliteTableCopy(self.db, graph=True)

    @property
    def location(self) -> str:
        return LOCATION_SCHEME + str(self.db.path.resolve())

    @property
    def backup_suffix(self) -> str:
        return ".sqlite3"

    async def backup(self, dest: Path) -> None:
        await self.db.backup(dest)

    async def hold_writes(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await self.db.write_elsewhere(fn)

    async def close(self) -> None:
        await self.db.close()


class SqliteServerStore:
    """The server's database in the data folder, and the accounts' graph files beside it."""

    def __init__(
        self, data_dir: Path, db: Database, *, progress: Callable[[str], None] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.db = db
        self.accounts = SqliteAccounts(db)
        self.bridge = SqliteBridgeState(db)  # the Bluesky bridge's state (node/bridge_bluesky.py)
        self.federation = SqliteFederation(db)  # every account's federation rows (node/federation_wiring.py)
        self.progress = progress  # told what a long migration of a graph database is doing
        self.table_copy = SqliteTableCopy(db, graph=False)

    @classmethod
    async def open(
        cls, data_dir: Path, *, progress: Callable[[str], None] | None = None
    ) -> SqliteServerStore:
        # four readers: federation's queues and caches live here too, beside the registry. Its inbox holds for
        # a while the records a member shares with an organisation: a row rewritten (claimed, its body
        # forgotten: federation/org_share.py) leaves no old copy on the disk (secure_delete)
        db = await Database.open(
            data_dir / SERVER_FILE,
            schema=SERVER_MIGRATIONS,
            reader_count=4,
            progress=progress,
            secure_delete=True,
        )
        return cls(data_dir, db, progress=progress)

    def account_federation(self, account: str) -> AccountFederationRows:
        return AccountFederationRows(self.db, account)

    async def move_graph_federation(self, graph: GraphStore, account: str) -> None:
        if not isinstance(graph, SqliteGraphStore):
            raise TypeError(
                f"a SQLite server store moves rows from SQLite graphs only, not {type(graph).__name__}"
            )
        await move_graph_federation(graph.db, self.db, account)

    async def move_graphs_federation(self, rows: Sequence[AccountRow]) -> None:
        for row in rows:
            path = self.data_dir / row.graph_file
            if not path.exists():
                continue
            db = await Database.open(path, schema=GRAPH_MIGRATIONS, reader_count=1, progress=self.progress)
            try:
                await move_graph_federation(db, self.db, row.name)
            finally:
                await db.close()

    def _files(self, graph_file: str) -> list[Path]:
        """The database file and the two SQLite keeps beside it in WAL mode."""
        path = self.data_dir / graph_file
        return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    async def create_graph(self, name: str) -> str:
        graph_file = f"{ACCOUNTS_DIR}/{name}.sqlite3"
        files = self._files(graph_file)
        files[0].parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in files:
            stale.unlink(missing_ok=True)  # a file no registered account owns (an add that died half-way)
        db = await Database.open(files[0], schema=GRAPH_MIGRATIONS, reader_count=1)
        await db.close()
        return graph_file

    async def open_graph(self, graph_file: str) -> SqliteGraphStore:
        return await SqliteGraphStore.open(self.data_dir / graph_file, progress=self.progress)

    async def remove_graph(self, graph_file: str) -> None:
        for f in self._files(graph_file):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()

    async def close(self) -> None:
        await self.db.close()
