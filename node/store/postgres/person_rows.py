"""Person rows into Person models, and the search rows' refresh: the SQLite engine's (node/store/sqlite/rows.py)
for PostgreSQL, shared by the store modules that read people."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from node.models import Identity, Person, Provenance
from node.store.postgres.rows import Conn, Row, execute, fetch_all

__all__ = ["PERSON_COLUMNS", "load_people", "nocase", "refresh_fts", "refresh_fts_sql"]

PERSON_COLUMNS = (
    "pk, id, display_name, given_name, family_name, nickname, organization, title, birthday, photo_url, "
    "priority, cadence_days, effective_cadence_days, last_interaction_at, due_at, interaction_count, met_on, "
    "status, merged_into, created_at, updated_at"
)


def nocase(expr: str) -> str:
    """``expr`` folded as SQLite's COLLATE NOCASE compares it (ASCII letters only), for circle names and the
    people list's name order (the circle_name index is on the same expression: migration 0001)."""
    return f"translate({expr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"


async def load_people(
    conn: Conn, rows: Sequence[Row], *, strengths: dict[int, float] | None = None
) -> list[Person]:
    """Turn person rows into Person models with their identities and circles (four queries in all)."""
    if not rows:
        return []
    pks = [r["pk"] for r in rows]
    idents: dict[int, list[Identity]] = {pk: [] for pk in pks}
    prov: dict[int, list[Provenance]] = {}
    for p in await fetch_all(
        conn,
        "SELECT pr.identity_pk, pr.source, pr.source_record_id, pr.seen_at FROM provenance pr "
        "JOIN identity i ON i.pk = pr.identity_pk WHERE i.person_pk = ANY(%s) ORDER BY pr.seen_at",
        (pks,),
    ):
        prov.setdefault(p[0], []).append(Provenance(source=p[1], source_record_id=p[2], seen_at=p[3]))
    for i in await fetch_all(
        conn,
        "SELECT pk, person_pk, uri, kind, display, label, verification, state, moved_to, created_at "
        "FROM identity WHERE person_pk = ANY(%s) ORDER BY pk",
        (pks,),
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
        "SELECT m.person_pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
        f"WHERE m.person_pk = ANY(%s) ORDER BY {nocase('c.name')}, c.name",
        (pks,),
    ):
        circles.setdefault(c[0], []).append(c[1])
    merged_ids: dict[int, str] = {}
    merged_pks = [r["merged_into"] for r in rows if r["merged_into"] is not None]
    if merged_pks:
        for m in await fetch_all(conn, "SELECT pk, id FROM person WHERE pk = ANY(%s)", (merged_pks,)):
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
                tie_strength=None if strengths is None else round(float(strengths.get(r["pk"]) or 0.0), 4),
            )
        )
    return out


def refresh_fts_sql(pks: str) -> tuple[str, str]:
    """The two statements that rebuild the search rows of the people ``pks`` (an SQL array expression) from
    the person_search_text view: the old rows out, the view's in."""
    return (
        f"DELETE FROM person_fts WHERE pk = ANY({pks})",
        "INSERT INTO person_fts (pk, names, organization, identities, notes) "
        f"SELECT pk, names, organization, identities, notes FROM person_search_text WHERE pk = ANY({pks})",
    )


async def refresh_fts(conn: Conn, pks: Iterable[int]) -> None:
    """Rebuild the search rows of these people from their current names, identities and notes."""
    pk_list = list(dict.fromkeys(pks))
    if not pk_list:
        return
    for statement in refresh_fts_sql("%s::bigint[]"):
        await execute(conn, statement, (pk_list,))
