"""node.graph: people CRUD, identities (normalised, one owner at most, provenance and verification kept),
relationships with the vocabulary, interactions, notes and circles, against a real SQLite file."""

from __future__ import annotations

import re

import pytest

from node.context import AccountContext
from node.errors import BadInput, Conflict, NotFound
from node.graph import Graph, new_id, new_ids
from node.store.sqlite.driver import sqlite
from tests.conftest import FixedClock


@pytest.fixture
def graph(ctx: AccountContext) -> Graph:
    return ctx.graph


async def test_create_read_update_person(graph: Graph) -> None:
    p = await graph.create_person(
        {
            "display_name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "nickname": "Enchantress",
            "organization": "Analytical Engines",
            "title": "Analyst",
            "birthday": "1815-12-10",
            "photo_url": "https://example.org/ada.jpg",
            "priority": 3,
        }
    )
    assert p.id.startswith("p_") and len(p.id) > 12
    got = await graph.get_person(p.id)
    assert got == p
    assert got.birthday == "1815-12-10" and got.priority == 3 and got.status == "active"
    updated = await graph.update_person(p.id, {"organization": "Royal Society", "birthday": "--12-10"})
    assert updated.organization == "Royal Society" and updated.birthday == "--12-10"
    assert updated.given_name == "Ada"
    # Clearing a field with null.
    cleared = await graph.update_person(p.id, {"nickname": None})
    assert cleared.nickname is None


async def test_ids_are_random(graph: Graph) -> None:
    ids = {(await graph.create_person({"display_name": f"P{i}"})).id for i in range(20)}
    assert len(ids) == 20
    assert not any(i.split("_", 1)[1].isdigit() for i in ids)


async def test_display_name_falls_back_to_names_then_identity(graph: Graph) -> None:
    p = await graph.create_person({"given_name": "Grace", "family_name": "Hopper"})
    assert p.display_name == "Grace Hopper"
    q = await graph.create_person({"identities": ["acct:linus@kernel.social"]})
    assert q.display_name == "@linus@kernel.social"
    with pytest.raises(BadInput) as info:
        await graph.create_person({})
    assert info.value.field == "display_name"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"display_name": "x" * 501}, "display_name"),
        ({"display_name": "bad\x00name"}, "display_name"),
        ({"display_name": 42}, "display_name"),
        ({"display_name": "A", "priority": 7}, "priority"),
        ({"display_name": "A", "priority": True}, "priority"),
        ({"display_name": "A", "birthday": "yesterday"}, "birthday"),
        ({"display_name": "A", "birthday": "--13-45"}, "birthday"),
        ({"display_name": "A", "birthday": "--02-30"}, "birthday"),
        ({"display_name": "A", "photo_url": "javascript:alert(1)"}, "photo_url"),
        ({"display_name": "A", "cadence_days": 0}, "cadence_days"),
        ({"display_name": "A", "favourite_colour": "blue"}, "favourite_colour"),
        ({"display_name": "A", "identities": "acct:a@b.c"}, "identities"),
        ({"display_name": "A", "identities": ["not an address at all"]}, "uri"),
        (
            {"display_name": "A", "identities": [{"uri": "acct:a@b.example", "verification": "trust-me"}]},
            "verification",
        ),
    ],
)
async def test_bad_person_input_names_the_field_and_writes_nothing(
    graph: Graph, data: dict, field: str
) -> None:
    before = (await graph.list_people()).total
    with pytest.raises(BadInput) as info:
        await graph.create_person(data)
    assert info.value.field == field
    assert field in info.value.message or info.value.field == field
    assert (await graph.list_people()).total == before


async def test_archive_and_unarchive(graph: Graph) -> None:
    p = await graph.create_person({"display_name": "Archie", "cadence_days": 1})
    await graph.archive(p.id)
    assert (await graph.get_person(p.id)).status == "archived"
    assert p.id not in [x.id for x in (await graph.list_people()).items]
    assert p.id in [x.id for x in (await graph.list_people(status="archived")).items]
    assert (await graph.search("archie")).items == ()
    assert [x.id for x in (await graph.search("archie", include_archived=True)).items] == [p.id]
    assert p.id not in [e.person.id for e in (await graph.due(within_days=30)).items]
    await graph.archive(p.id, archived=False)
    assert (await graph.get_person(p.id)).status == "active"


async def test_delete_person_removes_everything_only_theirs(graph: Graph, ctx: AccountContext) -> None:
    a = await graph.create_person({"display_name": "Alpha", "identities": ["acct:alpha@ex.org"]})
    b = await graph.create_person({"display_name": "Beta"})
    await graph.add_note(a.id, "likes tea")
    solo = await graph.log_interaction({"people": [a.id], "summary": "solo"})
    shared = await graph.log_interaction({"people": [a.id, b.id], "summary": "group"})
    await graph.add_relationship(a.id, {"type": "friend"})
    await graph.delete_person(a.id)
    with pytest.raises(NotFound):
        await graph.get_person(a.id)
    ids = [i.id for i in (await graph.interactions()).items]
    assert solo.id not in ids and shared.id in ids
    assert (await graph.interactions(b.id)).items[0].people == (b.id,)
    # The address is free again.
    c = await graph.create_person({"display_name": "Gamma", "identities": ["acct:alpha@ex.org"]})
    assert c.identities[0].uri == "acct:alpha@ex.org"
    conn = sqlite.connect(ctx.store.db.path)
    try:
        assert conn.execute("SELECT count(*) FROM note").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM relationship").fetchone()[0] == 0
        assert (
            conn.execute("SELECT count(*) FROM person_fts WHERE person_fts MATCH 'alpha'").fetchone()[0] == 1
        )
    finally:
        conn.close()
    with pytest.raises(NotFound):
        await graph.delete_person(a.id)


@pytest.mark.parametrize(
    ("raw", "kind", "uri"),
    [
        ("@Bob@Example.Social", "acct", "acct:bob@example.social"),
        ("acct:bob@EXAMPLE.social", "acct", "acct:bob@example.social"),
        ("https://Example.COM./blog/", "web", "https://example.com/blog/"),
        ("https://bücher.example/", "web", "https://xn--bcher-kva.example/"),
        ("https://x.com/Jack", "x", "https://x.com/jack"),
        ("https://www.linkedin.com/in/Some-One/", "linkedin", "https://www.linkedin.com/in/some-one"),
        ("did:plc:abcdefghijklmnopqrstuvwx", "bluesky", "did:plc:abcdefghijklmnopqrstuvwx"),
        ("https://bsky.app/profile/alice.bsky.social", "bluesky", "at://alice.bsky.social"),
        ("Mailto:Bob@Example.COM", "email", "mailto:bob@example.com"),
        ("tel:+1 (202) 555-0101", "tel", "tel:+12025550101"),
        ("+44 20 7946 0958", "tel", "tel:+442079460958"),
    ],
)
async def test_identities_are_normalised(graph: Graph, raw: str, kind: str, uri: str) -> None:
    p = await graph.create_person({"display_name": "Someone", "identities": [raw]})
    (ident,) = p.identities
    assert (ident.kind, ident.uri) == (kind, uri)
    assert ident.source == "owner" and ident.verification == "claimed"
    # The same address written differently finds the same person.
    found = await graph.person_for_identity(raw.upper() if kind in ("acct", "email") else raw)
    assert found is not None and found.id == p.id


async def test_national_phone_number_with_region(ctx: AccountContext) -> None:
    graph = Graph(ctx.store, ctx.graph.clock, phone_region="GB")
    p = await graph.create_person({"display_name": "London", "identities": ["020 7946 0958"]})
    assert p.identities[0].uri == "tel:+442079460958"


async def test_identity_belongs_to_one_person(graph: Graph) -> None:
    a = await graph.create_person({"display_name": "A", "identities": ["acct:shared@ex.org"]})
    b = await graph.create_person({"display_name": "B"})
    with pytest.raises(Conflict) as info:
        await graph.add_identity(b.id, "@Shared@EX.org")
    assert info.value.field == "uri"
    assert a.id in info.value.message
    with pytest.raises(Conflict):
        await graph.create_person({"display_name": "C", "identities": ["acct:shared@ex.org"]})
    assert (await graph.list_people()).total == 2  # C was not half-created
    assert (await graph.get_person(b.id)).identities == ()
    # Attaching it again to its owner is fine and keeps one row.
    again = await graph.add_identity(a.id, "acct:shared@ex.org")
    assert [i.uri for i in again.identities] == ["acct:shared@ex.org"]


async def test_provenance_and_verification_are_kept(graph: Graph, clock: FixedClock) -> None:
    p = await graph.create_person({"display_name": "Prov"})
    await graph.add_identity(
        p.id, "acct:prov@ex.org", verification="guessed", source="mastodon", source_record_id="123"
    )
    clock.advance(days=1)
    p2 = await graph.add_identity(
        p.id, "acct:prov@ex.org", verification="two-way", source="bluesky", source_record_id="did:x"
    )
    (ident,) = p2.identities
    assert ident.verification == "two-way"  # the stronger level wins
    assert ident.source == "mastodon"  # the first source
    assert [(pr.source, pr.source_record_id) for pr in ident.provenance] == [
        ("mastodon", "123"),
        ("bluesky", "did:x"),
    ]
    assert ident.provenance[0].seen_at < ident.provenance[1].seen_at
    # A weaker claim later does not downgrade it.
    p3 = await graph.add_identity(p.id, "acct:prov@ex.org", verification="guessed", source="csv")
    assert p3.identities[0].verification == "two-way"


async def test_remove_identity(graph: Graph) -> None:
    p = await graph.create_person({"display_name": "R", "identities": ["acct:r@ex.org", "mailto:r@ex.org"]})
    after = await graph.remove_identity(p.id, "R@ex.org")
    assert [i.uri for i in after.identities] == ["acct:r@ex.org"]
    with pytest.raises(NotFound) as info:
        await graph.remove_identity(p.id, "mailto:r@ex.org")
    assert info.value.field == "uri"


async def test_relationships_vocabulary_and_direction(graph: Graph) -> None:
    a = await graph.create_person({"display_name": "A"})
    b = await graph.create_person({"display_name": "B"})
    friend = await graph.add_relationship(
        a.id, {"type": "friend", "since": "2010-05-01", "how_we_met": "school"}
    )
    assert friend.iri.startswith("http") and friend.type == "friend"
    assert friend.direction == "mutual" and friend.status == "local" and friend.since == "2010-05-01"
    boss = await graph.add_relationship(a.id, {"type": "customer", "direction": "incoming"})
    assert boss.direction == "incoming" and boss.iri.startswith("http")
    sib = await graph.add_relationship(a.id, {"type": "sibling", "other_person_id": b.id})
    assert sib.other_person_id == b.id
    assert {r.id for r in await graph.relationships(a.id)} == {friend.id, boss.id, sib.id}
    assert [r.id for r in await graph.relationships(b.id)] == [sib.id]
    with pytest.raises(BadInput) as info:
        await graph.add_relationship(a.id, {"type": "archnemesis"})
    assert info.value.field == "type"
    with pytest.raises(BadInput) as info:
        await graph.add_relationship(a.id, {"type": "friend", "direction": "sideways"})
    assert info.value.field == "direction"
    with pytest.raises(NotFound):
        await graph.add_relationship(a.id, {"type": "friend", "other_person_id": "p_nobody"})
    await graph.delete_relationship(friend.id)
    assert friend.id not in {r.id for r in await graph.relationships(a.id)}


async def test_interactions_notes_circles(graph: Graph, clock: FixedClock) -> None:
    a = await graph.create_person({"display_name": "A", "circles": ["Family"], "notes": ["first note"]})
    assert a.circles == ("Family",)
    assert [n.body for n in await graph.notes(a.id)] == ["first note"]
    b = await graph.create_person({"display_name": "B"})
    i = await graph.log_interaction(
        {"people": [a.id, b.id], "channel": "call", "initiated_by": "them", "summary": "catch-up"}
    )
    assert set(i.people) == {a.id, b.id} and i.channel == "call"
    pa = await graph.get_person(a.id)
    assert pa.interaction_count == 1 and pa.last_interaction_at == "2026-11-22T12:00:00Z"
    for bad, field in (
        ({"people": []}, "people"),
        ({"people": [a.id], "channel": "telepathy"}, "channel"),
        ({"people": [a.id], "initiated_by": "fate"}, "initiated_by"),
        ({"people": [a.id], "occurred_at": "soon"}, "occurred_at"),
        ({"people": [a.id], "occurred_at": "2031-01-01"}, "occurred_at"),
    ):
        with pytest.raises(BadInput) as info:
            await graph.log_interaction(bad)
        assert info.value.field == field
    with pytest.raises(NotFound):
        await graph.log_interaction({"people": [a.id, "p_missing"]})
    assert (await graph.get_person(a.id)).interaction_count == 1  # the failed one wrote nothing
    await graph.delete_interaction(i.id)
    pa = await graph.get_person(a.id)
    assert pa.interaction_count == 0 and pa.last_interaction_at is None
    with pytest.raises(BadInput):
        await graph.add_note(a.id, "   ")
    await graph.set_membership(a.id, "friends", member=True)
    circles = {c.name: c.members for c in await graph.circles()}
    assert circles == {"Family": 1, "friends": 1}
    await graph.set_membership(a.id, "FAMILY", member=False)  # circle names are case-insensitive
    assert (await graph.get_person(a.id)).circles == ("friends",)
    with pytest.raises(NotFound):
        await graph.set_membership(a.id, "Family", member=False)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"display_name": "A", "circles": [5]}, "circle"),
        ({"display_name": "A", "circles": "friends"}, "circles"),
        ({"display_name": "A", "notes": ["fine", "   "]}, "notes"),
        ({"display_name": "A", "notes": "hello"}, "notes"),
        ({"display_name": "A", "circles": ["ok"], "notes": [{"body": "x"}]}, "notes"),
    ],
)
async def test_create_with_bad_circles_or_notes_writes_nothing(graph: Graph, data: dict, field: str) -> None:
    with pytest.raises(BadInput) as info:
        await graph.create_person(data)
    assert info.value.field == field
    assert (await graph.list_people()).total == 0
    assert await graph.circles() == []


async def test_create_with_circles_and_notes_is_one_write(graph: Graph, ctx: AccountContext) -> None:
    before = ctx.store.db.commits
    p = await graph.create_person({"display_name": "Whole", "circles": ["a", "b"], "notes": ["one", "two"]})
    assert ctx.store.db.commits - before == 1
    assert p.circles == ("a", "b")
    assert [n.body for n in await graph.notes(p.id)] == ["one", "two"]
    assert [x.id for x in (await graph.search("two")).items] == [p.id]


@pytest.mark.parametrize("key", ["identities", "circles", "notes"])
async def test_update_refuses_fields_it_would_ignore(graph: Graph, key: str) -> None:
    p = await graph.create_person({"display_name": "P"})
    with pytest.raises(BadInput) as info:
        await graph.update_person(p.id, {key: ["acct:x@y.example"], "title": "changed"})
    assert info.value.field == key
    assert (await graph.get_person(p.id)).title is None


async def test_x_numeric_id_with_handle_and_bluesky_handle(graph: Graph) -> None:
    p = await graph.create_person({"display_name": "Jack"})
    p = await graph.add_identity(p.id, "783214", kind="x", label="@jack")
    p = await graph.add_identity(p.id, "https://twitter.com/Jack")
    p = await graph.add_identity(p.id, "alice.bsky.social", kind="bluesky")
    got = {(i.kind, i.uri, i.label) for i in p.identities}
    assert ("x", "https://x.com/i/user/783214", "@jack") in got
    assert ("x", "https://x.com/jack", "jack") in got
    assert ("bluesky", "at://alice.bsky.social", "alice.bsky.social") in got
    # The numeric id and the handle are two addresses of one person; the id stays unique.
    other = await graph.create_person({"display_name": "Not Jack"})
    with pytest.raises(Conflict):
        await graph.add_identity(other.id, "https://x.com/i/user/783214")


def test_new_ids_are_like_new_id_and_all_different() -> None:
    shape = re.compile(r"p_[A-Za-z0-9_-]{16}")
    ids = new_ids("p", 5000)
    assert len(ids) == 5000 == len(set(ids))
    assert all(shape.fullmatch(i) for i in ids)
    assert shape.fullmatch(new_id("p"))
    assert new_ids("r", 0) == []
