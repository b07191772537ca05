"""An organisation's account and its members' accounts on ONE server (issue #13 §5 with issue #15): they join,
share and ask the organisation exactly as across servers, through the local path (federation/local.py), which
skips the network hop but none of the checks; and the accounts stay apart (docs/ARCHITECTURE.md §8)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from federation import org_wire
from federation.kith import sign_as_owner
from protocol.org_records import SharedContact
from protocol.org_serialize import org_to_jsonld
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import settle, shared_server
from .world import org_rows


async def test_members_on_the_organisations_server_join_share_and_ask_through_the_local_path(
    tmp_path: Path,
) -> None:
    async with shared_server(tmp_path, [("acme", True), ("alice", False), ("bob", False)]) as nodes:
        org, alice, bob = nodes
        local = org.runtime.client.local
        assert local is not None
        before = local.requests
        # alice asks; the organisation's own requests list has it; accepted, both sides hold the signed record
        await alice.api("POST", "/api/org/join", {"address": org.acct})
        await settle(*nodes)
        (waiting,) = [
            r for r in await org.api("GET", "/api/federation/requests") if r["actor"] == alice.actor
        ]
        assert waiting["type"] == "member"
        await org.api("POST", "/api/federation/requests/accept", {"id": waiting["id"]})
        await settle(*nodes)
        (mine,) = (await alice.api("GET", "/api/org"))["memberships"]
        assert (mine["org"], mine["state"], mine["role"]) == (org.actor, "accepted", "member")
        assert local.requests > before  # every hop was served in-process
        # bob, beside them, is no member and saw nothing of it
        assert (await bob.api("GET", "/api/org"))["memberships"] == []
        assert [r for r in await bob.api("GET", "/api/federation/requests")] == []
        # alice shares: the organisation keeps her record, signed by her, in its own account's tables
        await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await settle(*nodes)
        assert org_rows(org, "SELECT name, level FROM org_shared") == [("Jane Doe", "knows")]
        for other in (alice, bob):  # not in the members' own databases, which are theirs
            assert org_rows(other, "SELECT count(*) FROM org_shared") == [(0,)]
        # a member's operation at the organisation is a signed request to it, served locally
        (found,) = await alice.api("GET", "/api/org/who-knows?q=Jane")
        assert found["person"]["display_name"] == "Jane Doe"
        assert [k["member"] for k in found["known_by"]] == [alice.actor]
        # someone of the same server who is no member finds nothing there, as anyone outside
        status, _ = await bob.call("GET", "/api/org/who-knows?q=Jane")
        assert status == 404
        # leaving: the organisation deletes what she shared and says so
        await alice.api("POST", "/api/org/leave", {"address": org.acct})
        await settle(*nodes)
        assert org_rows(org, "SELECT count(*) FROM org_shared") == [(0,)]
        (left,) = (await alice.api("GET", "/api/org"))["memberships"]
        assert left["state"] == "ended" and left["deleted"]["count"] == 1


async def test_a_member_cannot_write_over_another_members_records_from_the_same_origin(
    tmp_path: Path,
) -> None:
    """Two members on one server share an origin: a record id under alice's actor, sent and signed by bob (as
    bob's own, or as alice's), is refused; alice's record stays as she shared it."""
    async with shared_server(tmp_path, [("acme", True), ("alice", False), ("bob", False)]) as nodes:
        org, alice, bob = nodes
        for member in (alice, bob):
            await member.api("POST", "/api/org/join", {"address": org.acct})
            await settle(*nodes)
            (waiting,) = [
                r for r in await org.api("GET", "/api/federation/requests") if r["actor"] == member.actor
            ]
            await org.api("POST", "/api/federation/requests/accept", {"id": waiting["id"]})
            await settle(*nodes)
        await alice.person("Jane Doe", identities=["jane@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await settle(*nodes)
        (rid,) = [r[0] for r in org_rows(org, "SELECT record_id FROM org_shared")]
        assert rid.startswith(alice.actor + "/")
        cached = await bob.fed.store.actor(org.actor)
        assert cached is not None
        for member in (bob.actor, alice.actor):
            forged = SharedContact(
                id=rid,
                member=member,
                organization=org.actor,
                level="knows",
                version=10_000,
                updated=datetime.now(UTC),
                name="Forged Name",
            )
            signed = sign_as_owner(bob.fed, org_to_jsonld(forged))
            await bob.fed.send(
                org_wire.add_shared(bob.fed.new_id(), bob.actor, [signed], org.actor), [cached.actor.inbox]
            )
            await settle(*nodes)
        assert org_rows(org, "SELECT name FROM org_shared") == [("Jane Doe",)]
        refused = org_rows(org, "SELECT state FROM fed_inbox WHERE type = 'Add' AND actor_id = ?", bob.actor)
        assert refused == [("rejected",), ("rejected",)]
