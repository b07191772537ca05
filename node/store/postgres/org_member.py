"""A member's side of organisations on PostgreSQL (node/store/org.py's MemberOrg; the SQLite engine's
node/store/sqlite/org_member.py, statement for statement): the consent settings for each organisation, what it
last told, what was last sent for each person, and introductions. Tables: graph migration 0002_parts.sql."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from node.store.org import PersonInput, SentRow, ShareInputs
from node.store.postgres.db import PgDatabase
from node.store.postgres.dict_rows import dict_all, dict_one
from node.store.postgres.person_rows import nocase
from node.store.postgres.rows import Conn, fetch_all, fetch_one
from node.store.row_records import membership_from_row

__all__ = ["PgMemberOrg"]


_NOCASE_TARGET = nocase("target")  # the expression of org_share_rule_key (migration 0002)


class PgMemberOrg:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # -- memberships ----------------------------------------------------------------------------------------
    async def memberships(self) -> list[dict[str, Any]]:
        async def run(conn: Conn) -> list[dict[str, Any]]:
            rows = await dict_all(conn, "SELECT * FROM org_membership ORDER BY created_at, org")
            return [membership_from_row(r) for r in rows]

        return await self.db.read(run)

    async def membership(self, org: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            row = await dict_one(conn, "SELECT * FROM org_membership WHERE org = %s", (org,))
            return membership_from_row(row) if row else None

        return await self.db.read(run)

    async def ensure(self, org: str, now: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO org_membership (org, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (org, now),
            )

        await self.db.write(run)

    async def save_info(self, org: str, info: dict[str, Any], updated: str) -> bool:
        """Keep what the organisation told, unless what is held is newer. True when it was kept."""

        async def run(conn: Conn) -> bool:
            row = await fetch_one(conn, "SELECT info_updated FROM org_membership WHERE org = %s", (org,))
            if row is None or (row[0] is not None and row[0] > updated):
                return False
            await conn.execute(
                "UPDATE org_membership SET info = %s, info_updated = %s WHERE org = %s",
                (json.dumps(info), updated, org),
            )
            return True

        return await self.db.write(run)

    async def shares_deleted(self, org: str, count: int, when: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "UPDATE org_membership SET deleted_count = %s, deleted_at = %s WHERE org = %s",
                (count, when, org),
            )

        await self.db.write(run)

    # -- consent ----------------------------------------------------------------------------------------------
    async def set_level(self, org: str, level: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute("UPDATE org_membership SET level = %s WHERE org = %s", (level, org))

        await self.db.write(run)

    async def set_rule(self, org: str, scope: str, target: str, level: str | None) -> None:
        """An override for one circle or one person (``level`` None: back to the default). The target is
        matched without regard to the case of its ASCII letters, as by SQLite's COLLATE NOCASE key; a new rule
        takes the new spelling (SQLite's INSERT OR REPLACE)."""

        async def run(conn: Conn) -> None:
            if level is None:
                await conn.execute(
                    f"DELETE FROM org_share_rule WHERE org = %s AND scope = %s AND {_NOCASE_TARGET} = {nocase('%s')}",
                    (org, scope, target),
                )
            else:
                await conn.execute(
                    "INSERT INTO org_share_rule (org, scope, target, level) VALUES (%s, %s, %s, %s) "
                    f"ON CONFLICT (org, scope, ({_NOCASE_TARGET})) DO UPDATE SET target = excluded.target, "
                    "level = excluded.level",
                    (org, scope, target, level),
                )

        await self.db.write(run)

    async def rules(self, org: str) -> list[dict[str, str]]:
        async def run(conn: Conn) -> list[dict[str, str]]:
            rows = await fetch_all(
                conn,
                f"SELECT scope, target, level FROM org_share_rule WHERE org = %s ORDER BY scope, {_NOCASE_TARGET}",
                (org,),
            )
            return [{"scope": r[0], "target": r[1], "level": r[2]} for r in rows]

        return await self.db.read(run)

    async def choose_note(self, org: str, note_id: str, shared: bool) -> None:
        async def run(conn: Conn) -> None:
            if shared:
                await conn.execute(
                    "INSERT INTO org_note_share (org, note_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (org, note_id),
                )
            else:
                await conn.execute(
                    "DELETE FROM org_note_share WHERE org = %s AND note_id = %s", (org, note_id)
                )

        await self.db.write(run)

    async def note_exists(self, note_id: str) -> bool:
        async def run(conn: Conn) -> bool:
            return await fetch_one(conn, "SELECT 1 FROM note WHERE id = %s", (note_id,)) is not None

        return await self.db.read(run)

    async def chosen_notes(self, org: str) -> list[str]:
        async def run(conn: Conn) -> list[str]:
            rows = await fetch_all(
                conn, "SELECT note_id FROM org_note_share WHERE org = %s ORDER BY note_id", (org,)
            )
            return [r[0] for r in rows]

        return await self.db.read(run)

    # -- the outbox of changes ------------------------------------------------------------------------------
    async def inputs(self, org: str) -> ShareInputs:
        """Everything sharing with ``org`` may draw on, read in one snapshot."""

        async def run(conn: Conn) -> ShareInputs:
            row = await fetch_one(conn, "SELECT level FROM org_membership WHERE org = %s", (org,))
            level = row[0] if row else "none"
            rules = {
                (r[0], r[1].casefold()): r[2]
                for r in await fetch_all(
                    conn, "SELECT scope, target, level FROM org_share_rule WHERE org = %s", (org,)
                )
            }
            people: dict[int, PersonInput] = {}
            for r in await fetch_all(
                conn,
                "SELECT pk, id, display_name, organization FROM person WHERE status = 'active' ORDER BY pk",
            ):
                people[r[0]] = PersonInput(pk=r[0], id=r[1], name=r[2], organization=r[3])
            for r in await fetch_all(
                conn,
                "SELECT i.person_pk, i.uri, i.kind, string_agg(DISTINCT pr.source, ',') FROM identity i "
                "LEFT JOIN provenance pr ON pr.identity_pk = i.pk WHERE i.state = 'active' "
                "GROUP BY i.pk ORDER BY i.pk",
            ):
                person = people.get(r[0])
                if person is not None:
                    person.identities.append((r[1], r[2], frozenset((r[3] or "owner").split(","))))
            for r in await fetch_all(
                conn,
                "SELECT m.person_pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"ORDER BY {nocase('c.name')}",  # circle names compare as COLLATE NOCASE does on SQLite
            ):
                person = people.get(r[0])
                if person is not None:
                    person.circles.append(r[1])
            for r in await fetch_all(
                conn,
                "SELECT ip.person_pk, i.occurred_at, i.channel, i.initiated_by FROM interaction_person ip "
                "JOIN interaction i ON i.pk = ip.interaction_pk ORDER BY i.occurred_at",
            ):
                person = people.get(r[0])
                if person is not None:
                    person.interactions.append((r[1], r[2], r[3]))
            for r in await fetch_all(
                conn,
                "SELECT n.person_pk, n.id, n.body FROM note n JOIN org_note_share s ON s.note_id = n.id "
                "WHERE s.org = %s ORDER BY n.created_at, n.id",
                (org,),
            ):
                person = people.get(r[0])
                if person is not None:
                    person.notes.append((r[1], r[2]))
            return ShareInputs(level=level, rules=rules, people=list(people.values()))

        return await self.db.read(run, snapshot=True)

    async def fingerprint(self, org: str) -> str:
        """A digest of everything sharing with ``org`` depends on (node/store/sqlite/org_member.py says which
        changes it sees); the same sums as SQLite's, each aggregate in a fixed order so that equal graphs give
        equal digests. Compared only with digests of the same engine."""

        async def run(conn: Conn) -> str:
            parts = []
            for sql, args in (
                (
                    "SELECT count(*), max(updated_at), coalesce(sum(pk * (length(display_name) + 1009 * "
                    "length(coalesce(organization, '')) + 7 * (status = 'active')::int)), 0) FROM person",
                    (),
                ),
                (
                    "SELECT count(*), max(updated_at), "
                    "coalesce(sum(pk * (length(uri) + 3 * (state = 'active')::int)), 0) FROM identity",
                    (),
                ),
                ("SELECT count(*), max(pk) FROM interaction", ()),
                (
                    "SELECT count(*), coalesce(sum(interaction_pk * 7 + person_pk), 0) FROM interaction_person",
                    (),
                ),
                ("SELECT count(*), max(updated_at), coalesce(sum(pk * length(body)), 0) FROM note", ()),
                (
                    "SELECT count(*), coalesce(sum(circle_pk * 1000003 + person_pk), 0) FROM circle_member",
                    (),
                ),
                ("SELECT string_agg(pk::text || name, ',' ORDER BY pk) FROM circle", ()),
                ("SELECT level, info_updated FROM org_membership WHERE org = %s", (org,)),
                (
                    "SELECT string_agg(scope || target || level, ',' ORDER BY scope, target) FROM org_share_rule "
                    "WHERE org = %s",
                    (org,),
                ),
                (
                    "SELECT string_agg(note_id, ',' ORDER BY note_id) FROM org_note_share WHERE org = %s",
                    (org,),
                ),
            ):
                row = await fetch_one(conn, sql, args)
                parts.append(repr(tuple(row) if row else None))
            return hashlib.sha256("|".join(parts).encode()).hexdigest()

        return await self.db.read(run, snapshot=True)

    async def reconciled(self, org: str) -> str | None:
        row = await self.membership(org)
        return row["reconciled"] if row else None

    async def sent(self, org: str) -> dict[str, SentRow]:
        async def run(conn: Conn) -> dict[str, SentRow]:
            rows = await fetch_all(
                conn,
                "SELECT person_id, record_id, digest, version, level FROM org_sent WHERE org = %s",
                (org,),
            )
            return {r[0]: SentRow(r[0], r[1], r[2], r[3], r[4]) for r in rows}

        return await self.db.read(run)

    async def take_versions(self, org: str, count: int) -> int:
        """Reserve ``count`` versions for the changes about to be sent; the first. Written before they are
        queued, so that a crash between can only skip versions, never give one twice."""

        async def run(conn: Conn) -> int:
            row = await fetch_one(conn, "SELECT share_seq FROM org_membership WHERE org = %s", (org,))
            first = (int(row[0]) if row else 0) + 1
            await conn.execute(
                "UPDATE org_membership SET share_seq = share_seq + %s WHERE org = %s", (count, org)
            )
            return first

        return await self.db.write(run)

    async def mark_sent(
        self,
        org: str,
        *,
        upserts: Sequence[SentRow],
        removed: Sequence[str],
        fingerprint: str | None,
        now: str,
    ) -> None:
        """Record what was just queued (after it was queued: a crash before this only sends it again)."""

        async def run(conn: Conn) -> None:
            async with conn.cursor() as cur:
                if upserts:
                    await cur.executemany(
                        "INSERT INTO org_sent (org, person_id, record_id, digest, version, level, sent_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (org, person_id) DO UPDATE SET "
                        "record_id = excluded.record_id, digest = excluded.digest, version = excluded.version, "
                        "level = excluded.level, sent_at = excluded.sent_at",
                        [(org, r.person_id, r.record_id, r.digest, r.version, r.level, now) for r in upserts],
                    )
                if removed:
                    await cur.execute(
                        "DELETE FROM org_sent WHERE org = %s AND person_id = ANY(%s)", (org, list(removed))
                    )
            if fingerprint is not None:
                await conn.execute(
                    "UPDATE org_membership SET reconciled = %s WHERE org = %s", (fingerprint, org)
                )

        await self.db.write(run)

    async def forget_sent(self, org: str) -> int:
        """The membership ended: the organisation deletes what it held, so nothing is left to compare with."""

        async def run(conn: Conn) -> int:
            cur = await conn.execute("DELETE FROM org_sent WHERE org = %s", (org,))
            count = max(cur.rowcount, 0)
            await conn.execute("UPDATE org_membership SET reconciled = NULL WHERE org = %s", (org,))
            return count

        return await self.db.write(run)

    async def person_for_record(self, org: str, record_id: str) -> str | None:
        async def run(conn: Conn) -> str | None:
            row = await fetch_one(
                conn, "SELECT person_id FROM org_sent WHERE org = %s AND record_id = %s", (org, record_id)
            )
            return str(row[0]) if row else None

        return await self.db.read(run)

    # -- introductions -----------------------------------------------------------------------------------------
    async def save_intro(self, row: dict[str, Any]) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                """INSERT INTO org_intro_local (id, org, role, name, person_id, requester, introducer, note, answer,
                       ask_id, state, created_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT(id) DO UPDATE SET state = excluded.state, introducer = excluded.introducer,
                       answer = excluded.answer, updated_at = excluded.updated_at""",
                (
                    row["id"],
                    row["org"],
                    row["role"],
                    row["name"],
                    row.get("person_id"),
                    row.get("requester"),
                    row.get("introducer"),
                    row.get("note"),
                    row.get("answer"),
                    row.get("ask_id"),
                    row["state"],
                    row["now"],
                    row["now"],
                ),
            )

        await self.db.write(run)

    async def intros(self, org: str | None = None) -> list[dict[str, Any]]:
        async def run(conn: Conn) -> list[dict[str, Any]]:
            sql, args = "SELECT * FROM org_intro_local", []
            if org is not None:
                sql, args = sql + " WHERE org = %s", [org]
            return await dict_all(conn, sql + " ORDER BY created_at DESC, id", args)

        return await self.db.read(run)

    async def intro(self, intro_id: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            return await dict_one(conn, "SELECT * FROM org_intro_local WHERE id = %s", (intro_id,))

        return await self.db.read(run)
