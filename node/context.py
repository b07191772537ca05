"""Everything one account holds, opened once and passed down (no globals, no os.environ reads).

An :class:`AccountContext` is bound to one account at construction: its graph store reaches that account's
database and no other, and nothing in it takes an account from a request. The server hands contexts out
(node/server.py); ``AccountContext.open`` is the one-call form the CLI and tests use, which opens a server of
its own and closes it with the context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from node.config import Config
from node.graph import Clock, Graph, utcnow
from node.import_jobs import ImportJobs
from node.keys import KeyRing
from node.models import AccountRow
from node.store import GraphStore

if TYPE_CHECKING:
    from node.server import Server

__all__ = ["AccountContext"]


@dataclass(eq=False)
class AccountContext:
    server: Server
    account: AccountRow
    store: GraphStore
    graph: Graph
    imports: ImportJobs
    keys: KeyRing | None = None  # loaded by load_keys(): commands that only touch the graph never need them
    owns_server: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, server: Server, account: AccountRow, store: GraphStore) -> AccountContext:
        graph = Graph(store, server.clock, federation=server.store.account_federation(account.name))
        # one set of import worker processes for the whole server, whichever account imports
        imports = ImportJobs(
            store, graph.clock, graph.phone_region, workers=server.import_workers, owns_workers=False
        )
        return cls(server=server, account=account, store=store, graph=graph, imports=imports)

    @property
    def config(self) -> Config:
        return self.server.config

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def busy(self) -> bool:
        """Work of this account's is running in the background (an import): keep its graph open."""
        return bool(self.imports.tasks)

    async def load_keys(self) -> KeyRing:
        if self.keys is None:
            self.keys = await self.server.keyring(self.account)
        return self.keys

    async def set_token(self, token: str) -> None:
        await self.server.set_token(self.account, token)

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        account: str | None = None,
        passphrase: str | None = None,
        clock: Clock = utcnow,
        load_keys: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> AccountContext:
        """Open the server in ``config.data_dir`` and the account ``account`` (default: the server's default
        account); closing the context closes the server too. ``progress`` is told what a long migration is
        doing."""
        from node.server import Server

        server = await Server.open(config, passphrase=passphrase, clock=clock, progress=progress)
        try:
            ctx = await server.context(account)
            if load_keys:
                await ctx.load_keys()
        except BaseException:
            await server.close()
            raise
        ctx.owns_server = True
        return ctx

    async def close(self) -> None:
        """Close what :meth:`open` opened. A context the server handed out is the server's to close."""
        if self.owns_server:
            await self.server.close()
