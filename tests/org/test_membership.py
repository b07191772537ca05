"""Membership (issue #15 §Membership): a mutual signed record, the organisation's admins accept with the usual
requests / accept, either side ends it, and leaving or removal withdraws everything the member shared. Every
test runs the organisation and its members on servers of their own."""

from __future__ import annotations

import json
from pathlib import Path

from federation import org_wire
from federation.kith import owner_keys
from protocol import proofs
from protocol.org_serialize import org_from_jsonld
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import server, settle
from .world import org_rows, world


async def test_joining_is_a_request_the_organisation_accepts_with_requests_and_accept(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",), joined=False) as w:
        alice, org = w["alice"], w.org
        asked = await alice.api("POST", "/api/org/join", {"address": org.acct})
        assert asked["state"] == "offered"
        assert (
            await alice.api("POST", "/api/org/join", {"address": org.acct}) == asked
        )  # asking twice is once
        await w.settle()
        (waiting,) = await org.api("GET", "/api/federation/requests")  # the usual `kith requests`
        assert (waiting["type"], waiting["actor"], waiting["direction"]) == (
            "member",
            alice.actor,
            "incoming",
        )
        assert await org.api("GET", "/api/org/members") == []  # not a member until accepted
        await org.api("POST", "/api/federation/requests/accept", {"id": waiting["id"]})  # `kith accept ID`
        await w.settle()
        # one record, signed by both, held by both, each proof by its owner's key
        row_org = await org.fed.store.offer(waiting["id"])
        row_alice = await alice.fed.store.offer(waiting["id"])
        assert row_org and row_alice and row_org.final == row_alice.final and row_org.state == "accepted"
        final = row_org.final
        assert final is not None and len(final["proof"]) == 2
        keys = [owner_keys(await org.fed.actors.get(a, source="fetch")) for a in (alice.actor, org.actor)]
        proofs.verify_all(final, owners=keys)
        record = org_from_jsonld(final)
        assert (record.member, record.organization) == (alice.actor, org.actor)  # type: ignore[union-attr]
        (member,) = await org.api("GET", "/api/org/members")
        assert (member["actor"], member["role"], member["level"]) == (alice.actor, "member", "none")
        (mine,) = (await alice.api("GET", "/api/org"))["memberships"]
        assert (mine["org"], mine["state"], mine["role"], mine["level"]) == (
            org.actor,
            "accepted",
            "member",
            "none",
        )


async def test_only_an_organisation_takes_members_and_only_the_member_asks(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob"), joined=False) as w:
        alice, bob = w["alice"], w["bob"]
        # a person is not an organisation: nothing to join
        status, data = await alice.call("POST", "/api/org/join", {"address": bob.acct})
        assert status == 404 and "not a Kith organisation" in data["error"]["message"]
        # an organisation's account joins nothing
        status, data = await w.org.call("POST", "/api/org/join", {"address": alice.acct})
        assert status == 400 and "does not join" in data["error"]["message"]
        # bob offers membership records that make alice a member, signed by bob: however they are dressed
        # (her actor in a record on his server, or a record on her server), nothing is pending for anyone
        from federation.kith import sign_as_owner

        cached = await bob.fed.actors.resolve(w.org.acct, source="fetch")
        for record_id in (bob.fed.new_id("memberships"), alice.fed.new_id("memberships")):
            forged = {
                "@context": [
                    "https://www.w3.org/ns/activitystreams",
                    "https://w3id.org/security/data-integrity/v2",
                    "https://w3id.org/kith/v1",
                ],
                "id": record_id,
                "type": "Membership",
                "member": alice.actor,
                "memberOf": w.org.actor,
                "status": "active",
            }
            signed = sign_as_owner(bob.fed, forged)
            offer = org_wire.offer_membership(bob.fed.new_id(), bob.actor, signed, w.org.actor)
            await bob.fed.send(offer, [cached.inbox])
        await w.settle()
        assert await w.org.api("GET", "/api/federation/requests") == []
        refused = org_rows(w.org, "SELECT state FROM fed_inbox WHERE type = 'Offer'")
        assert [r[0] for r in refused] == ["rejected", "rejected"]


async def test_declined_requests_and_roles_given_on_acceptance(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob"), joined=False) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        for m in (alice, bob):
            await m.api("POST", "/api/org/join", {"address": org.acct})
        await w.settle()
        waiting = {r["actor"]: r for r in await org.api("GET", "/api/org/requests")}
        await org.api("POST", "/api/org/requests/reject", {"id": waiting[bob.actor]["id"]})
        await org.api(
            "POST", "/api/org/requests/accept", {"id": waiting[alice.actor]["id"], "role": "viewer"}
        )
        await w.settle()
        assert [(m["actor"], m["role"]) for m in await org.api("GET", "/api/org/members")] == [
            (alice.actor, "viewer")
        ]
        (bobs,) = (await bob.api("GET", "/api/org"))["memberships"]
        assert bobs["state"] == "rejected"
        # bob's node shares nothing with an organisation that declined him, whatever he sets
        status, _ = await bob.call("PUT", "/api/org/sharing", {"level": "knows"})
        assert status == 404


async def test_leaving_deletes_everything_the_member_shared_and_says_so(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob")) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        jane = await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.person("Only Alice Knows", identities=["lone@else.example"])
        await bob.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.ctx.graph.log_interaction({"people": [jane], "channel": "meeting"})
        await alice.api("PUT", "/api/org/sharing", {"level": "interactions"})
        await bob.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        (jane_at_org,) = await org.api("GET", "/api/org/who-knows?q=Jane")
        assert {k["member"] for k in jane_at_org["known_by"]} == {alice.actor, bob.actor}
        left = await alice.api("POST", "/api/org/leave", {"address": org.acct})
        assert left["state"] == "ended"
        await w.settle()
        # nothing of alice's is left: no record, no interaction, no person only she shared
        assert org_rows(org, "SELECT count(*) FROM org_shared WHERE member = ?", alice.actor) == [(0,)]
        assert org_rows(org, "SELECT count(*) FROM org_shared_interaction") == [(0,)]
        assert await org.api("GET", "/api/org/who-knows?q=Only%20Alice") == []
        (jane_now,) = await org.api("GET", "/api/org/who-knows?q=Jane")
        assert [k["member"] for k in jane_now["known_by"]] == [bob.actor]
        # the organisation said so, and the member's node shares nothing more
        (mine,) = (await alice.api("GET", "/api/org"))["memberships"]
        assert mine["state"] == "ended" and mine["deleted"]["count"] == 2
        await alice.person("Someone New", identities=["new@else.example"])
        await alice.ctx.graph.log_interaction({"people": [jane], "channel": "call"})
        from .world import quiet

        await quiet(alice)
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared WHERE member = ?", alice.actor) == [(0,)]
        # and the directory the others hold no longer lists her
        info = await bob.fed.org.info(org.actor)  # type: ignore[union-attr]
        assert info is not None and [e.member for e in info.members] == [bob.actor]


async def test_removal_deletes_what_the_member_shared_and_stops_what_was_queued(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob")) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        await bob.person("Pat Example", identities=["pat@example.org"])
        await bob.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared WHERE member = ?", bob.actor) == [(1,)]
        # bob shares more, but before it is delivered an admin removes him
        await bob.person("Robin Example", identities=["robin@example.org"])
        await bob.api("PUT", "/api/org/sharing", {"level": "last-contact"})
        removed = await org.api("POST", "/api/org/members/remove", {"member": bob.acct})
        assert removed == {"member": bob.actor, "state": "removed", "deleted": 1}
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared WHERE member = ?", bob.actor) == [(0,)]
        (mine,) = (await bob.api("GET", "/api/org"))["memberships"]
        assert mine["state"] == "ended" and mine["deleted"]["count"] == 1
        # what bob had queued was withdrawn at send time or refused on arrival: either way, nothing kept
        states = {
            r[0]
            for r in org_rows(
                bob,
                "SELECT d.state FROM fed_deliveries d JOIN fed_outbox o ON o.seq = d.outbox_seq WHERE o.kind = 'org-share'",
            )
        }
        assert states <= {"delivered", "withdrawn"}
        assert [m["actor"] for m in await org.api("GET", "/api/org/members")] == [alice.actor]


async def test_admins_act_through_their_own_accounts_and_roles_are_checked_each_time(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob"), joined=True) as w, server(tmp_path, "carol", 3) as carol:
        alice, bob, org = w["alice"], w["bob"], w.org
        await carol.api("POST", "/api/org/join", {"address": org.acct})
        await settle(*w.everyone, carol)
        # a member is no admin
        status, data = await bob.call("GET", "/api/org/requests")
        assert status == 403 and "admins" in data["error"]["message"]
        # the organisation's account makes alice an admin; she answers carol's request from her own node
        await org.api("POST", "/api/org/members/role", {"member": alice.actor, "role": "admin"})
        (waiting,) = await alice.api("GET", "/api/org/requests")
        assert waiting["actor"] == carol.actor
        done = await alice.api("POST", "/api/org/requests/accept", {"id": waiting["id"]})
        assert done["state"] == "accepted"
        await settle(*w.everyone, carol)
        assert {m["actor"] for m in await org.api("GET", "/api/org/members")} == {
            alice.actor,
            bob.actor,
            carol.actor,
        }
        # demoted, she can do nothing of an admin's from the next request on
        await org.api("POST", "/api/org/members/role", {"member": alice.actor, "role": "member"})
        status, _ = await alice.call("POST", "/api/org/members/remove", {"member": bob.actor})
        assert status == 403
        assert bob.actor in {m["actor"] for m in await org.api("GET", "/api/org/members")}


async def test_the_organisations_operations_find_nothing_for_anyone_outside(tmp_path: Path) -> None:
    """Missing and forbidden look the same: a stranger, a pending member and a former member are answered as if
    the operation did not exist; an unsigned or wrongly signed request is refused before anything is read."""
    async with (
        world(tmp_path, ("alice",)) as w,
        server(tmp_path, "mallory", 4) as mallory,
        server(tmp_path, "pending", 5) as pending,
    ):
        alice, org = w["alice"], w.org
        await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await pending.api("POST", "/api/org/join", {"address": org.acct})
        await settle(*w.everyone, mallory, pending)
        from federation import org_api
        from federation.errors import NotFound

        for outsider in (mallory, pending):
            for op, query in (
                ("directory", None),
                ("who-knows", {"q": "Jane"}),
                ("timeline", {"q": "Initech"}),
                ("policies", None),
                ("intros", None),
                ("settings", None),
            ):
                try:
                    await org_api.call(outsider.fed, org.actor, "GET", op, query=query)
                except NotFound:
                    continue
                raise AssertionError(f"{outsider.name} read {op}")
        # unsigned, and signed with a key that is not the signer's: 401, nothing answered
        async with org.http.get(org.actor + "/org/who-knows?q=Jane") as r:
            assert r.status == 401
        # a former member finds nothing either
        await alice.api("POST", "/api/org/leave", {"address": org.acct})
        await settle(*w.everyone)
        try:
            await org_api.call(alice.fed, org.actor, "GET", "who-knows", query={"q": "Jane"})
        except NotFound:
            pass
        else:
            raise AssertionError("a former member read who-knows")


async def test_a_members_export_carries_the_membership_and_restores(tmp_path: Path) -> None:
    """A member's account moves with its memberships: the export holds the signed record, and a restore
    takes it back (its check reads a membership as it reads a relationship record)."""
    async with world(tmp_path, ("alice",)) as w, server(tmp_path, "fresh", 3) as fresh:
        exported = await w["alice"].api("GET", "/api/export")
        spec = exported["tables"]["fed_offers"]
        rows = [dict(zip(spec["columns"], r, strict=True)) for r in spec["rows"]]
        (membership,) = [r for r in rows if r["rel_type"] == "member"]
        assert json.loads(membership["final"])["type"] == "Membership"
        status, answer = await fresh.call("POST", "/api/import/json", exported)
        assert status == 201, answer
        assert answer["imported"]["fed_offers"] == 1
