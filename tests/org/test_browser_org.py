"""The organisation's journeys in a real browser (Debian's Chromium, tests/web/browser.py), and the screenshots
of its pages at phone (375 px) and desktop (1280 px) widths for the README (KITH_SCREENSHOTS_DIR=docs/screenshots
refreshes the copies there). Each page must fit the phone's width and label every control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.web import setup_web
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from tests.web.browser import DESKTOP, PHONE, chromium, needs_browser, page_in, shoot, sign_in
from tests.web.test_browser import UNLABELED

from .world import world

pytestmark = [pytest.mark.browser, needs_browser]


def _local(base: str) -> str:
    """The browser reaches each server on loopback (the servers' NAME.test names are the tests' own DNS)."""
    return "http://127.0.0.1:" + base.rsplit(":", 1)[1]


async def _fill(w: object) -> dict[str, str]:
    """An organisation with three members who share at different levels, a policy and an introduction."""
    org, alice, bob, carol = w.org, w["alice"], w["bob"], w["carol"]  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    people = {}
    for node, level, meetings in ((alice, "interactions", 6), (bob, "last-contact", 2), (carol, "knows", 0)):
        jane = await node.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
        peter = await node.person(
            "Peter Gibbons", organization="Initech", identities=["peter@initech.example"]
        )
        await node.person(
            "Milton Waddams", organization="Initech", identities=[f"milton.{node.name}@initech.example"]
        )
        for i in range(meetings):
            await node.ctx.graph.log_interaction(
                {
                    "people": [jane],
                    "channel": "meeting" if i % 2 else "email",
                    "initiated_by": "them",
                    "occurred_at": (now - timedelta(days=3 * i + 1)).isoformat(),
                }
            )
        await node.ctx.graph.log_interaction(
            {"people": [peter], "channel": "call", "occurred_at": (now - timedelta(days=20)).isoformat()}
        )
        await node.api("PUT", "/api/org/sharing", {"level": level})
        people[node.name] = jane
    await org.api(
        "PUT", "/api/org/settings", {"cap": "interactions", "domains": ["acme.example"], "cool_down_days": 14}
    )
    await org.api(
        "POST",
        "/api/org/policies",
        {
            "target": "jane@initech.example",
            "owner": alice.actor,
            "do_not_contact": "renewal under negotiation: talk to Alice first",
        },
    )
    await org.api("POST", "/api/org/members/role", {"member": alice.actor, "role": "admin"})
    await w.settle()  # type: ignore[attr-defined]
    await carol.api("POST", "/api/org/intros", {"query": "Peter Gibbons", "note": "about the TPS reports"})
    await w.settle()  # type: ignore[attr-defined]
    return people


async def test_the_organisation_pages_in_a_browser_and_their_screenshots(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob", "carol"), extensions=[setup_web]) as w, chromium() as browser:
        people = await _fill(w)
        org, alice, bob, carol = w.org, w["alice"], w["bob"], w["carol"]
        # a journey: bob marks Jane never shared from her page, with JavaScript on
        async with page_in(browser) as page:
            base = _local(bob.base)
            await sign_in(page, base, bob.token, then=f"/people/{people['bob']}")
            await page.get_by_role("heading", name="Before you reach out").wait_for()
            assert "talk to Alice first" in await page.locator("#org-policies").inner_text()
            await page.get_by_label(org.acct, exact=True).select_option("none")
            await page.get_by_role("button", name=f"Set sharing with {org.acct}").click()
            await page.get_by_role("status").filter(has_text="Sharing for this person set to none").wait_for()
        await w.settle()
        assert {k["member"] for k in (await org.api("GET", "/api/org/who-knows?q=Jane"))[0]["known_by"]} == {
            alice.actor,
            carol.actor,
        }
        # alice accepts carol's introduction from her Organisation page
        async with page_in(browser, viewport=PHONE) as page:
            await sign_in(page, _local(alice.base), alice.token, then="/org")
            await page.get_by_role("button", name="Accept: introduce").click()
            await page.get_by_role("status").filter(has_text="introduce them yourself").wait_for()
        await w.settle()
        pages = [
            (carol, [("org-member", "/org"), ("org-preview", "/org/preview"), ("org-who-knows", "/org/who-knows?q=Initech"),
                    ("org-timeline", "/org/timeline?q=Initech"), ("org-person-policy", f"/people/{people['carol']}")]),
            (org, [("org-admin", "/org"), ("org-admin-who-knows", "/org/who-knows?q=Jane%20Doe")]),
        ]  # fmt: skip
        for viewport in (PHONE, DESKTOP):
            for node, shots in pages:
                async with page_in(browser, viewport=viewport) as page:
                    await sign_in(page, _local(node.base), node.token)
                    for name, path in shots:
                        await page.goto(_local(node.base) + path)
                        overflow = await page.evaluate(
                            "document.documentElement.scrollWidth - window.innerWidth"
                        )
                        assert overflow <= 0, (name, viewport, overflow)
                        assert await page.evaluate(UNLABELED) == [], name
                        await shoot(page, name)
        del bob
