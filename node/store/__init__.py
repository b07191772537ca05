"""Storage for the contact graph.

The graph logic (node/graph.py) sees only :class:`GraphStore`, whose parts are grouped by concept
(``people``, ``insights``, ``merges``, ``export``, ``misc``, ``peers``, ``imports``, ``links``, ``dav``). The SQLite
implementation is the only one today; a PostgreSQL backend will be a second set of classes with the same methods, so nothing SQLite-specific appears
in the methods' arguments or results: they take and return plain values and node.models records.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.store.db import Database, SchemaTooNew
from node.store.sqlite_dav import SqliteDav
from node.store.sqlite_export import SqliteExport
from node.store.sqlite_import import ImportStore
from node.store.sqlite_insights import SqliteInsights
from node.store.sqlite_links import SqliteLinks
from node.store.sqlite_merge import SqliteMerges
from node.store.sqlite_misc import SqliteMisc
from node.store.sqlite_peers import SqlitePeers
from node.store.sqlite_people import IdentityInput, SqlitePeople

__all__ = ["Database", "GraphStore", "IdentityInput", "SchemaTooNew"]


@dataclass(frozen=True, slots=True)
class GraphStore:
    db: Database
    people: SqlitePeople
    insights: SqliteInsights
    merges: SqliteMerges
    export: SqliteExport
    misc: SqliteMisc
    peers: SqlitePeers
    imports: ImportStore
    links: SqliteLinks
    dav: SqliteDav

    @classmethod
    def sqlite(cls, db: Database) -> GraphStore:
        return cls(
            db=db,
            people=SqlitePeople(db),
            insights=SqliteInsights(db),
            merges=SqliteMerges(db),
            export=SqliteExport(db),
            misc=SqliteMisc(db),
            peers=SqlitePeers(db),
            imports=ImportStore(db),
            links=SqliteLinks(db),
            dav=SqliteDav(db),
        )
