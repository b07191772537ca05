"""Addresses with ports round-trip, both ways (issue 19): a server at ``localhost:PORT``, ``127.0.0.1:PORT`` or
``[::1]:PORT`` finds the Kith owner by WebFinger and follows them, and Kith finds and follows an account there;
the real graph keeps the addresses with their ports, and every spelling of the owner's address finds them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from federation import owner

from .interop import IPV6, dev_server, identities, kith_node
from .nodes import FakeClock, settle

PEER_HOSTS = ["localhost", "127.0.0.1", IPV6]


@pytest.mark.parametrize("peer_host", PEER_HOSTS)
async def test_a_server_with_a_port_follows_the_owner(tmp_path: Path, peer_host: str) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock, peer_host) as peer:
        # the peer resolves the owner the way a mention of @alice@127.0.0.1:PORT is resolved
        doc = await peer.resolve("@" + node.acct)
        assert doc["id"] == node.actor and ":" in node.acct.rpartition("@")[2]
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": peer.follow_id(node.actor),
            "type": "Follow",
            "actor": peer.actor(),
            "object": doc["id"],
        }
        assert await peer.deliver(node, follow) == 202
        await settle(node)
        # the follow went through the real graph, which keeps the peer's address with its port
        (accept,) = peer.of_type("Accept")
        assert accept["object"]["id"] == follow["id"]
        assert [f["actor"] for f in await owner.followers(node.fed)] == [peer.actor()]
        held = await identities(node, peer.actor())
        assert held == {
            peer.actor(): ("active", None),
            f"acct:{peer.acct()}": ("active", None),
        }


@pytest.mark.parametrize("peer_host", PEER_HOSTS)
@pytest.mark.parametrize("spelling", ["@{acct}", "acct:{acct}", "{acct}", "ACCT:{upper}"])
async def test_kith_follows_an_account_at_an_address_with_a_port(
    tmp_path: Path, peer_host: str, spelling: str
) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock, peer_host) as peer:
        address = spelling.format(acct=peer.acct(), upper=peer.acct().upper())
        row = await owner.follow(node.fed, address)
        assert row["actor"] == peer.actor() and row["acct"] == peer.acct()
        await settle(node)
        (sent,) = peer.of_type("Follow")
        assert sent["object"] == peer.actor() and sent["id"] == row["id"]
        assert f"acct:{peer.acct()}" in await identities(node, peer.actor())


@pytest.mark.parametrize("node_host", ["127.0.0.1", "localhost", IPV6])
async def test_every_spelling_of_the_owner_finds_them(tmp_path: Path, node_host: str) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock, host=node_host) as node, aiohttp.ClientSession() as http:
        acct = node.acct  # alice@HOST:PORT
        host, _, port = acct.partition("@")[2].rpartition(":")
        found = [
            f"acct:{acct}",
            acct,
            "@" + acct,
            f"acct:ALICE@{host.upper()}:{port}",
            f"acct:alice@{host}.:{port}" if node_host != "::1" else f"acct:alice@[0:0::1]:{port}",
            f"acct:alice@{host}:0{port}",
            node.actor,
            node.actor.replace("http://", "HTTP://"),
        ]
        missing = [
            f"acct:alice@{host}",  # the port is part of the address
            f"acct:alice@{host}:{int(port) % 65535 + 1}",
            f"acct:bob@{host}:{port}",
            "acct:alice@",
            "acct:al ice@x",
            node.actor + "x",
        ]
        for resource in found:
            for sent in (resource, quote(resource, safe="")):
                url = f"{node.base}/.well-known/webfinger?resource={sent}"
                async with http.get(url) as r:
                    assert r.status == 200, resource
                    jrd = await r.json(content_type=None)
                assert jrd["subject"] == f"acct:{acct}", resource
                self_link = {"rel": "self", "type": "application/activity+json", "href": node.actor}
                assert self_link in jrd["links"]
        for resource in missing:
            async with http.get(node.base + "/.well-known/webfinger", params={"resource": resource}) as r:
                assert r.status == 404, resource
                assert "no such account" in (await r.json(content_type=None))["message"]


async def test_the_owner_is_found_under_an_international_domain(tmp_path: Path) -> None:
    # a node configured with its IDNA (xn--) domain is found under the Unicode spelling too
    clock = FakeClock()
    async with (
        kith_node(tmp_path, "alice", clock, domain="xn--bcher-kva.test") as node,
        aiohttp.ClientSession() as http,
    ):
        port = node.acct.rpartition(":")[2]
        for resource in (f"acct:alice@bücher.test:{port}", f"acct:alice@XN--BCHER-KVA.test:{port}"):
            url = f"http://127.0.0.1:{port}/.well-known/webfinger"
            async with http.get(url, params={"resource": resource}) as r:
                assert r.status == 200, resource
                assert (await r.json(content_type=None))["subject"] == f"acct:alice@xn--bcher-kva.test:{port}"
