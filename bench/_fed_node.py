"""Shared set-up for the federation benchmarks: one Kith server on loopback with one account, federation wired
over it as node/federation_wiring.py wires it (its settings, its store over the server database, its accounts
as local actors), except the account's graph: a minimal in-memory one, so that what is measured is federation's
work (signing, storing, delivering), not the contact graph's."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

import federation
from federation import FEDERATION, AccountFederation, Federation, RemoteActor
from federation.ports import ActorSource, CardVersion, FediMessage, GraphPort
from node.api import SERVER
from node.config import Config, FederationConfig, NodeConfig, ServerConfig
from node.federation_wiring import federation_context
from node.keys import save_node_key
from node.server import Server
from protocol.keys import generate_rsa_key


def smoke() -> bool:
    """``KITH_BENCH_SMOKE=1``: the benchmark runs at its smallest size, only to show it still starts and prints
    its figures (tests/test_benchmarks.py); the figures then mean nothing."""
    return os.environ.get("KITH_BENCH_SMOKE") == "1"


class BenchGraph:
    """Remembers nothing but what the fan-out benchmark discloses."""

    def __init__(self) -> None:
        self.disclosed: dict[str, dict[str, Any]] = {}

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str | None:
        return actor.id

    async def actor_gone(self, actor_id: str) -> None:
        return None

    async def actor_moved(self, old_id: str, new_actor: RemoteActor) -> None:
        return None

    async def card_received(self, actor_id: str, card: Mapping[str, Any]) -> None:
        return None

    async def relationship_confirmed(self, actor_id: str, record: Mapping[str, Any]) -> None:
        return None

    async def relationship_revoked(self, actor_id: str, record_id: str) -> None:
        return None

    async def message_received(self, message: FediMessage) -> None:
        return None

    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        return self.disclosed.get(actor_id)

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        return list(self.disclosed)

    async def card_version(self) -> CardVersion | None:
        return CardVersion(seq=1, updated=datetime(2026, 11, 22, tzinfo=UTC)) if self.disclosed else None

    async def public_card(self) -> Mapping[str, Any] | None:
        return None


class _OneGraph:
    """federation.ports.GraphPorts: the one bench graph, for the server's one account."""

    def __init__(self, graph: BenchGraph) -> None:
        self.graph = graph

    @contextlib.asynccontextmanager
    async def graph_for(self, account: str, *, walk: bool = False) -> AsyncIterator[GraphPort]:
        yield self.graph


@dataclass
class BenchNode:
    runtime: Federation  # the server's federation (its store, delivery loop, intake)
    me: AccountFederation  # the one account, acting as its actor
    base: str
    graph: BenchGraph
    server: Server


def bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def kith_node(name: str = "bench", **ctx: Any) -> AsyncIterator[BenchNode]:
    """``ctx``: FederationContext's other fields (``inbox_rate``, ``inbox_burst``...). Workers do not run in
    the background: the benchmark steps the loops itself."""
    with tempfile.TemporaryDirectory() as tmp:
        sock = bound_socket()
        port = sock.getsockname()[1]
        config = Config(
            data_dir=Path(tmp),
            node=NodeConfig(
                username=name, domain=f"127.0.0.1:{port}", display_name=name, actor_type="Person", https=False
            ),
            server=ServerConfig(host="127.0.0.1", port=port, max_body_bytes=1 << 20),
            federation=FederationConfig(
                allow_private_networks=("127.0.0.0/8",),
                allow_http=True,
                auto_accept_follows=True,
                delivery_days=3,
                fetch_timeout=30,
            ),
        )
        # as `kith init` makes a server: its node key, then the account (its keys, graph and token)
        save_node_key(config.data_dir, generate_rsa_key(), None)
        server = await Server.open(config)
        try:
            await server.add_account(name, display_name=name)
            graph = BenchGraph()
            context = federation_context(server, graphs=_OneGraph(graph), run_workers=False, **ctx)
            app = web.Application()
            app[SERVER] = server
            federation.setup(app, context)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            try:
                runtime = app[FEDERATION]
                async with runtime.acting(name) as me:
                    yield BenchNode(runtime=runtime, me=me, base=config.base_url, graph=graph, server=server)
            finally:
                await runner.cleanup()
        finally:
            await server.close()


@asynccontextmanager
async def plain_server(app: web.Application) -> AsyncIterator[str]:
    sock = bound_socket()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()
