"""The privacy rules of issue #15, tested as an attacker would: an organisation admin is not trusted with more
than was shared. Every path is tried (the owner API, the web UI, the signed operations, the inbox, the export,
and the organisation's files themselves) for anything the member did not share at the level they chose."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from federation import org_api, org_wire
from node.web import setup_web
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from tests.web.conftest import sign_in

from .nodes import DNS, server, settle
from .world import db_bytes, world

SECRETS = (
    "SECRET-SUMMARY",  # what an interaction was about: never leaves the member's node
    "PRIVATE-NOTE",  # a note not chosen
    "secret-circle",  # the member's circles
    "peer.only@card.example",  # an address only a peer's disclosed card gave
    "Never Shared Person",  # a person marked never shared
    "Family Member",  # a person in a circle shared at none
)


async def _alice_shares_at_knows(alice: object) -> str:
    g = alice.ctx.graph  # type: ignore[attr-defined]
    jane = await alice.person(  # type: ignore[attr-defined]
        "Jane Doe", organization="Initech", identities=["jane@initech.example"], circles=["secret-circle"]
    )
    await g.add_identity(jane, "peer.only@card.example", source="peer", verification="signed")
    for days in (2, 9):
        await g.log_interaction(
            {
                "people": [jane],
                "channel": "meeting",
                "summary": "SECRET-SUMMARY of the merger",
                "occurred_at": (datetime.now(UTC) - timedelta(days=days)).isoformat(),
            }
        )
    await g.add_note(jane, "PRIVATE-NOTE: her health")
    never = await alice.person("Never Shared Person", identities=["never@else.example"])  # type: ignore[attr-defined]
    await alice.person("Family Member", identities=["fam@home.example"], circles=["family"])  # type: ignore[attr-defined]
    await alice.api("PUT", "/api/org/sharing", {"level": "none", "person": never})  # type: ignore[attr-defined]
    await alice.api("PUT", "/api/org/sharing", {"level": "none", "circle": "family"})  # type: ignore[attr-defined]
    # the default last: the overrides are in place before anything goes, so those people never leave
    await alice.api("PUT", "/api/org/sharing", {"level": "knows"})  # type: ignore[attr-defined]
    return jane


def _clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached {where}"


async def test_no_path_gives_an_admin_or_a_member_more_than_was_shared(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob"), extensions=[setup_web]) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        await org.api("PUT", "/api/org/settings", {"cap": "notes"})  # the admins would take everything
        await _alice_shares_at_knows(alice)
        await w.settle()
        # the organisation's owner API, every read it has, and the graph routes beside it
        for path in (
            "/api/org", "/api/org/members", "/api/org/who-knows?q=Jane", "/api/org/who-knows?q=Initech",
            "/api/org/timeline?q=Jane", "/api/org/timeline?q=Initech", "/api/org/policies", "/api/org/intros",
            "/api/org/settings", "/api/people", "/api/search?q=Jane", "/api/export",
            "/api/federation/requests",
        ):  # fmt: skip
            _clean(f"the organisation's {path}", json.dumps(await org.api("GET", path)))
        (jane,) = await org.api("GET", "/api/org/who-knows?q=Jane")
        (known,) = jane["known_by"]
        assert known["last_contact"] is None and known["last_channel"] is None and "notes" not in known
        assert set(jane["person"]["identities"]) == {"mailto:jane@initech.example"}
        assert await org.api("GET", "/api/org/timeline?q=Jane") == []
        # its web UI
        connector = aiohttp.TCPConnector(resolver=DNS, use_dns_cache=False)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector) as s:
            await sign_in(org, s, org.token)  # type: ignore[arg-type]
            for path in ("/org", "/org/who-knows?q=Jane", "/org/timeline?q=Initech", "/people", "/"):
                async with s.get(org.base + path) as r:
                    assert r.status == 200, path
                    _clean(f"the organisation's page {path}", await r.text())
        # a member, through their own node and by signing the organisation's operations themselves
        for path in ("/api/org/who-knows?q=Jane", "/api/org/timeline?q=Initech", "/api/org/members"):
            _clean(f"bob's {path}", json.dumps(await bob.api("GET", path)))
        for op, query in (("who-knows", {"q": "Jane"}), ("directory", None), ("timeline", {"q": "Jane"})):
            _clean(
                f"a signed {op}", json.dumps(await org_api.call(bob.fed, org.actor, "GET", op, query=query))
            )
        # the organisation's files: databases, logs, inbox history (on PostgreSQL, every row of its schemas:
        # world.db_bytes; these secrets were never sent, so no deleted row could hold them either)
        disk = db_bytes(org).decode("latin-1")
        _clean("the organisation's disk", disk)
        # what the member does not share never left their node: their own outbox holds nothing of it either
        sent = " ".join(r for r in await _outbox_bodies(alice))
        _clean("alice's outbox", sent)


async def _outbox_bodies(node: object) -> list[str]:
    from .world import org_rows

    return [r[0] for r in org_rows(node, "SELECT body FROM fed_outbox")]  # type: ignore[arg-type]


async def test_a_stranger_cannot_speak_for_the_organisation_to_a_member(tmp_path: Path) -> None:
    """Info, introductions and deletions naming the organisation count only from the organisation: a stranger's
    own "directory" (making everyone a colleague, or capping nothing) and a stranger's ask are ignored, through
    the personal or the shared inbox."""
    async with world(tmp_path, ("alice",)) as w, server(tmp_path, "mallory", 4, organization=True) as mallory:
        alice, org = w["alice"], w.org
        await _alice_shares_at_knows(alice)
        await settle(*w.everyone, mallory)
        before = await alice.fed.org.info(org.actor)  # type: ignore[union-attr]
        fake = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/kith/v1"],
            "id": mallory.actor + "/org/info", "type": "OrganizationInfo", "attributedTo": mallory.actor,
            "updated": "2099-01-01T00:00:00Z", "sharingCap": "notes", "domains": [], "members": [], "policies": [],
        }  # fmt: skip
        alice_actor = await mallory.fed.actors.resolve(alice.acct, source="fetch")
        for inbox in (alice_actor.inbox, alice_actor.shared_inbox):
            assert inbox is not None
            await mallory.fed.send(
                org_wire.tell_info(mallory.fed.new_id(), mallory.actor, fake, alice.actor), [inbox]
            )
        await settle(*w.everyone, mallory)
        assert await alice.fed.org.info(mallory.actor) is None  # type: ignore[union-attr]
        assert await alice.fed.org.info(org.actor) == before  # type: ignore[union-attr]
        # the organisation's id in a stranger's activity: refused by origin, before anything is read
        fake_org = {**fake, "id": org.actor + "/org/info", "attributedTo": org.actor}
        await mallory.fed.send(
            org_wire.tell_info(mallory.fed.new_id(), mallory.actor, fake_org, alice.actor),
            [alice_actor.inbox],
        )
        await settle(*w.everyone, mallory)
        assert await alice.fed.org.info(org.actor) == before  # type: ignore[union-attr]


async def test_a_member_sees_who_can_see_what_of_theirs(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob", "carol")) as w:
        alice, bob, carol, org = w["alice"], w["bob"], w["carol"], w.org
        await org.api("POST", "/api/org/members/role", {"member": bob.actor, "role": "admin"})
        await org.api("POST", "/api/org/members/role", {"member": carol.actor, "role": "viewer"})
        jane = await alice.person("Jane Doe", identities=["jane@initech.example"])
        await alice.person("Peter Gibbons", identities=["peter@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await alice.api("PUT", "/api/org/sharing", {"level": "last-contact", "person": jane})
        await w.settle()
        seen = (await alice.api("GET", "/api/org/sharing"))["visible_to"]
        assert seen["organization"] == org.actor
        assert sorted((m["actor"], m["role"]) for m in seen["members"]) == sorted(
            [(bob.actor, "admin"), (carol.actor, "viewer")]
        )
        assert [(s["level"], s["people"]) for s in seen["sees"]] == [("knows", 1), ("last-contact", 1)]
        assert (
            "never what was said" not in seen["sees"][0]["what"] and "last contact" in seen["sees"][1]["what"]
        )
