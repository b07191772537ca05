"""SQLite's search (FTS5, node/store/sqlite/insights.py): the ranking tiers of broad queries, and every page
checked against the plainest correct query. What any store must answer is in tests/node/store/contract/."""

from __future__ import annotations

import pytest

from node.context import AccountContext
from tests.conftest import FixedClock


async def test_broad_queries_rank_name_matches_first(
    ctx: AccountContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the broad-query threshold, people whose name begins with the word come first, then others named by
    it (each tier ranked), then every other match."""
    import node.store.sqlite.insights as insights

    g = ctx.graph
    named = [(await g.create_person({"display_name": f"Broadway Star {k}"})).id for k in range(4)]
    inside = (await g.create_person({"display_name": "Star Broadwell"})).id
    others = []
    for k in range(6):
        p = await g.create_person(
            {"display_name": f"Fan {k}", "identities": [f"acct:fan{k}@broadcast.example"]}
        )
        others.append(p.id)
    noted = await g.create_person({"display_name": "Critic"})
    await g.add_note(noted.id, "reviews broadway shows")
    others.append(noted.id)
    baseline = [p.id for p in (await g.search("broad", limit=100)).items]
    monkeypatch.setattr(insights, "_RANK_ALL", 3)
    monkeypatch.setattr(insights, "_SEARCH_WINDOW", 2)
    page = await g.search("broad", limit=100)
    ids = [p.id for p in page.items]
    assert set(ids[:4]) == set(named) and ids[4] == inside and set(ids[5:]) == set(others)
    assert sorted(ids) == sorted(baseline)
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await g.search("broad", limit=3, offset=offset)
        seen += [p.id for p in page.items]
        offset = page.next_offset
    assert sorted(seen) == sorted(baseline) and len(seen) == len(set(seen))
    # Filters apply to both parts.
    await g.set_membership(others[0], "fans", member=True)
    assert [p.id for p in (await g.search("broad", circle="fans")).items] == [others[0]]


async def test_pages_match_a_plain_reference_ranking(ctx: AccountContext, clock: FixedClock) -> None:
    """Against the simplest correct query (rank every match, join every person, sort), for many queries,
    filters and page sizes: the same people in the same order, page after page."""
    import asyncio
    import random

    from node.store.sqlite.insights import fts_query
    from node.store.sqlite.people import TIE_STRENGTH_SQL
    from node.store.sqlite.rows import fetch_all

    g = ctx.graph
    rng = random.Random(5)
    firsts, lasts, orgs = (
        ["Ann", "Anna", "Bo", "Bob"],
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
                }
            )
            for _ in range(300)
        )
    )
    for p in made[:60]:
        await g.log_interaction({"people": [p.id], "initiated_by": rng.choice(["owner", "them"])})
    for p in made[60:80]:
        await g.archive(p.id)
    clock.advance(days=2)
    now_jd = clock().timestamp() / 86400.0 + 2440587.5

    async def reference(text: str, circle: str | None, due: bool) -> list[str]:
        where = ["person_fts MATCH ?2", "p.status = 'active'"]
        params: list[object] = [now_jd, fts_query(text)]
        if circle:
            where.append(
                "p.pk IN (SELECT person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                "WHERE c.name = 'club')"
            )
        if due:
            where.append("p.due_at IS NOT NULL AND p.due_at <= ?3")
            params.append(clock().strftime("%Y-%m-%dT%H:%M:%SZ"))
        sql = (
            f"SELECT p.id, {TIE_STRENGTH_SQL} AS strength, bm25(person_fts, 10.0, 4.0, 6.0, 1.0) AS score "
            f"FROM person_fts JOIN person p ON p.pk = person_fts.rowid WHERE {' AND '.join(where)} "
            "ORDER BY score, strength DESC, p.pk"
        )
        return [r[0] for r in await ctx.store.db.read(lambda conn: fetch_all(conn, sql, params))]

    for text in ["ann", "an", "bo lee", "ma", "acme", "le", "annex", "b"]:
        for circle, due in ((None, False), ("club", False), (None, True)):
            want = await reference(text, circle, due)
            for limit in (1, 7, 50):
                got: list[str] = []
                offset: int | None = 0
                while offset is not None:
                    page = await g.search(
                        text, circle=circle, due_within_days=0 if due else None, limit=limit, offset=offset
                    )
                    got += [p.id for p in page.items]
                    offset = page.next_offset
                assert got == want, (text, circle, due, limit)
