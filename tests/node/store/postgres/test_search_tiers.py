"""PostgreSQL's search (node/store/postgres/insights.py, specs/POSTGRESQL.md §6): up to _RANK_ALL matches ranked
all, more answered in tiers, each in an index's order. Every page is checked against the plainest correct query
(independent of migration 0004's columns: it reads the texts themselves), on both paths, so that neither the
tiers nor the ranked path can lose, repeat or misorder anyone. What any store must answer is in
tests/node/store/contract/test_search.py."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

import node.store.postgres.db as pgdb
import node.store.postgres.insights as insights
from node.graph import Graph
from node.store.postgres.db import GRAPH_MIGRATIONS
from node.store.postgres.rows import fetch_all
from node.store.postgres.store import PgGraphStore, PgServerStore
from node.store.postgres.tie_strength import TIE_STRENGTH_SQL
from node.store.values import julian_day, stamp
from tests.conftest import T0, FixedClock

#: The tier of a person_fts row f for the words of %(query)s whose first is %(first)s, read from the texts
#: themselves rather than from migration 0004's columns and indexes.
_NAMES = "to_tsvector('simple', kith_words(f.names))"
_NAMED = "to_tsvector('simple', kith_words(f.names) || ' ' || kith_words(f.organization))"
_FIRST = "split_part(btrim(kith_words(f.names)), ' ', 1)"
_Q = "to_tsquery('simple', %(query)s)"
_TIER = (
    f"CASE WHEN {_NAMED} @@ {_Q} AND starts_with({_FIRST}, %(first)s) THEN 1 "
    f"WHEN {_NAMES} @@ {_Q} THEN 2 WHEN {_NAMED} @@ {_Q} THEN 3 ELSE 4 END"
)


@pytest.fixture
async def store(postgres_db_url: str) -> AsyncIterator[PgGraphStore]:
    server = await PgServerStore.open(postgres_db_url)
    graph = await server.open_graph(await server.create_graph("alice"))
    try:
        yield graph
    finally:
        await graph.close()
        await server.close()


async def _reference(
    store: PgGraphStore, text: str, *, broad: bool, circle: str | None, due: bool, clock: FixedClock
) -> list[str]:
    """Every match, filtered and ordered in one plain statement: by score (ts_rank over the whole document), tie
    strength and key; or, for a broad query, by tier, then (tier 1) the first word, then key."""

    async def run(conn: Any) -> list[str]:
        words = insights.search_words(text)
        found = await fetch_all(conn, insights._QUERY_TEXTS, (words,))
        query, first = found[0][0], found[0][1]
        where = [f"f.doc @@ {_Q}", "p.status = 'active'"]
        params: dict[str, Any] = {"query": query, "first": first, "now": julian_day(clock())}
        if circle:
            params["circle"] = circle
            where.append(
                "p.pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                "WHERE c.name = %(circle)s)"
            )
        if due:
            params["due"] = stamp(clock())
            where.append("p.due_at IS NOT NULL AND p.due_at <= %(due)s")
        order = (
            f'{_TIER}, CASE WHEN {_TIER} = 1 THEN {_FIRST} END COLLATE "C", p.pk'
            if broad
            else f"ts_rank('{insights.RANK_WEIGHTS}', f.doc, {_Q}) DESC, {TIE_STRENGTH_SQL} DESC, p.pk"
        )
        rows = await fetch_all(
            conn,
            f"SELECT p.id FROM person_fts f JOIN person p ON p.pk = f.pk WHERE {' AND '.join(where)} ORDER BY {order}",
            params,
        )
        return [r[0] for r in rows]

    return await store.db.read(run)


async def _paged(graph: Graph, text: str, limit: int, **kw: Any) -> list[str]:
    got: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await graph.search(text, limit=limit, offset=offset, **kw)
        got += [p.id for p in page.items]
        offset = page.next_offset
    return got


async def test_broad_queries_come_in_tiers(
    store: PgGraphStore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past _RANK_ALL matches: people whose name begins with the word (the word itself before longer ones), then
    others named by it, then those whose organisation completes it, then every other match; within a tier by
    row. Pages of every size give the same people in the same order, and filters apply to every tier."""
    g = Graph(store, clock)
    ids = {}
    for name, data in [
        ("broadway3", {"display_name": "Broadway Star 3"}),
        ("broad", {"display_name": "Broad Person"}),
        ("broadway1", {"display_name": "Broadway Star 1"}),
        ("punct", {"display_name": "¡¡Broadcaster!!"}),  # the first *word*, past punctuation
        ("inside", {"display_name": "Star Broadwell"}),
        ("org", {"display_name": "Fan Org", "organization": "Broadcast Ltd"}),
        ("both", {"display_name": "Ada Broad", "organization": "Broad Works"}),
        ("ident", {"display_name": "Fan Ident", "identities": ["acct:fan@broadcast.example"]}),
        ("noted", {"display_name": "Critic"}),
    ]:
        ids[name] = (await g.create_person(data)).id
    await g.add_note(ids["noted"], "reviews broadway shows")
    everyone = set(ids.values())
    ranked = await _paged(g, "broad", 50)
    assert set(ranked) == everyone and len(ranked) == len(everyone)
    assert ranked[-1] == ids["noted"]  # a note-only match ranks last
    monkeypatch.setattr(insights, "_RANK_ALL", 3)
    tiered = [ids[n] for n in ("broad", "punct", "broadway3", "broadway1", "inside", "both", "org", "ident")]
    tiered.append(ids["noted"])
    for limit in (1, 2, 3, 50):
        assert await _paged(g, "broad", limit) == tiered, limit
    assert await _paged(g, "broad", 4) == await _reference(
        store, "broad", broad=True, circle=None, due=False, clock=clock
    )
    # Every word must match in every tier; the first word picks tier 1.
    monkeypatch.setattr(insights, "_RANK_ALL", 0)
    assert await _paged(g, "broad star", 2) == [ids["broadway3"], ids["broadway1"], ids["inside"]]
    assert await _paged(g, "star broad", 2) == [ids["inside"], ids["broadway3"], ids["broadway1"]]
    # Filters apply to every tier.
    monkeypatch.setattr(insights, "_RANK_ALL", 3)
    await g.set_membership(ids["ident"], "fans", member=True)
    await g.set_membership(ids["broadway1"], "fans", member=True)
    assert await _paged(g, "broad", 1, circle="fans") == [ids["broadway1"], ids["ident"]]
    await g.archive(ids["broad"])
    assert ids["broad"] not in await _paged(g, "broad", 2)
    assert (await g.search("broad", include_archived=True, limit=1)).items[0].id == ids["broad"]


async def test_pages_match_a_plain_reference_on_both_paths(
    store: PgGraphStore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the simplest correct query, for many queries, filters and page sizes, ranked and in tiers: the
    same people in the same order, page after page."""
    g = Graph(store, clock)
    rng = random.Random(5)
    firsts, lasts, orgs = (
        ["Ann", "Anna", "Bo", "Bob", "Annex"],
        ["Lee", "Leeds", "Ma", "Mann"],
        ["Acme", "Annex", None],
    )
    made = await asyncio.gather(
        *(
            g.create_person(
                {
                    "display_name": f"{rng.choice(firsts)} {rng.choice(lasts)}",
                    "organization": rng.choice(orgs),
                    "priority": rng.randint(0, 3),
                    "cadence_days": rng.choice([None, 1, 30]),
                    "circles": ["club"] if rng.random() < 0.3 else [],
                    "identities": [
                        f"mailto:{rng.choice(['ann', 'lee', 'x'])}{k}@{rng.choice(['ma.example', 'bo.example'])}"
                    ],
                }
            )
            for k in range(120)
        )
    )
    for p in made[:30]:
        await g.log_interaction({"people": [p.id], "initiated_by": rng.choice(["owner", "them"])})
    for p in made[30:40]:
        await g.archive(p.id)
    for p in made[40:50]:
        await g.add_note(p.id, rng.choice(["met ann at the lee fair", "bob's annex", "mann"]))
    clock.advance(days=2)
    for rank_all in (1000, 20):
        monkeypatch.setattr(insights, "_RANK_ALL", rank_all)
        for text in ["ann", "an", "bo lee", "ma", "acme", "lee ann", "example"]:
            for circle, due in ((None, False), ("club", False), (None, True)):
                broad = await _matches(store, text) > rank_all
                want = await _reference(store, text, broad=broad, circle=circle, due=due, clock=clock)
                assert (
                    want or text == "example"
                )  # (no active club member is due: a page of none is checked too)
                for limit in (9, 50):
                    got = await _paged(g, text, limit, circle=circle, due_within_days=0 if due else None)
                    assert got == want, (rank_all, text, circle, due, limit)


async def _matches(store: PgGraphStore, text: str) -> int:
    """How many people the words match, archived ones too (what decides between ranking and tiers)."""

    async def run(conn: Any) -> int:
        found = await fetch_all(conn, insights._QUERY_TEXTS, (insights.search_words(text),))
        rows = await fetch_all(
            conn, f"SELECT count(*) FROM person_fts f WHERE f.doc @@ {_Q}", {"query": found[0][0]}
        )
        return int(rows[0][0])

    return await store.db.read(run)


async def test_names_of_any_length_and_shape_are_stored_and_found(
    store: PgGraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that is one word as long as a name may be (500 letters, three bytes each), names that begin with
    punctuation or are nothing but it, and query words longer than the first-word index keeps (100 characters):
    every person is written, and every query finds its people, in tiers as ranked."""
    rng = random.Random(3)
    letters = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    huge = "".join(rng.choice(letters) for _ in range(500))
    names = {
        "p_huge": huge,
        "p_huge2": huge + " tail",
        "p_punct": "!!! ...",
        "p_lead": "--Zed Quux",
        "p_top": "\U0010fffdzed",
    }
    for pk, name in names.items():
        await store.people.insert_person(person_id=pk, fields={"display_name": name}, identities=[], now=T0)

    async def found(text: str) -> list[str]:
        page = await store.insights.search(
            text, circle=None, due_until=None, include_archived=False, now=T0, offset=0, limit=10
        )
        return sorted(p.id for p in page.items)

    for rank_all in (1000, 0):
        monkeypatch.setattr(insights, "_RANK_ALL", rank_all)
        assert await found(huge[:2]) == ["p_huge", "p_huge2"]
        assert await found(huge[:400]) == ["p_huge", "p_huge2"]  # longer than first_word keeps
        assert await found(huge + " tail") == ["p_huge2"]
        assert await found("zed") == ["p_lead", "p_top"]  # a private-use character is not a letter
        assert await found("quux zed") == ["p_lead"]
        assert await found("\U0010fffdzed") == ["p_lead", "p_top"]


async def test_an_existing_graph_upgrades_to_the_search_tiers(
    postgres_db_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph made before migration 0004, with people in it, gains the columns and indexes on its next opening,
    filled for the people already there: broad queries find them in tiers."""
    every, known = pgdb.migrations(GRAPH_MIGRATIONS), pgdb.migrations
    with monkeypatch.context() as patch:
        patch.setattr(
            pgdb, "migrations", lambda package: every[:3] if package == GRAPH_MIGRATIONS else known(package)
        )
        server = await PgServerStore.open(postgres_db_url)
        schema = await server.create_graph("alice")
        old = await server.open_graph(schema)
        g = Graph(old, clock)
        late = (await g.create_person({"display_name": "Zoe Later"})).id
        early = (await g.create_person({"display_name": "Zo Early", "organization": "Zoo"})).id
        await old.close()
        await server.close()
    with psycopg.connect(postgres_db_url) as conn:
        assert conn.execute(f'SELECT version FROM "{schema}".schema_version').fetchone() == (3,)
    server = await PgServerStore.open(postgres_db_url)
    try:
        graph = await server.open_graph(schema)
        try:
            monkeypatch.setattr(insights, "_RANK_ALL", 0)
            assert await _paged(Graph(graph, clock), "zo", 1) == [early, late]  # "zo" before "zoe"
        finally:
            await graph.close()
    finally:
        await server.close()
    with psycopg.connect(postgres_db_url) as conn:
        assert conn.execute(f'SELECT version FROM "{schema}".schema_version').fetchone() == (len(every),)
