"""Row → model conversion and small SQL helpers shared by the SQLite store modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from node.models import Identity, Person, Provenance
from node.store.values import (
    dumps,
    identity_search_text,
    julian_day,
    names_search_text,
    stamp,
    stamp_or_none,
)

__all__ = [
    "PERSON_COLUMNS",
    "dumps",
    "fetch_all",
    "fetch_one",
    "identity_search_text",
    "julian_day",
    "load_people",
    "names_search_text",
    "placeholders",
    "refresh_fts",
    "refresh_fts_sql",
    "stamp",
    "stamp_or_none",
]

PERSON_COLUMNS = (
    "pk, id, display_name, given_name, family_name, nickname, organization, title, birthday, photo_url, "
    "priority, cadence_days, effective_cadence_days, last_interaction_at, due_at, interaction_count, met_on, "
    "status, merged_into, created_at, updated_at"
)


def placeholders(n: int) -> str:
    return ",".join("?" * n)


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
    async with conn.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
    async with conn.execute(sql, params) as cur:
        row: aiosqlite.Row | None = await cur.fetchone()
        return row


async def load_people(
    conn: aiosqlite.Connection, rows: Sequence[aiosqlite.Row], *, strengths: dict[int, float] | None = None
) -> list[Person]:
    """Turn person rows into Person models with their identities and circles (three queries in all)."""
    if not rows:
        return []
    pks = [r["pk"] for r in rows]
    marks = placeholders(len(pks))
    idents: dict[int, list[Identity]] = {pk: [] for pk in pks}
    prov: dict[int, list[Provenance]] = {}
    for p in await fetch_all(
        conn,
        f"SELECT pr.identity_pk, pr.source, pr.source_record_id, pr.seen_at FROM provenance pr "
        f"JOIN identity i ON i.pk = pr.identity_pk WHERE i.person_pk IN ({marks}) ORDER BY pr.seen_at",
        pks,
    ):
        prov.setdefault(p[0], []).append(Provenance(source=p[1], source_record_id=p[2], seen_at=p[3]))
    for i in await fetch_all(
        conn,
        f"SELECT pk, person_pk, uri, kind, display, label, verification, state, moved_to, created_at "
        f"FROM identity WHERE person_pk IN ({marks}) ORDER BY pk",
        pks,
    ):
        idents[i["person_pk"]].append(
            Identity(
                uri=i["uri"],
                kind=i["kind"],
                display=i["display"],
                label=i["label"],
                verification=i["verification"],
                state=i["state"],
                moved_to=i["moved_to"],
                source=prov[i["pk"]][0].source if prov.get(i["pk"]) else "owner",
                provenance=tuple(prov.get(i["pk"], ())),
                created_at=i["created_at"],
            )
        )
    circles: dict[int, list[str]] = {}
    for c in await fetch_all(
        conn,
        f"SELECT m.person_pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
        f"WHERE m.person_pk IN ({marks}) ORDER BY c.name",
        pks,
    ):
        circles.setdefault(c[0], []).append(c[1])
    merged_ids: dict[int, str] = {}
    merged_pks = [r["merged_into"] for r in rows if r["merged_into"] is not None]
    if merged_pks:
        for m in await fetch_all(
            conn, f"SELECT pk, id FROM person WHERE pk IN ({placeholders(len(merged_pks))})", merged_pks
        ):
            merged_ids[m[0]] = m[1]
    out = []
    for r in rows:
        out.append(
            Person(
                id=r["id"],
                display_name=r["display_name"],
                given_name=r["given_name"],
                family_name=r["family_name"],
                nickname=r["nickname"],
                organization=r["organization"],
                title=r["title"],
                birthday=r["birthday"],
                photo_url=r["photo_url"],
                priority=r["priority"],
                cadence_days=r["cadence_days"],
                effective_cadence_days=r["effective_cadence_days"],
                last_interaction_at=r["last_interaction_at"],
                due_at=r["due_at"],
                interaction_count=r["interaction_count"],
                met_on=r["met_on"],
                status=r["status"],
                merged_into=merged_ids.get(r["merged_into"]) if r["merged_into"] is not None else None,
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                identities=tuple(idents[r["pk"]]),
                circles=tuple(circles.get(r["pk"], ())),
                tie_strength=None if strengths is None else round(strengths.get(r["pk"]) or 0.0, 4),
            )
        )
    return out


def refresh_fts_sql(pks: str) -> tuple[str, str]:
    """The two statements that rebuild the search rows of the people ``pks`` (an SQL list or subquery) from
    the person_search_text view: the old rows out, the view's in."""
    return (
        f"DELETE FROM person_fts WHERE rowid IN ({pks})",
        "INSERT INTO person_fts(rowid, names, organization, identities, notes) "
        f"SELECT pk, names, organization, identities, notes FROM person_search_text WHERE pk IN ({pks})",
    )


async def refresh_fts(conn: aiosqlite.Connection, pks: Iterable[int]) -> None:
    """Rebuild the search rows of these people from their current names, identities and notes (the text is
    defined by the person_search_text view, migration 0005)."""
    pk_list = list(dict.fromkeys(pks))
    for start in range(0, len(pk_list), 500):
        chunk = pk_list[start : start + 500]
        for sql in refresh_fts_sql(placeholders(len(chunk))):
            await conn.execute(sql, chunk)
