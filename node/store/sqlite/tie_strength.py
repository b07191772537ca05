"""Tie strength: how people are ordered, and the explanation of one person's score, from one definition.

The score is a weighted sum of parts, each in [0, 1] (docs/ARCHITECTURE.md §1: "orders people by tie strength"):
recency, frequency, reciprocity and the owner's priority. Each part is one SQL expression over the person row;
the ordering expression (``TIE_STRENGTH_SQL``) is built by adding the weighted parts, and the explanation reads the
same expressions for one person, so what the owner is shown is what orders the lists. ``?1`` is the Julian day
of "now" in every expression.

A value a database may hold from an older version (a time that is not a time, a negative count) counts as nothing
rather than making the whole list fail: ``julianday`` of such text is NULL, which recency treats as "never".
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from node.models import TieStrength, TieStrengthPart
from node.store.sqlite.rows import fetch_one

__all__ = ["TIE_PARTS", "TIE_STRENGTH_SQL", "TiePart", "explain_tie_strength"]


@dataclass(frozen=True, slots=True)
class TiePart:
    name: str
    weight: float
    sql: str  # the part's value in [0, 1] for the person row ``p``
    rule: str  # how the value is made, for the owner


_LAST = "julianday(p.last_interaction_at)"
_COUNT = "max(p.interaction_count, 0)"
_THEM, _OWNER = "max(p.initiated_by_them, 0)", "max(p.initiated_by_owner, 0)"

TIE_PARTS = (
    TiePart(
        "recency",
        0.4,
        f"CASE WHEN {_LAST} IS NULL THEN 0.0 ELSE 1.0 / (1.0 + max(0.0, ?1 - {_LAST}) / 30.0) END",
        "1 just after an interaction, 1/2 after 30 days, 1/3 after 60; 0 when never in touch",
    ),
    TiePart(
        "frequency",
        0.25,
        f"{_COUNT} * 1.0 / ({_COUNT} + 5.0)",
        "interactions n as n/(n+5): 1/2 at 5, nearer 1 with every one more",
    ),
    TiePart(
        "reciprocity",
        0.15,
        f"CASE WHEN {_THEM} + {_OWNER} = 0 THEN 0.0 ELSE 2.0 * min({_THEM}, {_OWNER}) / ({_THEM} + {_OWNER}) END",
        "1 when both of you start conversations equally often, 0 when only one side does",
    ),
    TiePart("priority", 0.2, "p.priority / 3.0", "your own priority for them, 0-3, as 0 to 1"),
)

#: The score in [0, 1] that lists order by, the sum of the weighted parts.
TIE_STRENGTH_SQL = "coalesce(" + " + ".join(f"{part.weight} * ({part.sql})" for part in TIE_PARTS) + ", 0.0)"


def _detail(name: str, row: aiosqlite.Row) -> str:
    if name == "recency":
        if row["days_since"] is None:
            return (
                "never in touch" if row["last_interaction_at"] is None else "the last interaction has no date"
            )
        days = max(0, int(row["days_since"]))
        return "in touch today" if days == 0 else f"last in touch {days} day{'s' if days != 1 else ''} ago"
    if name == "frequency":
        n = max(0, int(row["interaction_count"]))
        return f"{n} interaction{'s' if n != 1 else ''}"
    if name == "reciprocity":
        them, owner = max(0, int(row["initiated_by_them"])), max(0, int(row["initiated_by_owner"]))
        return f"they started {them}, you started {owner}"
    return f"priority {row['priority']} of 3"


async def explain_tie_strength(conn: aiosqlite.Connection, pk: int, now_jd: float) -> TieStrength | None:
    """The score of person ``pk`` and its parts, read with the expressions the lists order by."""
    parts = ", ".join(f"{part.sql} AS part_{part.name}" for part in TIE_PARTS)
    row = await fetch_one(
        conn,
        f"SELECT p.last_interaction_at, p.interaction_count, p.initiated_by_them, p.initiated_by_owner, "
        f"p.priority, ?1 - {_LAST} AS days_since, {parts}, {TIE_STRENGTH_SQL} AS score "
        "FROM person p WHERE p.pk = ?2",
        (now_jd, pk),
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
                detail=_detail(part.name, row),
                rule=part.rule,
            )
            for part in TIE_PARTS
        ),
    )
