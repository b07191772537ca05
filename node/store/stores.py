"""The two stores a server opens (specs/STORAGE.md §3): the server's own (the account registry, and later
federation's state), and one graph store per account, bound to that account when it is opened.

Nothing above the storage package knows which engine is underneath: it holds these Protocols, opened by
node/store/factory.py from ``storage.url``. Every graph store object reaches one account's graph and no other,
and no method of it takes an account from a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from federation.ports import FederationStore
from node.models import AccountRow
from node.store.accounts import Accounts
from node.store.bridge import BridgeState
from node.store.capture import Capture
from node.store.copy import TableCopy
from node.store.dav import Dav
from node.store.export import Export
from node.store.federation import AccountFederation
from node.store.imports import Imports
from node.store.insights import Insights
from node.store.links import Links
from node.store.merges import Merges
from node.store.messages import Messages
from node.store.misc import Misc
from node.store.org import MemberOrg, OrgRecords
from node.store.outreach import Outreach
from node.store.peers import Peers
from node.store.people import People

__all__ = ["GraphStore", "ServerStore"]

T = TypeVar("T")


class GraphStore(Protocol):
    """One account's contact graph, grouped by concept."""

    @property
    def people(self) -> People: ...

    @property
    def insights(self) -> Insights: ...

    @property
    def merges(self) -> Merges: ...

    @property
    def export(self) -> Export: ...

    @property
    def misc(self) -> Misc: ...

    @property
    def peers(self) -> Peers: ...

    @property
    def imports(self) -> Imports: ...

    @property
    def links(self) -> Links: ...

    @property
    def dav(self) -> Dav: ...

    @property
    def capture(self) -> Capture:
        """Mail capture (the stay-in-touch loop, issue 16)."""
        ...

    @property
    def messages(self) -> Messages:
        """Fediverse direct messages and mentions (issue 16)."""
        ...

    @property
    def outreach(self) -> Outreach:
        """Reminders, digests sent, preferred channels (issue 16)."""
        ...

    @property
    def org(self) -> OrgRecords:
        """The organisation's side (used when the account is an organisation)."""
        ...

    @property
    def org_member(self) -> MemberOrg:
        """A member's side of the organisations the account belongs to."""
        ...

    @property
    def table_copy(self) -> TableCopy:
        """The graph's tables for ``kith storage copy`` (node/store/copy.py)."""
        ...

    @property
    def location(self) -> str:
        """Where this graph lives, as node.store.factory.open_graph_at opens it again in another process (an
        import worker, node/import_worker.py)."""
        ...

    @property
    def backup_suffix(self) -> str:
        """The file name ending of this backend's backups (``.sqlite3``)."""
        ...

    async def backup(self, dest: Path) -> None:
        """A consistent copy of the graph in the file ``dest`` while the node keeps running, readable by the
        owner only; it appears whole or not at all."""
        ...

    async def hold_writes(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` while this process begins no write of its own to the graph, so that another process
        writing it (an import worker) never waits for ours; our writes queue until ``fn`` ends."""
        ...

    async def close(self) -> None: ...


class ServerStore(Protocol):
    """The server's own store, and where its accounts' graphs are made, opened and removed."""

    @property
    def accounts(self) -> Accounts: ...

    @property
    def bridge(self) -> BridgeState:
        """The Bluesky bridge's state: its actors, the operator's blocks, its stream cursors (issue #18)."""
        ...

    @property
    def table_copy(self) -> TableCopy:
        """The server's own tables (registry, keys, federation's state) for ``kith storage copy``."""
        ...

    @property
    def federation(self) -> FederationStore:
        """Federation's state, every account's, each row naming its account (federation/ports.py)."""
        ...

    def account_federation(self, account: str) -> AccountFederation:
        """One account's federation rows as a whole (its export, restore and purge)."""
        ...

    async def move_graph_federation(self, graph: GraphStore, account: str) -> None:
        """Move the federation rows ``graph`` kept before they moved to the server's store (the one-owner
        layout) into it with ``account``; idempotent, and a kill at any point loses nothing."""
        ...

    async def move_graphs_federation(self, rows: Sequence[AccountRow]) -> None:
        """move_graph_federation for every account of ``rows`` whose graph exists."""
        ...

    async def create_graph(self, name: str) -> str:
        """Make an empty graph for a new account named ``name`` (replacing anything an earlier attempt that
        died half-way left); returns where it lives, the account row's ``graph_file``."""
        ...

    async def open_graph(self, graph_file: str) -> GraphStore:
        """Open an account's graph (migrating its schema if it is older than this Kith)."""
        ...

    async def remove_graph(self, graph_file: str) -> None:
        """Delete an account's graph for good (a purge); the caller closed it first."""
        ...

    async def close(self) -> None: ...
