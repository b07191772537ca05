"""Two real nodes on loopback: discovery, follow both ways, unfollow, block."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from federation import owner
from federation.ports import ActorSource, RemoteActor
from tests.federation.backends import backend, rows  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .memgraph import MemoryGraph
from .nodes import FakeClock, settle, start_node


async def test_discovery_round_trip(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as a, aiohttp.ClientSession() as http:
        async with http.get(a.base + "/.well-known/webfinger", params={"resource": f"acct:{a.acct}"}) as r:
            assert r.status == 200
            assert r.content_type == "application/jrd+json"
            jrd = await r.json(content_type=None)
        self_link = next(link for link in jrd["links"] if link["rel"] == "self")
        async with http.get(self_link["href"], headers={"Accept": "application/activity+json"}) as r:
            assert r.content_type == "application/activity+json"
            doc = await r.json(content_type=None)
        assert doc["id"] == self_link["href"] == a.actor
        # Mastodon's round trip: preferredUsername@host of the actor's id leads back to the same actor
        acct = f"acct:{doc['preferredUsername']}@{a.base.split('://')[1]}"
        async with http.get(a.base + "/.well-known/webfinger", params={"resource": acct}) as r:
            again = await r.json(content_type=None)
        assert next(x for x in again["links"] if x["rel"] == "self")["href"] == doc["id"]
        assert doc["publicKey"]["owner"] == doc["id"]
        assert doc["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
        assert doc["assertionMethod"][0]["type"] == "Multikey"
        assert doc["assertionMethod"][0]["publicKeyMultibase"].startswith("z6Mk")
        assert doc["endpoints"]["sharedInbox"] == a.base + "/inbox"
        kith = {"href": "https://w3id.org/kith/protocol/v1", "name": "Kith protocol v1"}
        assert doc["generator"]["type"] == "Application" and kith in doc["generator"]["implements"]
        async with http.get(doc["generator"]["id"], headers={"Accept": "application/activity+json"}) as r:
            node_actor = await r.json(content_type=None)
        assert node_actor["type"] == "Application" and kith in node_actor["implements"]
        assert node_actor["publicKey"]["owner"] == node_actor["id"]
        async with http.get(a.actor, headers={"Accept": 'application/ld+json; profile="x"'}) as r:
            assert r.content_type == "application/ld+json"
        async with http.get(a.base + "/.well-known/nodeinfo") as r:
            href = (await r.json())["links"][0]["href"]
        async with http.get(href) as r:
            info = await r.json(content_type=None)
        assert info["version"] == "2.1" and info["software"]["name"] == "kith"
        async with http.get(a.base + "/.well-known/host-meta") as r:
            assert "lrdd" in await r.text()
        async with http.get(a.base + "/.well-known/webfinger", params={"resource": "acct:nobody@x"}) as r:
            assert r.status == 404
        # FEP-d556: the server's URL finds the server's own actor
        async with http.get(a.base + "/.well-known/webfinger", params={"resource": a.base + "/"}) as r:
            server = await r.json(content_type=None)
        assert server["links"][0]["href"] == a.base + "/actor"


async def test_follow_both_ways_then_unfollow(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        await owner.follow(a.fed, f"acct:{b.acct}")
        await owner.follow(b.fed, b.base and a.actor)  # by actor URL this time
        await settle(a, b)
        assert [f["actor"] for f in await owner.following(a.fed)] == [b.actor]
        assert [f["state"] for f in await owner.following(a.fed)] == ["accepted"]
        assert [f["actor"] for f in await owner.followers(b.fed)] == [a.actor]
        assert [f["actor"] for f in await owner.followers(a.fed)] == [b.actor]
        assert b.graph.actors[a.actor].acct == a.acct
        assert "follower" in b.graph.sources[a.actor]
        assert b.graph.actors[a.actor].is_kith
        # between Kith peers RFC 9421 is tried first, and it works, so it is what each side remembers
        assert {p["signature_scheme"] for p in await owner.peers(a.fed)} == {"rfc9421"}

        await owner.unfollow(a.fed, b.acct)
        await settle(a, b)
        assert await owner.followers(b.fed) == []
        assert await owner.following(a.fed) == []


async def test_manual_approval_and_reject(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1, auto_accept_follows=False) as b,
    ):
        await owner.follow(a.fed, b.acct)
        await settle(a, b)
        pending = await owner.requests(b.fed)
        assert [(r["kind"], r["direction"], r["actor"]) for r in pending] == [("follow", "incoming", a.actor)]
        assert (await owner.following(a.fed))[0]["state"] == "pending"
        await owner.reject(b.fed, pending[0]["id"])
        await settle(a, b)
        assert await owner.following(a.fed) == []
        assert await owner.requests(b.fed) == []

        await owner.follow(a.fed, b.acct)
        await settle(a, b)
        again = await owner.requests(b.fed)
        await owner.accept(b.fed, again[0]["id"])
        await settle(a, b)
        assert (await owner.following(a.fed))[0]["state"] == "accepted"


async def test_block_both_ways(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        await owner.follow(a.fed, b.acct)
        await owner.follow(b.fed, a.acct)
        await settle(a, b)
        await owner.block(b.fed, a.acct)
        await settle(a, b)
        assert await owner.followers(b.fed) == [] and await owner.following(b.fed) == []
        assert await owner.followers(a.fed) == [] and await owner.following(a.fed) == []
        assert await a.fed.store.is_blocked_by(b.actor)
        # a blocked actor's activities are refused at the inbox and nothing is stored
        before = await b.fed.store.inbox_count()
        await owner.follow(a.fed, b.acct)
        await settle(a, b)
        assert await b.fed.store.inbox_count() == before
        assert await owner.followers(b.fed) == []
        peers = {p["host"]: p for p in await owner.peers(a.fed)}
        assert peers[b.base.split("://")[1]]["failed"] >= 1  # 403 is final, not retried

        await owner.unblock(b.fed, a.actor)
        await settle(a, b)
        assert not await a.fed.store.is_blocked_by(b.actor)


class BrokenGraph(MemoryGraph):
    """A graph that fails on every remote actor: a bug or an outage on the node's side."""

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str:
        raise RuntimeError("graph unavailable")


async def test_a_failing_graph_is_retried_then_given_up_never_stuck(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1, graph=BrokenGraph()) as b,
    ):
        await owner.follow(a.fed, b.acct)
        for _ in range(12):
            await settle(a, b)
            clock.advance(3600)

        [(state, attempts, error)] = await rows(b.db, "SELECT state, attempts, last_error FROM fed_inbox")
        assert state == "rejected" and attempts == 6 and "graph unavailable" in error
