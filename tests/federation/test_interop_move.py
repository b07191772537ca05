"""Move, both ways (issue 12 §7; specs/test-vectors/interop/move.json): the old acct: is marked moved beside the
old actor URL, and when the owner moves, everyone who has them in their graph hears of it, not only followers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from federation import owner

from .interop import AS, DevServer, dev_server, fill, identities, kith_node, vector
from .nodes import FakeClock, Node, settle

VECTOR = vector("move.json")


def follow_of(server: DevServer, node: Node, name: str = "bob") -> dict[str, Any]:
    return {
        "@context": AS,
        "id": server.follow_id(node.actor, name),
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


def peer_values(peer: DevServer) -> dict[str, str]:
    return {
        "remote_actor": peer.actor(),
        "remote_acct": peer.acct(),
        "new_actor": peer.actor("bob2"),
        "new_acct": peer.acct("bob2"),
    }


@pytest.mark.parametrize("followed", [True, False], ids=["owner follows them", "only in the graph"])
async def test_a_server_account_moves(tmp_path: Path, followed: bool) -> None:
    case = VECTOR["peer_moves"]
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        values = peer_values(peer)
        await peer.resolve(node.acct)
        assert await peer.deliver(node, follow_of(peer, node)) == 202  # bob follows the owner
        if followed:
            row = await owner.follow(node.fed, peer.acct())
            await settle(node)
            assert await peer.deliver(node, accept_of(peer, row["id"], node)) == 202
        await settle(node)
        peer.also_known_as["bob2"] = fill(case["target_also_known_as"], values)
        seen = len(peer.received)
        clock.advance(60)
        assert await peer.deliver(node, fill(case["sends"], values)) == 202
        await settle(node)
        assert await identities(node, peer.actor("bob2")) == {
            uri: tuple(state) for uri, state in fill(case["identities"], values).items()
        }
        sent = [a for _, a in peer.received[seen:]]
        if followed:
            want = fill(case["when_followed"], values)
            assert [[f["actor"], f["state"]] for f in await owner.following(node.fed)] == want["following"]
            got = [
                {"type": "Undo", "follow_of": a["object"]["object"]}
                if a["type"] == "Undo"
                else {"type": a["type"], "object": a["object"]}
                for a in sent
            ]
            assert got == want["server_receives"]
        else:
            assert sent == [] and await owner.following(node.fed) == []


async def test_a_move_its_target_does_not_confirm_changes_nothing(tmp_path: Path) -> None:
    case = VECTOR["peer_moves"]
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        values = peer_values(peer)
        await peer.resolve(node.acct)
        assert await peer.deliver(node, follow_of(peer, node)) == 202
        await settle(node)
        peer.also_known_as["bob2"] = fill(case["unconfirmed"]["target_also_known_as"], values)
        assert await peer.deliver(node, fill(case["sends"], values)) == 202
        await settle(node)
        assert await identities(node, peer.actor()) == {
            uri: tuple(state) for uri, state in fill(case["unconfirmed"]["identities"], values).items()
        }
        # and one naming another actor as the mover is refused at the door
        forged = fill(case["sends"], values) | {"object": node.actor, "id": peer.actor() + "#moves/2"}
        assert await peer.deliver(node, forged) == 403


async def test_the_owner_moves_and_everyone_who_knows_them_hears(tmp_path: Path) -> None:
    case = VECTOR["owner_moves"]
    clock = FakeClock()
    async with (
        kith_node(tmp_path, "alice", clock) as old,
        kith_node(tmp_path, "newa", clock, index=1) as new,
        kith_node(tmp_path, "carol", clock, index=2) as carol,
        dev_server(clock, "localhost") as follower,
        dev_server(clock, "127.0.0.1", index=8) as followed,
    ):
        # a follower; an account the owner follows (which does not follow back); a Kith peer holding a
        # relationship record with the owner, who follows nobody
        await follower.resolve(old.acct)
        assert await follower.deliver(old, follow_of(follower, old)) == 202
        row = await owner.follow(old.fed, followed.acct())
        await settle(old)
        assert await followed.deliver(old, accept_of(followed, row["id"], old)) == 202
        offer = await owner.connect(carol.fed, old.acct, "friend")
        await settle(old, carol)
        await owner.accept(old.fed, offer["id"])
        await settle(old, carol)
        assert await owner.followers(carol.fed) == [] and await owner.following(carol.fed) == []
        await owner.set_aliases(new.fed, [old.actor])
        await settle(new)
        marks = {s.base: len(s.received) for s in (follower, followed)}

        result = await owner.move(old.fed, "@" + new.acct)
        assert result == {"moved_to": new.actor, "notified": 3}
        await settle(old, new, carol)

        values = {
            "local_actor": old.actor,
            "new_local_actor": new.actor,
            "local_acct": old.acct,
            "new_local_acct": new.acct,
        }
        expected = fill(case["sends"], values)
        for server in (follower, followed):
            # (a profile Update may follow: the actor document now names movedTo)
            (move,) = [a for _, a in server.received[marks[server.base] :] if a.get("type") == "Move"]
            assert {k: move[k] for k in expected} == expected
            # whom the owner is related to stays private: the public Move names none of them
            text = json.dumps(move)
            assert carol.actor not in text and followed.actor() not in text and follower.actor() not in text
        held = await identities(carol, new.actor)
        for uri, state in fill(case["peer_identities"], values).items():
            assert held[uri] == tuple(state), uri
        assert held[new.actor] == ("active", None)

        # the old account takes no new followers: a Follow is answered Reject
        assert await follower.deliver(old, follow_of(follower, old, "bob2"), name="bob2") == 202
        await settle(old)
        answer = [a for _, a in follower.received if a["type"] in ("Accept", "Reject")][-1]
        assert [{"type": answer["type"]}] == case["then_a_follow_of_the_old_account"]["server_receives"]
        assert answer["object"]["actor"] == follower.actor("bob2")
