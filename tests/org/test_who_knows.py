"""Who knows whom (issue #15 §What the organisation can do): by company and by person, the same person from
several members merged by the identity rules of imports (a shared verified identifier merges; a name alone
never does), each member with their strength, bucket and last contact; the team timeline, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .world import org_rows, world


async def _share(member: object, level: str) -> None:
    await member.api("PUT", "/api/org/sharing", {"level": level})  # type: ignore[attr-defined]


async def test_the_same_person_from_several_members_is_one_person(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob", "carol")) as w:
        alice, bob, carol, org = w["alice"], w["bob"], w["carol"], w.org
        # alice and bob hold Jane by the same e-mail (bob spells it in capitals), bob also by her fediverse
        # account; carol holds a "Jane Doe" by name and another address only: not evidence of one human
        await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await bob.person(
            "Jane D.",
            organization="Initech Corp",
            identities=["JANE@initech.example", "acct:jane@social.example"],
        )
        await carol.person("Jane Doe", organization="Initech", identities=["jdoe@other.example"])
        for m, level in ((alice, "knows"), (bob, "last-contact"), (carol, "knows")):
            await _share(m, level)
        await w.settle()
        found = await org.api("GET", "/api/org/who-knows?q=Jane%20Doe")
        by_members = sorted(sorted(k["member"] for k in item["known_by"]) for item in found)
        assert by_members == [sorted([alice.actor, bob.actor]), [carol.actor]]
        merged = next(i for i in found if len(i["known_by"]) == 2)
        assert set(merged["person"]["identities"]) == {
            "mailto:jane@initech.example",
            "acct:jane@social.example",
        }
        # by her other address too: the same one person
        (same,) = await org.api("GET", "/api/org/who-knows?q=acct:jane@social.example")
        assert {k["member"] for k in same["known_by"]} == {alice.actor, bob.actor}
        # bob leaves: what only he gave (his spelling, her fediverse account) is gone from the person
        await bob.api("POST", "/api/org/leave", {"address": org.acct})
        await w.settle()
        assert await org.api("GET", "/api/org/who-knows?q=acct:jane@social.example") == []
        found = await org.api("GET", "/api/org/who-knows?q=Jane")
        assert {p for item in found for p in item["person"]["identities"]} == {
            "mailto:jane@initech.example",
            "mailto:jdoe@other.example",
        }
        assert b"Initech Corp" not in b"".join(
            r[0].encode() for r in org_rows(org, "SELECT name || coalesce(organization, '') FROM org_person")
        )


async def test_who_knows_someone_at_a_company_and_the_best_connected_first(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob")) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        now = datetime.now(UTC)
        jane_a = await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.person("Peter Gibbons", organization="Initech", identities=["peter@initech.example"])
        await alice.person("Someone Else", organization="Globex", identities=["se@globex.example"])
        jane_b = await bob.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        for i in range(6):  # bob meets her often and recently; alice once, long ago
            await bob.ctx.graph.log_interaction(
                {
                    "people": [jane_b],
                    "channel": "meeting",
                    "occurred_at": (now - timedelta(days=i * 7)).isoformat(),
                }
            )
        await alice.ctx.graph.log_interaction(
            {
                "people": [jane_a],
                "channel": "email",
                "initiated_by": "owner",
                "occurred_at": (now - timedelta(days=400)).isoformat(),
            }
        )
        await _share(alice, "interactions")
        await _share(bob, "interactions")
        await w.settle()
        at_initech = await org.api("GET", "/api/org/who-knows?q=Initech")
        assert [i["person"]["display_name"] for i in at_initech] == ["Jane Doe", "Peter Gibbons"]
        jane = at_initech[0]
        assert [k["member"] for k in jane["known_by"]] == [bob.actor, alice.actor]  # the best-connected first
        strong, weak = jane["known_by"]
        assert (
            strong["bucket"] == "strong"
            and weak["bucket"] == "weak"
            and strong["strength"] > weak["strength"]
        )
        assert "meeting" in strong["explained"] and "one-way" in weak["explained"]
        assert strong["last_contact"] == now.date().isoformat()
        # a member asks the same from their own node, through the organisation
        assert await alice.api("GET", "/api/org/who-knows?q=Initech") == at_initech


async def test_the_team_timeline_is_every_shared_interaction_newest_first(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob")) as w:
        alice, bob = w["alice"], w["bob"]
        now = datetime.now(UTC)
        a = await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        b = await bob.person("Peter Gibbons", organization="Initech", identities=["peter@initech.example"])
        for node, pid, days, channel in (
            (alice, a, 10, "call"),
            (bob, b, 2, "email"),
            (alice, a, 1, "meeting"),
        ):
            await node.ctx.graph.log_interaction(
                {
                    "people": [pid],
                    "channel": channel,
                    "summary": "NEVER-SHARED text",
                    "occurred_at": (now - timedelta(days=days)).isoformat(),
                }
            )
        await _share(alice, "interactions")
        await _share(bob, "last-contact")
        await w.settle()
        timeline = await bob.api("GET", "/api/org/timeline?q=Initech")
        assert [(e["channel"], e["kind"], e["person"]["display_name"]) for e in timeline] == [
            ("meeting", "interaction", "Jane Doe"),
            ("email", "last-contact", "Peter Gibbons"),  # shared at last-contact: the last contact only
            ("call", "interaction", "Jane Doe"),
        ]
        assert all("NEVER-SHARED" not in str(e) for e in timeline)
        assert [e["initiated_by"] for e in timeline] == ["member", None, "member"]
