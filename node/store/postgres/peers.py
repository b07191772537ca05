"""PostgreSQL implementation of the graph store's peers (node/store/peers.py): people by circle with their
fediverse actor identities, identities replaced wholesale from one source record (a peer's card), and
relationships keyed by their signed record id; the SQLite engine's (node/store/sqlite/peers.py) in PostgreSQL's
words."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from node.errors import NotFound
from node.store.people import IdentityInput, PersonFields, RelationshipInput
from node.store.postgres.db import PgDatabase
from node.store.postgres.people import attach_identity, person_pk
from node.store.postgres.person_rows import nocase, refresh_fts
from node.store.postgres.rows import Conn, execute, fetch_all, fetch_one, placeholders
from node.store.values import stamp

__all__ = ["PgPeers"]

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class PgPeers:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def circles_of_identity(self, uri: str, *, source: str | None = None) -> list[str] | None:
        """The circle names of the person holding ``uri``; None when no person holds it (or, with ``source``,
        when that source never vouched for the identity: e.g. only an actor's own document may say whose
        actor it is when what the owner discloses depends on it)."""

        async def run(conn: Conn) -> list[str] | None:
            row = await fetch_one(conn, "SELECT person_pk, pk FROM identity WHERE uri = %s", (uri,))
            if row is None or row[0] is None:
                return None
            if source is not None and not await fetch_one(
                conn, "SELECT 1 FROM provenance WHERE identity_pk = %s AND source = %s", (row[1], source)
            ):
                return None
            rows = await fetch_all(
                conn,
                "SELECT c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk WHERE m.person_pk = %s "
                "ORDER BY m.circle_pk",
                (row[0],),
            )
            return [r[0] for r in rows]

        return await self.db.read(run)

    async def identities_from_source(
        self, source: str, kind: str, circles: Iterable[str] | None
    ) -> list[str]:
        """Identity uris of ``kind`` seen through ``source`` whose person is in one of ``circles`` (None: any)."""

        async def run(conn: Conn) -> list[str]:
            sql = (
                "SELECT DISTINCT i.uri FROM identity i JOIN provenance pr ON pr.identity_pk = i.pk "
                "JOIN person p ON p.pk = i.person_pk AND p.status = 'active' "
                "WHERE pr.source = %s AND i.kind = %s AND i.state = 'active'"
            )
            params: list[Any] = [source, kind]
            if circles is not None:
                names = list(circles)
                if not names:
                    return []
                sql += (
                    " AND i.person_pk IN (SELECT m.person_pk FROM circle_member m JOIN circle c "
                    f"ON c.pk = m.circle_pk WHERE {nocase('c.name')} IN ({placeholders(len(names))}))"
                )
                params += [name.translate(_ASCII_LOWER) for name in names]  # SQLite's NOCASE
            return [r[0] for r in await fetch_all(conn, sql + " ORDER BY i.uri", params)]

        return await self.db.read(run)

    async def replace_from_record(
        self,
        person_id: str,
        *,
        source: str,
        source_record_id: str,
        identities: Sequence[IdentityInput],
        fields: PersonFields,
        now: datetime,
    ) -> None:
        """Make ``identities`` exactly what ``source_record_id`` says of this person: attach the new ones,
        withdraw that record's provenance from the others (deleting identities no other source vouches for),
        and set ``fields`` on the person."""
        at = stamp(now)

        async def run(conn: Conn) -> None:
            pk = await person_pk(conn, person_id)
            keep = {i.uri for i in identities}
            for ident in identities:
                await attach_identity(conn, pk, ident, at)
            old = await fetch_all(
                conn,
                "SELECT i.pk, i.uri FROM identity i JOIN provenance pr ON pr.identity_pk = i.pk "
                "WHERE i.person_pk = %s AND pr.source = %s AND pr.source_record_id = %s",
                (pk, source, source_record_id),
            )
            for ipk, uri in old:
                if uri in keep:
                    continue
                await execute(
                    conn,
                    "DELETE FROM provenance WHERE identity_pk = %s AND source = %s AND source_record_id = %s",
                    (ipk, source, source_record_id),
                )
                await execute(
                    conn,
                    "DELETE FROM identity WHERE pk = %s AND NOT EXISTS "
                    "(SELECT 1 FROM provenance WHERE identity_pk = identity.pk)",
                    (ipk,),
                )
            cols = [c for c in ("display_name", "organization", "title", "photo_url") if fields.get(c)]
            if cols:
                await execute(
                    conn,
                    f"UPDATE person SET {', '.join(f'{c} = %s' for c in cols)}, updated_at = %s WHERE pk = %s",
                    (*[fields[c] for c in cols], at, pk),
                )
            await refresh_fts(conn, [pk])

        await self.db.write(run)

    async def upsert_record_relationship(
        self,
        *,
        rel_id: str,
        person_id: str,
        record: Mapping[str, Any],
        relationship: RelationshipInput,
        now: datetime,
    ) -> None:
        """Store a signed relationship record on the person, replacing an earlier one with the same record id."""
        r, at = relationship, stamp(now)

        async def run(conn: Conn) -> None:
            pk = await person_pk(conn, person_id)
            blob = json.dumps(record, sort_keys=True)
            row = await fetch_one(
                conn,
                "SELECT pk FROM relationship WHERE (record_json::jsonb ->> 'id') = %s",
                (record["id"],),
            )
            values = {
                "person_pk": pk,
                "type": r.type,
                "iri": r.iri,
                "direction": r.direction,
                "since": r.since,
                "how_we_met": r.how_we_met,
                "status": r.status,
                "record_json": blob,
                "updated_at": at,
            }
            if row is None:
                values.update(id=rel_id, created_at=at)
                await execute(
                    conn,
                    f"INSERT INTO relationship ({', '.join(values)}) VALUES ({placeholders(len(values))})",
                    list(values.values()),
                )
            else:
                await execute(
                    conn,
                    f"UPDATE relationship SET {', '.join(f'{c} = %s' for c in values)} WHERE pk = %s",
                    [*values.values(), row[0]],
                )

        await self.db.write(run)

    async def set_record_status(self, record_id: str, status: str, now: datetime) -> None:
        async def run(conn: Conn) -> None:
            cur = await execute(
                conn,
                "UPDATE relationship SET status = %s, updated_at = %s WHERE (record_json::jsonb ->> 'id') = %s",
                (status, stamp(now), record_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no relationship record {record_id!r}", field="relationship")

        await self.db.write(run)
