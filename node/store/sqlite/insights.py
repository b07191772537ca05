"""SQLite implementation of the graph store's insights (node/store/insights.py): stay-in-touch (due, fading,
Dunbar layers) and full-text search with FTS5."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import aiosqlite

from node.models import DueEntry, FadingEntry, LayerReport, Page
from node.store.insights import LAYERS
from node.store.sqlite.db import Database
from node.store.sqlite.rows import PERSON_COLUMNS, fetch_all, fetch_one, julian_day, load_people, stamp
from node.store.sqlite.tie_strength import TIE_STRENGTH_SQL

__all__ = ["SqliteInsights", "fts_query"]

#: With filters, how many of the best full-text matches are joined to people first (growing as needed).
_SEARCH_WINDOW = 256
#: Above this many matches a query is "broad": bm25 (about a microsecond per match) ranks only name matches,
#: those whose name begins with the first word before the others.
_RANK_ALL = 5000

_WORD = re.compile(r"\w+", re.UNICODE)
_SCHEME = re.compile(r"(?:^|(?<=\s))(?:acct|mailto|tel|sms|https?|at|xmpp):(?://)?")


def fts_query(text: str) -> str | None:
    """Every word of the owner's text as a quoted prefix term: no FTS5 syntax from outside reaches MATCH."""
    # Identities are indexed without their URI scheme (migration 0003), so a pasted address drops it too.
    words = _WORD.findall(_SCHEME.sub(" ", text.lower()))[:16]
    return " ".join(f'"{w}"*' for w in words) if words else None


def _people_cols() -> str:
    return ", ".join("p." + c.strip() for c in PERSON_COLUMNS.split(","))


class SqliteInsights:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def due(self, *, until: datetime, now: datetime, offset: int, limit: int) -> Page:
        now_jd, until_at = julian_day(now), stamp(until)

        async def run(conn: aiosqlite.Connection) -> Page:
            rows = await fetch_all(
                conn,
                f"SELECT {_people_cols()}, ?1 - julianday(p.due_at) AS overdue FROM person p "
                "WHERE p.status = 'active' AND p.due_at IS NOT NULL AND p.due_at <= ?2 "
                "ORDER BY p.due_at, p.pk LIMIT ?3 OFFSET ?4",
                (now_jd, until_at, limit + 1, offset),
            )
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows)
            items = tuple(
                DueEntry(person=p, due_at=p.due_at or "", days_overdue=round(float(r["overdue"] or 0.0), 2))
                for p, r in zip(people, rows, strict=True)
            )
            return Page.uncounted(items, offset=offset, limit=limit, more=more)

        return await self.db.read(run)

    async def fading(self, *, recent_start: datetime, past_start: datetime, limit: int) -> list[FadingEntry]:
        """People whose last-90-day rate fell below 40% of their own rate over the year before."""
        recent, past = stamp(recent_start), stamp(past_start)

        async def run(conn: aiosqlite.Connection) -> list[FadingEntry]:
            # One pass over interaction_person in key order (so each person's rows come together and need no
            # sort to group), an interaction by its key for each; who is active is asked only of the people
            # who are fading. Left to itself SQLite walked the active people in name order and grouped
            # through a temporary B-tree: 500 ms instead of 110 at 100,000 people and 500,000 interactions.
            stats = await fetch_all(
                conn,
                """SELECT s.person_pk, s.recent, s.past FROM (
                       SELECT ip.person_pk,
                              sum(i.occurred_at >= ?1) AS recent,
                              sum(i.occurred_at < ?1) AS past
                       FROM interaction_person ip CROSS JOIN interaction i ON i.pk = ip.interaction_pk
                       WHERE i.occurred_at >= ?2
                       GROUP BY ip.person_pk
                       HAVING past >= 4 AND recent < 0.4 * (past / 4.0)) AS s
                   JOIN person p ON p.pk = s.person_pk AND p.status = 'active'
                   ORDER BY (s.past / 4.0) - s.recent DESC, s.person_pk LIMIT ?3""",
                (recent, past, limit),
            )
            if not stats:
                return []
            by_pk = {r[0]: r for r in stats}
            marks = ",".join("?" * len(by_pk))
            rows = await fetch_all(
                conn, f"SELECT {_people_cols()} FROM person p WHERE p.pk IN ({marks})", list(by_pk)
            )
            people = {r["pk"]: p for r, p in zip(rows, await load_people(conn, rows), strict=True)}
            return [
                FadingEntry(person=people[pk], recent_rate=float(s[1]), past_rate=round(s[2] / 4.0, 2))
                for pk, s in by_pk.items()
            ]

        return await self.db.read(run)

    async def layers(self) -> list[LayerReport]:
        async def run(conn: aiosqlite.Connection) -> list[LayerReport]:
            sums = ", ".join(f"sum(effective_cadence_days <= {days})" for _, days, _ in LAYERS)
            row = (
                await fetch_all(
                    conn,
                    f"SELECT {sums} FROM person WHERE status = 'active' AND effective_cadence_days IS NOT NULL",
                )
            )[0]
            return [
                LayerReport(
                    name=name,
                    max_cadence_days=days,
                    budget=budget,
                    count=int(row[i] or 0),
                    over_budget=int(row[i] or 0) > budget,
                )
                for i, (name, days, budget) in enumerate(LAYERS)
            ]

        return await self.db.read(run)

    async def search(
        self,
        text: str,
        *,
        circle: str | None,
        due_until: datetime | None,
        include_archived: bool,
        now: datetime,
        offset: int,
        limit: int,
    ) -> Page:
        now_jd = julian_day(now)
        query = fts_query(text)
        if query is None:
            return Page(items=(), total=0, offset=offset, limit=limit)
        where = ["p.status IN ('active', 'archived')" if include_archived else "p.status = 'active'"]
        params: list[Any] = [now_jd]
        if circle is not None:
            params.append(circle)
            where.append(
                f"p.pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"WHERE c.name = ?{len(params)})"
            )
        if due_until is not None:
            params.append(stamp(due_until))
            where.append(f"p.due_at IS NOT NULL AND p.due_at <= ?{len(params)}")
        # FTS ranks the matches once (bm25, materialised), and only those scoring at least as well as the
        # `window`-th best are joined to people, filtered and ordered by (score, tie strength): whole groups of
        # equal score, so tie strength orders each group completely and pages never disagree. Joining every match
        # made a short prefix matching most of the graph cost a person row and a tie-strength computation per
        # match. The window grows when the filters leave too few rows, until the matches run out.
        # A broad query (more than _RANK_ALL matches, e.g. the two letters typed so far) would spend most of its
        # time in bm25 over matches nobody reads. Its matches come in tiers, each after the one before: people
        # whose name begins with the first word (ranked), other people whose names or organisation hold every
        # word (ranked), then every other match, unranked, in row order. A tier is counted only when a page
        # starts past it.
        filters = " AND ".join(where)
        n = len(params)
        ranked_sql = (
            "WITH r AS MATERIALIZED (SELECT rowid AS pk, bm25(person_fts, 10.0, 4.0, 6.0, 1.0) AS score "
            f"FROM person_fts WHERE person_fts MATCH ?{n + 1}), "
            f"edge AS (SELECT score FROM r ORDER BY score LIMIT 1 OFFSET ?{n + 2}) "
            f"SELECT {_people_cols()}, {TIE_STRENGTH_SQL} AS strength, r.score FROM r JOIN person p ON p.pk = r.pk "
            f"WHERE r.score <= coalesce((SELECT score FROM edge), 0.0) AND {filters} "
            f"ORDER BY r.score, strength DESC, p.pk LIMIT ?{n + 3} OFFSET ?{n + 4}"
        )
        plain_sql = (
            f"SELECT {_people_cols()}, {TIE_STRENGTH_SQL} AS strength, 0.0 AS score "
            f"FROM person_fts JOIN person p ON p.pk = person_fts.rowid "
            f"WHERE person_fts MATCH ?{n + 1} AND {filters} ORDER BY person_fts.rowid LIMIT ?{n + 2} OFFSET ?{n + 3}"
        )
        matches_sql = "SELECT count(*) FROM person_fts WHERE person_fts MATCH ?"
        kept_sql = (
            f"SELECT count(*) FROM person_fts JOIN person p ON p.pk = person_fts.rowid "
            f"WHERE person_fts MATCH ?{n + 1} AND {filters}"
        )
        unfiltered = circle is None and due_until is None  # archived people aside

        async def count(conn: aiosqlite.Connection, sql: str, args: list[Any]) -> int:
            row = await fetch_one(conn, sql, args)
            return int(row[0]) if row else 0

        async def ranked(conn: aiosqlite.Connection, expr: str, want: int, skip: int) -> list[Any]:
            # Without filters the page's own rows are enough to rank.
            window = skip + want if unfiltered else max(_SEARCH_WINDOW, skip + want)
            matches: int | None = None
            while True:
                rows = await fetch_all(conn, ranked_sql, [*params, expr, window - 1, want, skip])
                if len(rows) >= want:
                    return rows
                if matches is None:
                    matches = await count(conn, matches_sql, [expr])
                if window >= matches:
                    return rows
                window = max(window * 8, skip + want)

        async def run(conn: aiosqlite.Connection) -> Page:
            head = await count(conn, f"SELECT count(*) FROM (SELECT 1 FROM person_fts WHERE person_fts "
                                     f"MATCH ? LIMIT {_RANK_ALL + 1})", [query])  # fmt: skip
            if head > _RANK_ALL:
                first, _sep, _rest = query.partition(" ")
                named = f"{{names organization}} : ({query})"
                initial = f"({named}) AND ({{names}} : ^{first})"
                tiers = [
                    (initial, True),
                    (f"({named}) NOT ({initial})", True),
                    (f"({query}) NOT ({named})", False),
                ]
                if (
                    await fetch_one(
                        conn, "SELECT 1 FROM person_fts WHERE person_fts MATCH ? LIMIT 1", [named]
                    )
                    is None
                ):
                    tiers = [
                        (query, False)
                    ]  # no one is named so (a mail domain, a server): one scan, not five
            else:
                tiers = [(query, True)]
            rows: list[Any] = []
            skip = offset
            for expr, is_ranked in tiers:
                want = limit + 1 - len(rows)
                if want <= 0:
                    break
                if skip > 0:
                    size = await count(conn, kept_sql, [*params, expr])
                    if skip >= size:
                        skip -= size
                        continue
                if is_ranked:
                    rows += await ranked(conn, expr, want, skip)
                else:
                    rows += await fetch_all(conn, plain_sql, [*params, expr, want, skip])
                skip = 0
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows, strengths={r["pk"]: r["strength"] for r in rows})
            return Page.uncounted(people, offset=offset, limit=limit, more=more)

        return await self.db.read(run)
