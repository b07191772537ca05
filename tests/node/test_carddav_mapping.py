"""What a card says and what the graph holds, both ways: Apple's grouped labels round-trip, vCard 4.0 is read as
well as 3.0, a phone edit replaces exactly what a phone can see, groups are circles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.node.dav_helpers import Dav, DavNode, dav_node, prop, vcard

# on both storage engines (tests/support/engines.py)
pytestmark = pytest.mark.usefixtures("engine")

IPHONE = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    "N:Hopper;Grace;Brewster;RAdm.;\r\n"
    "FN:RAdm. Grace Brewster Hopper\r\n"
    "ORG:US Navy;Computing\r\n"
    "TITLE:Rear Admiral\r\n"
    "item1.EMAIL;type=INTERNET;type=pref:grace@navy.example\r\n"
    "item1.X-ABLabel:_$!<Other>!$_\r\n"
    "item2.EMAIL;type=INTERNET:ghopper@yale.example\r\n"
    "item2.X-ABLabel:alumni\r\n"
    "TEL;type=CELL;type=VOICE;type=pref:+1 (202) 555-0143\r\n"
    "item3.TEL:+1 202 555 0144\r\n"
    "item3.X-ABLabel:_$!<Pager>!$_\r\n"
    "item4.ADR;type=HOME;type=pref:;;1 Main St;Arlington;VA;22201;United States\r\n"
    "item4.X-ABADR:us\r\n"
    "item5.URL;type=pref:https://grace.example/\r\n"
    "item5.X-ABLabel:_$!<HomePage>!$_\r\n"
    "X-SOCIALPROFILE;type=twitter;x-user=gracehopper:https://twitter.com/gracehopper\r\n"
    "IMPP;X-SERVICE-TYPE=Skype;type=HOME:skype:grace.hopper\r\n"
    "item6.X-ABRELATEDNAMES:Vincent Hopper\r\n"
    "item6.X-ABLabel:_$!<Spouse>!$_\r\n"
    "BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-09\r\n"
    "NOTE:Invented the first compiler\r\n"
    "UID:8F3E6E1A-7C0B-4C39-9E5C-2A4C0F1B9D10\r\n"
    "END:VCARD\r\n"
)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[DavNode]:
    async with dav_node(tmp_path / "node") as n:
        yield n


@pytest.fixture
async def dav(node: DavNode) -> AsyncIterator[Dav]:
    password = await node.password()
    async with aiohttp.ClientSession() as http:
        yield Dav(node.base, "alice", password, http)


async def _card(dav: Dav, name: str, version: str | None = None) -> str:
    return (await dav.cards(version=version))[f"{dav.book()}{name}"]


async def test_an_iphone_card_round_trips_with_its_labels(node: DavNode, dav: Dav) -> None:
    assert (await dav.put("all", "grace.vcf", IPHONE)).status == 201
    grace = await node.ctx.graph.person_for_identity("grace@navy.example")
    assert grace is not None
    labels = {i.uri: i.label for i in grace.identities}
    assert labels["mailto:grace@navy.example"] == "other"
    assert labels["mailto:ghopper@yale.example"] == "alumni"
    assert labels["tel:+12025550144"] == "pager"
    assert grace.birthday == "--12-09" and grace.organization == "US Navy"
    assert (grace.given_name, grace.family_name) == ("Grace", "Hopper")
    served = await _card(dav, "grace.vcf")
    # every line the phone wrote comes back as written (the phone sees its own card), Kith's fields beside them
    for line in IPHONE.split("\r\n"):
        if line and not line.startswith(("PRODID", "VERSION", "BEGIN", "END", "FN:", "BDAY", "NOTE")):
            assert line in served.replace("\r\n ", "").split("\r\n"), line
    assert prop(served, "BDAY") == ["1604-12-09"] and prop(served, "NOTE") == ["Invented the first compiler"]
    # an edit in Kith shows, and the labels of what is left stay
    await node.ctx.graph.remove_identity(grace.id, "ghopper@yale.example")
    await node.ctx.graph.update_person(grace.id, {"title": "Commodore"})
    served = await _card(dav, "grace.vcf")
    assert "ghopper@yale.example" not in served and "item2.X-ABLabel:alumni" not in served
    assert "item1.X-ABLabel:_$!<Other>!$_" in served and prop(served, "TITLE") == ["Commodore"]


async def test_a_card_sent_back_unchanged_changes_nothing(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    ada = await g.create_person(
        {
            "display_name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "birthday": "1815-12-10",
            "identities": [
                "ada@example.org",
                {"uri": "+44 20 7946 0000", "kind": "tel", "label": "cell"},
                {"uri": "ada@work.example", "label": "engines"},
                "https://ada.example/",
                "acct:ada@social.example",
                "https://x.com/ada",
                "https://www.linkedin.com/in/ada",
                "ada.bsky.social",
            ],
            "notes": ["First note", "Second note"],
            "circles": ["Family", "Science"],
        }
    )
    before = await g.get_person(ada.id)
    notes = [n.body for n in await g.notes(ada.id)]
    for version in ("3.0", "4.0"):
        text = await _card(dav, f"{ada.id}.vcf", version)
        assert (await dav.put("all", f"{ada.id}.vcf", text)).status == 204, text
        after = await g.get_person(ada.id)
        assert {(i.uri, i.label) for i in after.identities} == {(i.uri, i.label) for i in before.identities}
        for field in ("display_name", "given_name", "family_name", "birthday", "organization", "circles"):
            assert getattr(after, field) == getattr(before, field), (version, field)
        assert [n.body for n in await g.notes(ada.id)] == notes


async def test_vcard_4_is_read(node: DavNode, dav: Dav) -> None:
    card = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\nKIND:individual\r\n"
        "FN:Emmy Noether\r\nN:Noether;Emmy;;;\r\nTEL;VALUE=uri;TYPE=cell:tel:+49-551-12345\r\n"
        "EMAIL;TYPE=work:emmy@math.example\r\nBDAY:--0323\r\nCATEGORIES:Algebra,Göttingen\r\n"
        "PHOTO:data:image/png;base64,iVBORw0KGgo=\r\nEND:VCARD\r\n"
    )
    assert (await dav.put("all", "emmy.vcf", card)).status == 201
    emmy = await node.ctx.graph.person_for_identity("emmy@math.example")
    assert emmy is not None
    assert emmy.birthday == "--03-23" and set(emmy.circles) == {"Algebra", "Göttingen"}
    assert emmy.photo_url == "data:image/png;base64,iVBORw0KGgo="
    assert "tel:+4955112345" in {i.uri for i in emmy.identities}
    served = await _card(dav, "emmy.vcf", "4.0")
    assert prop(served, "PHOTO") == ["data:image/png;base64,iVBORw0KGgo="]
    assert "PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=" in await _card(dav, "emmy.vcf")


async def test_a_phone_edit_replaces_what_a_phone_sees_and_nothing_else(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    ada = await g.create_person(
        {
            "display_name": "Ada",
            "identities": [
                "ada@example.org",
                "old@example.org",
                "https://x.com/ada",
                {"uri": "acct:ada@social.example", "verification": "signed"},
            ],
            "notes": ["Keep me", "Drop me"],
            "circles": ["Family"],
        }
    )
    edited = vcard(
        f"urn:kith:{ada.id}",
        fn="Ada Lovelace",
        given="Ada",
        family="Lovelace",
        extra="EMAIL:ada@example.org\r\nNOTE:Keep me\\n\\nA new line from the phone\r\n",
    )
    assert (await dav.put("all", f"{ada.id}.vcf", edited)).status == 204
    after = await g.get_person(ada.id)
    uris = {i.uri for i in after.identities}
    assert "mailto:old@example.org" not in uris  # deleted on the phone
    assert "acct:ada@social.example" in uris  # proven by its owner: only Kith detaches it
    assert "https://x.com/ada" in uris  # the card had no social profiles at all: a phone that drops them
    assert after.circles == ("Family",)  # no CATEGORIES: circles stay (iOS has none)
    assert [n.body for n in await g.notes(ada.id)] == ["Keep me", "A new line from the phone"]
    assert after.display_name == "Ada Lovelace" and after.family_name == "Lovelace"
    with_categories = edited.replace(
        "END:VCARD",
        "CATEGORIES:Science\r\nX-SOCIALPROFILE;type=linkedin:https://www.linkedin.com/in/ada\r\nEND:VCARD",
    )
    assert (await dav.put("all", f"{ada.id}.vcf", with_categories)).status == 204
    after = await g.get_person(ada.id)
    assert after.circles == ("Science",)
    uris = {i.uri for i in after.identities}
    assert "https://x.com/ada" not in uris and "https://www.linkedin.com/in/ada" in uris
    assert "acct:ada@social.example" in uris


async def test_groups_are_circles(node: DavNode, dav: Dav) -> None:
    g = node.ctx.graph
    ada = await g.create_person({"display_name": "Ada"})
    bob = await g.create_person({"display_name": "Bob"})
    group = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\nN:Chess club\r\n"
        "FN:Chess club\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n"
        f"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:urn:kith:{ada.id}\r\n"
        f"X-ADDRESSBOOKSERVER-MEMBER:urn:kith:{bob.id}\r\n"
        "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:nobody-we-know\r\nUID:chess-group\r\nEND:VCARD\r\n"
    )
    assert (await dav.put("all", "chess.vcf", group)).status == 201
    assert (await g.get_person(ada.id)).circles == ("Chess club",)
    assert (await g.get_person(bob.id)).circles == ("Chess club",)
    served = await _card(dav, "chess.vcf")
    assert sorted(prop(served, "X-ADDRESSBOOKSERVER-MEMBER")) == sorted(
        [f"urn:kith:{ada.id}", f"urn:kith:{bob.id}"]
    )
    v4 = await _card(dav, "chess.vcf", "4.0")
    assert "KIND:group" in v4 and len(prop(v4, "MEMBER")) == 2
    renamed = group.replace("Chess club", "Chess Club Berlin").replace(
        f"X-ADDRESSBOOKSERVER-MEMBER:urn:kith:{bob.id}\r\n", ""
    )
    assert (await dav.put("all", "chess.vcf", renamed)).status == 204
    assert (await g.get_person(ada.id)).circles == ("Chess Club Berlin",)
    assert (await g.get_person(bob.id)).circles == ()
    # a circle made in Kith is a group card too, and a group card cannot go into a circle's own book
    await g.create_circle("Family")
    cards = await dav.cards()
    assert any(prop(c, "FN") == ["Family"] and "X-ADDRESSBOOKSERVER-KIND:group" in c for c in cards.values())
    circle = next(c for c in await g.circles() if c.name == "Family")
    await node.ctx.store.dav.publish("Family", g.now())
    assert (await dav.put(circle.id, "g.vcf", group.replace("chess-group", "other"))).status == 403
    # deleting the group deletes the circle; its people stay
    assert (await dav.request("DELETE", dav.book() + "chess.vcf")).status == 204
    assert "Chess Club Berlin" not in {c.name for c in await g.circles()}
    assert (await g.get_person(ada.id)).status == "active"


async def test_a_group_named_like_another_circle_is_a_conflict(node: DavNode, dav: Dav) -> None:
    await node.ctx.graph.create_circle("Family")
    group = "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:family\r\nUID:g2\r\nEND:VCARD\r\n"
    reply = await dav.put("all", "fam.vcf", group)
    assert reply.status == 409 and "already a circle" in reply.text
    assert [c.name for c in await node.ctx.graph.circles()] == ["Family"]
