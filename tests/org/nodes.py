"""Whole Kith servers for the organisation tests: node.app.build_app with its owner API, bearer token, graph,
federation wiring and (optionally) the web UI, each server with one account, on loopback with real SQLite
files and real keys. The organisation's account on one server, its members' accounts on others: the layer is
built and tested across servers (issue #15), which is how two accounts on one server federate too.

The delivery and inbox loops do not run in the background: ``settle`` steps every server's loops until they
are idle, and ``cycle`` steps one server once, so that "within one delivery cycle" is a test, not a wait."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from federation import FEDERATION, AccountFederation, Federation
from federation.fetch import FetchPolicy, GuardedClient
from node.app import build_app
from node.context import AccountContext
from node.federation_wiring import setup_federation
from node.keys import save_node_key
from node.server import Server, new_token, token_digest
from tests.federation.helpers import ScriptedResolver
from tests.federation.nodes import keyring, make_config

__all__ = ["DNS", "OrgNode", "client", "server", "settle", "shared_server"]

# Servers are named NAME.test (the graph keeps only domain-name hosts in identities); a scripted resolver maps
# those names to the loopback ports the servers listen on.
DNS = ScriptedResolver({})


def client() -> GuardedClient:
    return GuardedClient(
        FetchPolicy(allow_networks=(ip_network("127.0.0.0/8"),), allow_http=True), resolver=DNS
    )


@dataclass
class OrgNode:
    """One account of a server (``fed``: that account acting as its actor, its graph held for the test)."""

    name: str
    base: str
    token: str
    ctx: AccountContext
    app: web.Application
    http: aiohttp.ClientSession
    fed: AccountFederation

    @property
    def runtime(self) -> Federation:
        """The server's federation (every account's loops)."""
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


async def _add(srv: Server, name: str, index: int, *, organization: bool) -> AccountContext:
    graph_file = await srv.store.create_graph(name)
    await srv.accounts.create(
        name=name,
        type="Organization" if organization else "Person",
        display_name=name.title(),
        graph_file=graph_file,
        token_sha256=token_digest(name),
        keys=keyring(index).actor.to_pems(None),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    ctx = await srv.context(name)
    await ctx.load_keys()
    return ctx


async def _account(config: Any, name: str, index: int, *, organization: bool) -> AccountContext:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    save_node_key(config.data_dir, keyring(index).node_rsa, None)
    srv = await Server.open(config)
    try:
        ctx = await _add(srv, name, index, organization=organization)
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
        async with aiohttp.ClientSession(connector=connector) as http, app[FEDERATION].acting(name) as fed:
            yield OrgNode(name=name, base=config.base_url, token=token, ctx=ctx, app=app, http=http, fed=fed)
    finally:
        await runner.cleanup()
        await ctx.close()


@asynccontextmanager
async def shared_server(
    tmp: Path, accounts: Sequence[tuple[str, bool]], *, index: int = 0
) -> AsyncIterator[list[OrgNode]]:
    """ONE server with several accounts (``(name, organization)`` each), served at one.test: an organisation's
    account and its members' accounts side by side, federating through the local path (federation/local.py)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    DNS.script["one.test"] = [("127.0.0.1", port)]
    first, org_first = accounts[0]
    config = make_config(tmp / "one", port, first)
    config = replace(config, node=replace(config.node, domain=f"one.test:{port}"))
    ctx = await _account(config, first, index, organization=org_first)
    contexts = [ctx]
    for i, (name, organization) in enumerate(accounts[1:], start=index + 1):
        contexts.append(await _add(ctx.server, name, i, organization=organization))
    tokens = []
    for c in contexts:
        tokens.append(new_token())
        await c.set_token(tokens[-1])
    app = build_app(
        ctx.server, extensions=[partial(setup_federation, client_factory=client, run_workers=False)]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        connector = aiohttp.TCPConnector(resolver=DNS, use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector) as http, AsyncExitStack() as stack:
            nodes = []
            for c, token in zip(contexts, tokens, strict=True):
                fed = await stack.enter_async_context(app[FEDERATION].acting(c.account.name))
                nodes.append(
                    OrgNode(
                        name=c.account.name,
                        base=config.base_url,
                        token=token,
                        ctx=c,
                        app=app,
                        http=http,
                        fed=fed,
                    )
                )
            yield nodes
    finally:
        await runner.cleanup()
        await ctx.close()


async def settle(*nodes: OrgNode, rounds: int = 40) -> None:
    """Step every server's inbox and delivery loops until a whole round does nothing."""
    runtimes = list({id(n.runtime): n.runtime for n in nodes}.values())  # accounts of one server share one
    for _ in range(rounds):
        busy = 0
        for runtime in runtimes:
            a, b = await runtime.run_once()
            busy += a + b
        if busy == 0:
            return
    raise AssertionError("servers did not settle")
