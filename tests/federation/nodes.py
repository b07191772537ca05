"""Real Kith federation nodes on 127.0.0.1 for tests: aiohttp servers, a server of one account each (its SQLite
files, its keys), federation wired over it as node/federation_wiring.py wires it, one shared fake clock. Workers
do not run in the background; tests step the loops with ``settle``."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

import federation
from federation import FEDERATION, AccountFederation, Federation
from node.api import SERVER
from node.config import Config, FederationConfig, NodeConfig, ServerConfig, StorageConfig
from node.context import AccountContext
from node.federation_wiring import federation_context
from node.keys import KeyRing
from node.store.sqlite.db import Database

from .memgraph import FixedGraphs, MemoryGraph

_KEYS: list[KeyRing] = []
#: The storage.url of each new server these helpers make: "" (SQLite in its folder), or an empty PostgreSQL
#: database's (a test module's ``backend`` fixture sets it: tests/federation/backends.py).
storage_url: Callable[[], str] = str


def keyring(i: int) -> KeyRing:
    # RSA generation costs ~100 ms a key; reuse across tests in one process
    while len(_KEYS) <= i:
        _KEYS.append(KeyRing.generate())
    return _KEYS[i]


async def open_account(config: Config, name: str, keys: KeyRing) -> AccountContext:
    """A server in ``config.data_dir`` with one account ``name`` whose actor keys are ``keys`` (reused across
    tests: RSA generation is slow), opened with its keys."""
    from node.keys import save_node_key
    from node.server import Server, token_digest

    config.data_dir.mkdir(parents=True, exist_ok=True)
    save_node_key(config.data_dir, keys.node_rsa, None)
    server = await Server.open(config)
    try:
        graph_file = await server.store.create_graph(name)
        await server.accounts.create(
            name=name,
            type="Person",
            display_name=name.title(),
            graph_file=graph_file,
            token_sha256=token_digest(name),
            keys=keys.actor.to_pems(None),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
        ctx = await server.context(name)
        await ctx.load_keys()
    except BaseException:
        await server.close()
        raise
    ctx.owns_server = True
    return ctx


async def add_account(server: Any, name: str, keys: KeyRing, *, actor_type: str = "Person") -> None:
    """Register one more account ``name`` on a running ``server`` (its token is its name), as
    ``kith account add`` does, with ``keys`` (reused across tests: RSA generation is slow)."""
    from node.server import token_digest

    graph_file = await server.store.create_graph(name)
    await server.accounts.create(
        name=name,
        type=actor_type,
        display_name=name.title(),
        graph_file=graph_file,
        token_sha256=token_digest(name),
        keys=keys.actor.to_pems(None),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def open_or_make_account(config: Config, name: str, keys: KeyRing) -> AccountContext:
    """The account ``name`` of the server in ``config.data_dir``, made first (with ``keys``) if there is none:
    for tests whose node runs in several processes one after another."""
    if (config.data_dir / "server.sqlite3").exists():
        return await AccountContext.open(config, account=name)
    return await open_account(config, name, keys)


class FakeClock:
    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Node:
    name: str
    base: str
    fed: AccountFederation  # the node's one account, acting as its actor
    graph: Any  # its GraphPort: MemoryGraph, or the real one
    db: Database  # the server database, where federation's rows live
    runner: web.AppRunner
    ctx: AccountContext

    @property
    def runtime(self) -> Federation:
        """The server's federation runtime (every account's loops)."""
        return self.fed.server

    @property
    def actor(self) -> str:
        return self.fed.urls.owner

    @property
    def acct(self) -> str:
        return self.fed.urls.owner_acct


def make_config(data: Path, port: int, username: str, **fed: Any) -> Config:
    values: dict[str, Any] = {
        "allow_private_networks": ("127.0.0.0/8",),
        "allow_http": True,
        "auto_accept_follows": True,
        "delivery_days": 3,
        "fetch_timeout": 10,
    }
    values.update(fed)
    return Config(
        data_dir=data,
        node=NodeConfig(
            username=username,
            domain=f"127.0.0.1:{port}",
            display_name=username.title(),
            actor_type="Person",
            https=False,
        ),
        server=ServerConfig(host="127.0.0.1", port=port, max_body_bytes=1 << 20),
        federation=FederationConfig(**values),
        storage=StorageConfig(url=storage_url()),
    )


@asynccontextmanager
async def start_node(
    tmp: Path,
    name: str,
    clock: FakeClock,
    *,
    index: int = 0,
    graph: MemoryGraph | None = None,
    setup_app: Callable[[web.Application], None] | None = None,
    graph_factory: Callable[[Database], Any] | None = None,
    **fed: Any,
) -> AsyncIterator[Node]:
    """``graph_factory``: the node's GraphPort made over its account's graph database (the real graph, for
    tests of what enters the owner's graph); ``Node.graph`` is then what it returns."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = make_config(tmp / name, port, name, **fed)
    async with run_node(
        config, sock, clock, index=index, graph=graph, setup_app=setup_app, graph_factory=graph_factory
    ) as node:
        yield node


@asynccontextmanager
async def run_node(
    config: Config,
    sock: socket.socket,
    clock: FakeClock,
    *,
    index: int = 0,
    graph: Any = None,
    setup_app: Callable[[web.Application], None] | None = None,
    graph_factory: Callable[[Database], Any] | None = None,
) -> AsyncIterator[Node]:
    """A server of one account (``config.node.username``) serving federation on ``sock``."""
    name = config.node.username
    ctx = await open_account(config, name, keyring(index))
    try:
        port_graph = graph_factory(ctx.store.db) if graph_factory is not None else graph or MemoryGraph()
        fctx = federation_context(
            ctx.server, graphs=FixedGraphs({name: port_graph}), clock=clock, run_workers=False
        )
        app = web.Application()
        app[SERVER] = ctx.server
        federation.setup(app, fctx)
        if setup_app is not None:
            setup_app(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        try:
            async with app[FEDERATION].acting(name) as me:
                yield Node(
                    name=name,
                    base=config.base_url,
                    fed=me,
                    graph=port_graph,
                    db=ctx.server.store.db,
                    runner=runner,
                    ctx=ctx,
                )
        finally:
            await runner.cleanup()
    finally:
        await ctx.close()


@dataclass
class Server:
    """One server of several accounts, each a :class:`Node` sharing the server's runtime and database."""

    base: str
    nodes: dict[str, Node]
    graphs: FixedGraphs
    ctx: AccountContext  # the first account's: ``ctx.server`` is the server

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    @property
    def runtime(self) -> Federation:
        return next(iter(self.nodes.values())).runtime

    async def add(self, name: str, index: int, *, actor_type: str = "Person") -> Node:
        """A new account on the running server (as ``kith account add`` beside ``kith serve``)."""
        await add_account(self.ctx.server, name, keyring(index), actor_type=actor_type)
        graph = self.graphs.graphs[name] = MemoryGraph()
        first = next(iter(self.nodes.values()))
        async with self.runtime.acting(name) as me:
            pass
        node = Node(
            name=name, base=self.base, fed=me, graph=graph, db=first.db, runner=first.runner, ctx=self.ctx
        )
        self.nodes[name] = node
        return node


@asynccontextmanager
async def start_server(
    tmp: Path,
    names: list[str],
    clock: FakeClock,
    *,
    index: int = 0,
    folder: str = "server",
    setup_app: Callable[[web.Application], None] | None = None,
    **fed: Any,
) -> AsyncIterator[Server]:
    """A server with the accounts ``names`` (keys ``keyring(index)``, ``keyring(index + 1)``...), each with an
    in-memory graph, serving federation on a port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = make_config(tmp / folder, sock.getsockname()[1], names[0], **fed)
    ctx = await open_account(config, names[0], keyring(index))
    try:
        for i, name in enumerate(names[1:], start=1):
            await add_account(ctx.server, name, keyring(index + i))
        graphs = FixedGraphs({name: MemoryGraph() for name in names})
        fctx = federation_context(ctx.server, graphs=graphs, clock=clock, run_workers=False)
        app = web.Application()
        app[SERVER] = ctx.server
        federation.setup(app, fctx)
        if setup_app is not None:
            setup_app(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            nodes = {}
            for name in names:
                async with app[FEDERATION].acting(name) as me:
                    pass  # an AccountFederation stays usable after the block: its graph is in memory
                nodes[name] = Node(
                    name=name,
                    base=config.base_url,
                    fed=me,
                    graph=graphs.graphs[name],
                    db=ctx.server.store.db,
                    runner=runner,
                    ctx=ctx,
                )
            yield Server(base=config.base_url, nodes=nodes, graphs=graphs, ctx=ctx)
        finally:
            await runner.cleanup()
    finally:
        await ctx.close()


async def settle(*nodes: Node, rounds: int = 20) -> None:
    """Step every node's inbox and delivery loops until a whole round does nothing."""
    for _ in range(rounds):
        busy = 0
        for n in nodes:
            a, b = await n.runtime.run_once()
            busy += a + b
        if busy == 0:
            return
    raise AssertionError("nodes did not settle")
