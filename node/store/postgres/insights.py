"""PostgreSQL implementation of the graph store's insights (node/store/insights.py): stay-in-touch (due, fading,
Dunbar layers) and full-text search with a tsvector, unaccent and a GIN index (specs/POSTGRESQL.md §6).

Search keeps the contract's rules as SQLite's FTS5 does: the owner's text is words only (the same extraction:
node/store/sqlite/insights.py's fts_query), each a prefix, folded as the indexed text is (kith_fold: lower case,
accents off), split at every character that is not a letter or digit on both sides, so that an address matches by
its parts as on SQLite. Ranking differs in its measure, not its order of kinds: ts_rank with the name text
weighted A, identities B, organisation and title C, notes D, where SQLite uses bm25 with column weights; equal
scores are ordered by tie strength, then by row, so pages never disagree. A broad query (more than _RANK_ALL
matches) is answered in tiers, each in an index's order, as SQLite answers its own (specs/POSTGRESQL.md §6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from node.models import DueEntry, FadingEntry, LayerReport, Page
from node.store.insights import LAYERS
from node.store.postgres.db import PgDatabase
from node.store.postgres.person_rows import PERSON_COLUMNS, load_people, nocase
from node.store.postgres.rows import Conn, execute, fetch_all, fetch_one
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


#: Above this many matches a query is broad (the two letters typed so far, a mail domain, an organisation half
#: the graph works for): ranking it would cost a heap row, a ts_rank and a tie strength per match, for a page of
#: fifty. Its matches come in tiers instead, each in an order an index gives (specs/POSTGRESQL.md §6).
_RANK_ALL = 1000
#: The owner's words as the tsquery text (every word a prefix, all required) and the first word, both folded as
#: the indexed text is.
_QUERY_TEXTS = (
    "SELECT string_agg(quote_literal(w) || ':*', ' & ' ORDER BY n), (array_agg(w ORDER BY n))[1] "
    "FROM regexp_split_to_table(kith_words(%s), ' ') WITH ORDINALITY AS t(w, n) WHERE w <> ''"
)
#: The matches' keys and scores, at most %(cap)s of them (the query's text inline, so the planner sees how common
#: its words are: a broad query's first rows come from a plain scan that stops early, a rare one's from the index).
_CANDIDATES = (
    f"SELECT f.pk, ts_rank('{RANK_WEIGHTS}', f.doc, to_tsquery('simple', %(query)s)) AS score "
    "FROM person_fts f WHERE f.doc @@ to_tsquery('simple', %(query)s) LIMIT %(cap)s"
)
_Q = "to_tsquery('simple', %(query)s)"
#: The person_fts rows whose names begin with the first word: a range of migration 0004's btree in code-point order,
#: up to the word followed by U+10FFFF, the highest code point (above anything kith_words keeps after a prefix).
_INITIAL = (
    '(f.first_word >= %(first)s COLLATE "C" AND f.first_word < (%(first)s || chr(1114111)) COLLATE "C")'
)
#: A broad query's tiers, disjoint, together every match, each in an order an index gives: (1) people whose name
#: begins with the first word, by that word (the word itself before longer ones), then by row; (2) others whose
#: names hold every word; (3) others whose names and organisation hold them; (4) every other match (identities,
#: notes). Tiers 2-4 in row order. Migration 0003's columns and indexes serve each.
_TIERS = (
    (f"f.named_doc @@ {_Q} AND {_INITIAL}", "f.first_word, f.pk"),
    (f"f.names_doc @@ {_Q} AND NOT {_INITIAL}", "f.pk"),
    (f"f.named_doc @@ {_Q} AND NOT f.names_doc @@ {_Q} AND NOT {_INITIAL}", "f.pk"),
    (f"f.doc @@ {_Q} AND NOT f.named_doc @@ {_Q}", "f.pk"),
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
        params: dict[str, Any] = {"now": julian_day(now)}
        if circle is not None:
            params["circle"] = circle
            where.append(
                "p.pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"WHERE {nocase('c.name')} = {nocase('%(circle)s')})"
            )
        if due_until is not None:
            params["due_until"] = stamp(due_until)
            where.append("p.due_at IS NOT NULL AND p.due_at <= %(due_until)s")
        filters = " AND ".join(where)

        async def tier(conn: Conn, cond: str, order: str, want: int, skip: int) -> tuple[list[Any], int]:
            """The tier's rows of the page (want of them past skip), and what is left to skip after it: when the
            page starts past the whole tier, no rows and skip less the tier's size (counted only then)."""
            if skip > 0:
                counted = await fetch_one(
                    conn,
                    f"SELECT count(*) FROM person_fts f JOIN person p ON p.pk = f.pk WHERE {cond} AND {filters}",
                    params,
                )
                size = int(counted[0]) if counted else 0
                if skip >= size:
                    return [], skip - size
            rows = await fetch_all(
                conn,
                f"SELECT {_people_cols()}, {TIE_STRENGTH_SQL} AS strength FROM person_fts f "
                f"JOIN person p ON p.pk = f.pk WHERE {cond} AND {filters} "
                f"ORDER BY {order} LIMIT %(want)s OFFSET %(skip)s",
                {**params, "want": want, "skip": skip},
            )
            return rows, 0

        async def run(conn: Conn) -> Page:
            found = await fetch_one(conn, _QUERY_TEXTS, (words,))
            if found is None or not found[0]:  # no letter or digit in it: no word to look for
                return Page.uncounted((), offset=offset, limit=limit, more=False)
            params.update(query=found[0], first=found[1])
            # A search is a handful of short statements: JIT compiling one (tens of milliseconds, switched on by
            # the planner's cost of scans it then stops after a page) never pays for itself here.
            await execute(conn, "SET LOCAL jit = off")
            # Up to _RANK_ALL matches are ranked, all of them: their scores from person_fts alone, then people
            # joined by those keys (a list whose length the planner sees) and ordered by score, tie strength and
            # key. More matches than that make the query broad, answered in tiers (specs/POSTGRESQL.md §6).
            scored = await fetch_all(conn, _CANDIDATES, {"query": found[0], "cap": _RANK_ALL + 1})
            if len(scored) <= _RANK_ALL:
                # Ordered narrow (key, score, strength), the page's people read whole after: sorting every
                # match's whole row cost three times the sort itself when a thousand of them tied.
                rows = await fetch_all(
                    conn,
                    f"WITH page AS MATERIALIZED (SELECT p.pk, {TIE_STRENGTH_SQL} AS strength, t.score "
                    "FROM unnest(%(pks)s::bigint[], %(scores)s::real[]) AS t(pk, score) "
                    f"JOIN person p ON p.pk = t.pk WHERE {filters} "
                    "ORDER BY t.score DESC, strength DESC, p.pk LIMIT %(want)s OFFSET %(skip)s) "
                    f"SELECT {_people_cols()}, page.strength, page.score FROM page JOIN person p ON p.pk = page.pk "
                    "ORDER BY page.score DESC, page.strength DESC, p.pk",
                    {
                        **params,
                        "pks": [r[0] for r in scored],
                        "scores": [r[1] for r in scored],
                        "want": limit + 1,
                        "skip": offset,
                    },
                )
            else:
                rows = []
                skip = offset
                for cond, order in _TIERS:
                    want = limit + 1 - len(rows)
                    if want <= 0:
                        break
                    got, skip = await tier(conn, cond, order, want, skip)
                    rows += got
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows, strengths={r["pk"]: r["strength"] for r in rows})
            return Page.uncounted(people, offset=offset, limit=limit, more=more)

        return await self.db.read(run, snapshot=True)
