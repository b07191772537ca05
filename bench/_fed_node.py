"""Shared set-up for the federation benchmarks: one Kith node on loopback with a minimal graph port."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

import federation
from federation import FEDERATION, Federation, FederationContext, RemoteActor
from federation.ports import CardVersion
from node.config import Config, FederationConfig, NodeConfig, ServerConfig
from node.keys import KeyRing
from node.store.sqlite.db import Database


class BenchGraph:
    """Remembers nothing but what the fan-out benchmark discloses."""

    def __init__(self) -> None:
        self.disclosed: dict[str, dict[str, Any]] = {}

    async def remote_actor_seen(self, actor: RemoteActor, *, source: str) -> str:
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

    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        return self.disclosed.get(actor_id)

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        return list(self.disclosed)

    async def card_version(self) -> CardVersion | None:
        return CardVersion(seq=1, updated=datetime(2026, 11, 22, tzinfo=UTC)) if self.disclosed else None

    async def public_card(self) -> Mapping[str, Any] | None:
        return None


def bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def kith_node(name: str = "bench", **ctx: Any) -> AsyncIterator[tuple[Federation, str, BenchGraph]]:
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
        db = await Database.open(config.database_path)
        graph = BenchGraph()
        context = FederationContext(
            config=config, keys=KeyRing.generate(), db=db, graph=graph, run_workers=False, **ctx
        )
        app = web.Application()
        federation.setup(app, context)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            yield app[FEDERATION], config.base_url, graph
        finally:
            await runner.cleanup()
            await db.close()


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
