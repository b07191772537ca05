"""CardDAV attacked: credentials of one account against another's books, guessing, hostile XML and hostile cards.

Every hostile card of the vCard importer's tests (tests/bridges/test_hostile_files.py, test_vcard.py) goes
through PUT too: each is answered with a clear 4xx (or stored, where the importer stores it), never a 500, and
a refused card writes nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from node.dav import DAV_SERVICE
from node.server import read_token
from node.web.sessions import LoginLimiter, set_password
from tests.node.dav_helpers import NS, Dav, DavNode, dav_node, multiget, sync_collection, vcard

# on both storage engines (tests/support/engines.py)
pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[DavNode]:
    async with dav_node(tmp_path / "node") as n:
        yield n


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _graph_snapshot(node: DavNode) -> object:
    doc = await node.ctx.graph.export_json()
    doc.pop("exported_at", None)
    return doc


# -- who may sign in, and to what ------------------------------------------------------------------------------
async def test_one_accounts_app_password_never_opens_anothers_books(
    node: DavNode, http: aiohttp.ClientSession
) -> None:
    server = node.ctx.server
    await server.add_account("bob")
    bob = await server.context("bob")
    secret = await bob.graph.create_person(
        {"display_name": "Bob's secret friend", "identities": ["s@bob.example"]}
    )
    ada = await node.ctx.graph.create_person({"display_name": "Ada"})
    alice = Dav(node.base, "alice", await node.password(), http)
    bob_pw = await node.password(bob, "bobphone")
    bob_dav = Dav(node.base, "bob", bob_pw, http)
    bob_before = await bob.graph.export_json()
    bob_before.pop("exported_at")
    bob_card = f"/dav/addressbooks/bob/all/{secret.id}.vcf"
    # alice's credentials, bob's paths: every method answers as for a path that does not exist
    for method, path, body in [
        ("PROPFIND", "/dav/addressbooks/bob/", None),
        ("PROPFIND", "/dav/addressbooks/bob/all/", None),
        ("PROPFIND", "/dav/principals/bob/", None),
        ("REPORT", "/dav/addressbooks/bob/all/", sync_collection()),
        ("REPORT", "/dav/addressbooks/bob/all/", multiget([bob_card])),
        ("GET", bob_card, None),
        ("PUT", bob_card, vcard("x").encode()),
        ("PUT", "/dav/addressbooks/bob/all/planted.vcf", vcard("planted").encode()),
        ("DELETE", bob_card, None),
    ]:
        reply = await alice.request(method, path, body, headers={"Depth": "1"})
        assert reply.status == 404, (method, path, reply.status)
        assert b"secret" not in reply.body and b"s@bob" not in reply.body
    # alice's own book, asked by href for bob's card: 404, nothing of bob's
    mixed = await alice.request("REPORT", alice.book(), multiget([bob_card, f"{alice.book()}{ada.id}.vcf"]))
    assert mixed.hrefs_with_status(404) == {bob_card} and b"secret" not in mixed.body
    # bob's password with alice's name, and alice's with bob's name: refused
    assert (await alice.request("PROPFIND", alice.book(), auth=("alice", bob_pw))).status == 401
    assert (await bob_dav.request("PROPFIND", bob_dav.book(), auth=("bob", alice.password))).status == 401
    # bob signed in sees only his own
    listing = await bob_dav.listing()
    assert f"/dav/addressbooks/bob/all/{secret.id}.vcf" in listing
    assert all(h.startswith("/dav/addressbooks/bob/") for h in listing)
    after = await bob.graph.export_json()
    after.pop("exported_at")
    assert after == bob_before


async def test_only_app_passwords_sign_in(node: DavNode, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    await set_password(node.ctx.store, "a web password of some length")
    token = read_token(node.ctx.server.data_dir, "alice")
    for user, password in [
        ("alice", token),
        ("alice", "a web password of some length"),
        ("alice", ""),
        ("nobody", dav.password),
        ("", dav.password),
    ]:
        reply = await dav.request("PROPFIND", dav.book(), auth=(user, password))
        assert reply.status == 401, (user, password)
        assert reply.headers["WWW-Authenticate"].startswith("Basic")
        assert "app-password" in reply.text
    for header in [
        "Bearer " + token,
        "Basic !!!",
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Digest x",
    ]:
        reply = await dav.request("PROPFIND", dav.book(), headers={"Authorization": header}, auth=False)
        assert reply.status == 401, header
    assert (await dav.request("PROPFIND", dav.book(), auth=("alice@kith.test", dav.password))).status == 207


async def test_a_revoked_app_password_is_refused_at_once(node: DavNode, http: aiohttp.ClientSession) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    assert (await dav.request("PROPFIND", dav.book())).status == 207  # remembered after this check
    await node.ctx.store.dav.revoke_password("phone")
    assert (await dav.request("PROPFIND", dav.book())).status == 401
    # a new password of the same name is a new password: the old one stays refused
    await node.password(name="phone")
    assert (await dav.request("PROPFIND", dav.book())).status == 401
    assert (await node.ctx.store.dav.passwords())[0].last_used_at is None


async def test_a_suspended_account_cannot_sign_in(node: DavNode, http: aiohttp.ClientSession) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    await node.ctx.server.transition("alice", "suspend")
    assert (await dav.request("PROPFIND", dav.book())).status == 401


async def test_guessing_is_limited_per_client_and_the_limit_says_when_to_retry(
    node: DavNode, http: aiohttp.ClientSession
) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    statuses = [
        (await dav.request("PROPFIND", dav.book(), auth=("alice", f"guess-{n}"))).status for n in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    blocked = await dav.request("PROPFIND", dav.book())  # even the right password waits
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0


# -- hostile XML ---------------------------------------------------------------------------------------------
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&c;</d:displayname>
</d:prop></d:propfind>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&x;</d:displayname></d:prop></d:propfind>"""


@pytest.mark.parametrize(
    ("method", "body", "words"),
    [
        ("PROPFIND", LAUGHS, "DTD"),
        ("PROPFIND", XXE, "DTD"),
        ("REPORT", LAUGHS, "DTD"),
        ("PROPFIND", b"<d:propfind xmlns:d='DAV:'><d:prop>", "not well-formed"),
        (
            "PROPFIND",
            b"<d:propfind xmlns:d='DAV:'>" + b"<a>" * 40 + b"</a>" * 40 + b"</d:propfind>",
            "deeper",
        ),
        ("PROPFIND", b"<x/>", "propfind"),
        ("REPORT", b"<d:propfind xmlns:d='DAV:'><d:prop/></d:propfind>", "expected"),
        ("REPORT", b"", "XML body"),
        ("PROPFIND", b"\xff\xfe<\x00", "well-formed"),
    ],
)
async def test_hostile_xml_is_a_clear_400(
    node: DavNode, http: aiohttp.ClientSession, method: str, body: bytes, words: str
) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    reply = await dav.request(method, dav.book(), body)
    assert reply.status == 400 and words in reply.text, reply.text
    assert "passwd" not in reply.text and "root:" not in reply.text


async def test_an_oversized_body_is_refused_before_it_is_read(
    node: DavNode, http: aiohttp.ClientSession
) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    huge = b"<d:propfind xmlns:d='DAV:'>" + b" " * (2 << 20) + b"</d:propfind>"
    reply = await dav.request("PROPFIND", dav.book(), huge)
    assert reply.status == 413 and "max_body_bytes" in reply.text


async def test_hostile_report_arguments(node: DavNode, http: aiohttp.ClientSession) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    bad = [
        sync_collection().replace(b"<d:prop>", b"<d:limit><d:nresults>0</d:nresults></d:limit><d:prop>"),
        sync_collection().replace(b"<d:prop>", b"<d:limit><d:nresults>many</d:nresults></d:limit><d:prop>"),
        sync_collection().replace(b"<d:sync-level>1", b"<d:sync-level>99"),
        b"<c:addressbook-query xmlns:d='DAV:' xmlns:c='urn:ietf:params:xml:ns:carddav'><c:filter>"
        b"<c:prop-filter name='FN'><c:text-match match-type='regex'>.*</c:text-match></c:prop-filter>"
        b"</c:filter></c:addressbook-query>",
        b"<c:addressbook-multiget xmlns:d='DAV:' xmlns:c='urn:ietf:params:xml:ns:carddav'><d:prop>"
        b"<c:address-data content-type='application/vcard+json'/></d:prop></c:addressbook-multiget>",
        b"<c:addressbook-query xmlns:d='DAV:' xmlns:c='urn:ietf:params:xml:ns:carddav'><c:filter>"
        b"<c:prop-filter name='FN'><c:text-match collation='i;klingon'>x</c:text-match></c:prop-filter>"
        b"</c:filter></c:addressbook-query>",
    ]
    for body in bad:
        reply = await dav.request("REPORT", dav.book(), body)
        assert reply.status in (400, 403), (body, reply.status)
    on_home = await dav.request("REPORT", "/dav/addressbooks/alice/", sync_collection())
    assert on_home.status == 403 and on_home.xml().find("d:supported-report", NS) is not None
    assert (await dav.request("PROPFIND", dav.book(), headers={"Depth": "2"})).status == 400


# -- hostile cards through PUT -------------------------------------------------------------------------------
def _big_folded() -> bytes:
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Folded Fran\r\nEMAIL:fran@example.com\r\n"
        + "X-LONG:"
        + "n" * 600_000
        + "\r\n"
        + " more\r\n" * 50_000
        + "END:VCARD\r\n"
    ).encode()


REFUSED = {
    "not a card": b"just some notes, no cards\n",
    "empty": b"",
    "two cards": (vcard("a") + vcard("b")).encode(),
    "no END": b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Open\r\n",
    "END without BEGIN": b"FN:x\r\nEND:VCARD\r\n",
    "nested card": b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nBEGIN:VCARD\r\nFN:B\r\nEND:VCARD\r\nEND:VCARD\r\n",
    "version 2.1": b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Q;Quinn\r\nEND:VCARD\r\n",
    "no version": b"BEGIN:VCARD\r\nFN:Nobody\r\nEND:VCARD\r\n",
    "utf-16 without its mark": vcard("u16").encode("utf-16-le"),
    "not utf-8": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zo\xeb\r\nEND:VCARD\r\n".encode("cp1252"),
    "a control character in the name": vcard("ctl", fn="Evil\x1b[31mRed").encode(),
    "a name over 500 characters": vcard("long", fn="N" * 501).encode(),
    "nameless and addressless": b"BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:who?\r\nEND:VCARD\r\n",
    "a date that is not one": vcard("bday", extra="BDAY:1990-13-45\r\n").encode(),
    "too many properties": vcard("many", extra="X-A:1\r\n" * 5001).encode(),
    "a UID over 500 characters": vcard("U" * 501).encode(),
    "a note over the limit": vcard("note", extra="NOTE:" + "x" * 10_001 + "\r\n").encode(),
    "a circle name over the limit": vcard("cat", extra="CATEGORIES:" + "c" * 101 + "\r\n").encode(),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_hostile_cards_are_refused_whole(node: DavNode, http: aiohttp.ClientSession, case: str) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    await node.ctx.graph.create_person({"display_name": "Existing", "identities": ["e@example.org"]})
    before = await _graph_snapshot(node)
    reply = await dav.put("all", "hostile.vcf", REFUSED[case])  # type: ignore[arg-type]
    assert reply.status in (400, 403), (case, reply.status, reply.text)
    if reply.status == 403:
        assert reply.xml().find("card:valid-address-data", NS) is not None
    assert "Traceback" not in reply.text
    assert await _graph_snapshot(node) == before
    assert "/dav/addressbooks/alice/all/hostile.vcf" not in await dav.listing()


STORED = {
    # the importer's linear-time case, within the body limit (1 MiB): stored, quickly (on a property Kith keeps
    # for the phone; a NOTE over 10,000 characters is refused, as the API refuses it)
    "a long line folded 50,000 times": _big_folded(),
    "a byte-order mark (UTF-8)": b"\xef\xbb\xbf" + vcard("bom8", fn="Zoë Ünal").encode(),
    "UTF-16 with its mark": vcard("bom16", fn="Zoë Ünal").encode("utf-16"),
    "UTF-32 with its mark": vcard("bom32", fn="Zoë Ünal").encode("utf-32"),
    **{
        f"a quoted-printable charset {cs!r}": (
            b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Quoted;Quinn\r\nEMAIL:quinn@example.com\r\n"
            b"X-NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET="
            + cs.encode()
            + b":=FF=FE+2D3-=C3=A9\r\nEND:VCARD\r\n"
        )
        for cs in ("idna", "utf-7", "hex", "rot13", "punycode", "utf-16", "no-such-codec")
    },
    "LF and lone CR line ends": b"BEGIN:VCARD\nVERSION:3.0\rFN:Line Ends\nEND:VCARD\n",
    "an e-mail that is none": vcard("bad-mail", extra="EMAIL:not an address\r\n").encode(),
    "a photo over the limit": vcard(
        "photo", extra="PHOTO;ENCODING=b;TYPE=JPEG:" + "A" * 80_000 + "\r\n"
    ).encode(),
    "a photo that is not base64": vcard("photo2", extra="PHOTO;ENCODING=b;TYPE=JPEG:!!!!\r\n").encode(),
    "a photo of a script": vcard("photo3", extra="PHOTO:data:text/html;base64,PHNjcmlwdD4=\r\n").encode(),
    "a javascript URL": vcard("js", extra="URL:javascript:alert(1)\r\n").encode(),
    "a formula as a name": vcard("csv", fn='=HYPERLINK("http://evil")').encode(),
}


@pytest.mark.parametrize("case", sorted(STORED))
async def test_odd_but_honest_cards_are_stored_and_kept_for_the_phone(
    node: DavNode, http: aiohttp.ClientSession, case: str
) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    reply = await dav.put("all", "odd.vcf", STORED[case])
    assert reply.status == 201, (case, reply.text)
    cards = await dav.cards()
    card = cards["/dav/addressbooks/alice/all/odd.vcf"]
    assert card.startswith("BEGIN:VCARD")
    person = next(p for p in await node.ctx.graph.all_people())
    if "photo" in case or "javascript" in case:
        assert person.photo_url is None or person.photo_url.startswith("data:image/")
        assert all(not i.uri.startswith("javascript") for i in person.identities)
    if "Zoë" in card:
        assert person.display_name == "Zoë Ünal"


async def test_a_card_whose_address_belongs_to_someone_else_moves_nothing(
    node: DavNode, http: aiohttp.ClientSession
) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    ada = await node.ctx.graph.create_person({"display_name": "Ada", "identities": ["ada@example.org"]})
    reply = await dav.put("all", "thief.vcf", vcard("thief", fn="Mallory", extra="EMAIL:ada@example.org\r\n"))
    assert reply.status == 201
    assert [i.uri for i in (await node.ctx.graph.get_person(ada.id)).identities] == ["mailto:ada@example.org"]
    card = (await dav.cards())["/dav/addressbooks/alice/all/thief.vcf"]
    assert "EMAIL:ada@example.org" in card  # kept on Mallory's card, for the owner to merge in Kith


async def test_a_uid_already_in_the_book_is_a_conflict(node: DavNode, http: aiohttp.ClientSession) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    ada = await node.ctx.graph.create_person({"display_name": "Ada"})
    reply = await dav.put("all", "dup.vcf", vcard(f"urn:kith:{ada.id}"))
    assert reply.status == 403 and reply.xml().find("card:no-uid-conflict", NS) is not None
    assert "/dav/addressbooks/alice/all/dup.vcf" not in await dav.listing()


async def test_card_names_that_are_paths_are_refused(node: DavNode, http: aiohttp.ClientSession) -> None:
    dav = Dav(node.base, "alice", await node.password(), http)
    for name in ["../../principals/alice/x.vcf", "%2e%2e", "a%00b.vcf", "x" * 300]:
        reply = await dav.put("all", name, vcard("p-" + name[:10]))
        assert reply.status in (404, 400, 405), (name, reply.status)
    assert await node.ctx.graph.all_people() == []


async def test_guessing_across_the_node_does_not_lock_out_signed_in_phones(
    node: DavNode, http: aiohttp.ClientSession
) -> None:
    node.app[DAV_SERVICE].limiter = LoginLimiter(limit=1000, total=5)
    phone = Dav(node.base, "alice", await node.password(), http)
    tablet = Dav(node.base, "alice", await node.password(name="tablet"), http)
    assert (await phone.request("PROPFIND", phone.book())).status == 207  # checked, and remembered
    for n in range(5):
        assert (await phone.request("PROPFIND", phone.book(), auth=("alice", f"guess-{n}"))).status == 401
    assert (await phone.request("PROPFIND", phone.book())).status == 207  # still in, no scrypt run for it
    held = await tablet.request("PROPFIND", tablet.book())  # not checked before: waits like the guesses
    assert held.status == 429 and int(held.headers["Retry-After"]) > 0
    assert (await phone.request("PROPFIND", phone.book(), auth=("alice", "guess-6"))).status == 429
