"""Tie strength on PostgreSQL: the SQLite engine's definition (node/store/sqlite/tie_strength.py: the parts, their
weights and rules) with each part's expression in PostgreSQL's words (greatest/least for SQLite's scalar
max/min, kith_julianday for julianday). ``%(now)s`` is the Julian day of "now" in every expression."""

from __future__ import annotations

from typing import Any, cast

from node.models import TieStrength, TieStrengthPart
from node.store.postgres.rows import Conn, fetch_one
from node.store.sqlite.tie_strength import TIE_PARTS as SQLITE_PARTS
from node.store.sqlite.tie_strength import TiePart, _detail

__all__ = ["TIE_PARTS", "TIE_STRENGTH_SQL", "explain_tie_strength"]

#: The last touch as a Julian day: a generated column (migration 0001), kith_julianday of the text.
_LAST = "p.last_interaction_jd"
_COUNT = "greatest(p.interaction_count, 0)"
_THEM, _OWNER = "greatest(p.initiated_by_them, 0)", "greatest(p.initiated_by_owner, 0)"

_SQL = {
    "recency": f"CASE WHEN {_LAST} IS NULL THEN 0.0 ELSE 1.0 / (1.0 + greatest(0.0, %(now)s - {_LAST}) / 30.0) END",
    "frequency": f"{_COUNT} * 1.0 / ({_COUNT} + 5.0)",
    "reciprocity": (
        f"CASE WHEN {_THEM} + {_OWNER} = 0 THEN 0.0 "
        f"ELSE 2.0 * least({_THEM}, {_OWNER}) / ({_THEM} + {_OWNER}) END"
    ),
    "priority": "p.priority / 3.0",
}
#: The same parts as SQLite's, in the same order, weights and rules.
TIE_PARTS = tuple(TiePart(part.name, part.weight, _SQL[part.name], part.rule) for part in SQLITE_PARTS)

#: The score in [0, 1] that lists order by, the sum of the weighted parts.
TIE_STRENGTH_SQL = "coalesce(" + " + ".join(f"{part.weight} * ({part.sql})" for part in TIE_PARTS) + ", 0.0)"


async def explain_tie_strength(conn: Conn, pk: int, now_jd: float) -> TieStrength | None:
    """The score of person ``pk`` and its parts, read with the expressions the lists order by."""
    parts = ", ".join(f"{part.sql} AS part_{part.name}" for part in TIE_PARTS)
    row = await fetch_one(
        conn,
        f"SELECT p.last_interaction_at, p.interaction_count, p.initiated_by_them, p.initiated_by_owner, "
        f"p.priority, %(now)s - {_LAST} AS days_since, {parts}, {TIE_STRENGTH_SQL} AS score "
        "FROM person p WHERE p.pk = %(pk)s",
        {"now": now_jd, "pk": pk},
    )
    if row is None:
        return None
    return TieStrength(
        score=round(float(row["score"]), 4),
        parts=tuple(
            TieStrengthPart(
                name=part.name,
                weight=part.weight,
                value=round(float(row["part_" + part.name] or 0.0), 4),
                points=round(part.weight * float(row["part_" + part.name] or 0.0), 4),
                detail=_detail(part.name, cast(Any, row)),  # read by name, as an aiosqlite row
                rule=part.rule,
            )
            for part in TIE_PARTS
        ),
    )
