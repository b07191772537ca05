"""CardDAV over real HTTP: discovery, listing, reading, writing with conditions, deletion, sync tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.node.dav_helpers import NS, Dav, DavNode, dav_node, multiget, prop, sync_collection, vcard

# on both storage engines (tests/support/engines.py)
pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[DavNode]:
    async with dav_node(tmp_path / "node") as n:
        yield n


@pytest.fixture
async def dav(node: DavNode) -> AsyncIterator[Dav]:
    password = await node.password()
    async with aiohttp.ClientSession() as http:
        yield Dav(node.base, "alice", password, http)


PRINCIPAL = b"""<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/>
</d:prop></d:propfind>"""
HOME_SET = b"""<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
<d:prop><c:addressbook-home-set/><d:displayname/></d:prop></d:propfind>"""


async def test_discovery_from_the_well_known_address(dav: Dav) -> None:
    moved = await dav.request("PROPFIND", "/.well-known/carddav", PRINCIPAL, auth=False)
    assert moved.status == 301 and moved.headers["Location"] == "/dav/"
    root = await dav.request("PROPFIND", "/dav/", PRINCIPAL, headers={"Depth": "0"})
    assert root.status == 207
    principal = root.xml().findtext(".//d:current-user-principal/d:href", namespaces=NS)
    assert principal == "/dav/principals/alice/"
    home = await dav.request("PROPFIND", principal, HOME_SET, headers={"Depth": "0"})
    home_href = home.xml().findtext(".//card:addressbook-home-set/d:href", namespaces=NS)
    assert home_href == "/dav/addressbooks/alice/"
    books = await dav.request(
        "PROPFIND",
        home_href,
        b'<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:displayname/></d:prop></d:propfind>',
        headers={"Depth": "1"},
    )
    found = {
        href: r.findtext(".//d:displayname", namespaces=NS)
        for href, r in books.responses().items()
        if r.find(".//card:addressbook", NS) is not None
    }
    assert found == {"/dav/addressbooks/alice/all/": "All people"}


async def test_unknown_properties_are_404_in_their_own_namespace(dav: Dav) -> None:
    body = b'<d:propfind xmlns:d="DAV:" xmlns:z="urn:example:z"><d:prop><z:colour/><d:displayname/></d:prop></d:propfind>'
    reply = await dav.request("PROPFIND", dav.book(), body, headers={"Depth": "0"})
    assert reply.status == 207
    stats = reply.xml().findall(".//d:propstat", NS)
    missing = [s for s in stats if "404" in (s.findtext("d:status", namespaces=NS) or "")]
    assert missing and missing[0].find(".//{urn:example:z}colour") is not None


async def test_kith_people_are_listed_and_read_in_both_versions(node: DavNode, dav: Dav) -> None:
    ada = await node.ctx.graph.create_person(
        {
            "display_name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "organization": "Analytical Engines",
            "birthday": "--12-10",
            "identities": [
                "ada@example.org",
                {"uri": "+44 20 7946 0000", "kind": "tel", "label": "cell"},
                "https://ada.example/",
                "acct:ada@social.example",
            ],
            "notes": ["Met at the Royal Society"],
            "circles": ["Family"],
        }
    )
    listing = await dav.listing()
    href = f"/dav/addressbooks/alice/all/{ada.id}.vcf"
    assert href in listing and listing[href].startswith('"k')
    cards3 = await dav.cards()
    card3 = cards3[href]
    assert "VERSION:3.0" in card3
    assert prop(card3, "EMAIL") == ["ada@example.org"]
    assert prop(card3, "ORG") == ["Analytical Engines"]
    assert prop(card3, "CATEGORIES") == ["Family"]
    assert prop(card3, "NOTE") == ["Met at the Royal Society"]
    assert prop(card3, "BDAY") == ["1604-12-10"]
    group = (
        "/dav/addressbooks/alice/all/"
        + next(n for n in (await dav.listing()) if "group-" in n).rsplit("/", 1)[1]
    )
    assert "X-ADDRESSBOOKSERVER-KIND:group" in cards3[group]
    card4 = (await dav.cards(version="4.0"))[href]
    assert (
        "VERSION:4.0" in card4
        and prop(card4, "TEL") == ["tel:+442079460000"]
        and prop(card4, "BDAY") == ["--1210"]
    )
    got = await dav.request("GET", href, headers={"Accept": "text/vcard; version=4.0"})
    assert got.status == 200 and "VERSION:4.0" in got.text and got.headers["ETag"] == listing[href]
    again = await dav.request("GET", href, headers={"If-None-Match": listing[href]})
    assert again.status == 304
    head = await dav.request("HEAD", href)
    assert (
        head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) == len(card3.encode())
    )
    assert head.headers["ETag"] == listing[href] and head.headers["Content-Type"].startswith("text/vcard")


async def test_a_card_put_from_a_phone_becomes_a_person_with_provenance(node: DavNode, dav: Dav) -> None:
    card = vcard(
        "phone-1",
        extra="item1.EMAIL;type=INTERNET:grace@navy.example\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n"
        "TEL;type=CELL:+1 202 555 0143\r\nORG:US Navy;Research\r\nTITLE:Rear Admiral\r\n"
        "ADR;type=HOME:;;1 Main St;Arlington;VA;22201;USA\r\nNOTE:Invented the compiler\r\n"
        "X-SOCIALPROFILE;type=twitter:https://x.com/grace\r\nBDAY:1906-12-09\r\n",
    )
    before = node.ctx.graph.now()
    reply = await dav.put("all", "phone-1.vcf", card)
    assert reply.status == 201, reply.text
    after = node.ctx.graph.now()
    person = await node.ctx.graph.person_for_identity("grace@navy.example")
    assert person is not None
    assert (person.display_name, person.organization, person.title, person.birthday) == (
        "Grace Hopper",
        "US Navy",
        "Rear Admiral",
        "1906-12-09",
    )
    assert {i.uri for i in person.identities} == {
        "mailto:grace@navy.example",
        "tel:+12025550143",
        "https://x.com/grace",
    }
    assert all(i.provenance[0].source == "carddav" for i in person.identities)
    assert [n.body for n in await node.ctx.graph.notes(person.id)] == ["Invented the compiler"]
    # stamped when the card arrived (a second may turn while the test reads it back)
    device, at = (await node.ctx.store.dav.provenance(person.id))[:2]
    assert device == "phone" and before <= at <= after
    served = (await dav.cards())["/dav/addressbooks/alice/all/phone-1.vcf"]
    # Apple's grouped label, the address and the second ORG unit come back as the phone wrote them.
    assert (
        "item1.X-ABLabel:_$!<Other>!$_" in served and "item1.EMAIL;type=INTERNET:grace@navy.example" in served
    )
    assert prop(served, "ADR") == [";;1 Main St;Arlington;VA;22201;USA"]
    assert prop(served, "ORG") == ["US Navy;Research"]
    assert prop(served, "UID") == ["phone-1"]


async def test_conditional_writes(node: DavNode, dav: Dav) -> None:
    first = await dav.put("all", "c.vcf", vcard("c1"), headers={"If-None-Match": "*"})
    assert first.status == 201 and "ETag" not in first.headers  # Kith stores its own form: fetch it again
    again = await dav.put("all", "c.vcf", vcard("c1"), headers={"If-None-Match": "*"})
    assert again.status == 412
    tag = (await dav.listing())["/dav/addressbooks/alice/all/c.vcf"]
    # a tag no version of the card ever had (change numbers start at 1: "k1" is this card's own on a fresh
    # PostgreSQL database)
    assert tag != '"k0"'
    stale = await dav.put("all", "c.vcf", vcard("c1", fn="Stale"), headers={"If-Match": '"k0"'})
    assert stale.status == 412
    ok = await dav.put("all", "c.vcf", vcard("c1", fn="Grace B. Hopper"), headers={"If-Match": tag})
    assert ok.status == 204
    new_tag = (await dav.listing())["/dav/addressbooks/alice/all/c.vcf"]
    assert new_tag != tag
    lost = await dav.put("all", "c.vcf", vcard("c1", fn="Lost update"), headers={"If-Match": tag})
    assert lost.status == 412
    # Neither refused write reached the graph: the person keeps the name of the one write that matched.
    served = (await dav.cards())["/dav/addressbooks/alice/all/c.vcf"]
    assert prop(served, "FN") == ["Grace B. Hopper"]
    assert not [p for p in await node.ctx.graph.all_people() if p.display_name in ("Stale", "Lost update")]
    gone = await dav.request("DELETE", dav.book() + "c.vcf", headers={"If-Match": tag})
    assert gone.status == 412
    assert "/dav/addressbooks/alice/all/c.vcf" in await dav.listing()


async def test_delete_archives_never_deletes(node: DavNode, dav: Dav) -> None:
    ada = await node.ctx.graph.create_person({"display_name": "Ada", "identities": ["ada@example.org"]})
    href = dav.book() + f"{ada.id}.vcf"
    assert (await dav.request("DELETE", href)).status == 204
    kept = await node.ctx.graph.get_person(ada.id)
    assert kept.status == "archived" and kept.identities
    assert href not in await dav.listing()
    assert (await dav.request("GET", href)).status == 404
    assert (await dav.request("DELETE", href)).status == 404


async def test_sync_collection_reports_changes_and_removals(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    ada = await g.create_person({"display_name": "Ada", "identities": ["ada@example.org"]})
    bob = await g.create_person({"display_name": "Bob", "identities": ["bob@example.org"]})
    first = await dav.request("REPORT", dav.book(), sync_collection())
    assert first.status == 207
    token = first.token()
    assert {f"{dav.book()}{p.id}.vcf" for p in (ada, bob)} <= set(first.responses())
    nothing = await dav.request("REPORT", dav.book(), sync_collection(token))
    assert nothing.responses() == {} and nothing.token() == token
    await g.add_identity(ada.id, "ada@lovelace.example")
    await g.archive(bob.id)
    carl = await g.create_person({"display_name": "Carl"})
    changed = await dav.request("REPORT", dav.book(), sync_collection(token, data=True))
    assert set(changed.responses()) == {f"{dav.book()}{p.id}.vcf" for p in (ada, bob, carl)}
    assert changed.hrefs_with_status(404) == {f"{dav.book()}{bob.id}.vcf"}
    ada_card = changed.responses()[f"{dav.book()}{ada.id}.vcf"].findtext(
        ".//card:address-data", namespaces=NS
    )
    assert "ada@lovelace.example" in (ada_card or "")
    assert changed.token() != token


async def test_a_merge_shows_as_one_card_replacing_two(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    a = await g.create_person({"display_name": "Ada L", "identities": ["ada@example.org"]})
    b = await g.create_person({"display_name": "Ada Lovelace", "identities": ["https://x.com/ada"]})
    token = (await dav.request("REPORT", dav.book(), sync_collection())).token()
    await g.merge(a.id, b.id)
    changed = await dav.request("REPORT", dav.book(), sync_collection(token, data=True))
    assert changed.hrefs_with_status(404) == {f"{dav.book()}{b.id}.vcf"}
    survivor = changed.responses()[f"{dav.book()}{a.id}.vcf"].findtext(".//card:address-data", namespaces=NS)
    assert "https://x.com/ada" in (survivor or "")
    assert set(await dav.listing()) >= {f"{dav.book()}{a.id}.vcf"}
    assert f"{dav.book()}{b.id}.vcf" not in await dav.listing()


async def test_sync_tokens_of_another_database_are_refused(dav: Dav) -> None:
    for bad in (
        "urn:kith:sync:0000:1",
        "urn:kith:sync:zz:1",
        "http://example.org/sync/1",
        "urn:kith:sync:0:99999",
    ):
        reply = await dav.request("REPORT", dav.book(), sync_collection(bad))
        assert reply.status == 403, bad
        assert reply.xml().find("d:valid-sync-token", NS) is not None


async def test_sync_collection_limit_pages_through_changes(node: DavNode, dav: Dav) -> None:
    for n in range(5):
        await node.ctx.graph.create_person({"display_name": f"P{n}"})
    seen: set[str] = set()
    token = ""
    for _ in range(10):
        reply = await dav.request("REPORT", dav.book(), sync_collection(token, limit=2))
        got = {h for h in reply.responses() if h.endswith(".vcf")}
        seen |= got
        token = reply.token()
        if dav.book() not in reply.hrefs_with_status(507):
            break
    people = {h for h in await dav.listing() if "group-" not in h}
    assert people <= seen


async def test_multiget_answers_missing_cards_with_404(node: DavNode, dav: Dav) -> None:
    ada = await node.ctx.graph.create_person({"display_name": "Ada"})
    hrefs = [f"{dav.book()}{ada.id}.vcf", f"{dav.book()}nobody.vcf", "/dav/addressbooks/bob/all/x.vcf"]
    reply = await dav.request("REPORT", dav.book(), multiget(hrefs))
    assert reply.status == 207
    assert reply.hrefs_with_status(404) == set(hrefs[1:])


async def test_address_book_query_filters(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    await g.create_person({"display_name": "Ada Lovelace", "identities": ["ada@example.org"]})
    await g.create_person({"display_name": "Bob Smith", "identities": ["bob@example.org"]})
    body = b"""<?xml version="1.0"?><c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
    <d:prop><d:getetag/><c:address-data/></d:prop>
    <c:filter><c:prop-filter name="EMAIL"><c:text-match match-type="starts-with">ADA@</c:text-match></c:prop-filter></c:filter>
    </c:addressbook-query>"""
    reply = await dav.request("REPORT", dav.book(), body, headers={"Depth": "1"})
    assert reply.status == 207
    found = [r.findtext(".//card:address-data", namespaces=NS) or "" for r in reply.responses().values()]
    assert len(found) == 1 and "Ada Lovelace" in found[0]


async def test_published_circles_are_books_of_their_own(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    ada = await g.create_person({"display_name": "Ada", "circles": ["Family"]})
    await g.create_person({"display_name": "Bob"})
    circle = next(c for c in await g.circles() if c.name == "Family")
    book = await node.ctx.store.dav.publish("Family", g.now())
    assert book.id == circle.id
    listing = await dav.listing(circle.id)
    assert set(listing) == {f"{dav.book(circle.id)}{ada.id}.vcf"}
    token = (await dav.request("REPORT", dav.book(circle.id), sync_collection())).token()
    await g.set_membership(ada.id, "Family", member=False)
    left = await dav.request("REPORT", dav.book(circle.id), sync_collection(token))
    assert left.hrefs_with_status(404) == {f"{dav.book(circle.id)}{ada.id}.vcf"}
    # a card made in the circle's book joins the circle
    assert (await dav.put(circle.id, "new.vcf", vcard("new-1"))).status == 201
    made = await g.person_for_identity("x") if False else None
    assert made is None
    assert len(await dav.listing(circle.id)) == 1
    await node.ctx.store.dav.publish("Family", g.now(), published=False)
    assert (await dav.request("PROPFIND", dav.book(circle.id), headers={"Depth": "0"})).status == 404
