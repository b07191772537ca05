"""Re-follows with reused ids (issue 19): a server that keeps one follow record per pair reuses a Follow's id after
an Undo, its Undo's id, and its Accept ids. Dedupe must drop re-deliveries and replays, never a new request.
The sequences are specs/test-vectors/interop/refollow-reused-ids.json; the attacks on the rule are below it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from federation import owner
from federation.signing import sign
from federation.store import REPLAY_WINDOW
from federation.values import InboxItem

from .interop import DevServer, Request, dev_server, fill, kith_node, vector
from .nodes import FakeClock, Node, settle

SEQUENCES = vector("refollow-reused-ids.json")["sequences"]
AS = "https://www.w3.org/ns/activitystreams"


async def check(
    node: Node, peer: DevServer, expect: dict[str, Any], values: dict[str, str], sent: list[Any]
) -> None:
    fed = node.fed
    if "followers" in expect:
        assert [f["actor"] for f in await owner.followers(fed)] == fill(expect["followers"], values)
    if "following" in expect:
        got = [[f["actor"], f["state"]] for f in await owner.following(fed)]
        assert got == fill(expect["following"], values)
    if "requests" in expect:
        pending = [r["id"] for r in await owner.requests(fed) if r["direction"] == "incoming"]
        assert pending == fill(expect["requests"], values)
    if "blocked_by" in expect:
        assert await fed.store.is_blocked_by(peer.actor()) is expect["blocked_by"]
    if "server_receives" in expect:
        got_sent = [
            {"type": a["type"], **({"follow": a["object"]["id"]} if isinstance(a["object"], dict) else {})}
            for a in sent
        ]
        assert got_sent == fill(expect["server_receives"], values)


@pytest.mark.parametrize("sequence", SEQUENCES, ids=[s["name"] for s in SEQUENCES])
async def test_reused_ids_vector(tmp_path: Path, sequence: dict[str, Any]) -> None:
    clock = FakeClock()
    async with (
        kith_node(tmp_path, "alice", clock, **sequence["settings"]) as node,
        dev_server(clock) as peer,
    ):
        ours: list[str] = []  # the ids of the Follows Kith sent, in order
        last: Request | None = None
        for number, step in enumerate(sequence["steps"]):
            clock.advance(60)
            seen = len(peer.received)
            values = peer.values(
                node,
                accept_id=peer.accept_id(node.actor),
                local_follow=ours[-1] if ours else "",
                first_local_follow=ours[0] if ours else "",
                local_actor_quoted=quote(node.actor, safe=""),
            )
            answer = None
            if "server_sends" in step:
                last = peer.sign(node, fill(step["server_sends"], values))
                status, answer = await peer.post(last)
                assert status == 202, (number, answer)
            elif step.get("replay"):
                assert last is not None
                status, answer = await peer.post(last)
                assert status == 202, (number, answer)
            elif step["owner"] == "follow":
                ours.append((await owner.follow(node.fed, "@" + peer.acct()))["id"])
                values["local_follow"], values["first_local_follow"] = ours[-1], ours[0]
            elif step["owner"] == "unfollow":
                await owner.unfollow(node.fed, peer.acct())
            else:
                await owner.answer(
                    node.fed, fill(step["request"], values), accepted=step["owner"] == "accept"
                )
            await settle(node)
            expect = step["expect"]
            if "answer" in expect:
                assert answer == expect["answer"], (number, step)
            await check(node, peer, expect, values, [a for _, a in peer.received[seen:]])
        assert len(set(ours)) == len(ours), "every re-follow of ours has a new id"


def follow(peer: DevServer, node: Node, follow_id: str, name: str = "bob") -> dict[str, Any]:
    return {
        "@context": AS,
        "id": follow_id,
        "type": "Follow",
        "actor": peer.actor(name),
        "object": node.actor,
    }


def undo(peer: DevServer, node: Node, follow_id: str) -> dict[str, Any]:
    inner = follow(peer, node, follow_id)
    return {"@context": AS, "id": follow_id + "#undo", "type": "Undo", "actor": peer.actor(), "object": inner}


async def followers(node: Node) -> list[str]:
    return [f["actor"] for f in await owner.followers(node.fed)]


async def test_a_captured_follow_replayed_after_its_undo_stays_undone(tmp_path: Path) -> None:
    # An attacker holding the signed Follow (and its signed Undo) plays them again within the signature's
    # lifetime: the very same requests are replays, however the ids are reused by the real server.
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        follow_id = peer.follow_id(node.actor)
        captured = peer.sign(node, follow(peer, node, follow_id))
        assert await peer.post(captured) == (202, "stored")
        await settle(node)
        clock.advance(30)
        captured_undo = peer.sign(node, undo(peer, node, follow_id))
        assert await peer.post(captured_undo) == (202, "stored")
        await settle(node)
        assert await followers(node) == []
        for request in (captured, captured_undo, captured):
            clock.advance(600)
            assert await peer.post(request) == (202, "already stored")
            await settle(node)
        assert await followers(node) == []
        assert len(peer.of_type("Accept")) == 1


async def test_another_actor_of_the_same_server_cannot_take_over_an_id(tmp_path: Path) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        follow_id = peer.follow_id(node.actor)
        assert await peer.deliver(node, follow(peer, node, follow_id)) == 202
        await settle(node)
        clock.advance(60)
        # bob2, on the same origin, sends an Undo and then a Follow under bob's ids: neither is a new request
        # of bob2's, and bob's follow is untouched
        hijack = {**undo(peer, node, follow_id), "actor": peer.actor("bob2")}
        assert await peer.post(peer.sign(node, follow(peer, node, follow_id, "bob2"), name="bob2")) == (
            202,
            "already stored",
        )
        assert await peer.post(peer.sign(node, hijack, name="bob2")) == (202, "stored")
        await settle(node)
        assert await followers(node) == [peer.actor()]
        clock.advance(60)  # bob2 may reuse its own Undo's id; it still undoes nothing of bob's
        assert await peer.post(peer.sign(node, hijack, name="bob2")) == (202, "stored")
        await settle(node)
        assert await followers(node) == [peer.actor()]


async def test_a_redelivery_before_processing_is_stored_once(tmp_path: Path) -> None:
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        activity = follow(peer, node, peer.follow_id(node.actor))
        assert await peer.post(peer.sign(node, activity)) == (202, "stored")
        clock.advance(5)  # the sender retries with a fresh signature before our worker ran
        assert await peer.post(peer.sign(node, activity)) == (202, "already stored")
        assert await node.fed.store.inbox_count() == 1
        await settle(node)
        assert len(peer.of_type("Accept")) == 1


async def test_items_stored_before_requests_were_kept(tmp_path: Path) -> None:
    # Rows from before the request digest existed: a reused id counts as new only once no replay of the
    # earlier request could pass the signature checks any more.
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        store = node.runtime.store
        follow_id = peer.follow_id(node.actor)
        body = '{"type": "Follow"}'

        def item(now: float, request: str | None) -> InboxItem:
            return InboxItem(
                account=node.name,
                activity_id=follow_id,
                actor_id=peer.actor(),
                type="Follow",
                body=body,
                now=now,
                request=request,
            )

        assert await store.store_inbox_many([item(clock(), None)]) == [True]
        (row,) = await store.claim_inbox(clock(), worker="test")
        await store.finish_inbox(row.seq, state="done", now=clock())
        assert await store.store_inbox_many([item(clock() + 3600, "a new signature")]) == [False]
        later = clock() + REPLAY_WINDOW + 1
        assert await store.store_inbox_many([item(later, None)]) == [False]  # nothing to tell them by
        assert await store.store_inbox_many([item(later, "a new signature")]) == [True]
        assert await store.inbox_count() == 1


async def test_a_new_request_is_processed_in_the_order_it_arrived(tmp_path: Path) -> None:
    # The reused Follow is stored after the Undo that came with a fresh id: the Undo runs first, then the
    # Follow (re-storing the old item in place would have run the Follow first and left it undone).
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        follow_id = peer.follow_id(node.actor)
        assert await peer.deliver(node, follow(peer, node, follow_id)) == 202
        await settle(node)
        clock.advance(60)
        fresh_undo = {**undo(peer, node, follow_id), "id": peer.actor() + "/undos/1"}
        assert await peer.deliver(node, fresh_undo) == 202
        clock.advance(1)
        assert await peer.deliver(node, follow(peer, node, follow_id)) == 202
        await settle(node)
        assert await followers(node) == [peer.actor()]
        assert [a["object"]["id"] for a in peer.of_type("Accept")] == [follow_id, follow_id]


async def test_an_answer_naming_someone_elses_follow_changes_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        kith_node(tmp_path, "alice", clock) as node,
        dev_server(clock) as peer,
        dev_server(clock, "127.0.0.1") as other,
    ):
        mine = await owner.follow(node.fed, peer.acct())
        theirs = await owner.follow(node.fed, other.acct())
        await settle(node)
        # the server answers with the id of our follow of another server: Mastodon's pair rule does not reach
        # across actors, and an id of another follow is not an id we never minted
        accept = {
            "@context": AS,
            "id": peer.accept_id(node.actor),
            "type": "Accept",
            "actor": peer.actor(),
            "object": theirs["id"],
        }
        assert await peer.deliver(node, accept) == 202
        await settle(node)
        states = {f["actor"]: f["state"] for f in await owner.following(node.fed)}
        assert states == {peer.actor(): "pending", other.actor(): "pending"}
        assert mine["state"] == "pending"


def _dressed(request: Request, **headers: str) -> Request:
    return Request(url=request.url, body=request.body, headers={**request.headers, **headers})


def _reordered(signature: str) -> str:
    # the same cavage parameters in another order, under another accepted algorithm name
    params = dict(part.split("=", 1) for part in signature.split(","))
    params["algorithm"] = '"hs2019"'
    return ",".join(f"{k}={params[k]}" for k in ("signature", "headers", "algorithm", "keyId"))


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
async def test_a_replay_dressed_differently_is_still_a_replay(tmp_path: Path, scheme: str) -> None:
    # What makes a request new is a new signature, not new header text: a captured request whose headers are
    # reformatted, or carry an extra signature beside the one that verifies, is the same request.
    clock = FakeClock()
    async with kith_node(tmp_path, "alice", clock) as node, dev_server(clock) as peer:
        follow_id = peer.follow_id(node.actor)
        body = json.dumps(follow(peer, node, follow_id)).encode()
        url = f"{node.base}/users/alice/inbox"
        headers = {"Content-Type": "application/activity+json"}
        headers |= sign(
            scheme, method="POST", url=url, headers=headers, body=body, key_id=peer.actor() + "#main-key",
            private_key=peer.key, now=clock(),
        )  # fmt: skip
        captured = Request(url=url, body=body, headers=headers)
        assert await peer.post(captured) == (202, "stored")
        await settle(node)
        assert await peer.deliver(node, undo(peer, node, follow_id)) == 202
        await settle(node)
        assert await followers(node) == []
        if scheme == "cavage":
            variants = [
                _dressed(captured, Authorization='Signature keyId="x",signature="AAAA"'),
                _dressed(captured, Signature=_reordered(headers["Signature"])),
            ]
        else:
            variants = [
                _dressed(
                    captured,
                    **{
                        "Signature-Input": headers["Signature-Input"] + ', junk=("@method");keyid="junk"',
                        "Signature": headers["Signature"] + ", junk=:AAAA:",
                    },
                ),
            ]
        for variant in variants:
            clock.advance(60)
            assert await peer.post(variant) == (202, "already stored")
            await settle(node)
        assert await followers(node) == []
        # while a genuinely new request with the same id is a re-follow
        assert await peer.deliver(node, follow(peer, node, follow_id)) == 202
        await settle(node)
        assert await followers(node) == [peer.actor()]
