"""Every way the graph changes reaches a phone on its next sync: the owner API, the web UI, the CLI (another
process's connection), an import (in its worker process), a merge and its undo, a federated card update, a
restore. Each step syncs from the last token and must see exactly the person it changed, with the change."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bridges.vcard import VCardBridge
from node.federation_port import NodeGraphPort
from node.server import read_token
from tests.conftest import run_cli
from tests.node.dav_helpers import NS, Dav, DavNode, Reply, dav_node, sync_collection

# on both storage engines (tests/support/engines.py)
pytestmark = pytest.mark.usefixtures("engine")

_CSRF = re.compile(r'name="(?:csrf|login_csrf)" value="([^"]+)"')


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[DavNode]:
    async with dav_node(tmp_path / "node", web_ui=True) as n:
        yield n


class Phone:
    def __init__(self, dav: Dav) -> None:
        self.dav = dav
        self.token = ""

    async def sync(self) -> Reply:
        reply = await self.dav.request("REPORT", self.dav.book(), sync_collection(self.token, data=True))
        assert reply.status == 207, reply.text
        self.token = reply.token()
        return reply

    async def changed(self) -> dict[str, str]:
        """href -> card text (or "" for a removal) of what changed since the last sync."""
        reply = await self.sync()
        return {
            href: r.findtext(".//card:address-data", namespaces=NS) or ""
            for href, r in reply.responses().items()
        }


async def test_every_change_path_reaches_the_phone(node: DavNode, tmp_path: Path) -> None:
    g = node.ctx.graph
    ada = await g.create_person({"display_name": "Ada Lovelace", "identities": ["ada@example.org"]})
    bob = await g.create_person(
        {"display_name": "Bob", "identities": ["bob@example.org", "https://peer.example/users/bob"]}
    )
    dup = await g.create_person({"display_name": "A. Lovelace", "identities": ["https://x.com/ada"]})
    book = "/dav/addressbooks/alice/all/"
    token = read_token(node.ctx.server.data_dir, "alice")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        phone = Phone(Dav(node.base, "alice", await node.password(), http))
        await phone.sync()
        assert await phone.changed() == {}

        # the owner API
        async with http.patch(
            f"{node.base}/api/people/{ada.id}",
            json={"title": "Countess"},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 200
        changed = await phone.changed()
        assert list(changed) == [f"{book}{ada.id}.vcf"] and "TITLE:Countess" in changed[f"{book}{ada.id}.vcf"]

        # the web UI (a signed-in browser posting a form)
        async with http.get(node.base + "/login") as resp:
            login_csrf = _CSRF.search(await resp.text())
        assert login_csrf
        async with http.post(
            node.base + "/login", data={"login_csrf": login_csrf.group(1), "secret": token, "next": "/"}
        ) as resp:
            assert resp.status == 200
        async with http.get(f"{node.base}/people/{bob.id}") as resp:
            csrf = _CSRF.search(await resp.text())
        assert csrf
        async with http.post(
            f"{node.base}/people/{bob.id}/notes", data={"csrf": csrf.group(1), "body": "Met on the web"}
        ) as resp:
            assert resp.status == 200
        changed = await phone.changed()
        assert list(changed) == [f"{book}{bob.id}.vcf"] and "Met on the web" in changed[f"{book}{bob.id}.vcf"]

        # the CLI, in a connection of its own beside the running node
        result = await asyncio.to_thread(
            run_cli, "--data", node.ctx.server.data_dir, "people", "edit", ada.id, "--org", "Engines Ltd"
        )
        assert result.code == 0, result.err
        changed = await phone.changed()
        assert (
            list(changed) == [f"{book}{ada.id}.vcf"] and "ORG:Engines Ltd" in changed[f"{book}{ada.id}.vcf"]
        )

        # an import, in its worker process: one known person gains a phone, one new person arrives
        card = tmp_path / "import.vcf"
        card.write_text(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nEMAIL:bob@example.org\r\nTEL:+1 202 555 0199\r\nEND:VCARD\r\n"
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Carl Gauss\r\nEMAIL:carl@example.org\r\nEND:VCARD\r\n",
            encoding="utf-8",
        )
        await node.ctx.imports.start(VCardBridge(), card, name="import.vcf")
        await asyncio.gather(*node.ctx.imports.tasks)
        carl = await g.person_for_identity("carl@example.org")
        assert carl is not None
        changed = await phone.changed()
        assert set(changed) == {f"{book}{bob.id}.vcf", f"{book}{carl.id}.vcf"}
        assert "+1 202-555-0199" in changed[f"{book}{bob.id}.vcf"]

        # a merge shows as one card replacing two; its undo brings the second back
        merge = await g.merge(ada.id, dup.id)
        changed = await phone.changed()
        assert changed[f"{book}{dup.id}.vcf"] == "" and "https://x.com/ada" in changed[f"{book}{ada.id}.vcf"]
        await g.unmerge(merge.id)
        changed = await phone.changed()
        assert set(changed) == {f"{book}{ada.id}.vcf", f"{book}{dup.id}.vcf"} and all(changed.values())

        # a federated card update from a peer (what federation hands the graph once the Update is verified)
        await NodeGraphPort(g).card_received(
            "https://peer.example/users/bob", {"name": "Robert Peer", "email": ["robert@peer.example"]}
        )
        changed = await phone.changed()
        assert list(changed) == [f"{book}{bob.id}.vcf"]
        assert (
            "robert@peer.example" in changed[f"{book}{bob.id}.vcf"]
            and "FN:Robert Peer" in changed[f"{book}{bob.id}.vcf"]
        )

        # archiving and deleting in Kith are removals on the phone
        await g.archive(carl.id)
        await g.delete_person(dup.id)
        changed = await phone.changed()
        assert changed == {f"{book}{carl.id}.vcf": "", f"{book}{dup.id}.vcf": ""}


async def test_a_restored_account_serves_its_cards_and_refuses_the_old_tokens(
    node: DavNode, tmp_path: Path
) -> None:
    g = node.ctx.graph
    ada = await g.create_person(
        {"display_name": "Ada Lovelace", "identities": ["ada@example.org"], "circles": ["Family"]}
    )
    doc = await g.export_json()
    async with aiohttp.ClientSession() as http:
        old = Phone(Dav(node.base, "alice", await node.password(), http))
        await old.sync()
        async with dav_node(tmp_path / "restored") as fresh:
            await fresh.ctx.graph.import_json(doc)
            phone = Dav(fresh.base, "alice", await fresh.password(), http)
            cards = await phone.cards()
            assert "FN:Ada Lovelace" in cards[f"/dav/addressbooks/alice/all/{ada.id}.vcf"]
            stale = await phone.request("REPORT", phone.book(), sync_collection(old.token))
            assert stale.status == 403 and stale.xml().find("d:valid-sync-token", NS) is not None


async def test_the_person_page_says_the_phone_made_the_edit(node: DavNode) -> None:
    token = read_token(node.ctx.server.data_dir, "alice")
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:page-1\r\nFN:Grace Hopper\r\nEMAIL:grace@navy.example\r\n"
        "item1.ADR;type=WORK:;;1 Navy Yard;Washington;DC;20374;USA\r\nitem1.X-ABLabel:_$!<Work>!$_\r\nEND:VCARD\r\n"
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        phone = Dav(node.base, "alice", await node.password(), http)
        assert (await phone.put("all", "page-1.vcf", card)).status == 201
        grace = await node.ctx.graph.person_for_identity("grace@navy.example")
        assert grace is not None
        async with http.get(node.base + "/login") as resp:
            login_csrf = _CSRF.search(await resp.text())
        assert login_csrf
        async with http.post(
            node.base + "/login", data={"login_csrf": login_csrf.group(1), "secret": token, "next": "/"}
        ) as resp:
            assert resp.status == 200
        async with http.get(f"{node.base}/people/{grace.id}") as resp:
            page = await resp.text()
        assert "Edited from the address book app “phone” (CardDAV)" in page
        assert "work: 1 Navy Yard, Washington, DC, 20374, USA" in page
        assert "from carddav" in page  # each identity's provenance
        # another account's person page knows nothing of this card
        other = await node.ctx.graph.create_person({"display_name": "Plain"})
        async with http.get(f"{node.base}/people/{other.id}") as resp:
            assert "Edited from the address book app" not in await resp.text()
