"""Coordination (issue #15): a contact policy per person or company on the organisation's node (relationship
owner, do-not-contact with a reason set by admins or the owner, a cool-down after a recent contact), shown to
every member on that person's page in their own node and before they reach out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from node.web import setup_web
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from tests.web.conftest import sign_in

from .nodes import DNS
from .world import world


async def test_policies_reach_every_member_and_show_on_their_own_page(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob"), extensions=[setup_web]) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        jane_a = await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        await alice.ctx.graph.log_interaction(
            {
                "people": [jane_a],
                "channel": "call",
                "occurred_at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
            }
        )
        await alice.api("PUT", "/api/org/sharing", {"level": "last-contact"})
        await w.settle()
        # bob's own record of Jane: another spelling, the same address
        jane_b = await bob.person("J. Doe", organization="Initech Corp", identities=["jane@initech.example"])
        peter_b = await bob.person(
            "Peter Gibbons", organization="initech", identities=["peter@initech.example"]
        )
        set_jane = await org.api(
            "POST",
            "/api/org/policies",
            {
                "target": "jane@initech.example",
                "owner": alice.acct,
                "do_not_contact": "in litigation with us",
            },
        )
        assert (set_jane["kind"], set_jane["owner"], set_jane["do_not_contact"]) == (
            "person",
            alice.actor,
            "in litigation with us",
        )
        company = await org.api(
            "POST", "/api/org/policies", {"target": "company:Initech", "cool_down_days": 30}
        )
        assert company["kind"] == "company" and company["last_contact"] is not None
        assert company["cool_down_until"] == (datetime.now(UTC).date() + timedelta(days=27)).isoformat()
        await w.settle()
        # on bob's node: his Jane gets both policies; his Peter the company's
        on_jane = await bob.api("GET", f"/api/org/people/{jane_b}/policies")
        assert {(p["kind"], p["do_not_contact"], p["owner"]) for p in on_jane} == {
            ("person", "in litigation with us", alice.actor),
            ("company", None, None),
        }
        (on_peter,) = await bob.api("GET", f"/api/org/people/{peter_b}/policies")
        assert on_peter["kind"] == "company" and on_peter["cool_down_until"] is not None
        # and on Jane's page in bob's web UI, above the form he would log his contact with
        connector = aiohttp.TCPConnector(resolver=DNS, use_dns_cache=False)
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector
        ) as session:
            await sign_in(bob, session, bob.token)  # type: ignore[arg-type]
            async with session.get(bob.base + f"/people/{jane_b}") as r:
                html = await r.text()
        assert "Before you reach out" in html and "in litigation with us" in html
        assert html.index("Before you reach out") < html.index("Log an interaction")
        # cleared: gone from bob's node too
        await org.api("POST", "/api/org/policies", {"target": "jane@initech.example", "clear": True})
        await w.settle()
        assert [p["kind"] for p in await bob.api("GET", f"/api/org/people/{jane_b}/policies")] == ["company"]


async def test_do_not_contact_is_for_admins_and_the_relationship_owner(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob")) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        await alice.person("Jane Doe", identities=["jane@initech.example"])
        await alice.api("PUT", "/api/org/sharing", {"level": "knows"})
        await w.settle()
        # no policy yet: a member sets none
        code, _ = await bob.call(
            "POST", "/api/org/policies", {"target": "jane@initech.example", "do_not_contact": "no"}
        )
        assert code == 403
        await org.api("POST", "/api/org/policies", {"target": "Jane Doe", "owner": alice.actor})
        # bob does not own the relationship; alice does, and may set do-not-contact, but not the owner
        code, _ = await bob.call(
            "POST", "/api/org/policies", {"target": "Jane Doe", "do_not_contact": "bob says"}
        )
        assert code == 403
        done = await alice.api(
            "POST", "/api/org/policies", {"target": "Jane Doe", "do_not_contact": "she asked us not to"}
        )
        assert (done["do_not_contact"], done["do_not_contact_by"]) == ("she asked us not to", alice.actor)
        code, _ = await alice.call("POST", "/api/org/policies", {"target": "Jane Doe", "owner": bob.actor})
        assert code == 403
        code, _ = await alice.call("POST", "/api/org/policies", {"target": "Jane Doe", "clear": True})
        assert code == 403
        (held,) = await org.api("GET", "/api/org/policies")
        assert (held["owner"], held["do_not_contact"]) == (alice.actor, "she asked us not to")
