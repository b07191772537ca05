"""The PostgreSQL stores (node/store/stores.py): one database holds the server's own tables in schema ``kith`` and
each account's graph in a schema of its own (specs/POSTGRESQL.md §4 says why), all reached through one pool of
connections per process.

    kith.account, kith.account_key, ...   PgServerStore: the account registry, keys, federation's state
    g_NAME.person, g_NAME.identity, ...   PgGraphStore: one account's contact graph

node/store/factory.py opens these when ``storage.url`` is a ``postgresql://`` URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from psycopg import sql

from federation.ports import FederationStore
from node.models import AccountRow
from node.store.capture import Capture
from node.store.dav import Dav
from node.store.errors import StoreError
from node.store.federation import AccountFederation
from node.store.imports import Imports
from node.store.org import MemberOrg, OrgRecords
from node.store.postgres.accounts import PgAccounts
from node.store.postgres.bridge import PgBridgeState
from node.store.postgres.capture import PgCapture
from node.store.postgres.dav import PgDav
from node.store.postgres.db import GRAPH_MIGRATIONS, SERVER_MIGRATIONS, SERVER_SCHEMA, PgDatabase
from node.store.postgres.driver import new_pool
from node.store.postgres.errors import store_error
from node.store.postgres.export import PgExport
from node.store.postgres.federation import PgFederation
from node.store.postgres.federation_rows import PgAccountFederation
from node.store.postgres.imports import PgImports
from node.store.postgres.insights import PgInsights
from node.store.postgres.links import PgLinks
from node.store.postgres.merges import PgMerges
from node.store.postgres.messages import PgMessages
from node.store.postgres.misc import PgMisc
from node.store.postgres.org import PgOrg
from node.store.postgres.org_member import PgMemberOrg
from node.store.postgres.outreach import PgOutreach
from node.store.postgres.peers import PgPeers
from node.store.postgres.people import PgPeople
from node.store.stores import GraphStore

if TYPE_CHECKING:
    from node.store.postgres.copy import PgTableCopy

__all__ = ["LOCATION_SCHEME", "PgGraphStore", "PgServerStore", "graph_schema", "open_location", "pending"]

T = TypeVar("T")

#: A graph's location (GraphStore.location) on PostgreSQL: this, the schema, a space, the database's URL. It
#: travels to an import worker on its standard input (node/import_jobs.py), never on a command line: the URL
#: may carry a password.
LOCATION_SCHEME = "postgresql-graph:"
_PLAIN = re.compile(r"[a-z0-9_]{1,61}")
_GRAPH_SCHEMA = re.compile(r"(g_[a-z0-9_]{1,61}|h_[a-z0-9_]{0,40}_[0-9a-f]{16})")
#: Connections of an import worker's pool (it writes one graph, from one task).
_WORKER_POOL = 2


def graph_schema(name: str) -> str:
    """The schema of account ``name``'s graph: ``g_NAME`` when the name is a plain identifier short enough for
    PostgreSQL (63 bytes), else ``h_`` with the name's safe letters and a digest of the whole name. The two
    forms cannot meet (different prefixes), so no account can be given a schema meant for another."""
    if _PLAIN.fullmatch(name):
        return f"g_{name}"
    safe = re.sub(r"[^a-z0-9_]", "_", name.lower())[:40]
    return f"h_{safe}_{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def _checked_schema(graph_file: str) -> str:
    """``graph_file`` (an account row's) when it names a graph schema: never ``kith``, ``public`` or a system
    schema, whatever a registry row says."""
    if not _GRAPH_SCHEMA.fullmatch(graph_file):
        raise StoreError(
            f"the account's graph {graph_file!r} is not a PostgreSQL graph schema of Kith; was the registry "
            "copied from a SQLite server? Use `kith storage copy` to move a server between engines"
        )
    return graph_file


class _Pending:
    """A part of the graph store not yet ported to PostgreSQL (P3's and P4's work in progress, issue #14): any
    use says so instead of failing somewhere else."""

    def __init__(self, part: str, who: str) -> None:
        self._part, self._who = part, who

    def __getattr__(self, name: str) -> NoReturn:
        raise NotImplementedError(f"the PostgreSQL store's {self._part} is not ported yet ({self._who})")


def pending(part: str, who: str) -> Any:
    """A stand-in for the store part ``part`` until ``who`` ports it (typed Any: it satisfies no Protocol)."""
    return _Pending(part, who)


@dataclass(frozen=True, slots=True, eq=False)
class PgGraphStore:
    """One account's graph in its schema."""

    db: PgDatabase
    misc: PgMisc
    people: PgPeople
    insights: PgInsights
    merges: PgMerges
    export: PgExport
    peers: PgPeers
    links: PgLinks
    messages: PgMessages
    outreach: PgOutreach
    imports: Imports
    dav: Dav
    capture: Capture
    org: OrgRecords
    org_member: MemberOrg

    @classmethod
    def of(cls, db: PgDatabase, *, imports_folder: Path | None = None) -> PgGraphStore:
        """The graph store over an open schema. ``imports_folder``: where its import runs keep their claims and
        uploads, in the data folder of the server that runs them (none for an import worker, which is handed
        its claimed run and upload: node/store/postgres/imports.py)."""
        return cls(
            db=db,
            misc=PgMisc(db),
            people=PgPeople(db),
            insights=PgInsights(db),
            merges=PgMerges(db),
            export=PgExport(db),
            peers=PgPeers(db),
            links=PgLinks(db),
            messages=PgMessages(db),
            outreach=PgOutreach(db),
            imports=PgImports(db, imports_folder),
            dav=PgDav(db),
            capture=PgCapture(db),
            org=PgOrg(db),
            org_member=PgMemberOrg(db),
        )

    @classmethod
    async def open(
        cls,
        url: str,
        schema: str,
        *,
        pool: Any = None,
        progress: Callable[[str], None] | None = None,
        imports_folder: Path | None = None,
    ) -> PgGraphStore:
        """Open (migrating as needed) the graph in ``schema``; ``pool``: the server's, to share."""
        db = await PgDatabase.open(
            url, schema=_checked_schema(schema), migrations=GRAPH_MIGRATIONS, progress=progress, pool=pool
        )
        return cls.of(db, imports_folder=imports_folder)

    @property
    def table_copy(self) -> PgTableCopy:
        """The graph's tables for ``kith storage copy``."""
        from node.store.postgres.copy import PgTableCopy

        return PgTableCopy(self.db, graph=True)

    @property
    def location(self) -> str:
        return f"{LOCATION_SCHEME}{self.db.schema} {self.db.url}"

    @property
    def backup_suffix(self) -> str:
        return ".json"

    async def backup(self, dest: Path) -> None:
        """The account's full export (node/exporting.py: what `kith restore` reads) of this graph, written
        whole or not at all, readable by the owner only. PostgreSQL has no file to copy: a copy of the whole
        database is the operator's pg_dump (docs/DEPLOYMENT.md); this is the owner's copy of their graph.
        Federation's rows are in the server's schema and are not in it (``kith account export`` has them)."""
        from node.exporting import export_document  # the document's format is the node's, above the store
        from node.graph import Graph

        document = await export_document(Graph(self))
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = dest.with_name(dest.name + ".partial")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dest)

    async def hold_writes(self, fn: Callable[[], Awaitable[T]]) -> T:
        # Nothing to park for PostgreSQL's sake (another process's writes take the same advisory lock as ours),
        # but our writes wait in this process rather than each holding a pooled connection in the lock's queue.
        return await self.db.write_elsewhere(fn)

    async def close(self) -> None:
        await self.db.close()


class PgServerStore:
    """The server's schema ``kith`` and its accounts' graph schemas, over one pool of connections."""

    def __init__(
        self,
        url: str,
        db: PgDatabase,
        *,
        progress: Callable[[str], None] | None = None,
        data_dir: Path | None = None,
        listen_url: str | None = None,
    ) -> None:
        self.url = url
        self.data_dir = data_dir  # this machine's data folder: import uploads and their claims live there
        self.db = db
        self.pool = db.pool
        self.accounts = PgAccounts(db)
        self.bridge = PgBridgeState(db)  # the Bluesky bridge's state (node/bridge_bluesky.py)
        # every account's federation rows; its LISTEN session goes to storage.listen_url, else the same URL: a
        # LISTEN through PgBouncer in transaction mode is accepted and never delivered (node/worker.py)
        self._federation = PgFederation(db, listen_url=listen_url or url)
        self.progress = progress  # told what a long migration of a graph schema is doing

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        progress: Callable[[str], None] | None = None,
        data_dir: Path | None = None,
        listen_url: str | None = None,
    ) -> PgServerStore:
        pool = await new_pool(url)
        try:
            db = await PgDatabase.open(
                url, schema=SERVER_SCHEMA, migrations=SERVER_MIGRATIONS, progress=progress, pool=pool
            )
        except BaseException:
            await pool.close()
            raise
        return cls(url, db, progress=progress, data_dir=data_dir, listen_url=listen_url)

    @property
    def federation(self) -> FederationStore:
        """Federation's state in kith.fed_* (server migration 0002_federation.sql)."""
        return self._federation

    def account_federation(self, account: str) -> AccountFederation:
        return PgAccountFederation(self.db, account)

    async def move_graph_federation(self, graph: GraphStore, account: str) -> None:
        """Nothing to move: graphs on PostgreSQL never held federation's rows (only the one-owner SQLite layout
        did)."""

    async def move_graphs_federation(self, rows: Sequence[AccountRow]) -> None:
        """Nothing to move (move_graph_federation)."""

    @property
    def table_copy(self) -> PgTableCopy:
        """The server's own tables (registry, keys, federation's state) for ``kith storage copy``."""
        from node.store.postgres.copy import PgTableCopy

        return PgTableCopy(self.db, graph=False)

    async def _execute(self, statement: sql.Composable) -> None:
        try:
            async with self.pool.connection() as conn:
                await conn.execute(statement)
        except Exception as exc:
            raise store_error(exc, self.url) from exc

    async def create_graph(self, name: str) -> str:
        schema = graph_schema(name)
        # a schema no registered account owns (an add that died half-way): made again from nothing
        await self._execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        db = await PgDatabase.open(
            self.url, schema=schema, migrations=GRAPH_MIGRATIONS, progress=self.progress, pool=self.pool
        )
        await db.close()
        return schema

    async def open_graph(self, graph_file: str) -> PgGraphStore:
        # imports/<schema>/ in the data folder, as SQLite's accounts/imports/<name>/ (node/store/sqlite/imports.py)
        folder = None if self.data_dir is None else self.data_dir / "imports" / graph_file
        return await PgGraphStore.open(
            self.url, graph_file, pool=self.pool, progress=self.progress, imports_folder=folder
        )

    async def remove_graph(self, graph_file: str) -> None:
        schema = _checked_schema(graph_file)
        await self._execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    async def close(self) -> None:
        await self.db.close()
        await self.pool.close()


async def open_location(location: str) -> PgGraphStore:
    """The graph ``location`` (PgGraphStore.location) names, with a small pool of its own, closed with it (an
    import worker)."""
    schema, _, url = location.removeprefix(LOCATION_SCHEME).partition(" ")
    db = await PgDatabase.open(
        url, schema=_checked_schema(schema), migrations=GRAPH_MIGRATIONS, pool_size=_WORKER_POOL
    )
    return PgGraphStore.of(db)
