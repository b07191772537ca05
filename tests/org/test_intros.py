"""Warm introductions (issue #15): asked of the best-connected members, who accept or decline; anonymous until
they accept; an accepted introduction logged on both sides with its source; nothing sent to the outside
person without the introducer acting (Kith sends them nothing at all)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import server, settle
from .world import org_rows, world


async def _jane_known_by(w: object, dave_actor: str) -> dict[str, str]:
    """alice knows Jane well, bob a little, carol (a viewer) best of all; each shares at interactions."""
    now = datetime.now(UTC)
    ids = {}
    for name, meetings in (("alice", 5), ("bob", 1), ("carol", 9)):
        node = w[name]  # type: ignore[index]
        pid = await node.person(
            "Jane Doe", organization="Initech", identities=["jane@initech.example", dave_actor]
        )
        for i in range(meetings):
            await node.ctx.graph.log_interaction(
                {"people": [pid], "channel": "meeting", "occurred_at": (now - timedelta(days=i)).isoformat()}
            )
        await node.api("PUT", "/api/org/sharing", {"level": "interactions"})
        ids[name] = pid
    return ids


async def test_an_introduction_is_asked_of_the_best_connected_and_anonymous_until_accepted(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, ("alice", "bob", "carol", "erin")) as w, server(tmp_path, "dave", 6) as dave:
        alice, bob, carol, erin, org = w["alice"], w["bob"], w["carol"], w["erin"], w.org
        await org.api("POST", "/api/org/members/role", {"member": carol.actor, "role": "viewer"})
        # Jane is a real Kith actor (dave's server): nothing may reach her
        ids = await _jane_known_by(w, dave.actor)
        await settle(*w.everyone, dave)
        asked = await erin.api(
            "POST", "/api/org/intros", {"query": "Jane Doe", "note": "about the Initech deal"}
        )
        assert (asked["name"], asked["state"], asked["asked"], asked["introducer"]) == (
            "Jane Doe",
            "asked",
            2,
            None,
        )
        await settle(*w.everyone, dave)
        # the two best-connected contributors were asked: alice and bob (carol is a viewer, never asked)
        (alice_ask,) = [i for i in await alice.api("GET", "/api/org/intros") if i["role"] == "introducer"]
        (bob_ask,) = [i for i in await bob.api("GET", "/api/org/intros") if i["role"] == "introducer"]
        assert await carol.api("GET", "/api/org/intros") == []
        assert alice_ask["requester"] == erin.actor and alice_ask["note"] == "about the Initech deal"
        assert alice_ask["person_id"] == ids["alice"]  # her own person, found by her own record's id
        # erin sees that it was asked, never of whom
        (mine,) = await erin.api("GET", "/api/org/intros")
        assert mine["state"] == "asked" and mine["introducer"] is None
        assert alice.actor not in str(mine) and bob.actor not in str(mine)
        # bob declines: still nobody named
        await bob.api("POST", "/api/org/intros/answer", {"id": bob_ask["id"], "accept": False})
        await settle(*w.everyone, dave)
        (mine,) = await erin.api("GET", "/api/org/intros")
        assert mine["state"] == "asked" and bob.actor not in str(mine)
        # alice accepts: erin learns it is alice, with her note; both keep it in their log
        done = await alice.api(
            "POST",
            "/api/org/intros/answer",
            {"id": alice_ask["id"], "accept": True, "note": "I'll write to her today"},
        )
        assert done["state"] == "accepted"
        await settle(*w.everyone, dave)
        (mine,) = await erin.api("GET", "/api/org/intros")
        assert (mine["state"], mine["introducer"], mine["answer"]) == (
            "accepted",
            alice.actor,
            "I'll write to her today",
        )
        (theirs,) = [i for i in await alice.api("GET", "/api/org/intros") if i["role"] == "introducer"]
        assert (theirs["state"], theirs["requester"], theirs["org"]) == ("accepted", erin.actor, org.actor)
        (logged,) = await org.api("GET", "/api/org/intros")
        assert (logged["state"], logged["introducer"], logged["requester"]) == (
            "accepted",
            alice.actor,
            erin.actor,
        )
        # Kith sent nothing to Jane: no delivery anywhere addressed her inbox, and her server received nothing
        for node in (*w.everyone,):
            sent_to = {r[0] for r in org_rows(node, "SELECT inbox FROM fed_deliveries")}
            assert not any(i.startswith(dave.base) for i in sent_to), node.name
        assert org_rows(dave, "SELECT count(*) FROM fed_inbox") == [(0,)]


async def test_an_introduction_everyone_declines_is_declined_without_names(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob", "erin")) as w:
        alice, bob, erin = w["alice"], w["bob"], w["erin"]
        for node in (alice, bob):
            await node.person("Jane Doe", identities=["jane@initech.example"])
            await node.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        await erin.api("POST", "/api/org/intros", {"query": "jane@initech.example"})
        await w.settle()
        for node in (alice, bob):
            (ask,) = await node.api("GET", "/api/org/intros")
            await node.api("POST", "/api/org/intros/answer", {"id": ask["id"], "accept": False})
        await w.settle()
        (mine,) = await erin.api("GET", "/api/org/intros")
        assert mine["state"] == "declined" and mine["introducer"] is None
        assert alice.actor not in str(mine) and bob.actor not in str(mine)


async def test_who_may_ask_and_about_whom(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "erin")) as w:
        alice, erin, org = w["alice"], w["erin"], w.org
        await alice.person("Jane Doe", identities=["jane@initech.example"])
        await alice.person("Jane Roe", identities=["roe@initech.example"])
        await erin.person("Ed Only", identities=["ed@else.example"])
        for node in (alice, erin):
            await node.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        # nobody shares them; only the asker shares them; two people match
        for query, status, words in (
            ("Nobody Known", 404, "nobody here shares"),
            ("Ed Only", 404, "nobody but you"),
            ("Jane", 400, "2 people match"),
        ):
            code, data = await erin.call("POST", "/api/org/intros", {"query": query})
            assert code == status and words in data["error"]["message"], (query, data)
        # the organisation's own account asks nothing of its members
        code, _ = await org.call("POST", "/api/org/intros", {"query": "Jane Doe"})
        assert code in (403, 404)
        # a viewer looks but does not ask
        await org.api("POST", "/api/org/members/role", {"member": erin.actor, "role": "viewer"})
        code, data = await erin.call("POST", "/api/org/intros", {"query": "Jane Doe"})
        assert code == 403
        assert org_rows(org, "SELECT count(*) FROM org_intro") == [(0,)]


async def test_an_introducer_who_no_longer_shares_the_person_declines_by_itself(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "erin")) as w:
        alice, erin = w["alice"], w["erin"]
        jane = await alice.person("Jane Doe", identities=["jane@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        await erin.api("POST", "/api/org/intros", {"query": "Jane Doe"})
        # before the ask arrives, alice's record of Jane is withdrawn (her node forgets what it sent)
        await alice.api("PUT", "/api/org/sharing", {"level": "none", "person": jane})
        await w.settle()
        (mine,) = await erin.api("GET", "/api/org/intros")
        assert mine["state"] == "declined"
