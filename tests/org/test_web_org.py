"""The Organisation pages of the web UI, as a browser without JavaScript uses them (forms with their CSRF
field, redirects after each action, messages on the page): a member joins, chooses what to share with the
preview of exactly what goes, asks who knows whom and for an introduction, and leaves; the organisation's
account answers the request, sets its cap and a policy. Errors come back as messages and change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from node.web import setup_web
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from tests.web.conftest import sign_in

from .nodes import DNS, OrgNode
from .world import org_rows, world

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    def __init__(self, node: OrgNode, session: aiohttp.ClientSession) -> None:
        self.node, self.session, self.html = node, session, ""

    async def get(self, path: str) -> str:
        async with self.session.get(self.node.base + path) as r:
            self.html = await r.text()
            assert r.status == 200, (path, r.status, self.html[:1000])
            return self.html

    async def post(self, path: str, data: dict[str, str], *, page: str = "/org") -> str:
        await self.get(page)
        found = _CSRF.search(self.html)
        assert found
        async with self.session.post(self.node.base + path, data={"csrf": found.group(1), **data}) as r:
            self.html = await r.text()
            assert r.status == 200, (path, r.status, self.html[:1000])
            return self.html


@asynccontextmanager
async def browser(node: OrgNode) -> AsyncIterator[Browser]:
    connector = aiohttp.TCPConnector(resolver=DNS, use_dns_cache=False)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector) as s:
        await sign_in(node, s, node.token)  # type: ignore[arg-type]
        yield Browser(node, s)


async def test_a_member_and_an_organisation_through_the_web_ui(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob"), joined=False, extensions=[setup_web]) as w:
        alice, bob, org = w["alice"], w["bob"], w.org
        async with browser(alice) as a, browser(org) as o, browser(bob) as b:
            page = await a.get("/org")
            assert "Join an organisation" in page and 'href="/org" aria-current="page"' in page
            page = await a.post("/org/join", {"address": org.acct})
            assert "Asked to join" in page and "Waiting for its admins" in page
            await b.post("/org/join", {"address": org.acct})
            await w.settle()
            page = await o.get("/org")
            assert "Asking to join" in page and alice.acct in page
            for node in (alice, bob):
                request_id = next(
                    r["id"] for r in await org.api("GET", "/api/org/requests") if r["actor"] == node.actor
                )
                page = await o.post(
                    "/org/requests/answer", {"id": request_id, "verdict": "accept", "role": "member"}
                )
                assert "is now a member" in page
            await w.settle()
            # the member chooses, after seeing exactly what would go
            await alice.person("Jane Doe", organization="Initech", identities=["jane@initech.example"])
            await alice.person("Fam Ily", identities=["fam@home.example"], circles=["family"])
            page = await a.get("/org")
            assert "Share by default" in page and "Nothing: you share no one." in page
            page = await a.get(f"/org/preview?level=knows&org={org.actor}")
            assert "Jane Doe" in page and "strengthBucket" in page and "Fam Ily" in page
            page = await a.post("/org/share", {"org": org.actor, "circle": "family", "level": "none"})
            assert "Sharing for circle family set to none" in page
            page = await a.post("/org/share", {"org": org.actor, "level": "knows"})
            assert "1 sent" in page and "1</strong> person at knows" in page
            await w.settle()
            # who knows: from the other member's node and from the organisation's
            for client in (b, o):
                page = await client.get("/org/who-knows?q=Initech")
                assert "Jane Doe" in page and "Fam Ily" not in page
                assert f"@{alice.acct}" in page or alice.actor in page  # the acct: where that server knows it
            # bob asks for an introduction; alice accepts on her page; bob sees who
            page = await b.post("/org/intros/ask", {"query": "Jane Doe", "note": "the deal"})
            assert "Asked 1 members" in page
            await w.settle()
            page = await a.get("/org")
            assert "would like to meet" in page and "the deal" in page
            (ask,) = [i for i in await alice.api("GET", "/api/org/intros") if i["role"] == "introducer"]
            page = await a.post("/org/intros/answer", {"id": ask["id"], "verdict": "accept"})
            assert "introduce them yourself" in page
            await w.settle()
            page = await b.get("/org")
            assert "will introduce you" in page and (f"@{alice.acct}" in page or alice.actor in page)
            # the organisation's settings and a policy, shown on bob's own page for Jane
            page = await o.post(
                "/org/settings", {"cap": "knows", "domains": "acme.example", "cool_down_days": "10"}
            )
            assert "Saved." in page
            page = await o.post(
                "/org/policy", {"target": "jane@initech.example", "do_not_contact": "legal hold"}
            )
            assert "Policy for Jane Doe saved" in page
            await w.settle()
            jane_b = await bob.person("Jane Doe", identities=["jane@initech.example"])
            page = await b.get(f"/people/{jane_b}")
            assert (
                "Before you reach out" in page
                and "legal hold" in page
                and "Shared with your organisations" in page
            )
            # bob marks his Jane never shared, from her page
            page = await b.post(
                "/org/share",
                {"org": org.actor, "person": jane_b, "level": "none", "back": f"/people/{jane_b}"},
                page=f"/people/{jane_b}",
            )
            assert "Sharing for this person set to none" in page and "Before you reach out" in page
            # leaving: the organisation deletes and says so
            page = await a.post("/org/leave", {"org": org.actor})
            assert "You left" in page
            await w.settle()
            page = await a.get("/org")
            assert "It deleted the 1 records you shared" in page
            assert org_rows(org, "SELECT count(*) FROM org_shared WHERE member = ?", alice.actor) == [(0,)]


async def test_bad_form_input_is_a_message_and_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",), extensions=[setup_web]) as w:
        alice, org = w["alice"], w.org
        async with browser(alice) as a, browser(org) as o:
            for path, data, words in (
                ("/org/share", {"org": org.actor, "level": "everything"}, "level must be one of"),
                (
                    "/org/share",
                    {"org": org.actor, "level": "knows", "circle": "no such circle"},
                    "no circle named",
                ),
                ("/org/join", {"address": ""}, "give the organisation&#39;s address"),
                (
                    "/org/intros/answer",
                    {"id": "https://nowhere.example/x", "verdict": "accept"},
                    "no introduction",
                ),
            ):
                page = await a.post(path, data)
                assert words in page and 'class="flash flash-error"' in page, (path, page[:3000])
            assert (await alice.api("GET", "/api/org/sharing"))["level"] == "none"
            for path, data, words in (
                ("/org/settings", {"cap": "knows", "domains": "not a domain!"}, "is not a domain name"),
                ("/org/settings", {"cap": "knows", "cool_down_days": "soon"}, "number of days"),
                ("/org/policy", {"target": ""}, "name the person"),
                ("/org/role", {"member": "acct:nobody@nowhere.example", "role": "admin"}, "is not a member"),
            ):
                page = await o.post(path, data)
                assert words in page and 'class="flash flash-error"' in page, (path, page[:3000])
            assert (await org.api("GET", "/api/org/settings"))["cap"] == "interactions"
