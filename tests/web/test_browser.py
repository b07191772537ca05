"""The owner's journeys in a real browser (Debian's Chromium driven by Playwright), against the whole node app
on 127.0.0.1. Each journey also fails on any console error or Content-Security-Policy refusal. The screenshot
journey writes docs/screenshots/ at phone (375 px) and desktop (1280 px) widths."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

try:
    from playwright.async_api import expect
except ImportError:  # the module is skipped below (needs_browser says why)
    expect = None


from .browser import DESKTOP, PHONE, chromium, needs_browser, page_in, shoot, sign_in
from .conftest import Node, federating_node
from .seed import seed

pytestmark = [pytest.mark.browser, needs_browser]

SAMPLES = Path(__file__).resolve().parents[1] / "bridges" / "samples"
# The names of visible form controls with neither a <label> nor an aria-label.
UNLABELED = """[...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select, textarea')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map(el => el.name)"""


async def test_log_in_and_out(node: Node) -> None:
    async with chromium() as browser, page_in(browser, allow=("status of 401",)) as page:
        await page.goto(node.base + "/people")
        assert "/login" in page.url
        await page.get_by_label("Password or owner token").fill("kith_not_the_token")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").filter(has_text="do not match").wait_for()
        await page.get_by_label("Password or owner token").fill(node.token)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(node.base + "/people")
        await page.get_by_role("heading", name="People").wait_for()
        cookies = {c["name"]: c for c in await page.context.cookies()}
        assert cookies["kith_session"]["httpOnly"] and cookies["kith_session"]["sameSite"] == "Lax"
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(re.compile(r".*/login$"))
        await page.goto(node.base + "/")
        assert "/login" in page.url


async def test_import_a_linkedin_export_and_see_the_people(node: Node, tmp_path: Path) -> None:
    export = tmp_path / "Basic_LinkedInDataExport_11-22-2026.zip"
    with zipfile.ZipFile(export, "w") as zf:
        for f in (SAMPLES / "linkedin" / "export").iterdir():
            zf.write(f, f.name)
    async with chromium() as browser, page_in(browser) as page:
        await sign_in(page, node.base, node.token, then="/import")
        await page.get_by_label("What it is").select_option("auto")
        await page.get_by_label("Export file").set_input_files(str(export))
        await page.get_by_role("button", name="Import").click()
        await page.wait_for_url(re.compile(r".*/import/imp_[\w-]+$"))
        result = page.locator("#import-result")
        await result.wait_for()
        assert "New people" in await result.inner_text()
        await shoot(page, "import-summary")
        await page.get_by_role("link", name="See your people").click()
        await page.get_by_role("link", name="Jane Doe").click()
        await page.get_by_role("heading", name="Jane Doe").wait_for()
        identities = await page.locator("#identities").inner_text()
        assert "jane.doe@example.com" in identities and "linkedin" in identities.lower()


async def test_find_a_person_as_you_type(node: Node) -> None:
    people = await seed(node.ctx.graph)
    for i in range(60):  # more than a page, so that the list really is narrowed by the search
        await node.ctx.graph.create_person({"display_name": f"Filler Person {i:03d}"})
    async with chromium() as browser, page_in(browser, viewport=PHONE) as page:
        await sign_in(page, node.base, node.token, then="/people")
        rows = page.locator("#results li.person-row")
        assert await rows.count() == 50
        await page.get_by_label("Search names, organisations, addresses and notes").fill("bernoul")  # a note
        await page.locator("#results").get_by_role("link", name="Ada Lovelace").wait_for()
        await expect(rows).to_have_count(1)
        # the address follows the search, so that Back and reload work (it may be updated just after the list)
        await page.wait_for_url(re.compile(r"[?&]q=bernoul"))
        await page.get_by_label("Search names, organisations, addresses and notes").fill("hopper")
        await page.locator("#results").get_by_role("link", name="Grace Hopper").click()
        await page.wait_for_url(node.base + f"/people/{people['grace'].id}")
        await page.get_by_role("heading", name="Grace Hopper").wait_for()
        # The circle filter narrows the list too (a plain form submit works the same without JavaScript).
        await page.goto(node.base + "/people")
        await page.get_by_label("Circle").select_option("family")
        await expect(rows).to_have_count(1)
        assert await page.locator("#results").get_by_role("link", name="Margaret Lovelace").count() == 1


async def test_log_an_interaction_and_watch_the_due_list_change(node: Node) -> None:
    people = await seed(node.ctx.graph)
    mum = people["mum"]  # in "family" (every 7 days), last call 20 days ago: due
    async with chromium() as browser, page_in(browser) as page:
        await sign_in(page, node.base, node.token)
        due = page.locator("#due-list")
        assert await due.get_by_role("link", name="Margaret Lovelace").count() == 1
        await due.get_by_role("link", name="Margaret Lovelace").click()
        await page.wait_for_url(node.base + f"/people/{mum.id}")
        await page.get_by_label("Channel").select_option("call")
        await page.get_by_label("Who reached out").select_option("owner")
        await page.get_by_label("What about").fill("Birthday plans")
        await page.get_by_role("button", name="Log it").click()
        await (
            page.get_by_role("status").filter(has_text="Interaction with Margaret Lovelace logged").wait_for()
        )
        assert "Birthday plans" in await page.locator("#timeline").inner_text()
        assert "in 6 days" in await page.locator("#due-at").inner_text()
        await page.get_by_role("link", name="Today").click()
        await page.get_by_role("heading", name="Due today").wait_for()
        assert await page.locator("#due-list").get_by_role("link", name="Margaret Lovelace").count() == 0
        assert "Birthday plans" in await page.locator("#recent-h + ul").inner_text()
    assert (await node.ctx.graph.get_person(mum.id)).interaction_count == 2


async def test_merge_two_people_and_undo(node: Node) -> None:
    people = await seed(node.ctx.graph)
    linus, twin = people["linus"], people["linus2"]
    async with chromium() as browser, page_in(browser) as page:
        await sign_in(page, node.base, node.token, then="/merges")
        await page.get_by_role("button", name="Look for duplicates").click()
        suggestion = page.locator("li.suggestion").filter(has_text="Linus B. Torvalds")
        await suggestion.wait_for()
        assert "same handle" in await suggestion.get_by_role("list", name="Evidence").inner_text()
        await suggestion.get_by_role("button", name=re.compile("^Merge ")).click()
        await page.get_by_role("status").filter(has_text="Merged").wait_for()
        history = page.locator("#history")
        assert "Linus B. Torvalds" in await history.inner_text()
        merged = await node.ctx.graph.get_person(twin.id)
        survivor = linus.id if merged.status == "merged" else twin.id
        gone = twin.id if survivor == linus.id else linus.id
        assert (await node.ctx.graph.get_person(gone)).status == "merged"
        # The survivor now carries both identities.
        await page.goto(node.base + f"/people/{survivor}")
        idents = await page.locator("#identities").inner_text()
        assert "linustorvalds" in idents.lower() and idents.lower().count("linustorvalds") >= 2
        await page.get_by_role("button", name="Undo merge").click()
        await page.get_by_role("status").filter(has_text="Merge undone").wait_for()
    assert (await node.ctx.graph.get_person(linus.id)).status == "active"
    assert (await node.ctx.graph.get_person(twin.id)).status == "active"
    assert len((await node.ctx.graph.get_person(twin.id)).identities) == 1


async def test_a_merge_by_hand_from_a_person_page(node: Node) -> None:
    people = await seed(node.ctx.graph)
    extra = await node.ctx.graph.create_person(
        {"display_name": "A. Lovelace", "identities": ["ada.l@example.com"]}
    )
    async with chromium() as browser, page_in(browser, viewport=PHONE) as page:
        await sign_in(page, node.base, node.token, then=f"/people/{people['ada'].id}")
        await page.get_by_role("link", name="Merge a duplicate into Ada Lovelace").click()
        await page.get_by_label("Find the duplicate").fill("lovelace")
        await page.get_by_role("button", name="Find").click()
        await page.get_by_role("button", name="Merge A. Lovelace into Ada Lovelace").click()
        await page.get_by_role("status").filter(has_text="Merged").wait_for()
        assert "ada.l@example.com" in await page.locator("#identities").inner_text()
    assert (await node.ctx.graph.get_person(extra.id)).status == "merged"


async def test_pages_work_without_javascript_and_by_keyboard(node: Node) -> None:
    people = await seed(node.ctx.graph)
    async with chromium() as browser:
        async with page_in(browser, js=False) as page:
            await sign_in(page, node.base, node.token, then="/people")
            await page.get_by_label("Search names, organisations, addresses and notes").fill("turing")
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_url(re.compile(r".*q=turing.*"))
            assert await page.locator("#results li.person-row").count() == 1
            await page.locator("#results").get_by_role("link", name="Alan Turing").click()
            await page.get_by_label("New note").fill("Written without JavaScript")
            await page.get_by_role("button", name="Add note").click()
            await page.get_by_role("status").filter(has_text="Note added").wait_for()
            # <details> sections open without script too.
            await page.get_by_text("Add an identity").click()
            await page.get_by_label("Address").fill("alan@example.org")
            await page.get_by_role("button", name="Add identity").click()
            await page.get_by_role("status").filter(has_text="Identity added").wait_for()
        async with page_in(browser) as page:
            await sign_in(page, node.base, node.token, then=f"/people/{people['ada'].id}")
            await page.keyboard.press("Tab")
            focused = await page.evaluate("document.activeElement.textContent")
            assert focused.strip() == "Skip to content"
            outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline == "solid"  # focus is visible
            await page.keyboard.press("Enter")
            for _ in range(40):  # the log form's first control is reachable by Tab alone
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement.id") == "channel":
                    break
            else:
                raise AssertionError("Tab never reached the Channel control")
            # Every form control on the page has a label or an accessible name.
            assert await page.evaluate(UNLABELED) == []
    assert "Written without JavaScript" in [n.body for n in await node.ctx.graph.notes(people["alan"].id)]


async def test_screenshots_of_the_main_pages(tmp_path: Path) -> None:
    async with federating_node(tmp_path / "alice", "alice") as node:
        await _screenshots(node)


async def _screenshots(node: Node) -> None:
    people = await seed(node.ctx.graph)
    await node.ctx.graph.suggest_merges()
    pages = [
        ("today", "/"),
        ("people", "/people"),
        ("person", f"/people/{people['ada'].id}"),
        ("duplicates", "/merges"),
        ("import", "/import"),
        ("connections", "/connections"),
        ("settings", "/settings"),
    ]
    async with chromium() as browser:
        for viewport in (PHONE, DESKTOP):
            async with page_in(browser, viewport=viewport) as page:
                await page.goto(node.base + "/login")
                await shoot(page, "login")
                await sign_in(page, node.base, node.token)
                for name, path in pages:
                    await page.goto(node.base + path)
                    # Nothing may be wider than the viewport: the phone layout must not scroll sideways.
                    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, (name, viewport, overflow)
                    assert await page.evaluate(UNLABELED) == [], name
                    await shoot(page, name)


async def test_connect_two_nodes_and_see_the_request_accepted(tmp_path: Path) -> None:
    async with (
        federating_node(tmp_path / "alice", "alice") as alice,
        federating_node(tmp_path / "bob", "bob") as bob,
        chromium() as browser,
    ):
        bob_addr = "acct:bob@" + bob.base.removeprefix("http://")
        async with page_in(browser) as page:
            await sign_in(page, alice.base, alice.token, then="/connections")
            await page.get_by_label("Their address").fill(bob_addr)
            await page.get_by_label("They are my…").select_option("colleague")
            await page.get_by_label("How we met (optional)").fill("PyCon 2025")
            await page.get_by_role("button", name="Send request").click()
            await page.get_by_role("status").filter(has_text="Asked").wait_for()
            assert "colleague" in await page.locator("#outgoing").inner_text()
        async with page_in(browser, viewport=PHONE) as page:
            await sign_in(page, bob.base, bob.token, then="/connections")
            incoming = page.locator("#incoming li.request")
            for _ in range(50):  # delivery is asynchronous: reload until the offer has arrived
                if await incoming.count():
                    break
                await page.wait_for_timeout(200)
                await page.reload()
            text = await incoming.first.inner_text()
            assert "alice@" in text and "colleague" in text and "PyCon 2025" in text
            await shoot(page, "connections-request")
            await incoming.first.get_by_role("button", name=re.compile("^Accept")).click()
            await page.get_by_role("status").filter(has_text="Accepted").wait_for()
            assert await page.locator("#incoming li.request").count() == 0
        async with page_in(browser) as page:
            await sign_in(page, alice.base, alice.token, then="/people?q=bob")
            found = page.locator("#results li.person-row a")
            for _ in range(50):  # the Accept travels back to Alice's node
                if await found.count():
                    await found.first.click()
                    if "accepted" in await page.locator("#relationships").inner_text():
                        break
                await page.wait_for_timeout(200)
                await page.goto(alice.base + "/people?q=bob")
            rels = await page.locator("#relationships").inner_text()
            assert "colleague" in rels and "accepted" in rels
            await page.goto(alice.base + "/connections")
            assert await page.locator("#outgoing li").count() == 0
