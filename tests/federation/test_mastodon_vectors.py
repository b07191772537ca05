"""Interop with Mastodon's documented behaviour, both ways, from the vectors in specs/test-vectors/mastodon/.

A Mastodon-like server (a real aiohttp app on loopback) serves Mastodon-shaped actor documents and WebFinger,
signs its requests the way Mastodon does (cavage, rsa-sha256, ``(request-target) host date digest``), and
checks what Kith sends it the way Mastodon would: signature, digest, and the shapes of Follow, Accept, Undo
and Block.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from federation import owner
from protocol import cavage
from protocol.keys import SigningKey, load_public_key_pem
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .helpers import serve
from .nodes import FakeClock, Node, keyring, settle, start_node

VECTORS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "mastodon"
SIGNED = json.loads((VECTORS / "signed-request.json").read_text())


def fill(name: str, values: dict[str, str]) -> dict[str, Any]:
    text = (VECTORS / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", json.dumps(value)[1:-1])
    assert "{{" not in text, name
    doc: dict[str, Any] = json.loads(text)
    return doc


@dataclass
class Mastodon:
    base: str
    clock: FakeClock
    pem: str
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (inbox path, activity)
    names: dict[str, str] = field(default_factory=dict)
    signed_gets: int = 0

    @property
    def bob(self) -> str:
        return self.base + "/users/bob"

    @property
    def bob2(self) -> str:
        return self.base + "/users/bob2"

    def values(self, node: Node, **extra: str) -> dict[str, str]:
        return {
            "remote": self.base,
            "remote_actor": self.bob,
            "new_actor": self.bob2,
            "local_actor": node.actor,
            "pem": self.pem,
            **extra,
        }

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [a for _, a in self.received if a["type"] == kind]


async def _verify_like_mastodon(request: web.Request, body: bytes, clock: FakeClock) -> None:
    """What Mastodon's SignatureVerification demands of an incoming POST."""
    sig = cavage.signature_from_headers(list(request.headers.items()))
    for name in SIGNED["post"]["headers"]:
        assert name in sig.headers, f"Mastodon needs {name} signed"
    assert sig.algorithm in ("rsa-sha256", "hs2019")
    for header in SIGNED["post"]["required_headers"]:
        assert header in request.headers, header
    async with aiohttp.ClientSession() as http, http.get(sig.key_id.split("#")[0]) as r:
        actor = await r.json(content_type=None)
    assert actor["publicKey"]["id"] == sig.key_id
    key = load_public_key_pem(actor["publicKey"]["publicKeyPem"], key_id=sig.key_id, owner=actor["id"])
    cavage.verify_request(
        method="POST",
        path=request.path,
        headers=list(request.headers.items()),
        body=body,
        key=key,
        now=datetime.fromtimestamp(clock(), UTC),
    )


@asynccontextmanager
async def mastodon(clock: FakeClock) -> AsyncIterator[Mastodon]:
    key = keyring(7).owner_rsa
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    state: dict[str, Mastodon] = {}

    async def webfinger(request: web.Request) -> web.Response:
        m = state["m"]
        user = request.query["resource"].removeprefix("acct:").split("@")[0]
        if user not in ("bob", "bob2"):
            raise web.HTTPNotFound()
        href = f"{m.base}/users/{user}"
        jrd = {
            "subject": request.query["resource"],
            "links": [{"rel": "self", "type": "application/activity+json", "href": href}],
        }
        return web.json_response(jrd, content_type="application/jrd+json")

    async def actor(request: web.Request) -> web.Response:
        m = state["m"]
        if "Signature" in request.headers:  # authorized fetch: Kith signs its GETs
            m.signed_gets += 1
        user = request.match_info["user"]
        doc = fill("actor.json", {"remote": m.base, "remote_actor": f"{m.base}/users/{user}", "pem": m.pem})
        doc["preferredUsername"] = user
        doc["name"] = m.names.get(user, doc["name"])
        if user == "bob2":
            doc["alsoKnownAs"] = [m.bob]
        return web.json_response(doc, content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        m = state["m"]
        body = await request.read()
        await _verify_like_mastodon(request, body, m.clock)
        m.received.append((request.path, json.loads(body)))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_get("/.well-known/webfinger", webfinger)
    app.router.add_get("/users/{user}", actor)
    app.router.add_post("/users/{user}/inbox", inbox)
    app.router.add_post("/inbox", inbox)
    async with serve(app) as base:
        m = Mastodon(base=base, clock=clock, pem=pem.decode())
        m.key = key  # type: ignore[attr-defined]
        state["m"] = m
        yield m


async def deliver(m: Mastodon, node: Node, activity: dict[str, Any]) -> int:
    """POST as Mastodon does: cavage, rsa-sha256 over (request-target) host date digest."""
    body = json.dumps(activity).encode()
    url = node.base + "/users/" + node.fed.urls.username + "/inbox"
    parts = urlsplit(url)
    headers = {"Host": parts.netloc, "Content-Type": "application/activity+json"}
    headers.update(
        cavage.sign_request(
            method="POST",
            path=parts.path,
            headers=headers,
            body=body,
            key=SigningKey(key_id=m.bob + "#main-key", private_key=m.key),  # type: ignore[attr-defined]
            now=datetime.fromtimestamp(m.clock(), UTC),
            covered=SIGNED["post"]["headers"],
        )
    )
    assert 'algorithm="rsa-sha256"' in headers["Signature"]
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


def assert_kith_shape(activity: dict[str, Any], node: Node, kind: str) -> None:
    assert activity["type"] == kind
    assert activity["@context"] == "https://www.w3.org/ns/activitystreams"
    assert activity["actor"] == node.actor
    assert urlsplit(activity["id"]).netloc == urlsplit(node.actor).netloc


async def test_mastodon_both_ways(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as node, mastodon(clock) as m:
        host = urlsplit(m.base).netloc

        # Kith -> Mastodon: Follow with a string object and a stable id
        await owner.follow(node.fed, f"bob@{host}")
        await settle(node)
        (sent_follow,) = m.of_type("Follow")
        assert_kith_shape(sent_follow, node, "Follow")
        assert sent_follow["object"] == m.bob
        assert m.signed_gets >= 1

        # Mastodon -> Kith: Accept embedding our Follow
        assert (
            await deliver(
                m, node, fill("accept.json", m.values(node, local_follow=sent_follow["id"]))["activity"]
            )
            == 202
        )
        await settle(node)
        assert [(f["actor"], f["state"]) for f in await owner.following(node.fed)] == [(m.bob, "accepted")]

        # Undo of that Accept: Kith no longer follows (then follows again for the rest of the run)
        undo_accept = fill("undo-accept.json", m.values(node, local_follow=sent_follow["id"]))["activity"]
        assert await deliver(m, node, undo_accept) == 202
        await settle(node)
        assert await owner.following(node.fed) == []
        again = await owner.follow(node.fed, f"bob@{host}")
        await settle(node)
        accept_again = fill("accept.json", m.values(node, local_follow=again["id"]))["activity"]
        accept_again["id"] += "-2"
        assert await deliver(m, node, accept_again) == 202
        await settle(node)
        assert [(f["actor"], f["state"]) for f in await owner.following(node.fed)] == [(m.bob, "accepted")]

        # Mastodon -> Kith: Follow; Kith answers with an Accept embedding it (Mastodon matches its id)
        follow = fill("follow.json", m.values(node))["activity"]
        assert await deliver(m, node, follow) == 202
        await settle(node)
        assert [f["actor"] for f in await owner.followers(node.fed)] == [m.bob]
        (accept,) = m.of_type("Accept")
        assert_kith_shape(accept, node, "Accept")
        assert accept["object"]["id"] == follow["id"] and accept["object"]["type"] == "Follow"
        assert accept["object"]["actor"] == m.bob and accept["object"]["object"] == node.actor

        # Undo of that Follow
        assert await deliver(m, node, fill("undo-follow.json", m.values(node))["activity"]) == 202
        await settle(node)
        assert await owner.followers(node.fed) == []

        # Update of the actor: Kith re-reads it from its origin
        m.names["bob"] = "Bob (renamed)"
        assert await deliver(m, node, fill("update.json", m.values(node))["activity"]) == 202
        await settle(node)
        assert node.graph.actors[m.bob].name == "Bob (renamed)"
        assert node.graph.actors[m.bob].acct == f"bob@{host}"

        # Block and its Undo
        assert await deliver(m, node, fill("block.json", m.values(node))["activity"]) == 202
        await settle(node)
        assert await node.fed.store.is_blocked_by(m.bob)
        assert await owner.following(node.fed) == []
        assert await deliver(m, node, fill("undo-block.json", m.values(node))["activity"]) == 202
        await settle(node)
        assert not await node.fed.store.is_blocked_by(m.bob)

        # Reject of a new Follow
        second = await owner.follow(node.fed, f"bob@{host}")
        await settle(node)
        assert (
            await deliver(m, node, fill("reject.json", m.values(node, local_follow=second["id"]))["activity"])
            == 202
        )
        await settle(node)
        assert await owner.following(node.fed) == []

        # Move: Kith checks the new actor's alsoKnownAs, repoints, unfollows the old and follows the new
        third = await owner.follow(node.fed, f"bob@{host}")
        await settle(node)
        await deliver(
            m,
            node,
            fill("accept.json", m.values(node, local_follow=third["id"]))["activity"]
            | {"id": m.bob + "#accepts/follows/2"},
        )
        await settle(node)
        assert await deliver(m, node, fill("move.json", m.values(node))["activity"]) == 202
        await settle(node)
        assert node.graph.moves == [(m.bob, m.bob2)]
        assert [f["actor"] for f in await owner.following(node.fed)] == [m.bob2]
        undo = m.of_type("Undo")[-1]
        assert_kith_shape(undo, node, "Undo")
        assert undo["object"]["type"] == "Follow" and undo["object"]["id"] == third["id"]
        assert m.of_type("Follow")[-1]["object"] == m.bob2

        # Kith -> Mastodon: Block with a string object
        await owner.block(node.fed, m.bob2)
        await settle(node)
        block = m.of_type("Block")[-1]
        assert_kith_shape(block, node, "Block")
        assert block["object"] == m.bob2

        # Delete of the actor (with Mastodon's LD signature block, which Kith ignores)
        assert await deliver(m, node, fill("delete.json", m.values(node))["activity"]) == 202
        await settle(node)
        assert m.bob in node.graph.gone
