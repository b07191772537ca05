"""The organisation's side of organisations on PostgreSQL (node/store/org.py's OrgRecords): the SQLite engine's
node/store/sqlite/org.py statement for statement, which says how the people are derived from the members'
records. Tables: graph migration 0002_parts.sql.

Where the engines differ:
- IN lists become one array parameter (``= ANY(%s)``), so nothing is cut into chunks.
- A word's prefix range ends at word + U+10FFFF, as on SQLite, over a COLLATE "C" column (code point order);
  a whole word is an equality (PostgreSQL text holds no NUL, which ends SQLite's whole-word range).
- ``LIKE`` patterns of a host are ``ILIKE ... ESCAPE ''``: SQLite's LIKE ignores ASCII case and has no escape (ILIKE
  folds every letter's case, so a purge takes at least what SQLite's takes).
- ``scrub`` vacuums (there is no secure_delete: see its docstring).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from node.store.org import IncomingRecord, words
from node.store.org_rows import (
    MAX_TIMELINE,
    add_identity,
    candidates_ranked,
    host_patterns,
    name_rank,
    newest_first,
    timeline_entry,
    who_knows_answer,
)
from node.store.postgres.db import PgDatabase
from node.store.postgres.dict_rows import dict_all, dict_one
from node.store.postgres.errors import store_error
from node.store.postgres.rows import Conn, fetch_all, fetch_one
from protocol.vocab import SHARING_LEVELS

__all__ = ["PgOrg"]

_LEVEL = {name: i for i, name in enumerate(SHARING_LEVELS)}
_MAX_PEOPLE = 50  # people a who-knows answer lists
_PROBE = 2_000  # rows a word's probe counts before it stops: enough to tell a rare word from a common one
_CANDIDATES = 5_000  # people a word search ranks


@dataclass
class _Touched:
    people: set[int] = field(default_factory=set)


#: The tables that hold what members shared: ``scrub`` vacuums them.
_SHARED_TABLES = (
    "org_shared",
    "org_shared_identity",
    "org_shared_interaction",
    "org_shared_note",
    "org_person",
    "org_person_word",
    "org_withdrawn",
)


def _any(values: Iterable[Any]) -> list[Any]:
    """A list for ``= ANY(%s)``: one array parameter, however many values (no chunks of IN lists)."""
    return list(values)


class PgOrg:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # -- settings -----------------------------------------------------------------------------------------
    async def settings(self) -> dict[str, Any]:
        async def run(conn: Conn) -> dict[str, Any]:
            rows = await fetch_all(conn, "SELECT key, value FROM org_setting")
            return {r[0]: json.loads(r[1]) for r in rows}

        return await self.db.read(run)

    async def set_settings(self, values: dict[str, Any]) -> None:
        async def run(conn: Conn) -> None:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO org_setting (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [(k, json.dumps(v)) for k, v in values.items()],
                )

        await self.db.write(run)

    # -- members --------------------------------------------------------------------------------------------
    async def member(self, actor: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            return await dict_one(conn, "SELECT * FROM org_member WHERE actor = %s", (actor,))

        return await self.db.read(run)

    async def members(self, states: Iterable[str] = ("active",)) -> list[dict[str, Any]]:
        """Members in ``states`` with the level they share at (the highest level among their records)."""
        wanted = list(states)

        async def run(conn: Conn) -> list[dict[str, Any]]:
            rows = await dict_all(
                conn, "SELECT * FROM org_member WHERE state = ANY(%s) ORDER BY joined_at, actor", (wanted,)
            )
            levels = {
                r[0]: r[1]
                for r in await fetch_all(
                    conn,
                    "SELECT member, string_agg(DISTINCT level, ',') FROM org_shared GROUP BY member",
                )
            }
            out = []
            for r in rows:
                found = (levels.get(r["actor"]) or "").split(",")
                top = max((_LEVEL.get(x, 0) for x in found), default=0)
                out.append({**r, "level": SHARING_LEVELS[top]})
            return out

        return await self.db.read(run)

    async def add_member(
        self, actor: str, *, acct: str | None, name: str | None, role: str, now: str
    ) -> None:
        """A member joins (again: a former member's row becomes active, their old role forgotten)."""

        async def run(conn: Conn) -> None:
            await conn.execute(
                """INSERT INTO org_member (actor, acct, name, role, state, joined_at) VALUES (%s, %s, %s, %s, 'active', %s)
                   ON CONFLICT(actor) DO UPDATE SET acct = excluded.acct, name = excluded.name,
                       role = excluded.role, state = 'active', joined_at = excluded.joined_at, ended_at = NULL""",
                (actor, acct, name, role, now),
            )

        await self.db.write(run)

    async def set_role(self, actor: str, role: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "UPDATE org_member SET role = %s WHERE actor = %s AND state = 'active'", (role, actor)
            )

        await self.db.write(run)

    async def end_member(self, actor: str, *, state: str, now: str) -> int:
        """The member left or was removed: their row ends, and every record they shared is deleted (with the
        people only those records held). Returns how many records were deleted."""

        async def run(conn: Conn) -> int:
            await conn.execute(
                "UPDATE org_member SET state = %s, ended_at = %s WHERE actor = %s AND state = 'active'",
                (state, now, actor),
            )
            rows = await fetch_all(conn, "SELECT pk, person_pk FROM org_shared WHERE member = %s", (actor,))
            touched = _Touched({r[1] for r in rows})
            await conn.execute("DELETE FROM org_shared WHERE member = %s", (actor,))
            await conn.execute("DELETE FROM org_withdrawn WHERE member = %s", (actor,))
            await _refresh(conn, touched, now)
            return len(rows)

        return await self.db.write(run)

    # -- shared records -----------------------------------------------------------------------------------
    async def apply(self, member: str, records: Sequence[IncomingRecord], now: str) -> tuple[int, int]:
        """Store ``member``'s records, each replacing the member's earlier version of it; a record no newer
        than what is held (or than its withdrawal) is left out. Returns (new, replaced)."""

        async def run(conn: Conn) -> tuple[int, int]:
            touched = _Touched()
            new = replaced = 0
            for item in records:
                outcome = await _apply_one(conn, member, item, now, touched)
                new += outcome == "new"
                replaced += outcome == "replaced"
            await _refresh(conn, touched, now)
            return new, replaced

        return await self.db.write(run)

    async def withdraw(self, member: str, removals: Sequence[tuple[str, int]], now: str) -> int:
        """``member`` no longer shares these records (id, version of the withdrawal). Returns how many went."""

        async def run(conn: Conn) -> int:
            touched = _Touched()
            gone = 0
            for record_id, version in removals:
                held = await dict_one(
                    conn,
                    "SELECT pk, member, version, person_pk FROM org_shared WHERE record_id = %s",
                    (record_id,),
                )
                if held is not None and held["member"] != member:
                    continue  # someone else's record: not theirs to withdraw
                if held is not None and held["version"] >= version:
                    continue  # the record came after this withdrawal
                before = await dict_one(
                    conn, "SELECT member, version FROM org_withdrawn WHERE record_id = %s", (record_id,)
                )
                if before is not None and (before["member"] != member or before["version"] >= version):
                    continue
                await conn.execute(
                    "INSERT INTO org_withdrawn (record_id, member, version) VALUES (%s, %s, %s) ON CONFLICT (record_id) "
                    "DO UPDATE SET member = excluded.member, version = excluded.version",
                    (record_id, member, version),
                )
                if held is not None:
                    await conn.execute("DELETE FROM org_shared WHERE pk = %s", (held["pk"],))
                    touched.people.add(held["person_pk"])
                    gone += 1
            await _refresh(conn, touched, now)
            return gone

        return await self.db.write(run)

    async def purge(
        self, *, now: str, uris: Sequence[str] = (), hosts: Sequence[str] = (), above: str | None = None
    ) -> int:
        """Delete records the organisation must not hold any more: about a colleague (an identity among
        ``uris``, or an address on one of ``hosts``), or shared above the level ``above`` (the cap was
        lowered). Returns how many records went."""

        async def run(conn: Conn) -> int:
            doomed: set[int] = set()
            if uris:
                rows = await fetch_all(
                    conn,
                    "SELECT DISTINCT shared_pk FROM org_shared_identity WHERE uri = ANY(%s)",
                    (_any(uris),),
                )
                doomed.update(r[0] for r in rows)
            for host in hosts:
                for pattern in host_patterns(host):
                    rows = await fetch_all(
                        conn,
                        "SELECT DISTINCT shared_pk FROM org_shared_identity WHERE uri ILIKE %s ESCAPE ''",
                        (pattern,),
                    )
                    doomed.update(r[0] for r in rows)
            if above is not None:
                higher = [lv for lv in SHARING_LEVELS if _LEVEL[lv] > _LEVEL[above]]
                if higher:
                    rows = await fetch_all(conn, "SELECT pk FROM org_shared WHERE level = ANY(%s)", (higher,))
                    doomed.update(r[0] for r in rows)
            if not doomed:
                return 0
            doomed_pks = sorted(doomed)
            touched = _Touched()
            rows = await fetch_all(
                conn, "DELETE FROM org_shared WHERE pk = ANY(%s) RETURNING person_pk", (doomed_pks,)
            )
            touched.people.update(r[0] for r in rows)
            await _refresh(conn, touched, now)
            return len(doomed_pks)

        return await self.db.write(run)

    async def records_of(self, member: str) -> int:
        async def run(conn: Conn) -> int:
            row = await fetch_one(conn, "SELECT count(*) FROM org_shared WHERE member = %s", (member,))
            return int(row[0]) if row else 0

        return await self.db.read(run)

    async def record(self, record_id: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            return await dict_one(
                conn,
                "SELECT pk, record_id, member, person_pk, level, name, strength, bucket FROM org_shared "
                "WHERE record_id = %s",
                (record_id,),
            )

        return await self.db.read(run)

    # -- who knows, the timeline --------------------------------------------------------------------------
    async def find_people(
        self,
        *,
        uris: Sequence[str] = (),
        name: str | None = None,
        company: str | None = None,
        limit: int = _MAX_PEOPLE,
    ) -> list[tuple[int, str]]:
        """People by an address they hold, by name or by company: (person pk, how they matched)."""

        async def run(conn: Conn) -> list[tuple[int, str]]:
            found: dict[int, str] = {}
            if uris:
                rows = await fetch_all(
                    conn,
                    "SELECT DISTINCT s.person_pk FROM org_shared_identity i JOIN org_shared s ON s.pk = i.shared_pk "
                    "WHERE i.uri = ANY(%s) LIMIT %s",
                    (_any(uris), limit),
                )
                for r in rows:
                    found.setdefault(r[0], "person")
            for text, which, how in ((name, 0, "person"), (company, 1, "company")):
                if not text or len(found) >= limit:
                    continue
                for pk in await _by_words(conn, which, text, limit - len(found)):
                    found.setdefault(pk, how)
            return list(found.items())

        return await self.db.read(run)

    async def who_knows(self, people: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
        """Each person with the members who know them: strength (exact from level interactions, else the
        middle of the bucket shared), bucket, last contact (from level last-contact), level, the explanation
        (where shared) and the notes (level notes). The best-connected first."""
        if not people:
            return []
        pks = [pk for pk, _ in people]
        how = dict(people)

        async def run(conn: Conn) -> list[dict[str, Any]]:
            persons = {
                r["pk"]: r
                for r in await dict_all(
                    conn, "SELECT pk, name, organization FROM org_person WHERE pk = ANY(%s)", (pks,)
                )
            }
            records = await dict_all(
                conn,
                "SELECT s.pk, s.person_pk, s.member, s.level, s.strength, s.bucket, s.explained, s.last_contact, "
                "s.last_channel FROM org_shared s WHERE s.person_pk = ANY(%s)",
                (pks,),
            )
            rec_pks = [r["pk"] for r in records]
            idents: dict[int, list[str]] = {}
            notes: dict[int, list[str]] = {}
            for r in await fetch_all(
                conn,
                "SELECT s.person_pk, i.uri FROM org_shared_identity i JOIN org_shared s ON s.pk = i.shared_pk "
                "WHERE i.shared_pk = ANY(%s) ORDER BY i.merges DESC, i.uri",
                (rec_pks,),
            ):
                add_identity(idents, r[0], r[1])
            for r in await fetch_all(
                conn, "SELECT shared_pk, body FROM org_shared_note WHERE shared_pk = ANY(%s)", (rec_pks,)
            ):
                notes.setdefault(r[0], []).append(r[1])
            return who_knows_answer(pks, how, persons, records, idents, notes)

        return await self.db.read(run)

    async def timeline(self, pks: Sequence[int], *, limit: int = MAX_TIMELINE) -> list[dict[str, Any]]:
        """Every shared interaction with these people, newest first; a record shared at level last-contact
        gives its last contact only."""
        if not pks:
            return []

        async def run(conn: Conn) -> list[dict[str, Any]]:
            entries: list[dict[str, Any]] = []
            for r in await dict_all(
                conn,
                "SELECT x.occurred_at, x.channel, x.initiated_by, s.member, p.name, p.organization "
                "FROM org_shared_interaction x JOIN org_shared s ON s.pk = x.shared_pk "
                "JOIN org_person p ON p.pk = s.person_pk WHERE s.person_pk = ANY(%s) "
                "ORDER BY x.occurred_at DESC LIMIT %s",
                (_any(pks), limit),
            ):
                entries.append(timeline_entry(r, "interaction"))
            for r in await dict_all(
                conn,
                "SELECT s.last_contact AS occurred_at, s.last_channel AS channel, NULL AS initiated_by, s.member, "
                "p.name, p.organization FROM org_shared s JOIN org_person p ON p.pk = s.person_pk "
                "WHERE s.person_pk = ANY(%s) AND s.level = 'last-contact' AND s.last_contact IS NOT NULL "
                "ORDER BY s.last_contact DESC LIMIT %s",
                (_any(pks), limit),
            ):
                entries.append(timeline_entry(r, "last-contact"))
            return newest_first(entries, limit)

        return await self.db.read(run)

    async def candidates(self, pks: Sequence[int], *, exclude: Sequence[str]) -> list[dict[str, Any]]:
        """Who could introduce someone to these people: each member's record of them, strongest first."""
        if not pks:
            return []

        async def run(conn: Conn) -> list[dict[str, Any]]:
            rows = await dict_all(
                conn,
                "SELECT s.record_id, s.member, s.person_pk, s.strength, s.bucket, s.name FROM org_shared s "
                "JOIN org_member m ON m.actor = s.member AND m.state = 'active' AND m.role != 'viewer' "
                "WHERE s.person_pk = ANY(%s)",
                (_any(pks),),
            )
            return candidates_ranked(rows, exclude)

        return await self.db.read(run)

    async def last_contacts(
        self, *, uris: Sequence[str] = (), company_query: str | None = None
    ) -> str | None:
        """The latest last contact any member shared with the person holding ``uris`` or anyone at the
        company (for a cool-down)."""
        pks = [pk for pk, _ in await self.find_people(uris=uris, company=company_query, limit=500)]
        if not pks:
            return None

        async def run(conn: Conn) -> str | None:
            row = await fetch_one(
                conn,
                "SELECT max(last_contact) FROM org_shared WHERE person_pk = ANY(%s)",
                (pks,),
            )
            return row[0] if row and row[0] else None

        return await self.db.read(run)

    async def person_identities(self, pk: int) -> list[str]:
        async def run(conn: Conn) -> list[str]:
            rows = await fetch_all(
                conn,
                "SELECT DISTINCT i.uri FROM org_shared_identity i JOIN org_shared s ON s.pk = i.shared_pk "
                "WHERE s.person_pk = %s AND i.merges = 1 ORDER BY i.uri",
                (pk,),
            )
            return [r[0] for r in rows]

        return await self.db.read(run)

    # -- contact policies -----------------------------------------------------------------------------------
    async def policies(self) -> list[dict[str, Any]]:
        async def run(conn: Conn) -> list[dict[str, Any]]:
            rows = await dict_all(conn, "SELECT * FROM org_policy ORDER BY name, id")
            return [{**r, "identities": json.loads(r["identities"])} for r in rows]

        return await self.db.read(run)

    async def policy(self, kind: str, target: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            row = await dict_one(
                conn, "SELECT * FROM org_policy WHERE kind = %s AND target = %s", (kind, target)
            )
            return {**row, "identities": json.loads(row["identities"])} if row else None

        return await self.db.read(run)

    async def save_policy(self, row: dict[str, Any]) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                """INSERT INTO org_policy (id, kind, target, name, identities, owner, dnc_reason, dnc_by,
                       cool_down_days, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT(kind, target) DO UPDATE SET name = excluded.name, identities = excluded.identities,
                       owner = excluded.owner, dnc_reason = excluded.dnc_reason, dnc_by = excluded.dnc_by,
                       cool_down_days = excluded.cool_down_days, updated_at = excluded.updated_at""",
                (
                    row["id"],
                    row["kind"],
                    row["target"],
                    row["name"],
                    json.dumps(row["identities"]),
                    row.get("owner"),
                    row.get("dnc_reason"),
                    row.get("dnc_by"),
                    row.get("cool_down_days"),
                    row["updated_at"],
                ),
            )

        await self.db.write(run)

    async def delete_policy(self, kind: str, target: str) -> bool:
        async def run(conn: Conn) -> bool:
            cur = await conn.execute("DELETE FROM org_policy WHERE kind = %s AND target = %s", (kind, target))
            return bool(cur.rowcount)

        return await self.db.write(run)

    # -- introductions -------------------------------------------------------------------------------------
    async def add_intro(self, intro: dict[str, Any], asks: Sequence[dict[str, Any]]) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                """INSERT INTO org_intro (id, requester, name, note, state, created_at, updated_at)
                   VALUES (%s, %s, %s, %s, 'asked', %s, %s)""",
                (
                    intro["id"],
                    intro["requester"],
                    intro["name"],
                    intro.get("note"),
                    intro["now"],
                    intro["now"],
                ),
            )
            if asks:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO org_intro_ask (ask_id, intro_id, member, record_id, state) "
                        "VALUES (%s, %s, %s, %s, 'offered')",
                        [(a["ask_id"], intro["id"], a["member"], a["record_id"]) for a in asks],
                    )

        await self.db.write(run)

    async def intro(self, intro_id: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            row = await dict_one(conn, "SELECT * FROM org_intro WHERE id = %s", (intro_id,))
            if row is None:
                return None
            asks = await dict_all(
                conn, "SELECT * FROM org_intro_ask WHERE intro_id = %s ORDER BY ask_id", (intro_id,)
            )
            return {**row, "asks": asks}

        return await self.db.read(run)

    async def ask(self, ask_id: str) -> dict[str, Any] | None:
        async def run(conn: Conn) -> dict[str, Any] | None:
            return await dict_one(conn, "SELECT * FROM org_intro_ask WHERE ask_id = %s", (ask_id,))

        return await self.db.read(run)

    async def intros(self, *, requester: str | None = None) -> list[dict[str, Any]]:
        async def run(conn: Conn) -> list[dict[str, Any]]:
            sql, args = "SELECT * FROM org_intro", []
            if requester is not None:
                sql, args = sql + " WHERE requester = %s", [requester]
            rows = await dict_all(conn, sql + " ORDER BY created_at DESC, id", args)
            counts = {
                r[0]: (r[1], r[2])
                for r in await fetch_all(
                    conn,
                    "SELECT intro_id, count(*), count(*) FILTER (WHERE state = 'offered') FROM org_intro_ask "
                    "GROUP BY intro_id",
                )
            }
            return [
                {
                    **r,
                    "asked": counts.get(r["id"], (0, 0))[0],
                    "waiting": counts.get(r["id"], (0, 0))[1],
                }
                for r in rows
            ]

        return await self.db.read(run)

    async def answer_ask(self, ask_id: str, *, state: str, now: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute("UPDATE org_intro_ask SET state = %s WHERE ask_id = %s", (state, ask_id))

        await self.db.write(run)

    async def set_intro(
        self, intro_id: str, *, state: str, now: str, introducer: str | None = None, note: str | None = None
    ) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "UPDATE org_intro SET state = %s, introducer = %s, introducer_note = %s, updated_at = %s WHERE id = %s",
                (state, introducer, note, now, intro_id),
            )
            if state != "asked":  # the asks still waiting are over with it
                await conn.execute(
                    "UPDATE org_intro_ask SET state = 'revoked' WHERE intro_id = %s AND state = 'offered'",
                    (intro_id,),
                )

        await self.db.write(run)

    async def stale_intros(self, before: str) -> list[str]:
        async def run(conn: Conn) -> list[str]:
            rows = await fetch_all(
                conn, "SELECT id FROM org_intro WHERE state = 'asked' AND created_at < %s", (before,)
            )
            return [r[0] for r in rows]

        return await self.db.read(run)

    async def scrub(self) -> None:
        """VACUUM the tables that hold what members shared, so that the rows just deleted are removed from the
        tables and their indexes now rather than whenever autovacuum comes by. PostgreSQL has no counterpart of
        SQLite's secure_delete: the freed space is reused, not overwritten, and the write-ahead log keeps the
        old rows until it is recycled (specs/POSTGRESQL.md says what an operator does about it: disk
        encryption, and backups kept no longer than the organisation may keep what it was sent)."""
        tables = sql.SQL(", ").join(sql.Identifier(self.db.schema, t) for t in _SHARED_TABLES)
        try:
            # VACUUM runs outside a transaction: a pooled connection is in autocommit between transactions
            async with self.db.pool.connection() as conn:
                await conn.execute(sql.SQL("VACUUM {}").format(tables))
        except psycopg.Error as exc:
            raise store_error(exc, self.db.url) from exc

    # -- bulk loading (the benchmark) -----------------------------------------------------------------------
    async def counts(self) -> dict[str, int]:
        async def run(conn: Conn) -> dict[str, int]:
            out = {}
            for table in (
                "org_member",
                "org_person",
                "org_shared",
                "org_shared_identity",
                "org_shared_interaction",
            ):
                row = await fetch_one(conn, f"SELECT count(*) FROM {table}")
                out[table] = int(row[0]) if row else 0
            return out

        return await self.db.read(run)


async def _apply_one(
    conn: Conn, member: str, item: IncomingRecord, now: str, touched: _Touched
) -> str | None:
    held = await dict_one(
        conn, "SELECT pk, member, version, person_pk FROM org_shared WHERE record_id = %s", (item.record_id,)
    )
    if held is not None and (held["member"] != member or held["version"] >= item.version):
        return None
    gone = await dict_one(
        conn, "SELECT member, version FROM org_withdrawn WHERE record_id = %s", (item.record_id,)
    )
    if gone is not None and (gone["member"] != member or gone["version"] >= item.version):
        return None
    if gone is not None:
        await conn.execute("DELETE FROM org_withdrawn WHERE record_id = %s", (item.record_id,))
    values = (
        item.level,
        item.version,
        item.name,
        item.organization,
        item.strength,
        item.bucket,
        item.explained,
        item.last_contact,
        item.last_channel,
        item.record,
        now,
    )
    if held is not None:
        pk = held["pk"]
        touched.people.add(held["person_pk"])
        await conn.execute(
            """UPDATE org_shared SET level = %s, version = %s, name = %s, organization = %s, strength = %s, bucket = %s,
                   explained = %s, last_contact = %s, last_channel = %s, record = %s, received_at = %s WHERE pk = %s""",
            (*values, pk),
        )
        for table in ("org_shared_identity", "org_shared_interaction", "org_shared_note"):
            await conn.execute(f"DELETE FROM {table} WHERE shared_pk = %s", (pk,))
    else:
        made = await fetch_one(
            conn,
            """INSERT INTO org_shared (record_id, member, person_pk, level, version, name, organization, strength,
                   bucket, explained, last_contact, last_channel, record, received_at)
               VALUES (%s, %s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING pk""",
            (item.record_id, member, *values),
        )
        assert made is not None
        pk = int(made[0])
    async with conn.cursor() as cur:
        if item.identities:
            await cur.executemany(
                "INSERT INTO org_shared_identity (uri, shared_pk, merges) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(uri, pk, int(merges)) for uri, merges in item.identities],
            )
        if item.interactions:
            await cur.executemany(
                "INSERT INTO org_shared_interaction (shared_pk, occurred_at, channel, initiated_by) "
                "VALUES (%s, %s, %s, %s)",
                [(pk, *i) for i in item.interactions],
            )
        if item.notes:
            await cur.executemany(
                "INSERT INTO org_shared_note (shared_pk, body) VALUES (%s, %s)", [(pk, n) for n in item.notes]
            )
    # The person: the one of any record sharing a merging identifier with this one (merging those it bridges),
    # else the one it had, else a new one.
    merging = [uri for uri, merges in item.identities if merges]
    found: set[int] = set()
    if merging:
        rows = await fetch_all(
            conn,
            "SELECT DISTINCT s.person_pk FROM org_shared_identity i JOIN org_shared s ON s.pk = i.shared_pk "
            "WHERE i.merges = 1 AND i.uri = ANY(%s) AND s.pk != %s",
            (merging, pk),
        )
        found = {r[0] for r in rows}
    if found:
        target = min(found)
        others = sorted(found - {target})
        if others:
            await conn.execute(
                "UPDATE org_shared SET person_pk = %s WHERE person_pk = ANY(%s)", (target, others)
            )
            touched.people.update(others)
    elif held is not None:
        target = held["person_pk"]
    else:
        made = await fetch_one(
            conn,
            "INSERT INTO org_person (name, organization, updated_at) VALUES (%s, %s, %s) RETURNING pk",
            (item.name, item.organization, now),
        )
        assert made is not None
        target = int(made[0])
    await conn.execute("UPDATE org_shared SET person_pk = %s WHERE pk = %s", (target, pk))
    touched.people.add(target)
    return "replaced" if held is not None else "new"


async def _refresh(conn: Conn, touched: _Touched, now: str) -> None:
    """Bring the touched people in line with their records: split a person whose records no longer share a
    merging identifier, name each from its records, delete those with none."""
    pending = sorted(touched.people)
    while pending:
        pk = pending.pop()
        records = await dict_all(
            conn,
            "SELECT pk, name, organization, level FROM org_shared WHERE person_pk = %s ORDER BY pk",
            (pk,),
        )
        if not records:
            await conn.execute("DELETE FROM org_person WHERE pk = %s", (pk,))
            await conn.execute("DELETE FROM org_person_word WHERE person_pk = %s", (pk,))
            continue
        groups = await _components(conn, [r["pk"] for r in records])
        by_pk = {r["pk"]: r for r in records}
        for i, group in enumerate(groups):
            person = pk
            if i > 0:  # the records no longer bridged by anything: a person of their own
                made = await fetch_one(
                    conn,
                    "INSERT INTO org_person (name, organization, updated_at) VALUES ('', NULL, %s) RETURNING pk",
                    (now,),
                )
                assert made is not None
                person = int(made[0])
                await conn.execute("UPDATE org_shared SET person_pk = %s WHERE pk = ANY(%s)", (person, group))
            await _name_person(conn, person, [by_pk[g] for g in group], now)


async def _components(conn: Conn, record_pks: list[int]) -> list[list[int]]:
    """Records grouped by shared merging identifiers (union-find), the largest group first."""
    if len(record_pks) == 1:
        return [record_pks]
    parent = {pk: pk for pk in record_pks}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    holders: dict[str, int] = {}
    rows = await fetch_all(
        conn,
        "SELECT uri, shared_pk FROM org_shared_identity WHERE merges = 1 AND shared_pk = ANY(%s)",
        (record_pks,),
    )
    for uri, spk in rows:
        if uri in holders:
            a, b = find(holders[uri]), find(spk)
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            holders[uri] = spk
    groups: dict[int, list[int]] = {}
    for pk in record_pks:
        groups.setdefault(find(pk), []).append(pk)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


async def _name_person(conn: Conn, person: int, records: list[dict[str, Any]], now: str) -> None:
    """A person's name is the one most of its records give (the highest level, then the latest, breaks a tie);
    its organisation every organisation they give, the most given first."""
    names = Counter(r["name"] for r in records)
    best = max(records, key=lambda r: (names[r["name"]], _LEVEL.get(r["level"], 0), r["pk"]))
    orgs = Counter(r["organization"] for r in records if r["organization"])
    organization = " · ".join(o for o, _ in orgs.most_common(5)) or None
    await conn.execute(
        "INSERT INTO org_person (pk, name, organization, updated_at) VALUES (%s, %s, %s, %s) ON CONFLICT (pk) "
        "DO UPDATE SET name = excluded.name, organization = excluded.organization, updated_at = excluded.updated_at",
        (person, best["name"], organization, now),
    )
    await conn.execute("DELETE FROM org_person_word WHERE person_pk = %s", (person,))
    # every name and organisation the records give is searched (one member's "Jane D." is another's Jane Doe)
    indexed = {(0, w) for n in names for w in words(n)} | {(1, w) for o in orgs for w in words(o)}
    if indexed:
        fields, terms = zip(*sorted(indexed), strict=True)
        await conn.execute(
            "INSERT INTO org_person_word (field, word, person_pk) SELECT f, w, %s FROM unnest(%s::int[], %s::text[]) "
            "AS t(f, w) ON CONFLICT DO NOTHING",
            (person, list(fields), list(terms)),
        )


async def _by_words(conn: Conn, field: int, text: str, limit: int) -> list[int]:
    """People each of whose query words begins a word of their name (field 0) or organisations (field 1); a
    whole-name match first, then whole words, then prefixes. Whole words are looked up first: when they fill
    the answer, no prefix match could rank among it ("Company 12" need not read Company 120-129's people)."""
    wanted = words(text)[:8]
    if not wanted:
        return []
    whole_words = await _rank(conn, field, wanted, await _matching(conn, field, wanted, prefix=False))
    if sum(1 for _, not_all_whole, _ in whole_words if not not_all_whole) >= limit:
        return [pk for _, _, pk in whole_words[:limit]]
    ranked = await _rank(conn, field, wanted, await _matching(conn, field, wanted, prefix=True))
    return [pk for _, _, pk in ranked[:limit]]


def _word_match(alias: str, word: str, prefix: bool) -> tuple[str, list[str]]:
    """The condition on ``alias``.word: equal to ``word``, or (``prefix``) in [word, word + U+10FFFF), the
    range of the index (COLLATE "C": code point order) that holds every word beginning with it. (SQLite's
    whole-word range ends at word + NUL, which PostgreSQL text cannot hold: equality says the same.)"""
    if prefix:
        return f"{alias}.word >= %s AND {alias}.word < %s", [word, word + "\U0010ffff"]
    return f"{alias}.word = %s", [word]


async def _matching(conn: Conn, field: int, wanted: list[str], *, prefix: bool) -> list[int]:
    """The people (up to _CANDIDATES) with every word of ``wanted`` (as a whole word, or begun by it). The
    rarest word leads (counted by a probe that stops at _PROBE rows), the others are joined to its matches
    through the person index, so that a word every company shares ("Corp") costs no more than the rarest."""
    terms = sorted(set(wanted))
    if len(terms) > 1:  # a single word leads uncounted
        sizes = []
        for w in terms:
            cond, params = _word_match("p", w, prefix)
            row = await fetch_one(
                conn,
                f"SELECT count(*) FROM (SELECT 1 FROM org_person_word p WHERE p.field = %s AND {cond} LIMIT %s) AS x",
                (field, *params, _PROBE),
            )
            sizes.append((int(row[0]) if row else 0, w))
        if any(n == 0 for n, _ in sizes):
            return []
        terms = [w for _, w in sorted(sizes)]
    lead, rest = terms[0], terms[1:]
    # the rarest word's matches, the others looked up per person through the primary key
    joins, args = "", []
    for i, w in enumerate(rest):
        cond, params = _word_match(f"w{i}", w, prefix)
        joins += (
            f" JOIN org_person_word w{i} ON w{i}.person_pk = w.person_pk AND w{i}.field = w.field AND {cond}"
        )
        args += params
    lead_cond, lead_params = _word_match("w", lead, prefix)
    rows = await fetch_all(
        conn,
        f"SELECT DISTINCT w.person_pk FROM org_person_word w{joins} WHERE w.field = %s AND {lead_cond} LIMIT %s",
        [*args, field, *lead_params, _CANDIDATES],
    )
    return sorted({r[0] for r in rows})


async def _rank(conn: Conn, field: int, wanted: list[str], pool: list[int]) -> list[tuple[bool, bool, int]]:
    """``pool`` in the answer's order: (not a whole-name match, not all whole words, pk), ascending."""
    column = "name" if field == 0 else "organization"
    ranked = []
    for r in await fetch_all(conn, f"SELECT pk, {column} FROM org_person WHERE pk = ANY(%s)", (pool,)):
        ranked.append(name_rank(r[0], r[1], wanted))
    ranked.sort()
    return ranked
