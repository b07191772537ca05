"""Where the engines differ underneath imports, capture, CardDAV and organisations, on every backend: keys the
store gives itself must never be given again by the database, the CardDAV change log must see bulk writes, and
SQLite's case rules (COLLATE NOCASE, LIKE) must hold on PostgreSQL too, where a miss would keep or expose data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.dav_records import ALL_BOOK, GroupEdit
from node.errors import Conflict
from node.graph import Graph, iso, new_id
from node.store import GraphStore
from node.store.capture import MailRow
from node.store.imports import ChunkRows, ImportSession
from node.store.org import IncomingRecord
from tests.conftest import T0
from tests.node.store.contract.test_imports import person_row

NOW = "2026-11-22T10:00:00Z"


async def _import_people(store: GraphStore, names: list[str]) -> list[int]:
    """People, each with an address and an interaction, written as an import writes them: keys the importer
    gives (the first free ones)."""

    async def run(session: ImportSession) -> list[int]:
        person, identity, interaction = await session.next_keys()
        rows = ChunkRows()
        pks = []
        for i, name in enumerate(names):
            pk = person + i
            pks.append(pk)
            rows.people.append(person_row(pk, new_id("p"), display_name=name))
            rows.identities.append(
                (identity + i, pk, f"mailto:{name.lower()}@ex.example", "email", f"{name.lower()}@ex.example",
                 None, "claimed")
            )  # fmt: skip
            rows.interactions.append(
                (interaction + i, new_id("i"), T0, "email", "them", "", "vcard", f"rec{name}")
            )
            rows.interaction_people.append((pk, interaction + i))
        await session.write(rows)
        await session.finish(refresh=(), stats=pks, due=())
        return pks

    return await store.imports.transaction(T0, run)


@pytest.mark.part("imports", "people")
async def test_rows_made_after_an_import_get_keys_of_their_own(store: GraphStore, graph: Graph) -> None:
    """An import gives its rows their keys itself; a person, an address and an interaction made afterwards by
    the ordinary paths must not be handed one of them (PostgreSQL: the identity sequences move past them)."""
    await _import_people(store, ["Ann", "Bo"])
    cy = await graph.create_person(
        {"display_name": "Cy", "identities": ["cy@ex.example", "cy@other.example"]}
    )
    await graph.log_interaction({"people": [cy.id]})
    more = await _import_people(store, ["Di", "Ed"])  # and an import after them starts past them again
    assert len(set(more)) == 2
    names = sorted(p.display_name for p in (await graph.list_people()).items)
    assert names == ["Ann", "Bo", "Cy", "Di", "Ed"]
    assert (await graph.get_person(cy.id)).interaction_count == 1


@pytest.mark.part("capture", "people")
async def test_an_interaction_made_after_captured_mail_gets_a_key_of_its_own(
    store: GraphStore, graph: Graph
) -> None:
    ada = await graph.create_person({"display_name": "Ada", "identities": ["ada@engines.example"]})
    rows = [
        MailRow(f"<m{i}@x>", iso(T0 + timedelta(hours=i)), False, (("mailto:ada@engines.example", "Ada"),),
                False, True, False, None, "")
        for i in range(3)
    ]  # fmt: skip
    batch = await store.capture.record_mail(
        rows,
        people=await store.capture.email_people(),
        interaction_ids=["i_1", "i_2", "i_3"],
        cursor=None,
        now=NOW,
    )
    assert batch.interactions_added == 3
    await graph.log_interaction({"people": [ada.id]})
    more = MailRow(
        "<m9@x>", NOW, True, (("mailto:ada@engines.example", "Ada"),), False, True, False, None, ""
    )
    again = await store.capture.record_mail(
        [more], people=await store.capture.email_people(), interaction_ids=["i_9"], cursor=None, now=NOW
    )
    assert again.messages == 1 and again.interactions_added == 1
    assert (await graph.get_person(ada.id)).interaction_count == 5


@pytest.mark.part("imports", "dav", "people")
async def test_the_change_log_sees_people_and_addresses_an_import_writes_in_bulk(store: GraphStore) -> None:
    dav = store.dav
    _epoch, before = await dav.state()
    ann, bo, cy = await _import_people(store, ["Ann", "Bo", "Cy"])
    listing = dict(await dav.listing(ALL_BOOK))
    assert len(listing) == 3 and min(listing.values()) > before
    changed = await dav.changes(ALL_BOOK, before)
    assert sorted(h for h, _, live in changed if live) == sorted(listing)
    _epoch, seq = await dav.state()

    async def address_for_bo(session: ImportSession) -> None:
        _person, identity, _interaction = await session.next_keys()
        rows = ChunkRows()
        rows.identities.append((identity, bo, "https://bo.example/", "web", "bo.example", None, "claimed"))
        await session.write(rows)

    await store.imports.transaction(T0, address_for_bo)
    refs = {(await dav.lookup(ALL_BOOK, h)).person_pk: h for h in listing}  # type: ignore[union-attr]
    assert [h for h, _, _ in await dav.changes(ALL_BOOK, seq)] == [refs[bo]]
    assert {ann, cy} <= set(refs)


@pytest.mark.part("dav", "people")
async def test_circle_names_are_one_whatever_the_case_of_their_letters(
    store: GraphStore, graph: Graph
) -> None:
    """SQLite's circle names are COLLATE NOCASE: a book is found by any case of its name, and a group card may
    not take a name that differs from another circle's only in case."""
    circle = await graph.create_circle("Family")
    book = await store.dav.publish("FAMILY", NOW)
    assert book.id == circle.id and book.name == "Family"
    with pytest.raises(Conflict):
        await store.dav.put_group(
            "group-new.vcf",
            "urn:uuid:new",
            GroupEdit(name="family", members=(), now=NOW, edited_by="phone"),
            new_id("c"),
        )
    await store.dav.publish("family", NOW, published=False)
    assert [b.id for b in await store.dav.books()] == [ALL_BOOK]


def _record(rid: str, *uris: str) -> IncomingRecord:
    return IncomingRecord(
        record_id=rid, level="knows", version=1, name="Zoë Quinn", organization="Initech", strength=None,
        bucket="good", explained=None, last_contact=None, last_channel=None, record="{}",
        identities=[(u, True) for u in uris],
    )  # fmt: skip


@pytest.mark.part("org")
async def test_a_colleagues_records_go_whatever_the_case_of_their_addresses(store: GraphStore) -> None:
    """A purge by host (a colleague's domain) must find addresses however they are written: SQLite's LIKE
    ignores ASCII case, so PostgreSQL's must too, or a record the organisation may not hold would stay."""
    org = store.org
    await org.add_member("https://a.example/ann", acct=None, name=None, role="member", now=NOW)
    await org.apply(
        "https://a.example/ann",
        [
            _record("a/1", "mailto:Zoe@ACME.example"),
            _record("a/2", "acct:zoe@Mail.Acme.Example"),
            _record("a/3", "https://WWW.acme.example/zoe"),
            _record("a/4", "mailto:zoe@notacme.example"),  # another domain that merely ends the same way
            _record("a/5", "mailto:zoe@acme_example.org"),  # not the host either ('_' is no wildcard here)
        ],
        NOW,
    )
    assert await org.purge(now=NOW, hosts=["acme.example"]) == 3
    left = [await org.person_identities(pk) for pk, _ in await org.find_people(name="zoe")]
    assert sorted(left) == [["mailto:zoe@acme_example.org"], ["mailto:zoe@notacme.example"]]


@pytest.mark.part("org")
async def test_who_knows_finds_names_by_whole_words_and_prefixes_in_any_script(store: GraphStore) -> None:
    org = store.org
    await org.add_member("https://a.example/ann", acct=None, name=None, role="member", now=NOW)
    names = {
        "b/1": "Zoë Quinn",
        "b/2": "Zoe Quincy",
        "b/3": "Łukasz Zoeller",
        "b/4": "山田 太郎",
        "b/5": "𝔊ödel Kurt",
    }
    for rid, name in names.items():
        rec = _record(rid, f"mailto:{rid[2:]}@x.example")
        await org.apply("https://a.example/ann", [IncomingRecord(**{**_fields(rec), "name": name})], NOW)

    async def found(text: str) -> list[str]:
        people = await org.who_knows(await org.find_people(name=text))
        return sorted(p["person"]["display_name"] for p in people)

    assert await found("zoe") == [
        "Zoe Quincy",
        "Zoë Quinn",
        "Łukasz Zoeller",
    ]  # whole words first, then prefixes
    assert await found("ZOE QUIN") == ["Zoe Quincy", "Zoë Quinn"]
    assert await found("quinn") == ["Zoë Quinn"]
    assert await found("łukasz") == ["Łukasz Zoeller"] and await found("ŁUK") == ["Łukasz Zoeller"]
    assert await found("山田") == ["山田 太郎"]
    assert await found("𝔊") == ["𝔊ödel Kurt"]  # outside the BMP: the prefix range still holds it
    assert await found("x") == [] and await found("zoex") == []


def _fields(rec: IncomingRecord) -> dict[str, object]:
    return {f: getattr(rec, f) for f in IncomingRecord.__dataclass_fields__}
