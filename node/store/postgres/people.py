"""PostgreSQL implementation of the graph store's people (node/store/people.py): people, identities, provenance,
circles, notes, relationships and interactions; the SQLite engine's logic and SQL (node/store/sqlite/people.py)
in PostgreSQL's words. Every public coroutine is one transaction (through PgDatabase.write, under the graph's
write lock) or one read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from node.errors import Conflict, NotFound
from node.models import Circle, Interaction, Note, Page, Person, Relationship
from node.store.people import PERSON_ORDERS, IdentityInput, InteractionInput, PersonFields, RelationshipInput
from node.store.people_rows import person_columns, prefixed, stronger
from node.store.postgres.db import PgDatabase
from node.store.postgres.person_rows import PERSON_COLUMNS, load_people, nocase, refresh_fts
from node.store.postgres.rows import Conn, execute, executemany, fetch_all, fetch_one, placeholders
from node.store.postgres.tie_strength import TIE_STRENGTH_SQL, explain_tie_strength
from node.store.values import julian_day, stamp

__all__ = [
    "PgPeople",
    "attach_identity",
    "person_pk",
    "recompute_due",
    "recompute_people",
]


async def person_pk(conn: Conn, person_id: str, *, include_merged: bool = False) -> int:
    row = await fetch_one(conn, "SELECT pk, status FROM person WHERE id = %s", (person_id,))
    if row is None or (row["status"] == "merged" and not include_merged):
        raise NotFound(f"no person with id {person_id!r}", field="person")
    return int(row["pk"])


async def recompute_people(conn: Conn, pks: Iterable[int]) -> None:
    """Recompute interaction statistics, effective cadence and due date from the rows themselves."""
    pk_list = list(dict.fromkeys(pks))
    for start in range(0, len(pk_list), 500):
        chunk = pk_list[start : start + 500]
        marks = placeholders(len(chunk))
        await execute(
            conn,
            f"""UPDATE person SET
                interaction_count = (SELECT count(*) FROM interaction_person ip WHERE ip.person_pk = person.pk),
                initiated_by_them = (SELECT count(*) FROM interaction_person ip JOIN interaction i
                    ON i.pk = ip.interaction_pk WHERE ip.person_pk = person.pk AND i.initiated_by = 'them'),
                initiated_by_owner = (SELECT count(*) FROM interaction_person ip JOIN interaction i
                    ON i.pk = ip.interaction_pk WHERE ip.person_pk = person.pk AND i.initiated_by = 'owner'),
                last_interaction_at = (SELECT max(i.occurred_at) FROM interaction_person ip JOIN interaction i
                    ON i.pk = ip.interaction_pk WHERE ip.person_pk = person.pk)
            WHERE pk IN ({marks})""",
            chunk,
        )
        await recompute_due(conn, chunk)


async def recompute_due(conn: Conn, pks: Sequence[int]) -> None:
    marks = placeholders(len(pks))
    await execute(
        conn,
        f"""UPDATE person SET effective_cadence_days = coalesce(cadence_days,
                (SELECT min(c.cadence_days) FROM circle_member m JOIN circle c ON c.pk = m.circle_pk
                 WHERE m.person_pk = person.pk))
            WHERE pk IN ({marks})""",
        pks,
    )
    await execute(
        conn,
        f"""UPDATE person SET due_at = CASE WHEN effective_cadence_days IS NULL THEN NULL ELSE
                kith_stamp(kith_epoch(coalesce(last_interaction_at, created_at))
                           + effective_cadence_days * 86400.0) END
            WHERE pk IN ({marks})""",
        pks,
    )


class PgPeople:
    """People, identities and everything attached to one person."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # -- people -------------------------------------------------------------------------------------------
    async def insert_person(
        self,
        *,
        person_id: str,
        fields: PersonFields,
        identities: Sequence[IdentityInput],
        now: datetime,
        circles: Sequence[tuple[str, str]] = (),
        notes: Sequence[tuple[str, str]] = (),
    ) -> Person:
        """Insert a person with identities, circle memberships ((new circle id, name), the circle made if new)
        and notes ((note id, body)), all in one transaction."""
        cols = person_columns(fields)
        if "display_name" not in fields:
            raise ValueError("a new person needs a display_name")
        at = stamp(now)

        async def run(conn: Conn) -> Person:
            row = await fetch_one(
                conn,
                f"INSERT INTO person (id, {', '.join(cols)}, created_at, updated_at) "
                f"VALUES (%s, {placeholders(len(cols))}, %s, %s) RETURNING pk",
                (person_id, *[fields[c] for c in cols], at, at),
            )
            assert row is not None  # RETURNING gives the row made
            pk = int(row[0])
            for ident in identities:
                await attach_identity(conn, pk, ident, at)
            for circle_id, name in circles:
                await _join_circle(conn, pk, circle_id, name, at)
            await executemany(
                conn,
                "INSERT INTO note (id, person_pk, body, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
                [(note_id, pk, body, at, at) for note_id, body in notes],
            )
            await recompute_due(conn, [pk])
            await refresh_fts(conn, [pk])
            return await self._get(conn, pk)

        return await self.db.write(run)

    async def update_person(self, person_id: str, fields: PersonFields, now: datetime) -> Person:
        cols = person_columns(fields)

        async def run(conn: Conn) -> Person:
            pk = await person_pk(conn, person_id)
            if cols:
                await execute(
                    conn,
                    f"UPDATE person SET {', '.join(f'{c} = %s' for c in cols)}, updated_at = %s WHERE pk = %s",
                    (*[fields[c] for c in cols], stamp(now), pk),
                )
            await recompute_due(conn, [pk])
            await refresh_fts(conn, [pk])
            return await self._get(conn, pk)

        return await self.db.write(run)

    async def set_status(self, person_id: str, status: str, now: datetime) -> Person:
        if status not in ("active", "archived"):
            raise ValueError(f"a person's status is set to active or archived, not {status!r}")

        async def run(conn: Conn) -> Person:
            pk = await person_pk(conn, person_id)
            await execute(
                conn, "UPDATE person SET status = %s, updated_at = %s WHERE pk = %s", (status, stamp(now), pk)
            )
            return await self._get(conn, pk)

        return await self.db.write(run)

    async def delete_person(self, person_id: str) -> None:
        async def run(conn: Conn) -> None:
            pk = await person_pk(conn, person_id)
            # People merged into this one go with it; their merge history no longer means anything.
            merged = [
                r[0] for r in await fetch_all(conn, "SELECT pk FROM person WHERE merged_into = %s", (pk,))
            ]
            doomed = [pk, *merged]
            marks = placeholders(len(doomed))
            await execute(
                conn,
                f"DELETE FROM merge_log WHERE survivor_pk IN ({marks}) OR merged_pk IN ({marks})",
                doomed * 2,
            )
            # Interactions that involved only these people go too.
            await execute(
                conn,
                f"""DELETE FROM interaction WHERE pk IN (
                    SELECT interaction_pk FROM interaction_person WHERE person_pk IN ({marks}))
                    AND NOT EXISTS (SELECT 1 FROM interaction_person o WHERE o.interaction_pk = interaction.pk
                                    AND o.person_pk NOT IN ({marks}))""",
                doomed * 2,
            )
            await execute(conn, f"DELETE FROM person_fts WHERE pk IN ({marks})", doomed)
            await execute(conn, f"UPDATE person SET merged_into = NULL WHERE pk IN ({marks})", doomed)
            await execute(conn, f"DELETE FROM person WHERE pk IN ({marks})", doomed)

        await self.db.write(run)

    async def get_person(
        self, person_id: str, *, include_merged: bool = True, strength_at: datetime | None = None
    ) -> Person:
        """One person; with ``strength_at`` also their tie strength at that moment and its parts."""

        async def run(conn: Conn) -> Person:
            pk = await person_pk(conn, person_id, include_merged=include_merged)
            person = await self._get(conn, pk)
            if strength_at is None:
                return person
            explained = await explain_tie_strength(conn, pk, julian_day(strength_at))
            if explained is None:
                return person
            return replace(person, tie_strength=explained.score, tie_strength_parts=explained.parts)

        return await self.db.read(run)

    async def _get(self, conn: Conn, pk: int) -> Person:
        rows = await fetch_all(conn, f"SELECT {PERSON_COLUMNS} FROM person WHERE pk = %s", (pk,))
        if not rows:
            raise NotFound(f"no person with pk {pk}")
        return (await load_people(conn, rows))[0]

    async def person_for_identity(self, uri: str) -> Person | None:
        async def run(conn: Conn) -> Person | None:
            row = await fetch_one(conn, "SELECT person_pk FROM identity WHERE uri = %s", (uri,))
            if row is None or row[0] is None:
                return None
            return await self._get(conn, row[0])

        return await self.db.read(run)

    # -- identities ---------------------------------------------------------------------------------------
    async def add_identity(self, person_id: str, ident: IdentityInput, now: datetime) -> Person:
        async def run(conn: Conn) -> Person:
            pk = await person_pk(conn, person_id)
            await attach_identity(conn, pk, ident, stamp(now))
            await refresh_fts(conn, [pk])
            return await self._get(conn, pk)

        return await self.db.write(run)

    async def remove_identity(self, person_id: str, uri: str) -> Person:
        async def run(conn: Conn) -> Person:
            pk = await person_pk(conn, person_id)
            cur = await execute(conn, "DELETE FROM identity WHERE uri = %s AND person_pk = %s", (uri, pk))
            if cur.rowcount == 0:
                raise NotFound(f"{person_id} has no identity {uri!r}", field="uri")
            await refresh_fts(conn, [pk])
            return await self._get(conn, pk)

        return await self.db.write(run)

    async def set_identity_state(
        self, uri: str, *, state: str, moved_to: str | None, verification: str | None, now: datetime
    ) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await execute(
                conn,
                "UPDATE identity SET state = %s, moved_to = %s, verification = coalesce(%s, verification), "
                "updated_at = %s WHERE uri = %s",
                (state, moved_to, verification, stamp(now), uri),
            )
            return cur.rowcount > 0

        return await self.db.write(run)

    # -- lists ----------------------------------------------------------------------------------------------
    async def list_people(
        self, *, status: str, circle: str | None, order: str, offset: int, limit: int, now: datetime
    ) -> Page:
        if order not in PERSON_ORDERS:
            raise ValueError(
                f"people are listed in one of the orders {', '.join(PERSON_ORDERS)}, not {order!r}"
            )
        now_jd = julian_day(now)
        where = ["p.status = %(status)s"]
        params: dict[str, Any] = {"status": status, "now": now_jd, "limit": limit, "offset": offset}
        if circle is not None:
            where.append(
                "p.pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"WHERE {nocase('c.name')} = {nocase('%(circle)s')})"
            )
            params["circle"] = circle
        order_sql = {
            "name": f"{nocase('p.display_name')}, p.pk",
            "recent": "p.last_interaction_at IS NULL, p.last_interaction_at DESC, p.pk",
            "created": "p.pk DESC",
            "strength": "strength DESC, p.pk",
        }[order]

        async def run(conn: Conn) -> Page:
            total_row = await fetch_one(
                conn, f"SELECT count(*) FROM person p WHERE {' AND '.join(where)}", params
            )
            rows = await fetch_all(
                conn,
                f"SELECT {prefixed(PERSON_COLUMNS)}, {TIE_STRENGTH_SQL} AS strength FROM person p "
                f"WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT %(limit)s OFFSET %(offset)s",
                params,
            )
            people = await load_people(conn, rows, strengths={r["pk"]: r["strength"] for r in rows})
            total = int(total_row[0]) if total_row else 0
            nxt = offset + limit if offset + limit < total else None
            return Page(items=tuple(people), total=total, offset=offset, limit=limit, next_offset=nxt)

        return await self.db.read(run)

    # -- circles ------------------------------------------------------------------------------------------
    async def ensure_circle(self, *, circle_id: str, name: str, now: datetime) -> Circle:
        async def run(conn: Conn) -> Circle:
            await execute(
                conn,
                f"INSERT INTO circle (id, name, created_at) VALUES (%s, %s, %s) ON CONFLICT (({nocase('name')})) DO NOTHING",
                (circle_id, name, stamp(now)),
            )
            return await _circle(conn, name)

        return await self.db.write(run)

    async def set_circle_cadence(self, name: str, cadence_days: int | None) -> Circle:
        async def run(conn: Conn) -> Circle:
            cur = await execute(
                conn, f"UPDATE circle SET cadence_days = %s WHERE {_CIRCLE_NAMED}", (cadence_days, name)
            )
            if cur.rowcount == 0:
                raise NotFound(f"no circle named {name!r}", field="circle")
            members = await fetch_all(
                conn,
                f"SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk WHERE {_C_NAMED}",
                (name,),
            )
            pks = [r[0] for r in members]
            for start in range(0, len(pks), 500):
                await recompute_due(conn, pks[start : start + 500])
            return await _circle(conn, name)

        return await self.db.write(run)

    async def delete_circle(self, name: str) -> None:
        async def run(conn: Conn) -> None:
            members = await fetch_all(
                conn,
                f"SELECT m.person_pk FROM circle_member m JOIN circle c ON c.pk = m.circle_pk WHERE {_C_NAMED}",
                (name,),
            )
            cur = await execute(conn, f"DELETE FROM circle WHERE {_CIRCLE_NAMED}", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no circle named {name!r}", field="circle")
            pks = [r[0] for r in members]
            for start in range(0, len(pks), 500):
                await recompute_due(conn, pks[start : start + 500])

        await self.db.write(run)

    async def set_membership(
        self, person_id: str, *, circle_id: str, name: str, member: bool, now: datetime
    ) -> Person:
        async def run(conn: Conn) -> Person:
            pk = await person_pk(conn, person_id)
            if member:
                await _join_circle(conn, pk, circle_id, name, stamp(now))
            else:
                cur = await execute(
                    conn,
                    "DELETE FROM circle_member WHERE person_pk = %s AND circle_pk = "
                    f"(SELECT pk FROM circle WHERE {_CIRCLE_NAMED})",
                    (pk, name),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"{person_id} is not in circle {name!r}", field="circle")
            await recompute_due(conn, [pk])
            return await self._get(conn, pk)

        return await self.db.write(run)

    async def list_circles(self) -> list[Circle]:
        async def run(conn: Conn) -> list[Circle]:
            rows = await fetch_all(
                conn,
                "SELECT c.id, c.name, c.cadence_days, (SELECT count(*) FROM circle_member m JOIN person p "
                "ON p.pk = m.person_pk WHERE m.circle_pk = c.pk AND p.status = 'active') "
                f"FROM circle c ORDER BY {nocase('c.name')}, c.name",
            )
            return [Circle(id=r[0], name=r[1], cadence_days=r[2], members=r[3]) for r in rows]

        return await self.db.read(run)

    # -- notes --------------------------------------------------------------------------------------------
    async def add_note(self, person_id: str, *, note_id: str, body: str, now: datetime) -> Note:
        at = stamp(now)

        async def run(conn: Conn) -> Note:
            pk = await person_pk(conn, person_id)
            await execute(
                conn,
                "INSERT INTO note (id, person_pk, body, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
                (note_id, pk, body, at, at),
            )
            await refresh_fts(conn, [pk])
            return Note(id=note_id, person_id=person_id, body=body, created_at=at)

        return await self.db.write(run)

    async def list_notes(self, person_id: str) -> list[Note]:
        async def run(conn: Conn) -> list[Note]:
            pk = await person_pk(conn, person_id, include_merged=True)
            rows = await fetch_all(
                conn,
                "SELECT id, body, created_at FROM note WHERE person_pk = %s ORDER BY created_at, pk",
                (pk,),
            )
            return [Note(id=r[0], person_id=person_id, body=r[1], created_at=r[2]) for r in rows]

        return await self.db.read(run)

    async def delete_note(self, note_id: str) -> None:
        async def run(conn: Conn) -> None:
            row = await fetch_one(conn, "SELECT person_pk FROM note WHERE id = %s", (note_id,))
            if row is None:
                raise NotFound(f"no note with id {note_id!r}", field="note")
            await execute(conn, "DELETE FROM note WHERE id = %s", (note_id,))
            await refresh_fts(conn, [row[0]])

        await self.db.write(run)

    # -- relationships ------------------------------------------------------------------------------------
    async def add_relationship(
        self,
        *,
        rel_id: str,
        person_id: str,
        other_person_id: str | None,
        relationship: RelationshipInput,
        now: datetime,
    ) -> Relationship:
        r, at = relationship, stamp(now)

        async def run(conn: Conn) -> Relationship:
            pk = await person_pk(conn, person_id)
            other = await person_pk(conn, other_person_id) if other_person_id else None
            await execute(
                conn,
                "INSERT INTO relationship (id, person_pk, other_pk, type, iri, direction, since, how_we_met, "
                "status, created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (rel_id, pk, other, r.type, r.iri, r.direction, r.since, r.how_we_met, r.status, at, at),
            )
            return (await _relationships(conn, "r.id = %s", (rel_id,)))[0]

        return await self.db.write(run)

    async def delete_relationship(self, rel_id: str, *, local_only: bool = False) -> None:
        async def run(conn: Conn) -> None:
            row = await fetch_one(conn, "SELECT status FROM relationship WHERE id = %s", (rel_id,))
            if row is None:
                raise NotFound(f"no relationship with id {rel_id!r}", field="relationship")
            if local_only and row[0] != "local":
                raise Conflict(
                    f"relationship {rel_id} is a record signed with a peer ({row[0]}); end it with them "
                    "(POST /api/federation/relationships/revoke) rather than deleting your copy",
                    field="relationship",
                )
            await execute(conn, "DELETE FROM relationship WHERE id = %s", (rel_id,))

        await self.db.write(run)

    async def list_relationships(self, person_id: str | None) -> list[Relationship]:
        async def run(conn: Conn) -> list[Relationship]:
            if person_id is None:
                return await _relationships(conn, "true", ())
            pk = await person_pk(conn, person_id, include_merged=True)
            return await _relationships(conn, "(r.person_pk = %s OR r.other_pk = %s)", (pk, pk))

        return await self.db.read(run)

    # -- interactions -------------------------------------------------------------------------------------
    async def add_interaction(
        self, *, interaction_id: str, person_ids: Sequence[str], interaction: InteractionInput, now: datetime
    ) -> Interaction:
        i = interaction
        values = (interaction_id, stamp(i.occurred_at), i.channel, i.initiated_by, i.summary, i.source)

        async def run(conn: Conn) -> Interaction:
            pks = [await person_pk(conn, p) for p in person_ids]
            row = await fetch_one(
                conn,
                "INSERT INTO interaction (id, occurred_at, channel, initiated_by, summary, source, "
                "source_record_id, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING pk",
                (*values, i.source_record_id, stamp(now)),
            )
            assert row is not None  # RETURNING gives the row made
            ipk = row[0]
            await executemany(
                conn,
                "INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(pk, ipk) for pk in pks],
            )
            await recompute_people(conn, pks)
            return (await _interactions(conn, "i.pk = %s", (ipk,), 1, 0))[0]

        return await self.db.write(run)

    async def delete_interaction(self, interaction_id: str) -> None:
        async def run(conn: Conn) -> None:
            row = await fetch_one(conn, "SELECT pk FROM interaction WHERE id = %s", (interaction_id,))
            if row is None:
                raise NotFound(f"no interaction with id {interaction_id!r}", field="interaction")
            pks = [
                r[0]
                for r in await fetch_all(
                    conn, "SELECT person_pk FROM interaction_person WHERE interaction_pk = %s", (row[0],)
                )
            ]
            await execute(conn, "DELETE FROM interaction WHERE pk = %s", (row[0],))
            await recompute_people(conn, pks)

        await self.db.write(run)

    async def list_interactions(self, person_id: str | None, *, offset: int, limit: int) -> Page:
        async def run(conn: Conn) -> Page:
            params: tuple[int, ...] = ()
            if person_id is None:
                where = "true"
            else:
                pk = await person_pk(conn, person_id, include_merged=True)
                where = "i.pk IN (SELECT interaction_pk FROM interaction_person WHERE person_pk = %s)"
                params = (pk,)
            items = await _interactions(conn, where, params, limit + 1, offset)
            return Page.uncounted(items[:limit], offset=offset, limit=limit, more=len(items) > limit)

        return await self.db.read(run)


async def attach_identity(conn: Conn, pk: int, ident: IdentityInput, now: str) -> None:
    row = await fetch_one(
        conn, "SELECT pk, person_pk, verification FROM identity WHERE uri = %s", (ident.uri,)
    )
    if row is not None and row["person_pk"] is not None and row["person_pk"] != pk:
        owner = await fetch_one(conn, "SELECT id FROM person WHERE pk = %s", (row["person_pk"],))
        raise Conflict(
            f"identity {ident.uri} already belongs to person {owner[0] if owner else '?'}; "
            "merge the two people instead",
            field="uri",
        )
    if row is None:
        made = await fetch_one(
            conn,
            "INSERT INTO identity (person_pk, uri, kind, display, label, verification, created_at, updated_at) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING pk",
            (pk, ident.uri, ident.kind, ident.display, ident.label, ident.verification, now, now),
        )
        assert made is not None  # RETURNING gives the row made
        ipk = made[0]
    else:
        ipk = row["pk"]
        await execute(
            conn,
            "UPDATE identity SET person_pk = %s, verification = %s, label = coalesce(%s, label), updated_at = %s "
            "WHERE pk = %s",
            (pk, stronger(row["verification"], ident.verification), ident.label, now, ipk),
        )
    await execute(
        conn,
        "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) VALUES (%s,%s,%s,%s) "
        "ON CONFLICT (identity_pk, source, source_record_id) DO UPDATE SET seen_at = excluded.seen_at",
        (ipk, ident.source, ident.source_record_id, now),
    )


async def _join_circle(conn: Conn, pk: int, circle_id: str, name: str, now: str) -> None:
    await execute(
        conn,
        f"INSERT INTO circle (id, name, created_at) VALUES (%s, %s, %s) ON CONFLICT (({nocase('name')})) DO NOTHING",
        (circle_id, name, now),
    )
    await execute(
        conn,
        f"INSERT INTO circle_member (circle_pk, person_pk) SELECT pk, %s FROM circle WHERE {_CIRCLE_NAMED} "
        "ON CONFLICT DO NOTHING",
        (pk, name),
    )


#: A circle named as SQLite's COLLATE NOCASE compares names (the parameter is the name).
_CIRCLE_NAMED = f"{nocase('name')} = {nocase('%s')}"
_C_NAMED = f"{nocase('c.name')} = {nocase('%s')}"


async def _circle(conn: Conn, name: str) -> Circle:
    row = await fetch_one(
        conn,
        "SELECT id, name, cadence_days, (SELECT count(*) FROM circle_member m WHERE m.circle_pk = circle.pk) "
        f"FROM circle WHERE {_CIRCLE_NAMED}",
        (name,),
    )
    if row is None:
        raise NotFound(f"no circle named {name!r}", field="circle")
    return Circle(id=row[0], name=row[1], cadence_days=row[2], members=row[3])


async def _relationships(conn: Conn, where: str, params: Sequence[Any]) -> list[Relationship]:
    rows = await fetch_all(
        conn,
        f"""SELECT r.id, p.id, o.id, r.type, r.iri, r.direction, r.since, r.how_we_met, r.status, r.created_at
        FROM relationship r JOIN person p ON p.pk = r.person_pk LEFT JOIN person o ON o.pk = r.other_pk
        WHERE {where} ORDER BY r.created_at, r.pk""",
        params,
    )
    return [
        Relationship(
            id=r[0],
            person_id=r[1],
            other_person_id=r[2],
            type=r[3],
            iri=r[4],
            direction=r[5],
            since=r[6],
            how_we_met=r[7],
            status=r[8],
            created_at=r[9],
        )
        for r in rows
    ]


async def _interactions(
    conn: Conn, where: str, params: Sequence[Any], limit: int, offset: int
) -> list[Interaction]:
    rows = await fetch_all(
        conn,
        f"""SELECT i.pk, i.id, i.occurred_at, i.channel, i.initiated_by, i.summary, i.source FROM interaction i
        WHERE {where} ORDER BY i.occurred_at DESC, i.pk DESC LIMIT %s OFFSET %s""",
        (*params, limit, offset),
    )
    if not rows:
        return []
    ipks = [r[0] for r in rows]
    people: dict[int, list[str]] = {}
    for r in await fetch_all(
        conn,
        f"SELECT ip.interaction_pk, p.id FROM interaction_person ip JOIN person p ON p.pk = ip.person_pk "
        f"WHERE ip.interaction_pk IN ({placeholders(len(ipks))}) ORDER BY p.pk",
        ipks,
    ):
        people.setdefault(r[0], []).append(r[1])
    return [
        Interaction(
            id=r[1],
            occurred_at=r[2],
            channel=r[3],
            initiated_by=r[4],
            summary=r[5],
            source=r[6],
            people=tuple(people.get(r[0], ())),
        )
        for r in rows
    ]
