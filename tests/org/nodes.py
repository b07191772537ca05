"""Whole Kith servers for the organisation tests: node.app.build_app with its owner API, bearer token, graph,
federation wiring and (optionally) the web UI, each server with one account, on loopback with real SQLite
files and real keys. The organisation's account on one server, its members' accounts on others: the layer is
built and tested across servers (issue #15), which is how two accounts on one server federate too.

The delivery and inbox loops do not run in the background: ``settle`` steps every server's loops until they
are idle, and ``cycle`` steps one server once, so that "within one delivery cycle" is a test, not a wait."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from federation import FEDERATION, Federation
from federation.fetch import FetchPolicy, GuardedClient
from node.app import build_app
from node.context import AccountContext
from node.federation_wiring import setup_federation
from node.keys import save_node_key
from node.server import Server, new_token, token_digest
from tests.federation.helpers import ScriptedResolver
from tests.federation.nodes import keyring, make_config

__all__ = ["DNS", "OrgNode", "client", "server", "settle"]

# Servers are named NAME.test (the graph keeps only domain-name hosts in identities); a scripted resolver maps
# those names to the loopback ports the servers listen on.
DNS = ScriptedResolver({})


def client() -> GuardedClient:
    return GuardedClient(
        FetchPolicy(allow_networks=(ip_network("127.0.0.0/8"),), allow_http=True), resolver=DNS
    )


@dataclass
class OrgNode:
    name: str
    base: str
    token: str
    ctx: AccountContext
    app: web.Application
    http: aiohttp.ClientSession

    @property
    def fed(self) -> Federation:
        return self.app[FEDERATION]

    @property
    def actor(self) -> str:
        return self.fed.urls.owner

    @property
    def acct(self) -> str:
        return self.fed.urls.owner_acct

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, data = await self.call(method, path, body)
        assert status < 300, (method, path, status, data)
        return data

    async def person(self, name: str, **fields: Any) -> str:
        person = await self.ctx.graph.create_person({"display_name": name, **fields})
        return person.id


async def _account(config: Any, name: str, index: int, *, organization: bool) -> AccountContext:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    keys = keyring(index)
    save_node_key(config.data_dir, keys.node_rsa, None)
    srv = await Server.open(config)
    try:
        graph_file = await srv.store.create_graph(name)
        await srv.accounts.create(
            name=name,
            type="Organization" if organization else "Person",
            display_name=name.title(),
            graph_file=graph_file,
            token_sha256=token_digest(name),
            keys=keys.actor.to_pems(None),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
        ctx = await srv.context(name)
        await ctx.load_keys()
    except BaseException:
        await srv.close()
        raise
    ctx.owns_server = True
    return ctx


@asynccontextmanager
async def server(
    tmp: Path, name: str, index: int, *, organization: bool = False, extensions: Sequence[Any] = ()
) -> AsyncIterator[OrgNode]:
    """One server with one account ``name`` (an organisation's, with ``organization``), served at NAME.test."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    DNS.script[f"{name}.test"] = [("127.0.0.1", port)]
    config = make_config(tmp / name, port, name)
    config = replace(
        config,
        node=replace(
            config.node, domain=f"{name}.test:{port}", actor_type="Organization" if organization else "Person"
        ),
    )
    ctx = await _account(config, name, index, organization=organization)
    token = new_token()
    await ctx.set_token(token)
    app = build_app(
        ctx.server,
        extensions=[*extensions, partial(setup_federation, client_factory=client, run_workers=False)],
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        connector = aiohttp.TCPConnector(resolver=DNS, use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            yield OrgNode(name=name, base=config.base_url, token=token, ctx=ctx, app=app, http=http)
    finally:
        await runner.cleanup()
        await ctx.close()


async def settle(*nodes: OrgNode, rounds: int = 40) -> None:
    """Step every server's inbox and delivery loops until a whole round does nothing."""
    for _ in range(rounds):
        busy = 0
        for n in nodes:
            a, b = await n.fed.run_once()
            busy += a + b
        if busy == 0:
            return
    raise AssertionError("servers did not settle")
