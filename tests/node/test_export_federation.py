"""Export everything, restore everything, with federation state made by real nodes on loopback: follows both
ways, a relationship signed by both owners, a pending offer, blocks both ways, the card with its disclosure.
The export of one running node, restored into another through its owner API, exports as the same document,
and the restored blocks apply at once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from node.link_secrets import seal
from tests.federation.test_real_nodes import RealNode, real_node, until
from tests.node.export_helpers import PASSPHRASE, populate_graph


def _rows(doc: dict[str, Any], table: str) -> list[dict[str, Any]]:
    spec = doc["tables"][table]
    return [dict(zip(spec["columns"], row, strict=True)) for row in spec["rows"]]


async def _requests(node: RealNode) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = await node.api("GET", "/api/federation/requests")
    return answer


async def test_federation_state_survives_export_and_restore(tmp_path: Path) -> None:
    async with (
        real_node(tmp_path, "alice", 0) as a,
        real_node(tmp_path, "bob", 1) as b,
        real_node(tmp_path, "carol", 2) as c,
        real_node(tmp_path, "dora", 3) as d,
    ):
        await a.api("POST", "/api/federation/follow", {"address": b.acct})
        await b.api("POST", "/api/federation/follow", {"address": a.acct})
        await c.api("POST", "/api/federation/follow", {"address": a.acct})

        async def follows_settled() -> bool:
            following = await a.api("GET", "/api/federation/following")
            followers = await a.api("GET", "/api/federation/followers")
            return len(following) == 1 and following[0]["state"] == "accepted" and len(followers) == 2

        await until(follows_settled, "follows both ways at alice")
        offer = await a.api("POST", "/api/federation/connect", {"address": b.acct, "type": "colleague"})
        await until(lambda: _has_requests(b, 1), "alice's offer at bob")
        await b.api("POST", "/api/federation/requests/accept", {"id": offer["id"]})
        await c.api("POST", "/api/federation/connect", {"address": a.acct, "type": "friend"})

        async def settled() -> bool:
            rows = await a.store.offers(["accepted"])
            return len(rows) == 1 and rows[0].final is not None and await _has_requests(a, 1)

        await until(settled, "the signed record and carol's offer at alice")
        await a.api("PUT", f"/api/people/{await a.person_of(b.actor)}/circles/friends")
        await a.api("PUT", "/api/card", {"name": "Alice", "identities": ["@alice@elsewhere.example"]})
        await a.api("PUT", "/api/card/disclosure", {"name": ["friends"], "identities": ["friends"]})
        await a.api("POST", "/api/federation/block", {"address": "spam.example"})
        await c.api("POST", "/api/federation/block", {"address": a.acct})
        await until(lambda: a.store.is_blocked_by(c.actor), "carol's block at alice")
        folder = tmp_path / "alice-files"
        folder.mkdir()
        await populate_graph(a.ctx.graph, folder)
        sealed = seal({"access_token": "t"}, passphrase=PASSPHRASE, source="mastodon", account="alice")
        await a.ctx.store.links.put(
            source="mastodon",
            account="alice",
            base_url="https://social.example",
            secret=sealed,
            now=a.ctx.graph.clock(),
        )

        doc = await a.api("GET", "/api/export?format=json")
        follows = _rows(doc, "fed_follows")
        assert {(f["direction"], f["actor_id"], f["state"]) for f in follows} >= {
            ("out", b.actor, "accepted"),
            ("in", b.actor, "accepted"),
            ("in", c.actor, "ended"),  # carol's block ended her follow
        }
        offers = {o["direction"]: o for o in _rows(doc, "fed_offers")}
        assert offers["out"]["state"] == "accepted" and len(json.loads(offers["out"]["final"])["proof"]) == 2
        assert offers["in"]["state"] == "offered" and offers["in"]["actor_id"] == c.actor
        signed = [r for r in _rows(doc, "relationship") if r["record_json"]]
        assert len(signed) == 1 and signed[0]["status"] == "accepted"
        assert json.loads(signed[0]["record_json"]) == json.loads(offers["out"]["final"])
        assert [r["actor_id"] for r in _rows(doc, "fed_blocked_by")] == [c.actor]
        assert [(r["kind"], r["value"]) for r in _rows(doc, "fed_blocks")] == [("domain", "spam.example")]
        assert doc["card"]["identities"] == ["acct:alice@elsewhere.example"]
        assert doc["disclosure"] == {"identities": ["friends"], "name": ["friends"]}

        # dora is a new node, running and federating; she has already answered a request (blocks are cached)
        assert not await d.store.is_blocked("https://www.spam.example/users/x")
        answer = await d.api("POST", "/api/import/json", copy.deepcopy(doc))
        assert answer["imported"]["fed_follows"] == len(follows) and answer["imported"]["card"] == 1
        assert await d.store.is_blocked("https://www.spam.example/users/x")
        assert await d.store.is_blocked_by(c.actor)
        again = await d.api("GET", "/api/export?format=json")
        doc.pop("exported_at")
        again.pop("exported_at")
        assert again == doc


async def _has_requests(node: RealNode, count: int) -> bool:
    return len(await _requests(node)) == count
