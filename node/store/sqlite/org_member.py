"""A member's side of organisations (specs/ORGANISATIONS.md): the consent settings for each organisation
(default level, per-circle and per-person overrides, chosen notes), what the organisation last told, what was
last sent for each person (the outbox of changes compares the graph with it), and introductions. Tables:
migration 0008_org.sql."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import aiosqlite

from node.store.org import PersonInput, SentRow, ShareInputs
from node.store.row_records import membership_from_row
from node.store.sqlite.db import Database
from node.store.sqlite.rows import fetch_all, fetch_one

__all__ = ["MemberOrgStore"]


class MemberOrgStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- memberships ----------------------------------------------------------------------------------------
    async def memberships(self) -> list[dict[str, Any]]:
        async def run(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            rows = await fetch_all(conn, "SELECT * FROM org_membership ORDER BY created_at, org")
            return [membership_from_row(r) for r in rows]

        return await self.db.read(run)

    async def membership(self, org: str) -> dict[str, Any] | None:
        async def run(conn: aiosqlite.Connection) -> dict[str, Any] | None:
            row = await fetch_one(conn, "SELECT * FROM org_membership WHERE org = ?", (org,))
            return membership_from_row(row) if row else None

        return await self.db.read(run)

    async def ensure(self, org: str, now: str) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT OR IGNORE INTO org_membership (org, created_at) VALUES (?, ?)", (org, now)
            )

        await self.db.write(run)

    async def save_info(self, org: str, info: dict[str, Any], updated: str) -> bool:
        """Keep what the organisation told, unless what is held is newer. True when it was kept."""

        async def run(conn: aiosqlite.Connection) -> bool:
            row = await fetch_one(conn, "SELECT info_updated FROM org_membership WHERE org = ?", (org,))
            if row is None or (row[0] is not None and row[0] > updated):
                return False
            await conn.execute(
                "UPDATE org_membership SET info = ?, info_updated = ? WHERE org = ?",
                (json.dumps(info), updated, org),
            )
            return True

        return await self.db.write(run)

    async def shares_deleted(self, org: str, count: int, when: str) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE org_membership SET deleted_count = ?, deleted_at = ? WHERE org = ?",
                (count, when, org),
            )

        await self.db.write(run)

    # -- consent ----------------------------------------------------------------------------------------------
    async def set_level(self, org: str, level: str) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute("UPDATE org_membership SET level = ? WHERE org = ?", (level, org))

        await self.db.write(run)

    async def set_rule(self, org: str, scope: str, target: str, level: str | None) -> None:
        """An override for one circle or one person (``level`` None: back to the default)."""

        async def run(conn: aiosqlite.Connection) -> None:
            if level is None:
                await conn.execute(
                    "DELETE FROM org_share_rule WHERE org = ? AND scope = ? AND target = ?",
                    (org, scope, target),
                )
            else:
                await conn.execute(
                    "INSERT OR REPLACE INTO org_share_rule (org, scope, target, level) VALUES (?, ?, ?, ?)",
                    (org, scope, target, level),
                )

        await self.db.write(run)

    async def rules(self, org: str) -> list[dict[str, str]]:
        async def run(conn: aiosqlite.Connection) -> list[dict[str, str]]:
            rows = await fetch_all(
                conn,
                "SELECT scope, target, level FROM org_share_rule WHERE org = ? ORDER BY scope, target",
                (org,),
            )
            return [dict(r) for r in rows]

        return await self.db.read(run)

    async def choose_note(self, org: str, note_id: str, shared: bool) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            if shared:
                await conn.execute(
                    "INSERT OR IGNORE INTO org_note_share (org, note_id) VALUES (?, ?)", (org, note_id)
                )
            else:
                await conn.execute("DELETE FROM org_note_share WHERE org = ? AND note_id = ?", (org, note_id))

        await self.db.write(run)

    async def note_exists(self, note_id: str) -> bool:
        async def run(conn: aiosqlite.Connection) -> bool:
            return await fetch_one(conn, "SELECT 1 FROM note WHERE id = ?", (note_id,)) is not None

        return await self.db.read(run)

    async def chosen_notes(self, org: str) -> list[str]:
        async def run(conn: aiosqlite.Connection) -> list[str]:
            rows = await fetch_all(
                conn, "SELECT note_id FROM org_note_share WHERE org = ? ORDER BY note_id", (org,)
            )
            return [r[0] for r in rows]

        return await self.db.read(run)

    # -- the outbox of changes ------------------------------------------------------------------------------
    async def inputs(self, org: str) -> ShareInputs:
        """Everything sharing with ``org`` may draw on, read in one snapshot."""

        async def run(conn: aiosqlite.Connection) -> ShareInputs:
            row = await fetch_one(conn, "SELECT level FROM org_membership WHERE org = ?", (org,))
            level = row[0] if row else "none"
            rules = {
                (r[0], r[1].casefold()): r[2]
                for r in await fetch_all(
                    conn, "SELECT scope, target, level FROM org_share_rule WHERE org = ?", (org,)
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
                "SELECT i.person_pk, i.uri, i.kind, group_concat(DISTINCT pr.source) FROM identity i "
                "LEFT JOIN provenance pr ON pr.identity_pk = i.pk WHERE i.state = 'active' "
                "GROUP BY i.pk ORDER BY i.pk",
            ):
                person = people.get(r[0])
                if person is not None:
                    person.identities.append((r[1], r[2], frozenset((r[3] or "owner").split(","))))
            for r in await fetch_all(
                conn,
                "SELECT m.person_pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk ORDER BY c.name",
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
                "WHERE s.org = ? ORDER BY n.created_at, n.id",
                (org,),
            ):
                person = people.get(r[0])
                if person is not None:
                    person.notes.append((r[1], r[2]))
            return ShareInputs(level=level, rules=rules, people=list(people.values()))

        return await self.db.read(run)

    async def fingerprint(self, org: str) -> str:
        """A digest of everything sharing with ``org`` depends on: when it equals the one stored by the last
        reconcile, nothing needs sending. Counts, latest changes, sums of keys and of the lengths of the text
        shared, so that a deletion, an edit and a move between circles each change it; cheap (scans of a few
        columns) enough for the quiet loop. An edit it cannot see (a name changed to another of the same
        length within the same second) is shared by the periodic full pass (federation/org_share.py)."""

        async def run(conn: aiosqlite.Connection) -> str:
            parts = []
            for sql, args in (
                (
                    "SELECT count(*), max(updated_at), total(pk * (length(display_name) + 1009 * "
                    "length(coalesce(organization, '')) + 7 * (status = 'active'))) FROM person",
                    (),
                ),
                (
                    "SELECT count(*), max(updated_at), total(pk * (length(uri) + 3 * (state = 'active'))) FROM identity",
                    (),
                ),
                ("SELECT count(*), max(pk) FROM interaction", ()),
                ("SELECT count(*), total(interaction_pk * 7 + person_pk) FROM interaction_person", ()),
                ("SELECT count(*), max(updated_at), total(pk * length(body)) FROM note", ()),
                ("SELECT count(*), total(circle_pk * 1000003 + person_pk) FROM circle_member", ()),
                ("SELECT group_concat(pk || name) FROM circle", ()),
                ("SELECT level, info_updated FROM org_membership WHERE org = ?", (org,)),
                ("SELECT group_concat(scope || target || level) FROM org_share_rule WHERE org = ?", (org,)),
                ("SELECT group_concat(note_id) FROM org_note_share WHERE org = ?", (org,)),
            ):
                row = await fetch_one(conn, sql, args)
                parts.append(repr(tuple(row) if row else None))
            return hashlib.sha256("|".join(parts).encode()).hexdigest()

        return await self.db.read(run)

    async def reconciled(self, org: str) -> str | None:
        row = await self.membership(org)
        return row["reconciled"] if row else None

    async def sent(self, org: str) -> dict[str, SentRow]:
        async def run(conn: aiosqlite.Connection) -> dict[str, SentRow]:
            rows = await fetch_all(
                conn,
                "SELECT person_id, record_id, digest, version, level FROM org_sent WHERE org = ?",
                (org,),
            )
            return {r[0]: SentRow(*r) for r in rows}

        return await self.db.read(run)

    async def take_versions(self, org: str, count: int) -> int:
        """Reserve ``count`` versions for the changes about to be sent; the first. Written before they are
        queued, so that a crash between can only skip versions, never give one twice."""

        async def run(conn: aiosqlite.Connection) -> int:
            row = await fetch_one(conn, "SELECT share_seq FROM org_membership WHERE org = ?", (org,))
            first = (int(row[0]) if row else 0) + 1
            await conn.execute(
                "UPDATE org_membership SET share_seq = share_seq + ? WHERE org = ?", (count, org)
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

        async def run(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                """INSERT OR REPLACE INTO org_sent (org, person_id, record_id, digest, version, level, sent_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [(org, r.person_id, r.record_id, r.digest, r.version, r.level, now) for r in upserts],
            )
            await conn.executemany(
                "DELETE FROM org_sent WHERE org = ? AND person_id = ?", [(org, pid) for pid in removed]
            )
            if fingerprint is not None:
                await conn.execute(
                    "UPDATE org_membership SET reconciled = ? WHERE org = ?", (fingerprint, org)
                )

        await self.db.write(run)

    async def forget_sent(self, org: str) -> int:
        """The membership ended: the organisation deletes what it held, so nothing is left to compare with."""

        async def run(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute("DELETE FROM org_sent WHERE org = ?", (org,))
            await conn.execute("UPDATE org_membership SET reconciled = NULL WHERE org = ?", (org,))
            return cur.rowcount or 0

        return await self.db.write(run)

    async def person_for_record(self, org: str, record_id: str) -> str | None:
        async def run(conn: aiosqlite.Connection) -> str | None:
            row = await fetch_one(
                conn, "SELECT person_id FROM org_sent WHERE org = ? AND record_id = ?", (org, record_id)
            )
            return str(row[0]) if row else None

        return await self.db.read(run)

    # -- introductions -----------------------------------------------------------------------------------------
    async def save_intro(self, row: dict[str, Any]) -> None:
        async def run(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                """INSERT INTO org_intro_local (id, org, role, name, person_id, requester, introducer, note, answer,
                       ask_id, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        async def run(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
            sql, args = "SELECT * FROM org_intro_local", []
            if org is not None:
                sql, args = sql + " WHERE org = ?", [org]
            rows = await fetch_all(conn, sql + " ORDER BY created_at DESC, id", args)
            return [dict(r) for r in rows]

        return await self.db.read(run)

    async def intro(self, intro_id: str) -> dict[str, Any] | None:
        async def run(conn: aiosqlite.Connection) -> dict[str, Any] | None:
            row = await fetch_one(conn, "SELECT * FROM org_intro_local WHERE id = ?", (intro_id,))
            return dict(row) if row else None

        return await self.db.read(run)
