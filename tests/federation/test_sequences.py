"""The sequences in specs/test-vectors/sequences/ (issue #19 items 1 and 3): an owner action and everything a
remote server receives because of it, in order. The remote server (tests/federation/peers.py) ends follows on
Undo{Follow} and Reject{Follow} only, never on Block, as the server issue #19 met does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from federation import cards, owner

from .backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from .nodes import FakeClock, Node, settle, start_node
from .peers import PeerServer, peer_server

VECTORS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "sequences"


def fill(value: Any, values: dict[str, str]) -> Any:
    text = json.dumps(value)
    for key, replacement in values.items():
        text = text.replace("{{" + key + "}}", replacement)
    assert "{{" not in text, text
    return json.loads(text)


def has_shape(actual: Any, expected: Any) -> bool:
    """``actual`` has every property ``expected`` names, with the same values (recursively)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and has_shape(actual[k], v) for k, v in expected.items()
        )
    return bool(actual == expected)


async def given(vector: dict[str, Any], a: Node, p: PeerServer) -> dict[str, str]:
    """Bring both sides to the vector's starting state; the placeholders' values."""
    state = vector["given"]
    values = {"local_actor": a.actor, "remote_actor": p.actor("bob")}
    inbox = a.actor + "/inbox"
    if "owner_follows_remote" in state:
        await owner.follow(a.fed, p.actor("bob"))
        await settle(a)
        (sent,) = p.of_type("Follow")
        values["owner_follow"] = sent["id"]
        if state["owner_follows_remote"] == "accepted":
            await p.accept("bob", sent, inbox)
    if "remote_follows_owner" in state:
        values["remote_follow"] = (await p.follow("bob", a.actor, inbox))["id"]
    await settle(a)
    if state.get("public"):
        a.graph.public = {}
    if state.get("blocked"):
        await owner.block(a.fed, p.actor("bob"))
        await settle(a)
        values["block"] = p.of_type("Block")[-1]["id"]
    p.received.clear()
    return values


async def act(vector: dict[str, Any], a: Node, p: PeerServer) -> None:
    action = vector["owner_does"]
    target = (
        p.actor("bob") if action.get("block", action.get("unblock")) == "account" else p.base.split("://")[1]
    )
    if "block" in action:
        await owner.block(a.fed, target)
    elif "unblock" in action:
        await owner.unblock(a.fed, target)
    else:
        card = action["card"]
        a.graph.public = {k: v for k, v in card.items() if k in vector["given"]["public"]}
        a.graph.change_card()
        await cards.publish_pending(a.fed)
    await settle(a)


@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.glob("*.json")))
async def test_sequence(name: str, tmp_path: Path) -> None:
    vector = json.loads((VECTORS / name).read_text())
    clock = FakeClock()
    auto = vector["given"].get("auto_accept_follows", True)
    async with start_node(tmp_path, "alice", clock, auto_accept_follows=auto) as a, peer_server(clock) as p:
        p.add("bob")
        values = await given(vector, a, p)
        await act(vector, a, p)

        expected = fill(vector["remote_receives"], values)
        got = [(path, x) for path, x in p.received]
        assert len(got) == len(expected), [x["type"] for _, x in got]
        for (path, activity), want in zip(got, expected, strict=True):
            assert path == ("/inbox" if want["inbox"] == "shared" else "/users/bob/inbox"), path
            assert has_shape(activity, want["activity"]), (activity, want["activity"])
            for text in want.get("absent", []):
                assert text not in json.dumps(activity)

        then = fill(vector["then"], values)
        bob = p.actors["bob"]
        assert sorted(bob.followers) == then["remote_followers"]
        assert sorted(bob.following) == then["remote_following"]
        assert [f["actor"] for f in await owner.followers(a.fed)] == then["owner_followers"]
        assert [f["actor"] for f in await owner.following(a.fed)] == then["owner_following"]
        # nothing the block ended starts again by itself
        assert p.of_type("Follow") == [] and p.of_type("Accept") == []
