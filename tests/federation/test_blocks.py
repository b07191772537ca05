"""Nothing leaks past a block (issue #12 §1): whatever key, alias, server actor or domain a blocked party comes
through, and whenever a delivery to it was queued. Real nodes and a scriptable fediverse server on loopback,
real signatures, real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federation import cards, owner
from federation.errors import FetchStatus
from federation.signing import make_signer
from tests.federation.backends import backend, rows  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import FakeClock, Node, settle, start_node
from .peers import PeerServer, peer_server

CIRCLE_SHARE = {"name": "Alice A.", "phone": ["tel:+15555550100"], "email": ["mailto:alice@example.org"]}


async def card_status(fetcher: Node, target: Node, *, as_owner: bool = False) -> int:
    """Fetch ``target``'s card signed by ``fetcher``'s node actor (as Kith does), or by its owner's key."""
    signer = (
        make_signer(
            key_id=fetcher.fed.urls.owner_key, private_key=fetcher.fed.keys.rsa, clock=fetcher.fed.clock
        )
        if as_owner
        else fetcher.runtime.fetch_signer
    )
    try:
        _, doc = await fetcher.fed.client.get_json(target.actor + "/card", signer=signer)
    except FetchStatus as exc:
        return exc.status
    assert doc["phone"] == CIRCLE_SHARE["phone"]
    return 200


async def deliveries(node: Node) -> dict[str, list[str]]:
    """Outbox type -> the states of its deliveries."""

    out: dict[str, list[str]] = {}
    sql = (
        "SELECT o.type, d.state FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq ORDER BY d.id"
    )
    for kind, state in await rows(node.db, sql):
        out.setdefault(kind, []).append(state)
    return out


async def test_a_blocked_actor_gets_no_card_by_its_own_key_or_through_its_server(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "mallory", clock, index=1) as m,
        start_node(tmp_path, "bob", clock, index=2) as b,
    ):
        for n in (m, b):
            await owner.follow(n.fed, a.acct)
        await settle(a, m, b)
        a.graph.disclosed = {m.actor: dict(CIRCLE_SHARE), b.actor: dict(CIRCLE_SHARE)}
        assert await card_status(m, a) == 200 and await card_status(m, a, as_owner=True) == 200

        await owner.block(a.fed, m.acct)
        # the owner's key (a key id with a #fragment), the node's Application actor speaking for mallory
        assert await card_status(m, a, as_owner=True) == 404
        assert await card_status(m, a) == 404
        assert await card_status(b, a) == 200  # others are not affected

        # the relationship records of a blocked end are hidden too
        await owner.unblock(a.fed, m.actor)
        offered = await owner.connect(a.fed, m.acct, "friend")
        await settle(a, m, b)
        await owner.accept(m.fed, (await owner.requests(m.fed))[0]["id"])
        await settle(a, m, b)
        record = offered["record"]["id"]
        _, fetched = await m.fed.client.get_json(record, signer=m.runtime.fetch_signer)
        assert fetched["id"] == record
        await owner.block(a.fed, m.acct)
        with pytest.raises(FetchStatus) as hidden:
            await m.fed.client.get_json(record, signer=m.runtime.fetch_signer)
        assert hidden.value.status == 404


async def _eve(p: PeerServer) -> None:
    p.add("eve", kith=True, key_path=True)  # a key id without a fragment: it names no actor by itself
    p.add("eve2", kith=True, key_index=8, also_known_as=[p.actor("eve")])  # "I am eve too"
    p.add("zed", kith=True, key_index=9)


async def test_a_block_covers_keys_without_fragment_aliases_and_the_domain(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock, index=0) as a, peer_server(clock) as p:
        await _eve(p)
        for name in ("eve", "eve2", "zed"):
            await a.fed.actors.get(p.actor(name), source="following")
            a.graph.disclosed[p.actor(name)] = dict(CIRCLE_SHARE)
        card = a.actor + "/card"
        assert (await p.get("eve", card))[0] == 200
        assert (await p.get("eve2", card))[0] == 200

        await owner.block(a.fed, p.actor("eve"))
        status, _ = await p.get("eve", card)
        assert status == 404
        assert (await p.get("eve2", card))[0] == 404  # an account that says it is eve is eve
        assert (await p.get("zed", card))[0] == 200

        # the inbox refuses eve by her key (which names no actor) and stores nothing
        before = await a.fed.store.inbox_count()
        inbox = a.actor + "/inbox"
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": p.actor("eve") + "/follows/9",
            "type": "Follow",
            "actor": p.actor("eve"),
            "object": a.actor,
        }
        assert await p.send("eve", inbox, follow) == 403
        assert (
            await p.send("eve2", inbox, follow | {"id": p.actor("eve2") + "/f", "actor": p.actor("eve2")})
            == 403
        )
        assert await a.fed.store.inbox_count() == before

        # collections refuse a blocked signer; unsigned, they answer as to anyone; the actor document stays
        # readable (a blocked server must be able to verify the Undo, Reject and Block it is sent)
        assert (await p.get("eve", a.actor + "/followers"))[0] == 403
        assert (await p.get("eve", a.actor + "/outbox"))[0] == 403
        assert (await p.get("zed", a.actor + "/followers"))[0] == 200
        assert (await p.get("eve", a.actor))[0] == 200

        # a domain block covers every actor of the domain, whatever its key
        await owner.block(a.fed, p.base.split("://")[1])
        assert (await p.get("zed", card))[0] == 404
        zed_follow = follow | {"id": p.actor("zed") + "/f", "actor": p.actor("zed")}
        assert await p.send("zed", inbox, zed_follow) == 403
        assert (await p.get("zed", a.actor + "/following"))[0] == 403
        assert await a.fed.store.inbox_count() == before


async def test_what_was_queued_before_a_block_or_a_narrower_disclosure_is_checked_again_when_sent(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
        start_node(tmp_path, "carol", clock, index=2) as c,
        start_node(tmp_path, "dave", clock, index=3) as d,
    ):
        for n in (b, c, d):
            await owner.follow(n.fed, a.acct)
        await settle(a, b, c, d)
        a.graph.disclosed = {
            b.actor: dict(CIRCLE_SHARE),
            c.actor: dict(CIRCLE_SHARE),
            d.actor: dict(CIRCLE_SHARE),
        }
        assert await cards.publish_card(a.fed) == 3
        await owner.connect(a.fed, b.acct, "friend")  # an offer queued too
        # before anything is delivered: bob is blocked, carol may now see only the name, dave nothing
        await owner.block(a.fed, b.acct)
        a.graph.disclosed[c.actor] = {"name": "Alice A."}
        del a.graph.disclosed[d.actor]
        await settle(a, b, c, d)

        assert a.actor not in b.graph.cards and await owner.requests(b.fed) == []
        assert await b.fed.store.is_blocked_by(a.actor)  # the block itself went
        assert {k for k in c.graph.cards[a.actor] if k != "updated"} == {"name"}
        assert a.actor not in d.graph.cards
        states = await deliveries(a)
        assert states["Offer"] == ["withdrawn"]
        assert sorted(states["Update"]) == ["delivered", "withdrawn", "withdrawn"]
        assert states["Block"] == ["delivered"]

        # an actor who blocks the owner is not sent the card either
        a.graph.disclosed[c.actor] = dict(CIRCLE_SHARE)
        await owner.block(c.fed, a.acct)
        await settle(a, b, c, d)
        a.graph.change_card()
        await cards.publish_card(a.fed)
        await settle(a, b, c, d)
        assert "phone" not in c.graph.cards[a.actor]


async def test_the_owner_blocking_someone_keeps_nothing_queued_for_them(tmp_path: Path) -> None:
    """The public profile Update to a follower queued before a domain block does not go either."""
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock, index=0) as a, peer_server(clock) as p:
        p.add("fan")
        await p.follow("fan", a.actor, a.actor + "/inbox")
        await settle(a)
        assert [f["actor"] for f in await owner.followers(a.fed)] == [p.actor("fan")]
        a.graph.public = {"name": "Alice Public"}
        await cards.publish_pending(a.fed)
        await owner.block(a.fed, p.base.split("://")[1])
        await settle(a)
        sent = [x["type"] for _, x in p.received]
        assert "Update" not in sent and sent.count("Reject") == 1  # the follow ended, nothing else went
        assert json.dumps(p.received).count("Alice Public") == 0
        assert await owner.followers(a.fed) == []


async def test_an_account_whose_server_does_not_answer_can_still_be_blocked(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock, index=0) as a:
        async with start_node(tmp_path, "bob", clock, index=1) as b:
            await owner.follow(b.fed, a.acct)
            await owner.follow(a.fed, b.acct)
            await settle(a, b)
            bob, acct = b.actor, b.acct
        # bob's server is gone: the block still holds, from what alice knew of bob, and ends the follows
        blocked = await owner.block(a.fed, acct)
        assert blocked["value"] == bob
        assert await owner.followers(a.fed) == [] and await owner.following(a.fed) == []
        states = await deliveries(a)
        assert states["Block"] == ["queued"] and states["Reject"] == ["queued"]
        assert await a.fed.blocks.refuses(bob + "#main-key")
        # an actor URL never seen before, on a server that does not answer, is blocked too
        await owner.block(a.fed, "http://127.0.0.1:9/users/nobody")
        assert await a.fed.blocks.refuses("http://127.0.0.1:9/users/nobody#key")


async def test_what_arrived_before_the_block_is_not_acted_on_after_it(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "sam", clock, index=1) as sam,
        peer_server(clock) as p,
    ):
        await owner.follow(a.fed, sam.acct)
        await settle(a, sam)
        p.add("fan")
        await p.follow("fan", a.actor, a.actor + "/inbox")  # stored (202), not processed yet
        sam.graph.disclosed = {a.actor: {"name": "Sam"}}
        await cards.publish_card(sam.fed)
        await sam.fed.delivery.run_once()  # delivered to alice's inbox, not processed yet
        await owner.block(a.fed, p.actor("fan"))
        await owner.block(a.fed, sam.acct)
        await settle(a, sam)
        assert await owner.followers(a.fed) == []
        assert p.of_type("Accept") == []
        assert sam.actor not in a.graph.cards
        assert p.actor("fan") not in a.graph.people
