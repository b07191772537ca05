"""Reaching out from a person's page and acting on reminders from Today, over real HTTP as a browser without
JavaScript: links that log and redirect only where the node says, CSRF-safe; snooze, done, cadence in a click."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import aiohttp

from node.graph import iso

from .conftest import Browserish, Node, sign_in


def reach_links(page: str) -> list[str]:
    return [html_lib.unescape(h) for h in re.findall(r'href="(/people/[^"/]+/reach/\d+\?[^"]+)"', page)]


async def test_following_a_way_to_reach_someone_logs_it_and_goes_only_where_the_node_says(
    client: Browserish, node: Node
) -> None:
    graph = node.ctx.graph
    ada = await graph.create_person(
        {
            "display_name": "Ada",
            "identities": ["ada@example.org", "https://x.com/i/user/12345"],
            "cadence_days": 7,
        }
    )
    page = await client.get(f"/people/{ada.id}")
    links = reach_links(page)
    assert len(links) == 3  # e-mail; X profile and X direct message
    mail = next(link for link in links if "via=message" not in link and "reach/0" in link)

    async def follow(path: str, session: aiohttp.ClientSession | None = None) -> aiohttp.ClientResponse:
        async with (session or client.session).get(node.base + path, allow_redirects=False) as resp:
            await resp.read()
            return resp

    # Without the session's token (a link planted on another site), with another session's, or a forged one:
    # refused, nothing logged.
    bare = re.sub(r"&csrf=[^&]+", "", mail)
    assert (await follow(bare)).status == 403
    assert (await follow(bare + "&csrf=forged")).status == 403
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        await sign_in(node, other, node.token)
        assert (await follow(mail, other)).status == 403
    assert (await graph.get_person(ada.id)).interaction_count == 0

    resp = await follow(mail + "&next=https://evil.example/&to=https://evil.example/")
    assert resp.status == 303 and resp.headers["Location"] == "mailto:ada@example.org"
    dm = await follow(next(link for link in links if "via=message" in link))
    assert dm.headers["Location"] == "https://x.com/messages/compose?recipient_id=12345"
    after = await graph.get_person(ada.id)
    assert after.interaction_count == 2 and after.due_at == iso(graph.clock() + timedelta(days=7))
    # A stale link (the identity removed since the page was loaded) says so instead of reaching someone else.
    await graph.remove_identity(ada.id, "ada@example.org")
    stale = await follow(mail)
    assert stale.status == 404
    assert (await follow(re.sub(r"reach/\d+", "reach/99999999999999", mail))).status == 404


async def test_prefer_a_channel_from_the_page(client: Browserish, node: Node) -> None:
    ada = await node.ctx.graph.create_person(
        {"display_name": "Ada", "identities": ["ada@example.org", "+44 7700 900123"]}
    )
    _path, page = await client.post(
        f"/people/{ada.id}/reach/preferred", {"n": "1"}, from_page=f"/people/{ada.id}"
    )
    assert "is the way to reach them" in page
    assert "Reach Ada by" in page and "+44 7700 900123" in page


async def test_today_shows_birthdays_and_cadence_suggestions_and_acts_on_them(
    client: Browserish, node: Node
) -> None:
    graph = node.ctx.graph
    today = graph.clock().date()
    soon = today + timedelta(days=3)
    bea = await graph.create_person({"display_name": "Bea", "birthday": f"--{soon.month:02d}-{soon.day:02d}"})
    cy = await graph.create_person({"display_name": "Cy"})
    for days_ago in (1, 13, 25, 37, 49):
        await graph.log_interaction(
            {"people": [cy.id], "occurred_at": iso(graph.clock() - timedelta(days=days_ago))}
        )
    page = await client.get("/")
    assert "Bea&#39;s birthday is" in page or "Bea's birthday is" in page
    assert "You talk to Cy every 12 days on average; keep it at 14?" in page
    _path, page = await client.post("/today/cadence", {"person": cy.id}, from_page="/")
    assert "every 14 days" in page
    assert (await graph.get_person(cy.id)).cadence_days == 14
    assert "keep it at 14?" not in page
    key = f"birthday:{bea.id}:{soon.year}"
    _path, page = await client.post("/today/snooze", {"key": key, "days": "7"}, from_page="/")
    assert "Snoozed until" in page and "birthday is" not in page
    _path, page = await client.post("/today/done", {"key": "x" * 400}, from_page="/")
    assert "longer than" in page  # refused with a message, nothing stored
    _path, page = await client.post("/today/cadence", {"person": cy.id}, from_page="/")
    assert "no longer open" in page


async def test_people_from_mail_are_added_or_dismissed_from_today(client: Browserish, node: Node) -> None:
    from node.store.capture import MailRow

    capture = node.ctx.store.capture
    rows = [
        MailRow(
            message_id=f"<{i}@x>",
            occurred_at=f"2026-01-0{i + 1}T10:00:00Z",
            from_owner=i % 2 == 0,
            participants=((addr, name),),
            broadcast=False,
            personal=True,
            bulk=False,
            in_reply_to=None,
            subject="",
        )
        for i, (addr, name) in enumerate(
            [("mailto:eve@example.org", "Eve")] * 2 + [("mailto:zed@example.org", "Zed")] * 2
        )
    ]
    from node.graph import new_ids

    await capture.record_mail(
        rows, people={}, interaction_ids=new_ids("i", 4), cursor=None, now="2026-01-09T00:00:00Z"
    )
    page = await client.get("/")
    assert "People from your mail" in page and "Eve" in page and "Zed" in page
    path, page = await client.post(
        "/today/proposals/accept", {"address": "mailto:eve@example.org"}, from_page="/"
    )
    assert path.startswith("/people/p_") and "Eve added, with 2 past messages" in page
    _path, page = await client.post(
        "/today/proposals/dismiss", {"address": "mailto:zed@example.org"}, from_page="/"
    )
    assert "will not be proposed again" in page and "People from your mail" not in page
    _path, page = await client.post("/today/proposals/accept", {"address": "not an address"}, from_page="/")
    assert "is not an e-mail address" in page
