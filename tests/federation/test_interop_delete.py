"""Delete of the owner's actor (issue 12 §7): sent to every follower and peer, then the actor and its objects
answer 410 Gone with a Tombstone and nothing more is done as it (specs/test-vectors/interop/delete-actor.json).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from federation import activities as act
from federation import cards, owner
from federation.errors import Gone
from node.cli_federation import ACTOR_DELETE_WARNING, RUNTIME_URL_FILE
from node.cli_federation import main as cli
from node.config import write_config
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .interop import AS, DevServer, dev_server, fill, identities, kith_node, vector
from .nodes import FakeClock, Node, settle, start_node
from .test_real_nodes import real_node

VECTOR = vector("delete-actor.json")


def follow_of(server: DevServer, node: Node, n: int = 1, name: str = "bob") -> dict[str, Any]:
    return {
        "@context": AS,
        "id": f"{server.actor(name)}/follows/x{n}",
        "type": "Follow",
        "actor": server.actor(name),
        "object": node.actor,
    }


def accept_of(server: DevServer, follow_id: str, node: Node) -> dict[str, Any]:
    inner = {"id": follow_id, "type": "Follow", "actor": node.actor, "object": server.actor()}
    return {
        "@context": AS,
        "id": server.accept_id(node.actor),
        "type": "Accept",
        "actor": server.actor(),
        "object": inner,
    }


async def test_delete_reaches_followers_followed_and_peers_then_everything_is_gone(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        kith_node(tmp_path, "alice", clock) as node,
        start_node(tmp_path, "carol", clock, index=2) as carol,
        dev_server(clock, "localhost") as follower,
        dev_server(clock, "127.0.0.1", index=8) as followed,
        dev_server(clock, "127.0.0.1", index=9) as blocked,
    ):
        fed = node.fed
        # a follower, an account the owner follows, a Kith peer with a relationship record, a blocked account
        await follower.resolve(node.acct)
        assert await follower.deliver(node, follow_of(follower, node)) == 202
        asked = await owner.follow(fed, followed.acct())
        await settle(node)
        assert await followed.deliver(node, accept_of(followed, asked["id"], node)) == 202
        offer = await owner.connect(carol.fed, node.acct, "friend")
        await settle(node, carol)
        await owner.accept(fed, offer["id"])
        await settle(node, carol)
        await blocked.resolve(node.acct)
        assert await blocked.deliver(node, follow_of(blocked, node)) == 202
        await settle(node)
        await owner.block(fed, blocked.acct())
        await settle(node, carol)
        assert [f["actor"] for f in await owner.followers(fed)] == [follower.actor()]
        assert carol.graph.relationships and [f["state"] for f in await owner.following(fed)] == ["accepted"]
        before = {s.base: len(s.received) for s in (follower, followed, blocked)}

        result = await owner.delete_actor(fed)
        assert result["actor"] == node.actor and result["already_deleted"] is False
        await settle(node, carol)

        expected = fill(VECTOR["sends"], {"local_actor": node.actor})
        for server in (follower, followed):
            (delete,) = [a for _, a in server.received[before[server.base] :]]
            assert delete == expected
            assert server.received[-1][0] == "/inbox"  # the shared inbox
        assert [a for _, a in blocked.received[before[blocked.base] :]] == []
        assert node.actor in carol.graph.gone  # the Kith peer verified it and marked the owner gone
        assert result["notified"] == 3

        # what the node answers from then on
        values = {"local_actor": node.actor, "username": "alice", "acct": node.acct}
        async with aiohttp.ClientSession() as http:
            for case in VECTOR["after"]:
                path = fill(case["path"], values)
                if case.get("signed_follow"):
                    clock.advance(1)
                    request = follower.sign(node, follow_of(follower, node, len(path)), path=path)
                    status, _ = await follower.post(request)
                else:
                    async with http.request(case["method"], node.base + path) as r:
                        status, text = r.status, await r.text()
                    if "body" in case:
                        body = json.loads(text)
                        assert {k: body[k] for k in fill(case["body"], values)} == fill(case["body"], values)
                assert status == case["status"], case
        await settle(node)
        assert await owner.followers(fed) == [] and await owner.following(fed) == []
        # the Follows that came after the Delete were answered by no one
        assert [a["object"]["id"] for a in follower.of_type("Accept")] == [follow_of(follower, node)["id"]]

        # nothing more is done as the actor: every owner operation refuses before writing anything
        for operation in (
            owner.follow(fed, followed.acct()),
            owner.unfollow(fed, followed.acct()),
            owner.connect(fed, carol.acct, "friend"),
            owner.block(fed, follower.acct()),
            owner.move(fed, carol.acct),
            owner.set_aliases(fed, [carol.actor]),
        ):
            with pytest.raises(Gone, match="was deleted"):
                await operation
        assert await owner.publish_actor(fed) == 0
        update = act.update(fed.new_id(), node.actor, {"id": node.actor}, to=[])
        with pytest.raises(Gone):
            await fed.send(update, [follower.base + "/inbox"])
        assert await fed.store.follows("out", ["pending"]) == []

        # deleting again sends nothing new
        again = await owner.delete_actor(fed)
        assert again["already_deleted"] is True and again["notified"] == 0
        await settle(node)
        assert len([a for _, a in followed.received if a["type"] == "Delete"]) == 1


async def test_a_delete_interrupted_after_the_tombstone_is_sent_by_the_next_attempt(tmp_path: Path) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as follower:
        await follower.resolve(node.acct)
        assert await follower.deliver(node, follow_of(follower, node)) == 202
        await settle(node)
        # the process died between writing the tombstone and queuing the Delete
        await node.fed.store.add_tombstone(
            node.actor, former_type="Person", activity_id=node.actor + "#delete", now=clock()
        )
        again = await owner.delete_actor(node.fed)
        assert again["notified"] == 1
        await settle(node)
        assert [a["type"] for a in follower.of_type("Delete")] == ["Delete"]
        assert await owner.followers(node.fed) == []


async def test_the_owner_api_and_cli_delete_only_when_told_to(tmp_path: Path) -> None:
    async with real_node(tmp_path, "alice", 0) as node:
        data = node.ctx.config.data_dir
        write_config(node.ctx.config)  # as `kith serve` leaves it: the CLI finds the accounts by storage.url
        (data / "token").write_text(node.token)
        (data / RUNTIME_URL_FILE).write_text(node.base.replace("alice.test", "127.0.0.1"))  # where it listens
        headers = {"Authorization": f"Bearer {node.token}"}

        async def post(path: str, body: Any) -> tuple[int, Any]:
            url = node.base + "/api/federation" + path
            async with node.http.post(url, json=body, headers=headers) as r:
                return r.status, await r.json(content_type=None)

        for body in ({}, {"confirm": "yes"}, {"confirm": 1}, {"confirm": [True]}):
            status, answer = await post("/actor/delete", body)
            assert status == 400, body
            assert "cannot be undone" in answer["error"]["message"] and answer["error"]["field"] == "confirm"
        status, answer = await post("/actor/delete", [True])
        assert status == 400 and "JSON object" in answer["error"]["message"]
        # the command line refuses without --yes, says what it would do, and changes nothing
        code = await asyncio.to_thread(cli, ["--data", str(data), "actor", "delete"])
        assert code == 2
        assert await node.store.tombstone(node.actor) is None
        assert "Delete of your actor" in ACTOR_DELETE_WARNING and "--yes" in ACTOR_DELETE_WARNING

        assert await asyncio.to_thread(cli, ["--data", str(data), "actor", "delete", "--yes"]) == 0
        assert await node.store.tombstone(node.actor) is not None
        # every route that acts as the actor now answers 410 before it writes anything
        for path, body in (
            ("/follow", {"address": "bob@example.social"}),
            ("/connect", {"address": "bob@example.social", "type": "friend"}),
            ("/block", {"address": "example.social"}),
            ("/aliases", {"addresses": []}),
            ("/requests/accept", {"id": "x"}),
            ("/card/publish", {}),
        ):
            status, answer = await post(path, body)
            assert status == 410, (path, answer)
            assert "was deleted" in json.dumps(answer)
        assert await node.store.blocks() == []
        status, answer = await post("/actor/delete", {"confirm": True})
        assert status == 200 and answer["already_deleted"] is True
        async with node.http.get(node.base + "/api/federation/followers", headers=headers) as r:
            assert r.status == 200  # reading still works


async def test_a_server_account_deleted_leaves_both_its_addresses_gone(tmp_path: Path) -> None:
    # the other direction: a Delete of a server's actor marks its actor URL and its acct: gone, both
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        await peer.resolve(node.acct)
        assert await peer.deliver(node, follow_of(peer, node)) == 202
        await settle(node)
        peer.gone.add("bob")  # its document answers 410 from now on; Kith verifies with the key it cached
        delete = {
            "@context": AS,
            "id": peer.actor() + "#delete",
            "type": "Delete",
            "actor": peer.actor(),
            "object": peer.actor(),
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        }
        assert await peer.deliver(node, delete) == 202
        await settle(node)
        assert await identities(node, peer.actor()) == {
            peer.actor(): ("gone", None),
            f"acct:{peer.acct()}": ("gone", None),
        }
        assert await owner.followers(node.fed) == []


async def test_a_card_changed_after_the_delete_stays_on_the_node(tmp_path: Path) -> None:
    # Saving the card publishes it to the peers allowed to see it; once the actor is deleted that sends
    # nothing and raises nothing, so the owner can still keep their card (and graph) on the node.
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock) as alice,
        start_node(tmp_path, "carol", clock, index=2) as carol,
    ):
        await owner.follow(alice.fed, carol.acct)  # alice's node now knows carol's (Kith) actor
        await settle(alice, carol)
        alice.graph.disclosed[carol.actor] = {"name": "Alice"}
        assert await cards.publish_card(alice.fed) == 1
        await settle(alice, carol)
        assert carol.graph.cards[alice.actor]["name"] == "Alice"
        await owner.delete_actor(alice.fed)
        await settle(alice, carol)
        alice.graph.disclosed[carol.actor] = {"name": "Alice B."}
        assert await cards.publish_card(alice.fed) == 0
        await settle(alice, carol)
        assert carol.graph.cards[alice.actor]["name"] == "Alice"
