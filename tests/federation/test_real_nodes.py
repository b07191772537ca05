"""End to end through the real node: node.app.build_app with its owner API, bearer token, graph and the
federation wiring, three nodes on loopback with real SQLite files and background workers on the real clock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from federation import FEDERATION, Federation
from federation.fetch import FetchPolicy, GuardedClient
from federation.store import AccountStore
from node.app import build_app
from node.context import AccountContext
from node.federation_wiring import setup_federation
from node.owner_card import set_card, set_disclosure
from node.server import new_token
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .helpers import ScriptedResolver
from .nodes import keyring, make_config, open_account


@dataclass
class RealNode:
    base: str
    token: str
    ctx: AccountContext
    fed: Federation  # the server's federation runtime
    http: aiohttp.ClientSession

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def acct(self) -> str:
        return self.fed.urls.of(self.name).owner_acct

    @property
    def actor(self) -> str:
        return self.fed.urls.of(self.name).owner

    @property
    def store(self) -> AccountStore:
        """The account's federation rows."""
        return self.fed.account_store(self.name)

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            data = await r.json(content_type=None)
            assert r.status < 300, (r.status, data)
            return data

    async def person_of(self, actor: str) -> str:
        person = await self.ctx.store.people.person_for_identity(actor)
        assert person is not None, actor
        return person.id


# Nodes are named NAME.test: the graph keeps only domain-name hosts in identities, and a scripted resolver (passed
# to the guarded client, as any resolver can be) maps those names to the loopback ports the nodes listen on.
DNS = ScriptedResolver({})


def client() -> GuardedClient:
    return GuardedClient(
        FetchPolicy(allow_networks=(ip_network("127.0.0.0/8"),), allow_http=True), resolver=DNS
    )


@asynccontextmanager
async def real_node(tmp: Path, name: str, index: int) -> AsyncIterator[RealNode]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    DNS.script[f"{name}.test"] = [("127.0.0.1", port)]
    config = make_config(tmp / name, port, name)
    config = replace(config, node=replace(config.node, domain=f"{name}.test:{port}"))
    ctx = await open_account(config, name, keyring(index))
    token = new_token()
    await ctx.set_token(token)
    app = build_app(ctx.server, extensions=[partial(setup_federation, client_factory=client)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        connector = aiohttp.TCPConnector(resolver=DNS, use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            yield RealNode(base=config.base_url, token=token, ctx=ctx, fed=app[FEDERATION], http=http)
    finally:
        await runner.cleanup()
        await ctx.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(1200):  # 60 s: a loaded machine is slow, not wrong
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_three_real_nodes(tmp_path: Path) -> None:
    async with (
        real_node(tmp_path, "alice", 0) as a,
        real_node(tmp_path, "bob", 1) as b,
        real_node(tmp_path, "carol", 2) as c,
    ):
        # the owner API is behind the token
        async with a.http.get(a.base + "/api/federation/followers") as r:
            assert r.status == 401

        # follow both ways
        await a.api("POST", "/api/federation/follow", {"address": f"acct:{b.acct}"})
        await b.api("POST", "/api/federation/follow", {"address": a.acct})
        await c.api("POST", "/api/federation/follow", {"address": a.actor})

        async def follows_settled() -> bool:
            fa = await a.api("GET", "/api/federation/following")
            fb = await b.api("GET", "/api/federation/following")
            fc = await c.api("GET", "/api/federation/following")
            return all(len(f) == 1 and f[0]["state"] == "accepted" for f in (fa, fb, fc))

        await until(follows_settled, "follows accepted")
        assert {f["actor"] for f in await a.api("GET", "/api/federation/followers")} == {b.actor, c.actor}
        # every actor the node learned of is an identity on a person in the graph
        person_b_at_a = await a.person_of(b.actor)
        assert person_b_at_a == await a.person_of("acct:" + b.acct)

        # connect with a relationship signed by both
        offer = await a.api(
            "POST", "/api/federation/connect", {"address": b.acct, "type": "colleague", "how_we_met": "PyCon"}
        )

        async def offer_arrived() -> bool:
            return len(await b.api("GET", "/api/federation/requests")) == 1

        await until(offer_arrived, "the offer at bob")
        (incoming,) = await b.api("GET", "/api/federation/requests")
        assert incoming["id"] == offer["id"] and incoming["type"] == "colleague"
        await b.api("POST", "/api/federation/requests/accept", {"id": incoming["id"]})

        async def related() -> bool:
            rels = await a.api("GET", f"/api/people/{person_b_at_a}/relationships")
            return any(r["type"] == "colleague" and r["status"] == "accepted" for r in rels["items"])

        await until(related, "the confirmed relationship at alice")
        rels_at_b = await b.api("GET", f"/api/people/{await b.person_of(a.actor)}/relationships")
        assert [(r["type"], r["how_we_met"]) for r in rels_at_b["items"]] == [("colleague", "PyCon")]
        row_a, row_b = await a.store.offer(offer["id"]), await b.store.offer(offer["id"])
        assert row_a and row_b and row_a.final == row_b.final and len(row_a.final["proof"]) == 2  # type: ignore[index]

        # the card: e-mail and phone for the "work" circle (bob); carol's circle sees nothing
        await set_card(
            a.ctx.store, {"name": "Alice Example", "email": ["alice@example.org"], "phone": ["+15555550100"]}
        )
        await set_disclosure(a.ctx.store, {"email": ["work"], "phone": ["work"], "name": ["work"]})
        await a.api("PUT", f"/api/people/{person_b_at_a}/circles/work")
        await a.api("PUT", f"/api/people/{await a.person_of(c.actor)}/circles/friends")
        sent = await a.api("POST", "/api/federation/card/publish")
        assert sent == {"peers": 1}
        alice_at_b = await b.person_of(a.actor)

        async def card_arrived() -> bool:
            person = await b.api("GET", f"/api/people/{alice_at_b}")
            return any(i["uri"] == "mailto:alice@example.org" for i in person["identities"])

        await until(card_arrived, "alice's card at bob")
        person = await b.api("GET", f"/api/people/{alice_at_b}")
        signed = [
            i for i in person["identities"] if i["uri"] in ("mailto:alice@example.org", "tel:+15555550100")
        ]
        assert len(signed) == 2 and all(i["verification"] == "signed" for i in signed)
        at_c = await c.api("GET", f"/api/people/{await c.person_of(a.actor)}")
        assert not any(i["uri"].startswith(("mailto:", "tel:")) for i in at_c["identities"])

        # block: bob blocks alice; follows end both ways on both sides
        await b.api("POST", "/api/federation/block", {"address": a.acct})

        async def blocked() -> bool:
            return await a.api("GET", "/api/federation/following") == [] and await a.store.is_blocked_by(
                b.actor
            )

        await until(blocked, "the block at alice")
        assert await b.api("GET", "/api/federation/followers") == []

        async def delivered() -> bool:  # the last answers may still be on their way to disk
            return {p["status"] for p in await a.api("GET", "/api/federation/peers")} == {"ok"}

        await until(delivered, "alice's deliveries all answered")


async def test_move_through_real_nodes(tmp_path: Path) -> None:
    async with (
        real_node(tmp_path, "olda", 0) as old,
        real_node(tmp_path, "newa", 1) as new,
        real_node(tmp_path, "carol", 2) as c,
    ):
        await c.api("POST", "/api/federation/follow", {"address": old.acct})

        async def following_old() -> bool:
            rows = await c.api("GET", "/api/federation/following")
            return [(r["actor"], r["state"]) for r in rows] == [(old.actor, "accepted")]

        await until(following_old, "carol following the old account")
        person = await c.person_of(old.actor)
        await new.api("POST", "/api/federation/aliases", {"addresses": [old.actor]})
        moved = await old.api("POST", "/api/federation/move", {"address": new.acct})
        assert moved == {"moved_to": new.actor, "notified": 1}

        async def following_new() -> bool:
            rows = await c.api("GET", "/api/federation/following")
            return [(r["actor"], r["state"]) for r in rows] == [(new.actor, "accepted")]

        await until(following_new, "carol following the new account")
        # the same person in carol's graph now holds the new account; the old one is marked moved
        assert await c.person_of(new.actor) == person
        shown = await c.api("GET", f"/api/people/{person}")
        states = {i["uri"]: i["state"] for i in shown["identities"]}
        assert states[old.actor] == "moved" and states[new.actor] == "active"
