"""What members share (issue #15 §What members share): consent first, levels that carry exactly their fields,
circle and person overrides, colleagues never, the admins' cap, updates and withdrawals that follow the graph
by the normal delivery path, and withdrawal within one delivery cycle."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from federation import org_share
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import settle
from .world import db_bytes, org_rows, quiet, world

LEVEL_FIELDS = {
    "knows": {"name", "organization", "identities", "strengthBucket"},
    "last-contact": {"name", "organization", "identities", "strengthBucket", "lastContact", "lastChannel"},
    "interactions": {
        "name",
        "organization",
        "identities",
        "strengthBucket",
        "lastContact",
        "lastChannel",
        "strength",
        "strengthExplained",
        "interactions",
    },
}
LEVEL_FIELDS["notes"] = LEVEL_FIELDS["interactions"] | {"notes"}
ENVELOPE = {
    "@context",
    "id",
    "type",
    "attributedTo",
    "audience",
    "sharingLevel",
    "version",
    "updated",
    "proof",
}


async def _jane(member: object) -> str:
    """A person with everything a graph holds: addresses, interactions with secret summaries, notes, one
    chosen for the organisation and one not."""
    node = member  # an OrgNode
    graph = node.ctx.graph  # type: ignore[attr-defined]
    jane = await node.person(  # type: ignore[attr-defined]
        "Jane Doe", organization="Initech", identities=["jane@initech.example", "acct:jane@social.example"]
    )
    ago = datetime.now(UTC) - timedelta(days=3)
    await graph.log_interaction(
        {
            "people": [jane],
            "channel": "meeting",
            "initiated_by": "them",
            "summary": "SECRET-SUMMARY merger talks",
            "occurred_at": ago.isoformat(),
        }
    )
    await graph.log_interaction(
        {"people": [jane], "channel": "email", "initiated_by": "owner", "summary": "SECRET-EMAIL"}
    )
    chosen = await graph.add_note(jane, "CHOSEN-NOTE likes sailing")
    await graph.add_note(jane, "PRIVATE-NOTE never to be shared")
    return str(chosen.id) + " " + jane


async def test_nothing_is_shared_until_the_member_chooses(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        await _jane(alice)
        await quiet(alice)
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared") == [(0,)]
        assert b"Jane Doe" not in db_bytes(org)
        # the preview shows exactly what "knows" would send, and sends nothing
        shown = await alice.api("GET", "/api/org/preview?level=knows")
        (item,) = shown["items"]
        assert set(item["record"]) - ENVELOPE == LEVEL_FIELDS["knows"]
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared") == [(0,)]
        sharing = await alice.api("GET", "/api/org/sharing")
        assert sharing["level"] == "none" and sharing["shared"] == {} and sharing["visible_to"]["sees"] == []


@pytest.mark.parametrize("level", ["knows", "last-contact", "interactions", "notes"])
async def test_each_level_reaches_the_organisation_with_exactly_its_fields(
    tmp_path: Path, level: str
) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        note_and_person = await _jane(alice)
        note_id, jane = note_and_person.split()
        await org.api("PUT", "/api/org/settings", {"cap": "notes"})
        await w.settle()
        await alice.api("PUT", f"/api/org/notes/{note_id}", {"shared": True})
        await alice.api("PUT", "/api/org/sharing", {"level": level})
        await w.settle()
        (record,) = [json.loads(r[0]) for r in org_rows(org, "SELECT record FROM org_shared")]
        assert record["sharingLevel"] == level
        assert set(record) - ENVELOPE == LEVEL_FIELDS[level]
        # what was previewed is what arrived (bar the signature and the version)
        previewed = (await alice.api("GET", "/api/org/preview"))["items"][0]["record"]
        assert {k: v for k, v in previewed.items() if k not in ("proof", "version", "updated")} == {
            k: v for k, v in record.items() if k not in ("proof", "version", "updated")
        }
        # never on the organisation's disk: interaction texts, the note not chosen; the chosen note at notes only
        disk = db_bytes(org)
        for secret in (b"SECRET-SUMMARY", b"SECRET-EMAIL", b"PRIVATE-NOTE"):
            assert secret not in disk
        assert (b"CHOSEN-NOTE" in disk) == (level == "notes")
        (known,) = (await org.api("GET", "/api/org/who-knows?q=Jane"))[0]["known_by"]
        assert (known["last_contact"] is not None) == (level != "knows")
        assert ("notes" in known) == (level == "notes")
        del jane


async def test_circle_and_person_overrides_the_most_restrictive_circle_wins(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        g = alice.ctx.graph
        ann = await alice.person("Ann Work", identities=["ann@work.example"], circles=["work"])
        await alice.person("Fay Family", identities=["fay@home.example"], circles=["family"])
        both = await alice.person("Bea Both", identities=["bea@home.example"], circles=["work", "family"])
        await alice.person("Dee Default", identities=["dee@else.example"])
        never = await alice.person("Ned Never", identities=["ned@else.example"], circles=["work"])
        for pid in (ann, both):
            await g.log_interaction({"people": [pid], "channel": "call"})
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await alice.api("PUT", "/api/org/sharing", {"level": "interactions", "circle": "work"})
        await alice.api("PUT", "/api/org/sharing", {"level": "none", "circle": "family"})
        await alice.api("PUT", "/api/org/sharing", {"level": "none", "person": never})
        await w.settle()
        levels = dict(org_rows(org, "SELECT name, level FROM org_shared"))
        assert levels == {"Ann Work": "interactions", "Dee Default": "knows"}
        # back to the default: Ned is shared again, at the circle's level
        await alice.api("PUT", "/api/org/sharing", {"level": None, "person": never})
        await w.settle()
        assert dict(org_rows(org, "SELECT name, level FROM org_shared"))["Ned Never"] == "interactions"
        assert b"Fay Family" not in db_bytes(org) and b"bea@home.example" not in db_bytes(org)
        # an override names a circle or a person of this account, or it is refused and changes nothing
        status, _ = await alice.call("PUT", "/api/org/sharing", {"level": "notes", "circle": "no such"})
        assert status == 404
        status, _ = await alice.call("PUT", "/api/org/sharing", {"level": "notes", "person": "p_not_mine"})
        assert status == 404
        assert (await alice.api("GET", "/api/org/sharing"))["rules"] == [
            {"scope": "circle", "target": "family", "level": "none"},
            {"scope": "circle", "target": "work", "level": "interactions"},
        ]


async def test_colleagues_are_never_shared_whatever_a_member_sends(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob")) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        await org.api("PUT", "/api/org/settings", {"domains": ["acme.example"]})
        await w.settle()
        # bob is in alice's graph by his actor (she follows him); a colleague by address; someone outside
        await alice.api("POST", "/api/federation/follow", {"address": bob.acct})
        await w.settle()
        await alice.person("Cole League", identities=["cole@acme.example"])
        await alice.person("Sub Domain", identities=["sue@mail.acme.example"])
        await alice.person("Out Sider", identities=["out@else.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        assert [r[0] for r in org_rows(org, "SELECT name FROM org_shared")] == ["Out Sider"]
        # a member's node that sends a colleague anyway: the organisation keeps it out
        from federation.kith import sign_as_owner
        from protocol.org_records import SharedContact
        from protocol.org_serialize import org_to_jsonld

        now = datetime.now(UTC)
        for i, ident in enumerate(("mailto:cole@acme.example", bob.actor, f"acct:{bob.acct}")):
            rec = SharedContact(
                id=f"{alice.actor}/org-shares/forged{i}",
                member=alice.actor,
                organization=org.actor,
                level="knows",
                version=10_000 + i,
                updated=now,
                name=f"Colleague {i}",
                identities=(ident,),
            )
            signed = sign_as_owner(alice.fed, org_to_jsonld(rec))
            from federation import org_wire

            cached = await alice.fed.store.actor(org.actor)
            assert cached is not None
            await alice.fed.send(
                org_wire.add_shared(alice.fed.new_id(), alice.actor, [signed], org.actor),
                [cached.actor.inbox],
            )
        await w.settle()
        assert [r[0] for r in org_rows(org, "SELECT name FROM org_shared")] == ["Out Sider"]


async def test_the_cap_lowers_what_is_kept_at_once_and_what_members_send(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        await _jane(alice)
        await alice.api("PUT", "/api/org/sharing", {"level": "interactions"})
        await w.settle()
        assert org_rows(org, "SELECT level FROM org_shared") == [("interactions",)]
        done = await org.api("PUT", "/api/org/settings", {"cap": "knows"})
        assert done["removed"] == 1 and org_rows(org, "SELECT count(*) FROM org_shared_interaction") == [(0,)]
        await w.settle()  # the members learn the cap and share again within it
        assert org_rows(org, "SELECT level FROM org_shared") == [("knows",)]
        # a cap only takes away: raising it again does not raise what the member chose
        await org.api("PUT", "/api/org/settings", {"cap": "notes"})
        await w.settle()
        assert org_rows(org, "SELECT level FROM org_shared") == [("interactions",)]
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await org.api("PUT", "/api/org/settings", {"cap": "notes"})
        await w.settle()
        assert org_rows(org, "SELECT level FROM org_shared") == [("knows",)]


async def test_withdrawing_consent_deletes_the_organisations_copy_within_one_delivery_cycle(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        await _jane(alice)
        never = await alice.person("Mark Never", identities=["mark@else.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "interactions"})
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared") == [(2,)]
        # one person marked never shared: one delivery cycle of alice's, one inbox cycle of the organisation's
        await alice.api("PUT", "/api/org/sharing", {"level": "none", "person": never})
        assert await alice.fed.delivery.run_once() == 1
        await org.fed.process_inbox_once()
        assert [r[0] for r in org_rows(org, "SELECT name FROM org_shared")] == ["Jane Doe"]
        # everything: the same, in one cycle each
        await alice.api("PUT", "/api/org/sharing", {"level": "none"})
        await alice.fed.delivery.run_once()
        await org.fed.process_inbox_once()
        assert org_rows(org, "SELECT count(*) FROM org_shared") == [(0,)]
        assert org_rows(org, "SELECT count(*) FROM org_person") == [(0,)]
        assert await org.api("GET", "/api/org/who-knows?q=Jane") == []


async def test_updates_and_withdrawals_follow_the_graph(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        g = alice.ctx.graph
        jane = await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        gone = await alice.person("Gone Soon", identities=["gone@else.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "last-contact"})
        await w.settle()
        # the graph changes without a word to the organisation module: a new interaction, a new employer, a
        # deletion, a new person; the quiet loop notices and the organisation's copy follows
        await g.log_interaction({"people": [jane], "channel": "call"})
        await g.update_person(jane, {"organization": "Globex"})
        await g.delete_person(gone)
        await alice.person("New Person", identities=["new@else.example"])
        await quiet(alice)
        await w.settle()
        rows = {r[0]: r[1:] for r in org_rows(org, "SELECT name, organization, last_channel FROM org_shared")}
        assert rows == {"Jane Doe": ("Globex", "call"), "New Person": (None, None)}
        # nothing changed: nothing is sent
        before = org_rows(alice, "SELECT count(*) FROM fed_outbox")
        await quiet(alice)
        assert org_rows(alice, "SELECT count(*) FROM fed_outbox") == before


async def test_a_change_saved_before_a_crash_is_shared_at_start(tmp_path: Path) -> None:
    """The consent saved, the process killed before it shared it: at start the outbox of changes finds what
    the organisation lacks (the fingerprint of what was last shared differs) and sends it."""
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        await alice.person("Jane Doe", identities=["jane@initech.example"])
        port = alice.fed.org
        assert port is not None
        await port.mine.set_level(org.actor, "knows")  # type: ignore[attr-defined]  (saved; then the crash)
        await org_share.catch_up(alice.runtime)  # what Federation.start runs
        await w.settle()
        assert org_rows(org, "SELECT name FROM org_shared") == [("Jane Doe",)]


async def test_late_and_replayed_copies_never_bring_back_an_older_version(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",)) as w:
        alice, org = w["alice"], w.org
        jane = await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await alice.fed.delivery.run_once()
        first = [r[0] for r in org_rows(alice, "SELECT body FROM fed_outbox WHERE kind = 'org-share'")]
        await org.fed.process_inbox_once()
        await alice.ctx.graph.update_person(jane, {"organization": "Globex"})
        await quiet(alice)
        await w.settle()
        assert org_rows(org, "SELECT organization FROM org_shared") == [("Globex",)]
        # the first Add again, as a new request (a new activity id, the same signed record inside)
        from federation.kith import sign_as_owner  # noqa: F401  (the record keeps alice's own proof)

        old = json.loads(first[0])
        old["id"] = alice.fed.new_id()
        cached = await alice.fed.store.actor(org.actor)
        assert cached is not None
        await alice.fed.send(old, [cached.actor.inbox])
        await w.settle()
        assert org_rows(org, "SELECT organization FROM org_shared") == [("Globex",)]
        # withdrawn, then the old Add again: it stays withdrawn
        await alice.api("PUT", "/api/org/sharing", {"level": "none", "person": jane})
        await w.settle()
        old["id"] = alice.fed.new_id()
        await alice.fed.send(old, [cached.actor.inbox])
        await w.settle()
        assert org_rows(org, "SELECT count(*) FROM org_shared") == [(0,)]


async def test_forged_records_are_refused_and_nothing_of_them_is_kept(tmp_path: Path) -> None:
    """Each way a record could claim more than it may: signed by another key, someone else's record, another
    organisation's, a field above its level, above the cap, from a non-member, withdrawing another's record."""
    async with (
        world(tmp_path, ("alice", "bob")) as w,
        __import__("tests.org.nodes", fromlist=["server"]).server(tmp_path, "mallory", 4) as mallory,
    ):
        alice, bob, org = w["alice"], w["bob"], w.org
        await bob.person("Bob Knows", identities=["bk@else.example"])
        await bob.api("PUT", "/api/org/sharing", {"level": "knows"})
        await settle(*w.everyone, mallory)
        (bobs_record,) = org_rows(org, "SELECT record_id FROM org_shared")
        from federation import org_wire
        from federation.kith import sign_as_owner
        from protocol.proofs import sign as sign_with

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx = [
            "https://www.w3.org/ns/activitystreams",
            "https://w3id.org/security/data-integrity/v2",
            "https://w3id.org/kith/v1",
        ]

        def record(member: str, rid: str, **extra: object) -> dict[str, object]:
            return {
                "@context": ctx,
                "id": rid,
                "type": "SharedContact",
                "attributedTo": member,
                "audience": org.actor,
                "sharingLevel": "knows",
                "version": 99,
                "updated": now,
                "name": "Forged Person",
                "strengthBucket": "weak",
                **extra,
            }

        cases = [
            # alice's record signed with bob's key
            (
                "alice",
                sign_with(
                    record(alice.actor, alice.actor + "/org-shares/f1"),
                    private_key=bob.fed.keys.ed25519,
                    verification_method=bob.fed.urls.owner_multikey,
                    created=datetime.now(UTC),
                ),
            ),
            # a record attributed to bob, sent by alice
            ("alice", sign_as_owner(alice.fed, record(bob.actor, bob.actor + "/org-shares/f2"))),
            # alice's record under bob's actor (same check, another spelling)
            ("alice", sign_as_owner(alice.fed, record(alice.actor, bob.actor + "/org-shares/f3"))),
            # addressed to another organisation
            (
                "alice",
                sign_as_owner(
                    alice.fed, {**record(alice.actor, alice.actor + "/org-shares/f4"), "audience": bob.actor}
                ),
            ),
            # a field above its level
            (
                "alice",
                sign_as_owner(
                    alice.fed, record(alice.actor, alice.actor + "/org-shares/f5", notes=["hidden"])
                ),
            ),
            # above the cap (interactions by default)
            (
                "alice",
                sign_as_owner(
                    alice.fed,
                    {
                        **record(alice.actor, alice.actor + "/org-shares/f6"),
                        "sharingLevel": "notes",
                        "notes": ["x"],
                    },
                ),
            ),
            # a stranger's record
            ("mallory", sign_as_owner(mallory.fed, record(mallory.actor, mallory.actor + "/org-shares/f7"))),
        ]
        senders = {"alice": alice, "mallory": mallory}
        for who, rec in cases:
            sender = senders[who]
            target = await sender.fed.actors.resolve(org.acct, source="fetch")
            await sender.fed.send(
                org_wire.add_shared(sender.fed.new_id(), sender.actor, [rec], org.actor), [target.inbox]
            )
        # and alice withdrawing bob's record
        tomb = {
            "id": bobs_record[0],
            "type": "Tombstone",
            "formerType": "SharedContact",
            "version": 1_000,
            "deleted": now,
        }
        target = await alice.fed.actors.resolve(org.acct, source="fetch")
        await alice.fed.send(
            org_wire.remove_shared(alice.fed.new_id(), alice.actor, [tomb], org.actor), [target.inbox]
        )
        await settle(*w.everyone, mallory)
        assert [r[0] for r in org_rows(org, "SELECT name FROM org_shared")] == ["Bob Knows"]
        # each was refused (or, above the cap or withdrawing another's, left out): none made the worker fail
        assert not org_rows(org, "SELECT activity_id FROM fed_inbox WHERE state = 'failed'")
        assert b"Forged Person" not in b"".join(
            r[0].encode() for r in org_rows(org, "SELECT record FROM org_shared")
        )
