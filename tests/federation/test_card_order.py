"""Cards arrive in order (issue #12 §2): a receiver never lets an older card replace a newer one, and a sender
never sends an older version after a newer one (a still-queued older Update is dropped, a retry of one is
not sent after its successor)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from federation import activities as act
from federation import cards
from federation.signing import sign
from protocol import proofs
from protocol.serialize import KITH_CONTEXT
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import FakeClock, Node, settle, start_node
from .peers import PeerServer, peer_server


async def post_as(sender: Node, receiver: Node, activity: dict[str, Any]) -> int:
    body = json.dumps(activity).encode()
    url = receiver.actor + "/inbox"
    headers = {"Content-Type": "application/activity+json"}
    headers.update(
        sign(
            "cavage",
            method="POST",
            url=url,
            headers=headers,
            body=body,
            key_id=sender.fed.urls.owner_key,
            private_key=sender.fed.keys.rsa,
            now=sender.fed.clock(),
        )
    )
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


def card_update(sender: Node, name: str, at: datetime, n: int) -> dict[str, Any]:
    """A card Update as any Kith node sends it: the card signed by its owner's Ed25519 key."""
    card = {
        "@context": list(KITH_CONTEXT),
        "id": sender.actor + "/card",
        "type": "ProfileCard",
        "attributedTo": sender.actor,
        "name": name,
        "updated": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    signed = proofs.sign(
        card,
        private_key=sender.fed.keys.ed25519,
        verification_method=sender.fed.urls.owner_multikey,
        created=datetime.fromtimestamp(sender.fed.clock(), UTC),
    )
    activity = act.update(f"{sender.fed.urls.base}/activities/card-{n}", sender.actor, signed, to=[])
    activity["@context"] = list(KITH_CONTEXT)
    return activity


async def test_an_older_card_arriving_after_a_newer_one_is_dropped(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        t0 = datetime.fromtimestamp(clock(), UTC)
        newer = card_update(a, "Alice (new)", t0 + timedelta(seconds=1), 2)
        older = card_update(a, "Alice (old)", t0, 1)
        assert await post_as(a, b, newer) == 202
        await settle(a, b)
        assert await post_as(a, b, older) == 202  # a sender's late retry, or the network reordering
        await settle(a, b)
        assert b.graph.cards[a.actor]["name"] == "Alice (new)"
        # the same version again (a re-send after a crash) is applied as it is: nothing older wins
        again = card_update(a, "Alice (new)", t0 + timedelta(seconds=1), 2) | {"id": newer["id"] + "b"}
        assert await post_as(a, b, again) == 202
        await settle(a, b)
        assert b.graph.cards[a.actor]["name"] == "Alice (new)"
        # a card dated years ahead would make every later card look older: refused, it changes nothing
        far = datetime.fromtimestamp(clock() + 3 * 365 * 86400, UTC)
        assert await post_as(a, b, card_update(a, "Alice (2029)", far, 3)) == 202
        await settle(a, b)
        later = datetime.fromtimestamp(clock() + 60, UTC)
        assert await post_as(a, b, card_update(a, "Alice (later)", later, 4)) == 202
        await settle(a, b)
        assert b.graph.cards[a.actor]["name"] == "Alice (later)"


async def _kith_peer(a: Node, p: PeerServer) -> str:
    peer = p.add("kp", kith=True)
    await a.fed.actors.get(peer, source="following")
    return peer


def _received_names(p: PeerServer) -> list[str]:
    return [x["object"]["name"] for _, x in p.received if x.get("type") == "Update"]


async def test_a_newer_card_supersedes_an_older_one_still_queued(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock, index=0) as a, peer_server(clock) as p:
        peer = await _kith_peer(a, p)
        a.graph.disclosed = {peer: {"name": "v1"}}
        assert await cards.publish_card(a.fed) == 1
        a.graph.change_card()
        a.graph.disclosed = {peer: {"name": "v2"}}
        assert await cards.publish_card(a.fed) == 1
        await settle(a)
        assert _received_names(p) == ["v2"]


async def test_a_retried_older_card_is_not_sent_after_its_successor(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock, index=0) as a, peer_server(clock) as p:
        peer = await _kith_peer(a, p)
        a.graph.disclosed = {peer: {"name": "v1"}}
        p.answers = [503]  # the first attempt fails: the v1 delivery waits for its retry
        await cards.publish_card(a.fed)
        await settle(a)
        a.graph.change_card()
        a.graph.disclosed = {peer: {"name": "v2"}}
        await cards.publish_card(a.fed)
        await settle(a)
        clock.advance(3600)  # the v1 retry is due
        await settle(a)
        names = _received_names(p)
        assert names[-1] == "v2" and names.count("v2") == 1
        updated = [x["object"]["updated"] for _, x in p.received if x.get("type") == "Update"]
        assert updated == sorted(updated)  # never an older version after a newer one
