"""PostgreSQL implementation of the graph store's insights (node/store/insights.py): stay-in-touch (due, fading,
Dunbar layers) and full-text search with a tsvector, unaccent and a GIN index (specs/POSTGRESQL.md §6).

Search keeps the contract's rules as SQLite's FTS5 does: the owner's text is words only (the same extraction:
node/store/sqlite/insights.py's fts_query), each a prefix, folded as the indexed text is (kith_fold: lower case,
accents off), split at every character that is not a letter or digit on both sides, so that an address matches by
its parts as on SQLite. Ranking differs in its measure, not its order of kinds: ts_rank with the name text
weighted A, identities B, organisation and title C, notes D, where SQLite uses bm25 with column weights; equal
scores are ordered by tie strength, then by row, so pages never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from node.models import DueEntry, FadingEntry, LayerReport, Page
from node.store.insights import LAYERS
from node.store.postgres.db import PgDatabase
from node.store.postgres.person_rows import PERSON_COLUMNS, load_people, nocase
from node.store.postgres.rows import Conn, fetch_all, fetch_one
from node.store.postgres.tie_strength import TIE_STRENGTH_SQL
from node.store.sqlite.insights import _SCHEME, _WORD
from node.store.values import julian_day, stamp

__all__ = ["RANK_WEIGHTS", "PgInsights", "search_words", "tsquery_sql"]

#: Weights of ts_rank, for the document's parts D (notes), C (organisation), B (identities), A (names).
RANK_WEIGHTS = "{0.1, 0.4, 0.6, 1.0}"
#: The words of the owner's text as a tsquery text: each folded word a quoted prefix lexeme, all of them
#: required. Nothing of the owner's text reaches to_tsquery's syntax: only letters and digits remain.
_TSQUERY_TEXT = (
    "SELECT string_agg(quote_literal(w) || ':*', ' & ') FROM regexp_split_to_table("
    "kith_words(%s), ' ') AS w WHERE w <> ''"
)


def search_words(text: str) -> str | None:
    """The words of the owner's text (at most 16) as SQLite's search reads them, a URI scheme dropped (identities
    are indexed without theirs); None when there is none."""
    words = _WORD.findall(_SCHEME.sub(" ", text.lower()))[:16]
    return " ".join(words) if words else None


def tsquery_sql() -> str:
    """The statement that turns search_words' text into a tsquery text (NULL when nothing of it is a word)."""
    return _TSQUERY_TEXT


def _people_cols() -> str:
    return ", ".join("p." + c.strip() for c in PERSON_COLUMNS.split(","))


class PgInsights:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def due(self, *, until: datetime, now: datetime, offset: int, limit: int) -> Page:
        now_jd, until_at = julian_day(now), stamp(until)

        async def run(conn: Conn) -> Page:
            rows = await fetch_all(
                conn,
                f"SELECT {_people_cols()}, %(now)s - kith_julianday(p.due_at) AS overdue FROM person p "
                "WHERE p.status = 'active' AND p.due_at IS NOT NULL AND p.due_at <= %(until)s "
                "ORDER BY p.due_at, p.pk LIMIT %(limit)s OFFSET %(offset)s",
                {"now": now_jd, "until": until_at, "limit": limit + 1, "offset": offset},
            )
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows)
            items = tuple(
                DueEntry(person=p, due_at=p.due_at or "", days_overdue=round(float(r["overdue"] or 0.0), 2))
                for p, r in zip(people, rows, strict=True)
            )
            return Page.uncounted(items, offset=offset, limit=limit, more=more)

        return await self.db.read(run, snapshot=True)

    async def fading(self, *, recent_start: datetime, past_start: datetime, limit: int) -> list[FadingEntry]:
        """People whose last-90-day rate fell below 40% of their own rate over the year before."""
        recent, past = stamp(recent_start), stamp(past_start)

        async def run(conn: Conn) -> list[FadingEntry]:
            stats = await fetch_all(
                conn,
                """SELECT s.person_pk, s.recent, s.past FROM (
                       SELECT ip.person_pk,
                              count(*) FILTER (WHERE i.occurred_at >= %(recent)s) AS recent,
                              count(*) FILTER (WHERE i.occurred_at < %(recent)s) AS past
                       FROM interaction_person ip JOIN interaction i ON i.pk = ip.interaction_pk
                       WHERE i.occurred_at >= %(past)s
                       GROUP BY ip.person_pk) AS s
                   JOIN person p ON p.pk = s.person_pk AND p.status = 'active'
                   WHERE s.past >= 4 AND s.recent < 0.4 * (s.past / 4.0)
                   ORDER BY (s.past / 4.0) - s.recent DESC, s.person_pk LIMIT %(limit)s""",
                {"recent": recent, "past": past, "limit": limit},
            )
            if not stats:
                return []
            by_pk = {r[0]: r for r in stats}
            rows = await fetch_all(
                conn, f"SELECT {_people_cols()} FROM person p WHERE p.pk = ANY(%s)", (list(by_pk),)
            )
            people = {r["pk"]: p for r, p in zip(rows, await load_people(conn, rows), strict=True)}
            return [
                FadingEntry(person=people[pk], recent_rate=float(s[1]), past_rate=round(s[2] / 4.0, 2))
                for pk, s in by_pk.items()
            ]

        return await self.db.read(run, snapshot=True)

    async def layers(self) -> list[LayerReport]:
        async def run(conn: Conn) -> list[LayerReport]:
            sums = ", ".join(
                f"count(*) FILTER (WHERE effective_cadence_days <= {days})" for _, days, _ in LAYERS
            )
            row = await fetch_one(
                conn,
                f"SELECT {sums} FROM person WHERE status = 'active' AND effective_cadence_days IS NOT NULL",
            )
            assert row is not None  # an aggregate without GROUP BY gives one row
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
        words = search_words(text)
        if words is None:
            return Page(items=(), total=0, offset=offset, limit=limit)
        where = ["p.status IN ('active', 'archived')" if include_archived else "p.status = 'active'"]
        params: dict[str, Any] = {"now": julian_day(now), "limit": limit + 1, "offset": offset}
        if circle is not None:
            params["circle"] = circle
            where.append(
                "p.pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"WHERE {nocase('c.name')} = {nocase('%(circle)s')})"
            )
        if due_until is not None:
            params["due_until"] = stamp(due_until)
            where.append("p.due_at IS NOT NULL AND p.due_at <= %(due_until)s")
        sql = (
            f"SELECT {_people_cols()}, {TIE_STRENGTH_SQL} AS strength, "
            f"ts_rank('{RANK_WEIGHTS}', f.doc, q.q) AS score "
            "FROM (SELECT to_tsquery('simple', %(query)s) AS q) AS q "
            "JOIN person_fts f ON f.doc @@ q.q JOIN person p ON p.pk = f.pk "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY score DESC, strength DESC, p.pk LIMIT %(limit)s OFFSET %(offset)s"
        )

        async def run(conn: Conn) -> Page:
            found = await fetch_one(conn, _TSQUERY_TEXT, (words,))
            if found is None or not found[0]:  # no letter or digit in it: no word to look for
                return Page.uncounted((), offset=offset, limit=limit, more=False)
            rows = await fetch_all(conn, sql, {**params, "query": found[0]})
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows, strengths={r["pk"]: r["strength"] for r in rows})
            return Page.uncounted(people, offset=offset, limit=limit, more=more)

        return await self.db.read(run, snapshot=True)
