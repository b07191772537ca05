"""Isolation between the accounts of one server, tested as an attacker would: two accounts hold people of the
same names and e-mails, and everything one account's token or session can reach shows only its own data.

Every id of the other account's (people, notes, relationships, interactions, merges, suggestions, imports) is
tried on every route that takes one, with every method: the answer must be exactly the answer for an id that
does not exist, and the other account's data must be unchanged afterwards."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app import build_app
from node.context import AccountContext
from node.server import read_token
from node.web import setup_web
from node.web.sessions import SESSION_COOKIE
from tests.conftest import new_server_account


@dataclass
class Side:
    name: str
    token: str
    ctx: AccountContext
    ids: dict[str, str]


@dataclass
class Pair:
    base: str
    alice: Side
    bob: Side
    http: aiohttp.ClientSession

    async def call(self, who: Side, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {who.token}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as resp:
            data = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, data


async def _fill(ctx: AccountContext, tag: str) -> dict[str, str]:
    """The same people in both accounts, and one of each kind of record with an id."""
    g = ctx.graph
    ada = await g.create_person(
        {"display_name": "Ada Lovelace", "identities": ["ada@example.org", "https://x.com/ada"]}
    )
    twin = await g.create_person({"display_name": "Ada L.", "identities": ["https://x.com/ada_l"]})
    other = await g.create_person({"display_name": f"Only {tag}", "identities": [f"{tag}@example.org"]})
    note = await g.add_note(ada.id, f"secret note of {tag}")
    interaction = await g.log_interaction(
        {"people": [ada.id], "channel": "call", "summary": f"private call of {tag}"}
    )
    rel = await g.add_relationship(ada.id, {"type": "friend", "other_person_id": other.id})
    merge = await g.merge(ada.id, twin.id)
    await g.create_circle("inner", None)
    await g.set_membership(ada.id, "inner", member=True)
    return {
        "person": ada.id,
        "other": other.id,
        "twin": twin.id,
        "note": note.id,
        "interaction": interaction.id,
        "relationship": rel.id,
        "merge": merge.id,
    }


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    alice_ctx = await new_server_account(tmp_path / "node", "alice")
    server = alice_ctx.server
    await server.add_account("bob")
    bob_ctx = await server.context("bob")
    alice = Side("alice", read_token(server.data_dir, "alice"), alice_ctx, await _fill(alice_ctx, "alice"))
    bob = Side("bob", read_token(server.data_dir, "bob"), bob_ctx, await _fill(bob_ctx, "bob"))
    runner = web.AppRunner(build_app(server, extensions=[setup_web]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield Pair(base=f"http://{host}:{port}", alice=alice, bob=bob, http=http)
    finally:
        await runner.cleanup()
        await alice_ctx.close()


#: Every API route that takes an id of the account's own, with the kind of id it takes and a body to send.
ID_ROUTES: list[tuple[str, str, str, Any]] = [
    ("GET", "/api/people/{person}", "person", None),
    ("PATCH", "/api/people/{person}", "person", {"display_name": "Hacked"}),
    ("DELETE", "/api/people/{person}", "person", None),
    ("POST", "/api/people/{person}/archive", "person", {}),
    ("POST", "/api/people/{person}/unarchive", "person", {}),
    ("POST", "/api/people/{person}/identities", "person", {"uri": "mallory@example.org"}),
    ("DELETE", "/api/people/{person}/identities?uri=mailto:ada@example.org", "person", None),
    ("GET", "/api/people/{person}/relationships", "person", None),
    ("POST", "/api/people/{person}/relationships", "person", {"type": "friend"}),
    ("GET", "/api/people/{person}/notes", "person", None),
    ("POST", "/api/people/{person}/notes", "person", {"body": "planted"}),
    ("PUT", "/api/people/{person}/circles/inner", "person", {}),
    ("DELETE", "/api/people/{person}/circles/inner", "person", None),
    ("GET", "/api/people/{person}/interactions", "person", None),
    ("PUT", "/api/people/{person}/cadence", "person", {"cadence_days": 3}),
    ("DELETE", "/api/notes/{note}", "note", None),
    ("DELETE", "/api/relationships/{relationship}", "relationship", None),
    ("DELETE", "/api/interactions/{interaction}", "interaction", None),
    ("POST", "/api/merges/{merge}/undo", "merge", {}),
    ("GET", "/api/merges?person={person}", "person", None),
    ("POST", "/api/interactions", "person", {"people": ["{person}"], "channel": "call"}),
    ("POST", "/api/merges", "person", {"survivor": "{other}", "merged": "{person}"}),
]


def _fill_in(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), m.group(0)), template)
    if isinstance(template, list):
        return [_fill_in(v, ids) for v in template]
    if isinstance(template, dict):
        return {k: _fill_in(v, ids) for k, v in template.items()}
    return template


async def _snapshot(ctx: AccountContext) -> Any:
    doc = await ctx.graph.export_json()
    doc.pop("exported_at", None)
    return doc


@pytest.mark.parametrize(
    ("method", "path", "kind", "body"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ID_ROUTES]
)
async def test_another_accounts_ids_look_exactly_like_missing_ones(
    pair: Pair, method: str, path: str, kind: str, body: Any
) -> None:
    before = await _snapshot(pair.bob.ctx)
    missing = {k: f"{v[:2]}doesNotExist{n:04d}" for n, (k, v) in enumerate(pair.bob.ids.items())}
    status_missing, answer_missing = await pair.call(
        pair.alice, method, _fill_in(path, missing), _fill_in(body, missing)
    )
    status, answer = await pair.call(
        pair.alice, method, _fill_in(path, pair.bob.ids), _fill_in(body, pair.bob.ids)
    )
    assert status == status_missing, (answer, answer_missing)
    assert status in (400, 404), answer
    if isinstance(answer, dict) and isinstance(answer_missing, dict):
        strip = lambda a: re.sub(r"\b\w\w?_[\w-]+", "ID", a["error"]["message"])  # noqa: E731
        assert strip(answer) == strip(answer_missing)
    assert await _snapshot(pair.bob.ctx) == before


async def test_listings_search_and_export_show_only_the_accounts_own(pair: Pair) -> None:
    for me, them in ((pair.alice, pair.bob), (pair.bob, pair.alice)):
        for path in (
            "/api/people",
            "/api/search?q=ada",
            "/api/search?q=example",
            "/api/interactions",
            "/api/merges",
            "/api/circles",
            "/api/due?within_days=3650",
            "/api/export?format=json",
            "/api/export?format=vcard",
            "/api/export?format=csv",
            "/api/card",
            "/api/blocks",
        ):
            status, body = await pair.call(me, "GET", path)
            assert status == 200, (path, body)
            text = str(body)
            assert f"Only {them.name}" not in text and f"of {them.name}" not in text, path
            for their_id in them.ids.values():
                assert their_id not in text, (path, their_id)
        status, body = await pair.call(me, "GET", "/api/search?q=only")
        assert [p["display_name"] for p in body["items"]] == [f"Only {me.name}"]


async def test_a_token_is_one_accounts_and_a_session_too(pair: Pair) -> None:
    # Alice signs in to the web UI with her token.
    async with pair.http.get(pair.base + "/login") as resp:
        csrf = re.search(r'name="login_csrf" value="([^"]+)"', await resp.text())
    assert csrf
    async with pair.http.post(
        pair.base + "/login", data={"login_csrf": csrf.group(1), "secret": pair.alice.token}
    ) as resp:
        assert resp.status == 200 and resp.url.path == "/"
    own = pair.alice.ids["person"]
    async with pair.http.get(pair.base + f"/people/{own}") as resp:
        assert resp.status == 200 and "secret note of alice" in await resp.text()
    for theirs in pair.bob.ids.values():
        async with pair.http.get(pair.base + f"/people/{theirs}") as resp:
            page = await resp.text()
            assert resp.status == 404 and "secret note of bob" not in page
    # Naming bob in the cookie with alice's session id opens nothing.
    sid = next(c.value for c in pair.http.cookie_jar if c.key == SESSION_COOKIE)
    name, _, raw = sid.partition(":")
    assert name == "alice"
    for forged in (f"bob:{raw}", f"bob:{sid}", raw, f"alice:{raw}x", f"../bob:{raw}"):
        async with (
            aiohttp.ClientSession() as other,
            other.get(
                pair.base + "/people", headers={"Cookie": f"{SESSION_COOKIE}={forged}"}, allow_redirects=False
            ) as resp,
        ):
            assert resp.status == 303 and resp.headers["Location"].startswith("/login"), forged
    # A form of alice's session cannot act for bob: its CSRF token and its session are alice's alone.
    async with pair.http.get(pair.base + "/people/new") as resp:
        form_csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert form_csrf
    async with pair.http.post(
        pair.base + "/people/new", data={"csrf": form_csrf.group(1), "display_name": "Made by alice"}
    ) as resp:
        assert resp.status == 200
    assert "Made by alice" in str(await _snapshot(pair.alice.ctx))
    assert "Made by alice" not in str(await _snapshot(pair.bob.ctx))
    # Signing in as bob with alice's token fails, and says nothing about bob.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as fresh:
        async with fresh.get(pair.base + "/login") as resp:
            csrf = re.search(r'name="login_csrf" value="([^"]+)"', await resp.text())
        assert csrf
        async with fresh.post(
            pair.base + "/login",
            data={"login_csrf": csrf.group(1), "username": "bob", "secret": pair.alice.token},
        ) as resp:
            assert resp.status == 401
            assert "bob" not in (await resp.text()).split("<main", 1)[-1].replace('value="bob"', "")


async def test_suspended_and_removed_accounts_lose_the_api_at_once(pair: Pair) -> None:
    assert (await pair.call(pair.bob, "GET", "/api/people"))[0] == 200
    await pair.bob.ctx.server.transition("bob", "suspend")
    assert (await pair.call(pair.bob, "GET", "/api/people"))[0] == 401
    assert (await pair.call(pair.alice, "GET", "/api/people"))[0] == 200
    await pair.bob.ctx.server.transition("bob", "resume")
    assert (await pair.call(pair.bob, "GET", "/api/people"))[0] == 200
    await pair.bob.ctx.server.transition("bob", "remove")
    assert (await pair.call(pair.bob, "GET", "/api/people"))[0] == 401


# -- the web UI, page by page and form by form (issue #13 "Isolation": a session is bound to its account) ------


async def _web_extras(pair: Pair) -> None:
    """What the web pages show beyond the graph, in each account: a card, a cadence (so that Today lists
    someone), an import run (the import pages) and an app password (settings)."""
    from node.app_passwords import add_app_password
    from node.owner_card import set_card

    for side in (pair.alice, pair.bob):
        tag = side.name
        await set_card(side.ctx.store, {"name": f"Card of {tag}", "email": [f"card-{tag}@example.org"]})
        await side.ctx.graph.set_person_cadence(side.ids["other"], 7)
        await add_app_password(side.ctx.store, f"phone-of-{tag}", "2026-12-01T00:00:00Z")
        vcard = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Imported of {tag}\r\nEMAIL:imp-{tag}@example.org\r\nEND:VCARD\r\n"
        form = aiohttp.FormData()
        form.add_field("file", vcard.encode(), filename=f"contacts-{tag}.vcf", content_type="text/vcard")
        headers = {"Authorization": f"Bearer {side.token}"}
        async with pair.http.post(pair.base + "/api/imports", data=form, headers=headers) as resp:
            assert resp.status == 202, await resp.text()
            side.ids["import"] = (await resp.json())["id"]
        for _ in range(400):  # the import runs off the request; its end is what we wait for, not a time
            status, run = await pair.call(side, "GET", f"/api/imports/{side.ids['import']}")
            if status == 200 and run.get("status") != "running":
                break
            await asyncio.sleep(0.05)
        assert run.get("status") == "done", run


async def _sign_in(http: aiohttp.ClientSession, base: str, side: Side) -> str:
    """Sign ``http`` in to ``side``'s account through the login form; the CSRF token of its session's forms."""
    async with http.get(base + "/login") as resp:
        csrf = re.search(r'name="login_csrf" value="([^"]+)"', await resp.text())
    assert csrf
    async with http.post(
        base + "/login", data={"login_csrf": csrf.group(1), "username": side.name, "secret": side.token}
    ) as resp:
        assert resp.status == 200 and resp.url.path == "/", await resp.text()
    async with http.get(base + "/people/new") as resp:
        form_csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert form_csrf
    return form_csrf.group(1)


def _theirs(text: str, them: Side, *, named: str = "") -> list[str]:
    """Whatever of ``them`` shows in ``text``: their markers (names, notes, card, import, app password) and ids
    (but those in ``named``, the path asked for: an error page may say which id it did not find)."""
    markers = [f"Only {them.name}", f"of {them.name}", f"contacts-{them.name}", f"phone-of-{them.name}",
               f"card-{them.name}@", f"imp-{them.name}@"]  # fmt: skip
    return [m for m in [*markers, *(i for i in them.ids.values() if i not in named)] if m in text]


#: Every web page, and the pages that name an id of the account's own (filled with the other's ids, each must
#: answer exactly as for an id that does not exist).
WEB_PAGES = ["/", "/people", "/people?q=ada", "/people?q=only", "/people?q=example.org", "/people/new",
             "/people/{person}", "/merges", "/import", "/import/{import}", "/connections", "/org",
             "/org/who-knows?q=ada", "/org/timeline", "/settings", "/export"]  # fmt: skip
WEB_ID_PAGES = ["/people/{person}", "/people/{other}", "/people/{person}/reach/0", "/people/{person}/merge",
                "/import/{import}", "/import/{import}/status"]  # fmt: skip


async def test_every_web_page_signed_in_as_one_account_shows_none_of_the_others(pair: Pair) -> None:
    await _web_extras(pair)
    for me, them in ((pair.alice, pair.bob), (pair.bob, pair.alice)):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _sign_in(http, pair.base, me)
            for page in WEB_PAGES:
                async with http.get(pair.base + _fill_in(page, me.ids), allow_redirects=False) as resp:
                    text = await resp.text()
                    assert resp.status in (200, 400, 404), (page, resp.status)  # 400/404: /org* of a person
                    assert _theirs(text, them) == [], (me.name, page)
            # its own things do show (so that the absence of the other's means something)
            async with http.get(pair.base + "/settings") as resp:
                assert f"Card of {me.name}" in await resp.text()
            async with http.get(pair.base + "/import") as resp:
                assert f"contacts-{me.name}" in await resp.text()
            async with http.get(pair.base + "/people?q=only") as resp:
                assert f"Only {me.name}" in await resp.text()
            missing = {k: f"{v[:4]}doesNotExist{n:04d}" for n, (k, v) in enumerate(them.ids.items())}
            for page in WEB_ID_PAGES:
                async with http.get(pair.base + _fill_in(page, missing), allow_redirects=False) as resp:
                    status_missing = resp.status
                path = _fill_in(page, them.ids)
                async with http.get(pair.base + path, allow_redirects=False) as resp:
                    text = await resp.text()
                    assert resp.status == status_missing and resp.status in (400, 403, 404), (
                        page,
                        resp.status,
                    )
                    assert _theirs(text, them, named=path) == [], (me.name, page)


#: Every web form that names an id of the account's own, with its fields.
WEB_FORMS: list[tuple[str, dict[str, str]]] = [
    ("/people/{person}/interactions", {"channel": "call", "summary": "planted"}),
    ("/people/{person}/notes", {"body": "planted"}),
    ("/people/{person}/identities", {"uri": "mallory@example.org"}),
    ("/people/{person}/identities/remove", {"uri": "mailto:ada@example.org"}),
    ("/people/{person}/circles", {"circle": "inner"}),
    ("/people/{person}/circles/remove", {"circle": "inner"}),
    ("/people/{person}/cadence", {"cadence_days": "2"}),
    ("/people/{person}/edit", {"display_name": "Hacked"}),
    ("/people/{person}/relationships", {"type": "friend", "other": "{other}"}),
    ("/people/{person}/notes/{note}/delete", {}),
    ("/people/{person}/interactions/{interaction}/delete", {}),
    ("/people/{person}/relationships/{relationship}/delete", {}),
    ("/people/{person}/archive", {}),
    ("/people/{person}/reach/preferred", {"channel": "email"}),
    ("/people/{person}/merge", {"other": "{other}"}),
    ("/people/{other}/merge", {"other": "{person}"}),
    ("/merges/{merge}/undo", {}),
    ("/today/cadence", {"person": "{other}"}),
]


async def test_every_web_form_given_the_other_accounts_ids_changes_nothing_there(pair: Pair) -> None:
    await _web_extras(pair)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await _sign_in(http, pair.base, pair.alice)
        missing = {k: f"{v[:4]}doesNotExist{n:04d}" for n, (k, v) in enumerate(pair.bob.ids.items())}
        for path, fields in WEB_FORMS:
            before = await _snapshot(pair.bob.ctx)
            answers = []
            for ids in (missing, pair.bob.ids):
                data = {"csrf": csrf, **_fill_in(fields, ids)}
                url = _fill_in(path, ids)
                async with http.post(pair.base + url, data=data, allow_redirects=False) as resp:
                    answers.append((resp.status, resp.headers.get("Location")))
                    assert _theirs(await resp.text(), pair.bob, named=url + str(data)) == [], path
            assert answers[0][0] == answers[1][0] != 403, (path, answers)  # the CSRF token was good
            assert await _snapshot(pair.bob.ctx) == before, path
        # the same form with alice's own ids does act (so that "nothing changed" above means something)
        own = pair.alice.ids["person"]
        async with http.post(pair.base + f"/people/{own}/notes", data={"csrf": csrf, "body": "kept"}) as resp:
            assert resp.status == 200
        assert "kept" in str(await _snapshot(pair.alice.ctx))


async def test_one_accounts_csrf_token_does_nothing_in_anothers_session(pair: Pair) -> None:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as as_alice,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as as_bob,
    ):
        alice_csrf = await _sign_in(as_alice, pair.base, pair.alice)
        bob_csrf = await _sign_in(as_bob, pair.base, pair.bob)
        assert alice_csrf != bob_csrf
        before = await _snapshot(pair.bob.ctx)
        # bob's browser, made to post a form carrying alice's token (an attacker's own, from their account)
        for path, fields in (("/people/new", {"display_name": "Planted"}),
                             (f"/people/{pair.bob.ids['person']}/notes", {"body": "planted"}),
                             ("/settings/card", {"name": "Planted"}), ("/settings/sessions", {})):  # fmt: skip
            async with as_bob.post(
                pair.base + path, data={"csrf": alice_csrf, **fields}, allow_redirects=False
            ) as resp:
                assert resp.status == 403, (path, resp.status)
        assert await _snapshot(pair.bob.ctx) == before
        # and the token works where it belongs: bob's own form, in bob's session
        async with as_bob.post(
            pair.base + "/people/new", data={"csrf": bob_csrf, "display_name": "Made by bob"}
        ) as resp:
            assert resp.status == 200
        assert "Made by bob" in str(await _snapshot(pair.bob.ctx))
        assert "Made by bob" not in str(await _snapshot(pair.alice.ctx))
