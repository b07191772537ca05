"""Read-side queries of the graph: stay-in-touch (due, fading, Dunbar layers) and full-text search."""

from __future__ import annotations

import re
from typing import Any

import aiosqlite

from node.models import DueEntry, FadingEntry, LayerReport, Page
from node.store.db import Database
from node.store.rows import PERSON_COLUMNS, fetch_all, load_people
from node.store.sqlite_people import TIE_STRENGTH_SQL

__all__ = ["LAYERS", "SqliteInsights", "fts_query"]

#: Dunbar-style layers by the cadence the owner keeps with people: (name, cadence at most, budget). Budgets are
#: cumulative (the 15 include the 5), following Dunbar's nested layers of about 5, 15, 50 and 150.
LAYERS = (
    ("support clique", 7, 5),
    ("sympathy group", 30, 15),
    ("close network", 90, 50),
    ("active network", 365, 150),
)

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Every word of the owner's text as a quoted prefix term: no FTS5 syntax from outside reaches MATCH."""
    words = _WORD.findall(text.lower())[:16]
    return " ".join(f'"{w}"*' for w in words) if words else None


def _people_cols() -> str:
    return ", ".join("p." + c.strip() for c in PERSON_COLUMNS.split(","))


class SqliteInsights:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def due(self, *, until: str, now_jd: float, offset: int, limit: int) -> Page:
        async def run(conn: aiosqlite.Connection) -> Page:
            rows = await fetch_all(
                conn,
                f"SELECT {_people_cols()}, ?1 - julianday(p.due_at) AS overdue FROM person p "
                "WHERE p.status = 'active' AND p.due_at IS NOT NULL AND p.due_at <= ?2 "
                "ORDER BY p.due_at, p.pk LIMIT ?3 OFFSET ?4",
                (now_jd, until, limit + 1, offset),
            )
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows)
            items = tuple(
                DueEntry(person=p, due_at=p.due_at or "", days_overdue=round(float(r["overdue"]), 2))
                for p, r in zip(people, rows, strict=True)
            )
            return Page(
                items=items,
                total=None,
                offset=offset,
                limit=limit,
                next_offset=offset + limit if more else None,
            )

        return await self.db.read(run)

    async def fading(self, *, recent_start: str, past_start: str, limit: int) -> list[FadingEntry]:
        """People whose last-90-day rate fell below 40% of their own rate over the year before."""

        async def run(conn: aiosqlite.Connection) -> list[FadingEntry]:
            stats = await fetch_all(
                conn,
                """SELECT ip.person_pk,
                          sum(i.occurred_at >= ?1) AS recent,
                          sum(i.occurred_at < ?1) AS past
                   FROM interaction i JOIN interaction_person ip ON ip.interaction_pk = i.pk
                   JOIN person p ON p.pk = ip.person_pk AND p.status = 'active'
                   WHERE i.occurred_at >= ?2
                   GROUP BY ip.person_pk
                   HAVING past >= 4 AND recent < 0.4 * (past / 4.0)
                   ORDER BY (past / 4.0) - recent DESC LIMIT ?3""",
                (recent_start, past_start, limit),
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
        due_until: str | None,
        include_archived: bool,
        now_jd: float,
        offset: int,
        limit: int,
    ) -> Page:
        query = fts_query(text)
        if query is None:
            return Page(items=(), total=0, offset=offset, limit=limit)
        where = ["person_fts MATCH ?2"]
        params: list[Any] = [now_jd, query]
        where.append("p.status IN ('active', 'archived')" if include_archived else "p.status = 'active'")
        if circle is not None:
            params.append(circle)
            where.append(
                f"p.pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"WHERE c.name = ?{len(params)})"
            )
        if due_until is not None:
            params.append(due_until)
            where.append(f"p.due_at IS NOT NULL AND p.due_at <= ?{len(params)}")
        params += [limit + 1, offset]
        sql = (
            f"SELECT {_people_cols()}, {TIE_STRENGTH_SQL} AS strength, "
            "bm25(person_fts, 10.0, 4.0, 6.0, 1.0) AS score "
            "FROM person_fts JOIN person p ON p.pk = person_fts.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY score, strength DESC "
            f"LIMIT ?{len(params) - 1} OFFSET ?{len(params)}"
        )

        async def run(conn: aiosqlite.Connection) -> Page:
            rows = await fetch_all(conn, sql, params)
            more = len(rows) > limit
            rows = rows[:limit]
            people = await load_people(conn, rows, strengths={r["pk"]: r["strength"] for r in rows})
            return Page(
                items=tuple(people),
                total=None,
                offset=offset,
                limit=limit,
                next_offset=offset + limit if more else None,
            )

        return await self.db.read(run)
