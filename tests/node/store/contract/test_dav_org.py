"""The parts of the contract that organisations, CardDAV and per-account restore added (node/store/org.py,
dav.py, accounts.py ``forget``), on every backend: what their callers above the store rely on."""

from __future__ import annotations

import pytest

from node.dav_records import ALL_BOOK
from node.errors import NotFound
from node.graph import Graph
from node.store import GraphStore, ServerStore
from node.store.org import IncomingRecord
from tests.conftest import T0

NOW = "2026-11-22T10:00:00Z"
LATER = "2026-11-23T10:00:00Z"


@pytest.mark.part("accounts")
async def test_forget_takes_an_account_back_and_frees_its_name(server_store: ServerStore) -> None:
    accounts = server_store.accounts
    keys = {"rsa": "-----BEGIN RSA-----"}
    row = await accounts.create(
        name="bob", type="Person", display_name="Bob", graph_file="g-bob", token_sha256="t", keys=keys, now=T0
    )
    await accounts.forget(row.pk)
    assert await accounts.find("bob") is None
    assert await accounts.by_token("t") is None
    assert await accounts.keys(row.pk) == {}
    with pytest.raises(NotFound):
        await accounts.get_pk(row.pk)
    again = await accounts.create(
        name="bob", type="Person", display_name="Bob", graph_file="g-bob", token_sha256="u", keys=keys, now=T0
    )
    assert (await accounts.get("bob")).pk == again.pk
    assert await accounts.keys(again.pk) == keys


@pytest.mark.part("dav", "people")
async def test_the_change_log_names_every_card_and_keeps_removed_ones(
    store: GraphStore, graph: Graph
) -> None:
    dav = store.dav
    epoch, start = await dav.state()
    ann = await graph.create_person({"display_name": "Ann"})
    bob = await graph.create_person({"display_name": "Bob"})
    listing = dict(await dav.listing(ALL_BOOK))
    assert len(listing) == 2
    epoch_now, seq = await dav.state()
    assert epoch_now == epoch and seq > start and max(listing.values()) == seq
    refs = {(await dav.lookup(ALL_BOOK, href)).person_id: href for href in listing}  # type: ignore[union-attr]
    assert set(refs) == {ann.id, bob.id}

    await graph.archive(bob.id)
    changed = await dav.changes(ALL_BOOK, seq)
    assert [(href, live) for href, _, live in changed] == [(refs[bob.id], False)]
    assert dict(await dav.listing(ALL_BOOK)).keys() == {refs[ann.id]}
    gone = await dav.lookup(ALL_BOOK, refs[bob.id])
    assert gone is not None and not gone.live
    cards = await dav.cards(ALL_BOOK, [refs[ann.id], refs[bob.id]])
    assert [(c.href, c.fields["display_name"]) for c in cards] == [(refs[ann.id], "Ann")]
    assert await dav.lookup(ALL_BOOK, "never.vcf") is None


@pytest.mark.part("dav", "people")
async def test_a_published_circle_is_a_book_of_its_members(store: GraphStore, graph: Graph) -> None:
    dav = store.dav
    with pytest.raises(NotFound):
        await dav.publish("Family", NOW)
    circle = await graph.create_circle("Family")
    ann = await graph.create_person({"display_name": "Ann"})
    await graph.create_person({"display_name": "Bob"})
    await graph.set_membership(ann.id, "Family", member=True)
    book = await dav.publish("Family", NOW)
    assert book.id == circle.id and [b.id for b in await dav.books()] == [ALL_BOOK, circle.id]
    ((href, seq),) = await dav.listing(book.id)
    assert (await dav.lookup(book.id, href)).person_id == ann.id  # type: ignore[union-attr]

    await graph.set_membership(ann.id, "Family", member=False)
    assert [(h, live) for h, _, live in await dav.changes(book.id, seq - 1)] == [(href, False)]
    await dav.publish("Family", NOW, published=False)
    assert [b.id for b in await dav.books()] == [ALL_BOOK]
    with pytest.raises(NotFound):
        await dav.listing(book.id)


@pytest.mark.part("dav")
async def test_app_passwords(store: GraphStore) -> None:
    dav = store.dav
    await dav.add_password("phone", "hash-1", NOW)
    await dav.add_password("laptop", "hash-2", NOW)
    assert sorted(await dav.password_hashes()) == [("laptop", "hash-2"), ("phone", "hash-1")]
    await dav.password_used("phone", LATER)
    used = {p.name: p.last_used_at for p in await dav.passwords()}
    assert used == {"phone": LATER, "laptop": None}
    await dav.revoke_password("phone")
    assert await dav.password_hashes() == [("laptop", "hash-2")]


def _record(rid: str, version: int, name: str, *uris: str, level: str = "knows") -> IncomingRecord:
    return IncomingRecord(
        record_id=rid,
        level=level,
        version=version,
        name=name,
        organization="Initech",
        strength=None,
        bucket="good",
        explained=None,
        last_contact=None,
        last_channel=None,
        record="{}",
        identities=[(u, True) for u in uris],
    )


@pytest.mark.part("org")
async def test_an_organisations_people_are_derived_from_its_members_records(store: GraphStore) -> None:
    org = store.org
    await org.set_settings({"cap": "interactions", "domains": ["acme.example"]})
    assert (await org.settings())["domains"] == ["acme.example"]
    for member in ("https://a.example/ann", "https://b.example/bo"):
        await org.add_member(member, acct=None, name=None, role="member", now=NOW)
    assert {m["actor"] for m in await org.members()} == {"https://a.example/ann", "https://b.example/bo"}

    # two members' records of one person, joined by a shared identifier
    assert await org.apply(
        "https://a.example/ann", [_record("a/1", 1, "Zoe Q", "mailto:zoe@x.example")], NOW
    ) == (
        1,
        0,
    )
    await org.apply("https://b.example/bo", [_record("b/1", 1, "Zoe Quinn", "mailto:zoe@x.example")], NOW)
    found = await org.find_people(uris=["mailto:zoe@x.example"])
    assert len(found) == 1
    assert await org.find_people(name="zoe") and await org.find_people(company="initech")
    (who,) = await org.who_knows(found)
    assert {k["member"] for k in who["known_by"]} == {"https://a.example/ann", "https://b.example/bo"}

    # an older version is left out; a withdrawn record goes, and with the last one the person
    assert await org.apply(
        "https://a.example/ann", [_record("a/1", 0, "Old", "mailto:zoe@x.example")], NOW
    ) == (
        0,
        0,
    )
    assert await org.withdraw("https://a.example/ann", [("a/1", 2)], LATER) == 1
    assert await org.records_of("https://a.example/ann") == 0
    assert await org.end_member("https://b.example/bo", state="left", now=LATER) == 1
    await org.scrub()
    assert await org.find_people(uris=["mailto:zoe@x.example"]) == []
    assert await org.find_people(name="zoe") == []


@pytest.mark.part("org_member", "people")
async def test_a_members_consent_and_what_was_sent(store: GraphStore, graph: Graph) -> None:
    mine = store.org_member
    org = "https://acme.example/org"
    await mine.ensure(org, NOW)
    await mine.set_level(org, "interactions")
    await mine.set_rule(org, "circle", "family", "none")
    assert await mine.rules(org) == [{"scope": "circle", "target": "family", "level": "none"}]
    await mine.set_rule(org, "circle", "family", None)
    assert await mine.rules(org) == []

    ann = await graph.create_person({"display_name": "Ann", "organization": "Initech"})
    inputs = await mine.inputs(org)
    assert inputs.level == "interactions" and [p.id for p in inputs.people] == [ann.id]

    first = await mine.take_versions(org, 3)
    assert await mine.take_versions(org, 1) == first + 3  # a version is never given twice
    before = await mine.fingerprint(org)
    await graph.update_person(ann.id, {"display_name": "Ann B"})
    assert await mine.fingerprint(org) != before
