"""Every page and form over real HTTP, as a browser without JavaScript uses them: what the page shows, what a
form changes in the graph, and that a refused form changes nothing and says why."""

from __future__ import annotations

import asyncio
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from node.server import read_token
from node.web.disclosure import disclosure_settings

from .conftest import Browserish, Node, sign_in
from .seed import seed

SAMPLES = Path(__file__).resolve().parents[1] / "bridges" / "samples"


def rows(html: str) -> list[str]:
    return re.findall(r'<li class="person-row">.*?<a href="/people/([^"]+)">', html, re.S)


async def test_people_are_paged_by_tie_strength(client: Browserish, node: Node) -> None:
    graph = node.ctx.graph
    made = [await graph.create_person({"display_name": f"Person {i:03d}"}) for i in range(120)]
    await graph.update_person(made[77].id, {"priority": 3})
    html = await client.get("/people")
    assert "120 people" in html
    first = rows(html)
    assert len(first) == 50 and first[0] == made[77].id
    assert 'rel="next"' in html and "offset=50" in html and 'rel="prev"' not in html
    last = rows(await client.get("/people?offset=100"))
    assert len(last) == 20 and not set(last) & set(first)
    assert 'rel="prev"' in client.last_html and 'rel="next"' not in client.last_html
    assert len(rows(await client.get("/people?offset=banana"))) == 50  # a bad offset is the first page


async def test_search_and_the_fragment_for_search_as_you_type(client: Browserish, node: Node) -> None:
    people = await seed(node.ctx.graph)
    html = await client.get("/people?q=analytical")
    assert rows(html) == [people["ada"].id]
    fragment = await client.get("/people?q=hopp&fragment=1")
    assert "<html" not in fragment and rows(fragment) == [people["grace"].id]
    assert rows(await client.get("/people?circle=family")) == [people["mum"].id]
    assert "Nobody matches" in await client.get("/people?q=zzzzzz")
    # The fragment needs a session like the page.
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(node.base + "/people?q=ada&fragment=1", allow_redirects=False) as resp,
    ):
        assert resp.status == 303


async def test_add_a_person(client: Browserish, node: Node) -> None:
    path, html = await client.post(
        "/people/new",
        {
            "display_name": "Barbara Liskov",
            "organization": "MIT",
            "identities": "liskov@example.edu\n",
            "circle": "work",
        },
        from_page="/people/new",
    )
    pid = path.rsplit("/", 1)[-1]
    p = await node.ctx.graph.get_person(pid)
    assert p.display_name == "Barbara Liskov" and p.circles == ("work",)
    assert [i.uri for i in p.identities] == ["mailto:liskov@example.edu"]
    assert "Added Barbara Liskov" in html
    path, html = await client.post("/people/new", {"display_name": ""}, from_page="/people/new")
    assert path == "/people/new" and "needs a display_name or at least one identity" in html


async def test_the_forms_on_a_person_page(client: Browserish, node: Node) -> None:
    graph = node.ctx.graph
    people = await seed(graph)
    ada = people["ada"]
    page = f"/people/{ada.id}"
    html = await client.get(page)
    assert "ada@example.com" in html and "badge-claimed" in html and "from owner" in html
    assert "Prefers letters" in html and "A lecture on difference engines" in html

    _, html = await client.post(f"{page}/identities", {"uri": "https://x.com/ada_l", "kind": "", "label": ""})
    assert "Identity added" in html and "@ada_l" in html
    _, html = await client.post(f"{page}/identities", {"uri": "grace@example.org"})  # Grace's address
    assert 'class="flash flash-error"' in html
    assert "grace@example.org" not in [i.display for i in (await graph.get_person(ada.id)).identities]
    _, html = await client.post(f"{page}/identities/remove", {"uri": "https://x.com/ada_l"})
    assert "@ada_l" not in [i.display for i in (await graph.get_person(ada.id)).identities]

    await client.post(f"{page}/circles", {"circle": "family"})
    assert (await graph.get_person(ada.id)).circles == ("family", "friends")
    await client.post(f"{page}/circles/remove", {"circle": "friends"})
    assert (await graph.get_person(ada.id)).circles == ("family",)
    await client.post(f"{page}/cadence", {"cadence_days": "3"})
    assert (await graph.get_person(ada.id)).effective_cadence_days == 3
    _, html = await client.post(f"{page}/cadence", {"cadence_days": "0"})
    assert "cadence_days must be a whole number from 1 to 3650" in html
    await client.post(f"{page}/cadence", {"cadence_days": ""})
    assert (await graph.get_person(ada.id)).cadence_days is None

    await client.post(
        f"{page}/relationships", {"type": "mentor", "since": "2020-01-02", "how_we_met": "At a salon"}
    )
    assert "mentor" in [r.type for r in await graph.relationships(ada.id)]
    _, html = await client.post(f"{page}/relationships", {"type": "archnemesis"})
    assert 'class="flash flash-error"' in html

    _, html = await client.post(f"{page}/notes", {"body": "Likes poetry"})
    assert "Likes poetry" in html
    note = next(n for n in await graph.notes(ada.id) if n.body == "Likes poetry")
    other = await graph.add_note(people["grace"].id, "Grace's own note")
    _, html = await client.post(f"{page}/notes/{other.id}/delete", {})
    assert "not on this person" in html
    assert other.id in [n.id for n in await graph.notes(people["grace"].id)]
    await client.post(f"{page}/notes/{note.id}/delete", {})
    assert note.id not in [n.id for n in await graph.notes(ada.id)]

    _, html = await client.post(f"{page}/edit", {"display_name": "", "organization": "x", "priority": "1"})
    assert (
        "must not be empty" in html
        and (await graph.get_person(ada.id)).organization == "Analytical Engines Ltd"
    )
    await client.post(
        f"{page}/edit", {"display_name": "Augusta Ada King", "organization": "", "title": "", "priority": "2"}
    )
    p = await graph.get_person(ada.id)
    assert (p.display_name, p.organization, p.priority) == ("Augusta Ada King", None, 2)

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    _, html = await client.post(
        f"{page}/interactions",
        {"channel": "call", "initiated_by": "them", "summary": "Long call", "occurred_at": yesterday},
    )
    latest = (await graph.interactions(ada.id, limit=1)).items[0]
    assert (latest.channel, latest.initiated_by, latest.occurred_at[:10]) == ("call", "them", yesterday)
    _, html = await client.post(f"{page}/interactions", {"channel": "pigeon"})
    assert "channel must be one of" in html

    await client.post(f"{page}/archive", {})
    assert (await graph.get_person(ada.id)).status == "archived"
    assert "Archived" in await client.get(page)
    await client.post(f"{page}/archive", {"restore": "1"})
    assert (await graph.get_person(ada.id)).status == "active"
    await client.get("/people/p_nobody", status=404)


async def test_duplicates_merge_and_undo_over_http(client: Browserish, node: Node) -> None:
    people = await seed(node.ctx.graph)
    _, html = await client.post("/merges/refresh", {}, from_page="/merges")
    assert "new possible duplicate" in html and "linustorvalds" in html
    suggestion = re.search(r'action="/suggestions/([^/]+)/accept"', html)
    assert suggestion
    _, html = await client.post(f"/suggestions/{suggestion.group(1)}/accept", {})
    assert "Merged." in html
    twin = await node.ctx.graph.get_person(people["linus2"].id)
    merged_away = twin if twin.status == "merged" else await node.ctx.graph.get_person(people["linus"].id)
    assert merged_away.status == "merged"
    html = await client.get(f"/people/{merged_away.id}")
    assert "This record was merged into" in html and "Log an interaction" not in html
    undo = re.search(r'action="/merges/([^/]+)/undo"', html)  # undo from the merged record's own page
    assert undo
    _, html = await client.post(f"/merges/{undo.group(1)}/undo", {})
    assert "Merge undone" in html
    assert (await node.ctx.graph.get_person(merged_away.id)).status == "active"
    _, html = await client.post(f"/merges/{undo.group(1)}/undo", {})  # twice: refused, said plainly
    assert 'class="flash flash-error"' in html


async def test_card_and_who_sees_what(client: Browserish, node: Node) -> None:
    await node.ctx.graph.create_circle("friends")
    await node.ctx.graph.create_circle("family")
    _, html = await client.post(
        "/settings/card",
        {
            "name": "Alice Example",
            "summary": "",
            "email": "alice@example.org\nalice@work.example",
            "phone": "",
            "website": "",
            "organization": "Kith",
            "title": "",
            "photo": "",
            "identities": "",
        },
        from_page="/settings",
    )
    assert "Card saved" in html and "alice@work.example" in html
    form = {"show:email": ["friends", "family"], "show:organization": ["*"]}
    await client.get("/settings")
    body = aiohttp.FormData()
    body.add_field("csrf", client.csrf())
    for name, values in form.items():
        for v in values:
            body.add_field(name, v)
    async with client.session.post(node.base + "/settings/disclosure", data=body) as resp:
        assert resp.status == 200 and "Saved." in await resp.text()
    assert await disclosure_settings(node.ctx) == {"email": ["family", "friends"], "organization": ["*"]}
    _, html = await client.post("/settings/disclosure", {"show:email": "strangers"})
    assert "no circle named" in html
    assert await disclosure_settings(node.ctx) == {"email": ["family", "friends"], "organization": ["*"]}


async def test_rotating_the_token_needs_the_current_secret(client: Browserish, node: Node) -> None:
    old = node.token
    _, html = await client.post("/settings/token", {"current": "wrong"}, from_page="/settings")
    assert "is wrong; nothing was changed" in html and read_token(node.data_dir, "alice") == old
    _, html = await client.post("/settings/token", {"current": old})
    new = read_token(node.data_dir, "alice")
    assert new != old and new in html
    async with aiohttp.ClientSession() as api:
        for token, status in ((old, 401), (new, 200)):
            async with api.get(
                node.base + "/api/people", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == status


async def test_setting_a_password_from_the_page(client: Browserish, node: Node) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        await sign_in(node, other, node.token)
        form = {
            "current": node.token,
            "password": "a fine long password",
            "password_again": "a different one",
        }
        _, html = await client.post("/settings/password", form, from_page="/settings")
        assert "differ" in html
        _, html = await client.post(
            "/settings/password", {**form, "password": "short", "password_again": "short"}
        )
        assert "at least 10 characters" in html
        _, html = await client.post("/settings/password", {**form, "password_again": "a fine long password"})
        assert "Password set; 1 other session(s) signed out" in html
        async with other.get(node.base + "/", allow_redirects=False) as resp:
            assert resp.status == 303  # the other session ended
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as fresh:
        resp = await sign_in(node, fresh, "a fine long password")
        assert resp.status == 200 and resp.url.path == "/"


async def test_an_upload_that_cannot_be_imported_leaves_nothing_behind(
    client: Browserish, node: Node, tmp_path: Path
) -> None:
    await client.get("/import")
    junk = tmp_path / "notes.txt"
    junk.write_text("not an export of anything\n")
    body = aiohttp.FormData()
    body.add_field("csrf", client.csrf())
    body.add_field("source", "auto")
    body.add_field("file", junk.open("rb"), filename="../../notes.txt", content_type="text/plain")
    async with client.session.post(node.base + "/import", data=body) as resp:
        html = await resp.text()
        assert resp.url.path == "/import"
    assert "Kith could not tell what notes.txt is" in html
    uploads = node.ctx.store.imports.folder
    assert not uploads.exists() or not any(uploads.iterdir())
    # Without the form's CSRF token the upload is refused too, and nothing is kept.
    body = aiohttp.FormData()
    body.add_field("file", b"x", filename="x.csv", content_type="text/csv")
    async with client.session.post(node.base + "/import", data=body) as resp:
        assert "form has expired" in await resp.text()
    assert not uploads.exists() or not any(uploads.iterdir())
    await client.get("/import/imp_unknown", status=404)


async def test_connections_without_federation(client: Browserish, node: Node) -> None:
    html = await client.get("/connections")
    assert "Federation is not running on this node" in html
    _, html = await client.post("/connections/connect", {"address": "acct:bob@example.org", "type": "friend"})
    assert "federation is not available" in html


async def test_marking_someone_contacted_from_today(client: Browserish, node: Node) -> None:
    people = await seed(node.ctx.graph)
    mum = people["mum"]
    html = await client.get("/")
    due = html[html.index('id="due-list"') : html.index('id="soon-h"')]
    assert f"/people/{mum.id}/interactions" in due
    path, html = await client.post(f"/people/{mum.id}/interactions", {"back": "/", "channel": "message"})
    assert path == "/" and "Interaction with Margaret Lovelace logged" in html
    due = html[html.index('id="due-list"') : html.index('id="soon-h"')]
    assert mum.id not in due
    # "back" only ever leads somewhere on this site.
    path, _ = await client.post(
        f"/people/{mum.id}/interactions", {"back": "//evil.example/", "channel": "call"}
    )
    assert path == f"/people/{mum.id}"


async def test_import_an_upload_and_follow_it_to_the_summary(
    client: Browserish, node: Node, tmp_path: Path
) -> None:
    export = tmp_path / "LinkedInDataExport.zip"
    with zipfile.ZipFile(export, "w") as zf:
        for f in (SAMPLES / "linkedin" / "export").iterdir():
            zf.write(f, f.name)

    async def upload() -> dict[str, Any]:
        await client.get("/import")
        body = aiohttp.FormData()
        body.add_field("csrf", client.csrf())
        body.add_field("source", "linkedin")
        body.add_field("file", export.read_bytes(), filename=export.name, content_type="application/zip")
        async with client.session.post(node.base + "/import", data=body) as resp:
            assert resp.status == 200 and re.fullmatch(r"/import/imp_[\w-]+", resp.url.path)
            status_url = node.base + resp.url.path + "/status"
        for _ in range(200):
            async with client.session.get(status_url) as resp:
                status: dict[str, Any] = await resp.json()
            if status["finished"]:
                return status
            await asyncio.sleep(0.05)
        raise AssertionError("the import never finished")

    first = await upload()
    assert first["error"] is None and first["source"] == "linkedin"
    assert first["summary"]["people_created"] >= 3
    assert "Jane Doe" in await client.get("/people?q=jane")
    html = await client.get(f"/import/{first['id']}")
    assert "New people" in html and 'href="/people"' in html
    again = await upload()  # the same export again changes nothing
    assert again["summary"]["people_created"] == 0 and again["summary"]["records_unchanged"] >= 3
    uploads = node.ctx.store.imports.folder
    assert not any(uploads.iterdir())  # the uploaded files are gone once imported
    # After a restart the summary comes from the stored run.
    node.ctx.imports.jobs.clear()
    html = await client.get(f"/import/{first['id']}")
    assert "New people" in html


async def test_circles_and_their_cadences_from_settings(client: Browserish, node: Node) -> None:
    graph = node.ctx.graph
    _, html = await client.post(
        "/settings/circles", {"create": "1", "name": "book club", "cadence_days": "14"}, from_page="/settings"
    )
    assert "Circle book club created" in html
    friend = await graph.create_person({"display_name": "Reader", "circles": ["book club"]})
    assert (await graph.get_person(friend.id)).effective_cadence_days == 14
    await client.post("/settings/circles", {"name": "book club", "cadence_days": "60"})
    assert (await graph.get_person(friend.id)).effective_cadence_days == 60
    _, html = await client.post("/settings/circles", {"name": "book club", "cadence_days": ""})
    assert "has no cadence now" in html and (await graph.get_person(friend.id)).due_at is None
    _, html = await client.post("/settings/circles", {"name": "no such circle", "cadence_days": "5"})
    assert 'class="flash flash-error"' in html


async def test_deleting_an_interaction_or_a_relationship(client: Browserish, node: Node) -> None:
    graph = node.ctx.graph
    people = await seed(graph)
    ada, grace = people["ada"], people["grace"]
    page = f"/people/{ada.id}"
    html = await client.get(page)
    mine = (await graph.interactions(ada.id, limit=1)).items[0]
    theirs = (await graph.interactions(grace.id, limit=1)).items[0]
    assert f"/interactions/{mine.id}/delete" in html
    _, html = await client.post(f"{page}/interactions/{theirs.id}/delete", {})  # Grace's, not on Ada's page
    assert 'class="flash flash-error"' in html
    assert theirs.id in [i.id for i in (await graph.interactions(grace.id)).items]
    _, html = await client.post(f"{page}/interactions/{mine.id}/delete", {})
    assert "Interaction deleted" in html
    assert mine.id not in [i.id for i in (await graph.interactions(ada.id)).items]
    assert (await graph.get_person(ada.id)).interaction_count == 1
    rel = (await graph.relationships(ada.id))[0]
    other = (await graph.relationships(people["mum"].id))[0]
    _, html = await client.post(f"{page}/relationships/{other.id}/delete", {})
    assert 'class="flash flash-error"' in html and await graph.relationships(people["mum"].id)
    await client.post(f"{page}/relationships/{rel.id}/delete", {})
    assert await graph.relationships(ada.id) == []


async def test_export_downloads(client: Browserish, node: Node) -> None:
    await seed(node.ctx.graph)
    for fmt, kind, needle in (
        ("json", "application/json", '"Ada Lovelace"'),
        ("vcard", "text/vcard", "FN:Ada Lovelace"),
        ("csv", "text/csv", "Ada Lovelace"),
    ):
        async with client.session.get(node.base + f"/export?format={fmt}") as resp:
            assert resp.status == 200 and resp.content_type == kind
            assert resp.headers["Content-Disposition"].startswith('attachment; filename="kith-')
            assert needle in await resp.text()
    await client.get("/export?format=xml", status=400)
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(node.base + "/export?format=json", allow_redirects=False) as resp,
    ):
        assert resp.status == 303


async def test_an_import_that_fails_says_so_and_keeps_nothing(
    client: Browserish, node: Node, tmp_path: Path
) -> None:
    await client.get("/import")
    body = aiohttp.FormData()
    body.add_field("csrf", client.csrf())
    body.add_field("source", "linkedin")  # the owner says LinkedIn; the file is not
    body.add_field(
        "file", b"\x00\x01 not a zip or a csv", filename="export.zip", content_type="application/zip"
    )
    async with client.session.post(node.base + "/import", data=body) as resp:
        job_path = resp.url.path
    assert job_path.startswith("/import/imp_")
    for _ in range(200):
        async with client.session.get(node.base + job_path + "/status") as resp:
            status = await resp.json()
        if status["finished"]:
            break
        await asyncio.sleep(0.05)
    assert status["error"] and status["summary"] is None
    html = await client.get(job_path)
    assert "The import failed" in html and "Nothing was written" in html
    assert (await node.ctx.graph.list_people()).total == 0
