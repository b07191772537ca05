"""Between Kith peers: a relationship signed by both owners, revocation, card disclosure per circle, Move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federation import cards, kith, owner
from federation.errors import FetchStatus, NotFound
from protocol import proofs
from protocol.errors import InvalidRecord
from tests.federation.backends import backend, rows  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import FakeClock, settle, start_node


async def test_connect_produces_one_record_with_both_proofs(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        with pytest.raises(InvalidRecord):
            await owner.connect(a.fed, b.acct, "frenemy")
        offered = await owner.connect(a.fed, b.acct, "colleague", how_we_met="PyCon 2024")
        assert await owner.connect(a.fed, b.acct, "colleague") == offered  # asking twice is asking once
        await settle(a, b)
        incoming = await owner.requests(b.fed)
        assert [(r["kind"], r["direction"], r["actor"], r["type"]) for r in incoming] == [
            ("relationship", "incoming", a.actor, "colleague")
        ]
        assert (await owner.requests(a.fed))[0]["direction"] == "outgoing"
        await owner.accept(b.fed, incoming[0]["id"])
        await settle(a, b)

        record_id = offered["record"]["id"]
        at_a, at_b = a.graph.relationships[record_id], b.graph.relationships[record_id]
        assert at_a == at_b  # the same record, byte for byte, on both sides
        assert len(at_a["proof"]) == 2
        assert {p["verificationMethod"] for p in at_a["proof"]} == {
            a.actor + "#ed25519-key",
            b.actor + "#ed25519-key",
        }
        assert at_a["subject"] == a.actor and at_a["object"] == b.actor
        assert at_a["relationship"] == "http://gmpg.org/xfn/11#colleague" and at_a["howWeMet"] == "PyCon 2024"
        # both proofs verify independently of our code paths
        keys = []
        for n in (a, b):
            doc = await n.fed.actor_document("owner")
            keys.append(
                proofs.OwnerKeys.from_multikeys(
                    n.actor, {m["id"]: m["publicKeyMultibase"] for m in doc["assertionMethod"]}
                )
            )
        proofs.verify_all(at_a, owners=keys)
        assert await owner.requests(a.fed) == [] and await owner.requests(b.fed) == []
        # the record lives on alice's origin; bob (one of its ends) may fetch it, signed
        _, fetched = await b.fed.client.get_json(record_id, signer=b.runtime.fetch_signer)
        assert fetched == at_a
        with pytest.raises(FetchStatus) as unsigned:
            await b.fed.client.get_json(record_id)
        assert unsigned.value.status == 401

        # revocation by either side reaches the other
        row = await a.fed.store.offer(offered["id"])
        assert row is not None
        await kith.end(a.fed, row)
        await settle(a, b)
        assert (b.actor, record_id) in a.graph.revoked
        assert (a.actor, record_id) in b.graph.revoked


async def test_rejected_offer_and_tampered_accept(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as a,
        start_node(tmp_path, "bob", clock, index=1) as b,
    ):
        await owner.connect(a.fed, b.acct, "friend")
        await settle(a, b)
        await owner.reject(b.fed, (await owner.requests(b.fed))[0]["id"])
        await settle(a, b)
        assert await owner.requests(a.fed) == []
        assert a.graph.relationships == {} and b.graph.relationships == {}
        with pytest.raises(NotFound):
            await owner.accept(b.fed, "http://nope/1")

        # an offer left unanswered for 30 days expires on both sides
        await owner.connect(a.fed, b.acct, "friend")
        await settle(a, b)
        assert len(await owner.requests(b.fed)) == 1
        clock.advance(31 * 86400)
        await settle(a, b)
        assert await owner.requests(a.fed) == [] and await owner.requests(b.fed) == []


async def test_card_reaches_allowed_circles_only(tmp_path: Path) -> None:
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
            b.actor: {
                "name": "Alice A.",
                "email": ["mailto:alice@example.org"],
                "phone": ["tel:+15555550100"],
            },
            c.actor: {"name": "Alice A."},
        }
        assert await cards.publish_card(a.fed) == 2
        await settle(a, b, c, d)
        assert {k: v for k, v in b.graph.cards[a.actor].items() if k != "updated"} == a.graph.disclosed[
            b.actor
        ]
        assert c.graph.cards[a.actor].keys() == {"name", "updated"}
        assert a.actor not in d.graph.cards

        # personal inboxes only, and nothing public about it
        updates = await rows(a.db, "SELECT body, public FROM fed_outbox WHERE type = 'Update'")
        inboxes = sorted(
            r[0]
            for r in await rows(
                a.db,
                "SELECT inbox FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq WHERE o.type = 'Update'",
            )
        )
        for body, public in updates:
            doc = json.loads(body)
            assert public == 0 and "to" not in doc and "cc" not in doc
        assert inboxes == sorted([b.actor + "/inbox", c.actor + "/inbox"])

        # fetching the card is private too: a signed fetch gets that peer's rendering; others get 404
        _, seen_by_b = await b.fed.client.get_json(a.actor + "/card", signer=b.runtime.fetch_signer)
        assert seen_by_b["email"] == ["mailto:alice@example.org"] and "proof" in seen_by_b
        _, seen_by_c = await c.fed.client.get_json(a.actor + "/card", signer=c.runtime.fetch_signer)
        assert "email" not in seen_by_c and seen_by_c["name"] == "Alice A."
        with pytest.raises(FetchStatus) as missing:
            await d.fed.client.get_json(a.actor + "/card", signer=d.runtime.fetch_signer)
        assert missing.value.status == 404
        with pytest.raises(FetchStatus) as unsigned:
            await d.fed.client.get_json(a.actor + "/card")
        assert unsigned.value.status == 401


async def test_move_repoints_and_refollows(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, index=0) as old,
        start_node(tmp_path, "alice2", clock, index=1) as new,
        start_node(tmp_path, "carol", clock, index=2) as c,
    ):
        await owner.follow(c.fed, old.acct)
        await settle(old, new, c)
        # without the alias on the new account, the move is refused before anything is sent
        with pytest.raises(NotFound):
            await owner.move(old.fed, new.acct)
        await owner.set_aliases(new.fed, [old.actor])
        await settle(old, new, c)
        result = await owner.move(old.fed, new.acct)
        assert result == {"moved_to": new.actor, "notified": 1}
        await settle(old, new, c)
        assert c.graph.moves == [(old.actor, new.actor)]
        assert [f["actor"] for f in await owner.following(c.fed)] == [new.actor]
        assert [f["actor"] for f in await owner.followers(new.fed)] == [c.actor]
        assert await owner.followers(old.fed) == []
        doc = await old.fed.actor_document("owner")
        assert doc["movedTo"] == new.actor
