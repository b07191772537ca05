"""Real Kith federation nodes on 127.0.0.1 for tests: aiohttp servers, SQLite files, fresh keys, one shared
fake clock. Workers do not run in the background; tests step the loops with ``settle``."""

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
from federation import FEDERATION, Federation, FederationContext
from node.config import Config, FederationConfig, NodeConfig, ServerConfig
from node.context import AccountContext
from node.keys import KeyRing
from node.store.sqlite.db import Database

from .memgraph import MemoryGraph

_KEYS: list[KeyRing] = []


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
        graph_file = f"accounts/{name}.sqlite3"
        await (await Database.open(config.data_dir / graph_file)).close()
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
    fed: Federation
    graph: MemoryGraph
    db: Database
    runner: web.AppRunner

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
    """``graph_factory``: the node's GraphPort made over its own database (the real graph, for tests of what
    enters the owner's graph); ``Node.graph`` is then what it returns."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    data = tmp / name
    config = make_config(data, port, name, **fed)
    db = await Database.open(config.database_path)
    graph = graph_factory(db) if graph_factory is not None else graph or MemoryGraph()
    ctx = FederationContext(
        config=config, keys=keyring(index), db=db, graph=graph, clock=clock, run_workers=False
    )
    app = web.Application()
    federation.setup(app, ctx)
    if setup_app is not None:
        setup_app(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield Node(name=name, base=config.base_url, fed=app[FEDERATION], graph=graph, db=db, runner=runner)
    finally:
        await runner.cleanup()
        await db.close()


async def settle(*nodes: Node, rounds: int = 20) -> None:
    """Step every node's inbox and delivery loops until a whole round does nothing."""
    for _ in range(rounds):
        busy = 0
        for n in nodes:
            a, b = await n.fed.run_once()
            busy += a + b
        if busy == 0:
            return
    raise AssertionError("nodes did not settle")
