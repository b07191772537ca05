"""One PostgreSQL database, one schema per account graph (specs/POSTGRESQL.md §4): written as an attacker who holds
account A's graph store and wants account B's rows. B's graph holds the same people as A's (same person ids,
names, e-mail addresses, circles, meta keys), so a store that reached the wrong schema would not fail: it would
answer with B's values. Every answer must be A's alone, on a pool the two graphs share (a session-level SET
search_path, or a transaction without SET LOCAL, would hand one account's schema to the other's next call).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from node.errors import NotFound
from node.store import IdentityInput, InteractionInput, RelationshipInput, StoreError
from node.store.postgres.store import PgGraphStore, PgServerStore, graph_schema
from tests.conftest import T0

MAIL = "mailto:sam@example.org"


def _ident(uri: str) -> IdentityInput:
    return IdentityInput(
        uri=uri,
        kind="email",
        display=uri.removeprefix("mailto:"),
        label=None,
        verification="claimed",
        source="owner",
        source_record_id="",
    )


async def _fill(graph: PgGraphStore, who: str) -> None:
    """The same shape in each graph, with ``who``'s own words in every value an attacker could read."""
    people = graph.people
    await people.insert_person(
        person_id="p_1",
        fields={"display_name": f"Sam {who}", "organization": f"org{who}", "cadence_days": 7},
        identities=[_ident(MAIL), _ident(f"mailto:{who}@example.org")],
        now=T0,
        circles=[("c_1", "friends")],
        notes=[("n_1", f"secret{who} note")],
    )
    await people.insert_person(person_id="p_2", fields={"display_name": f"Kim {who}"}, identities=[], now=T0)
    await people.add_relationship(
        rel_id="r_1",
        person_id="p_1",
        other_person_id="p_2",
        relationship=RelationshipInput(
            type="colleague", iri="https://schema.org/colleague", direction="mutual"
        ),
        now=T0,
    )
    await people.add_interaction(
        interaction_id="i_1",
        person_ids=["p_1"],
        interaction=InteractionInput(
            occurred_at=T0, channel="call", initiated_by="them", summary=f"call{who}"
        ),
        now=T0,
    )
    await graph.misc.meta_set("card", f"card{who}")
    await graph.misc.block(f"acct:spam{who}@bad.example", "owner", T0)
    await graph.links.put(
        source="mastodon", account="me", base_url=f"https://{who}.example", secret="s", now=T0
    )


@pytest.fixture
async def two(postgres_db_url: str) -> AsyncIterator[tuple[PgGraphStore, PgGraphStore]]:
    server = await PgServerStore.open(postgres_db_url)
    a = await server.open_graph(await server.create_graph("alice"))
    b = await server.open_graph(await server.create_graph("bob"))
    try:
        await _fill(a, "alice")
        await _fill(b, "bob")
        yield a, b
    finally:
        await a.close()
        await b.close()
        await server.close()


async def _everything_a_reads(a: PgGraphStore) -> str:
    """Every read method of the graph store, as text: whatever B's rows leaked into would show in it."""
    people, insights = a.people, a.insights
    said = [
        await people.get_person("p_1", strength_at=T0),
        await people.get_person("p_2"),
        await people.person_for_identity(MAIL),
        await people.list_people(status="active", circle="friends", order="name", offset=0, limit=50, now=T0),
        await people.list_circles(),
        await people.list_notes("p_1"),
        await people.list_relationships(None),
        await people.list_interactions(None, offset=0, limit=50),
        await insights.due(until=T0.replace(year=2030), now=T0, offset=0, limit=50),
        await insights.layers(),
        await insights.search(
            "sam", circle=None, due_until=None, include_archived=True, now=T0, offset=0, limit=50
        ),
        await a.merges.list_merges(None),
        await a.merges.identity_index(),
        await a.merges.active_names(),
        await a.misc.meta_get("card"),
        await a.misc.blocked(),
        await a.links.get("mastodon", None),
        await a.peers.circles_of_identity(MAIL),
        await a.peers.identities_from_source("owner", "email", None),
    ]
    return repr(said)


async def test_a_graph_store_reads_its_own_schema_and_never_anothers(
    two: tuple[PgGraphStore, PgGraphStore],
) -> None:
    a, b = two
    seen = await _everything_a_reads(a)
    assert "alice" in seen and "bob" not in seen
    assert (await a.people.get_person("p_1")).display_name == "Sam alice"
    assert (await b.people.get_person("p_1")).display_name == "Sam bob"
    # B's words find nothing in A's search, even its own unique ones
    for word in ("bob", "secretbob", "orgbob"):
        page = await a.insights.search(
            word, circle=None, due_until=None, include_archived=True, now=T0, offset=0, limit=50
        )
        assert page.items == ()


async def test_calls_of_two_accounts_interleaved_on_one_pool_each_see_their_own(
    two: tuple[PgGraphStore, PgGraphStore],
) -> None:
    """Many concurrent calls of both accounts share the pool's connections: each must run in its own schema."""
    a, b = two
    assert a.db.pool is b.db.pool  # one pool for the server's accounts

    async def name(graph: PgGraphStore) -> str:
        return (await graph.people.get_person("p_1")).display_name

    async def write(graph: PgGraphStore, k: int) -> None:
        await graph.misc.meta_set(f"k{k}", graph.db.schema)

    results = await asyncio.gather(*(name(a if k % 2 else b) for k in range(60)))
    assert results == ["Sam alice" if k % 2 else "Sam bob" for k in range(60)]
    await asyncio.gather(*(write(a if k % 2 else b, k) for k in range(40)))
    for k in range(40):
        graph = a if k % 2 else b
        assert await graph.misc.meta_get(f"k{k}") == graph.db.schema
        assert await (b if k % 2 else a).misc.meta_get(f"k{k}") is None


async def test_writes_of_one_account_never_touch_anothers_rows(
    two: tuple[PgGraphStore, PgGraphStore],
) -> None:
    a, b = two
    await a.people.delete_person("p_1")
    await a.misc.unblock("acct:spambob@bad.example")  # B's block, named from A: not A's to remove
    await a.people.delete_circle("friends")
    with pytest.raises(NotFound):
        await a.people.get_person("p_1")
    assert (await b.people.get_person("p_1")).circles == ("friends",)
    assert [x.uri for x in await b.misc.blocked()] == ["acct:spambob@bad.example"]
    assert (await b.people.person_for_identity(MAIL)) is not None


@pytest.mark.parametrize(
    "graph_file",
    ["kith", "public", "pg_catalog", "information_schema", "g_bob; DROP SCHEMA kith", 'g_bob"', "G_bob", ""],
)
async def test_only_a_graph_schema_can_be_opened_or_removed(postgres_db_url: str, graph_file: str) -> None:
    """A registry row naming the server's schema, a system schema or something else cannot make a graph store
    of it, nor drop it."""
    server = await PgServerStore.open(postgres_db_url)
    try:
        with pytest.raises(StoreError):
            await server.open_graph(graph_file)
        with pytest.raises(StoreError):
            await server.remove_graph(graph_file)
        assert await server.accounts.list() == []  # schema kith is whole
    finally:
        await server.close()


def test_account_names_map_to_distinct_schemas_that_fit() -> None:
    """Account names allow dots and dashes and 64 characters (node/config.py's USERNAME_PATTERN); PostgreSQL
    identifiers 63 bytes. No two names may share a schema, whatever an attacker registers first."""
    names = [
        "bob",
        "b.ob",
        "b-ob",
        "b_ob",
        "bob_",
        "x" * 61,
        "x" * 62,
        "x" * 64,
        "a.b",
        "a_b",
        # the plain name an attacker could pick to collide with the hashed form of "a.b"
        graph_schema("a.b").removeprefix("h_"),
        graph_schema("a.b").removeprefix("g_"),
    ]
    schemas = [graph_schema(n) for n in names]
    assert len(set(schemas)) == len(names)
    assert all(len(s.encode()) <= 63 and s[:2] in ("g_", "h_") for s in schemas)
