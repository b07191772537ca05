"""PostgreSQL implementation of node/store/outreach.py: what the stay-in-touch loop keeps besides captured mail
(issue 16): reminders the owner snoozed or marked done, the digests claimed and sent per period, the owner's
preferred channel per person, and the reads the digest is made of (birthdays, each person's rhythm of
conversation)."""

from __future__ import annotations

from collections.abc import Sequence

from node.store.outreach import MAX_ATTEMPTS, DigestRow, Rhythm
from node.store.postgres.db import PgDatabase
from node.store.postgres.people import person_pk
from node.store.postgres.rows import Conn, execute, fetch_all, fetch_one, placeholders

__all__ = ["PgOutreach"]


class PgOutreach:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # -- reminders ------------------------------------------------------------------------------------------
    async def set_reminder(self, item: str, state: str, until: str | None, now: str) -> None:
        async def run(conn: Conn) -> None:
            await execute(
                conn,
                "INSERT INTO reminder_state (item, state, until, updated_at) VALUES (%s,%s,%s,%s) "
                "ON CONFLICT (item) DO UPDATE SET state = excluded.state, until = excluded.until, "
                "updated_at = excluded.updated_at",
                (item, state, until, now),
            )

        await self.db.write(run)

    async def hidden(self, now: str) -> set[str]:
        """Items done, or snoozed until after ``now``."""

        async def run(conn: Conn) -> set[str]:
            rows = await fetch_all(
                conn,
                "SELECT item FROM reminder_state WHERE state = 'done' OR (state = 'snoozed' AND until > %s)",
                (now,),
            )
            return {str(r[0]) for r in rows}

        return await self.db.read(run)

    # -- digests --------------------------------------------------------------------------------------------
    async def claim_digest(self, period: str, now: str, retry_before: str) -> bool:
        """Claim ``period`` for sending: True for the first claim, or for a retry of a failed send last tried
        before ``retry_before``. A claim left 'sending' (a crash mid-send) is never taken again: at most once."""

        async def run(conn: Conn) -> bool:
            cur = await execute(
                conn,
                "INSERT INTO digest_sent (period, state, updated_at) VALUES (%s, 'sending', %s) "
                "ON CONFLICT (period) DO NOTHING",
                (period, now),
            )
            if cur.rowcount == 1:
                return True
            cur = await execute(
                conn,
                "UPDATE digest_sent SET state = 'sending', attempts = attempts + 1, updated_at = %s "
                "WHERE period = %s AND state = 'failed' AND attempts < %s AND updated_at < %s",
                (now, period, MAX_ATTEMPTS, retry_before),
            )
            return cur.rowcount == 1

        return await self.db.write(run)

    async def finish_digest(self, period: str, *, error: str | None, now: str) -> None:
        async def run(conn: Conn) -> None:
            await execute(
                conn,
                "UPDATE digest_sent SET state = %s, error = %s, updated_at = %s WHERE period = %s",
                ("failed" if error else "sent", error, now, period),
            )

        await self.db.write(run)

    async def digests(self, limit: int = 20) -> list[DigestRow]:
        async def run(conn: Conn) -> list[DigestRow]:
            rows = await fetch_all(
                conn,
                "SELECT period, state, attempts, error, updated_at FROM digest_sent "
                "ORDER BY updated_at DESC LIMIT %s",
                (limit,),
            )
            return [
                DigestRow(period=r[0], state=r[1], attempts=int(r[2]), error=r[3], updated_at=r[4])
                for r in rows
            ]

        return await self.db.read(run)

    # -- preferred channel ----------------------------------------------------------------------------------
    async def set_preferred(self, person_id: str, uri: str | None, now: str) -> None:
        async def run(conn: Conn) -> None:
            pk = await person_pk(conn, person_id)
            if uri is None:
                await execute(conn, "DELETE FROM reach_preference WHERE person_pk = %s", (pk,))
                return
            await execute(
                conn,
                "INSERT INTO reach_preference (person_pk, uri, updated_at) VALUES (%s,%s,%s) "
                "ON CONFLICT (person_pk) DO UPDATE SET uri = excluded.uri, updated_at = excluded.updated_at",
                (pk, uri, now),
            )

        await self.db.write(run)

    async def preferred(self, person_id: str) -> str | None:
        async def run(conn: Conn) -> str | None:
            row = await fetch_one(
                conn,
                "SELECT r.uri FROM reach_preference r JOIN person p ON p.pk = r.person_pk WHERE p.id = %s",
                (person_id,),
            )
            return None if row is None else str(row[0])

        return await self.db.read(run)

    # -- what digests are made of ---------------------------------------------------------------------------
    async def birthdays(self) -> list[tuple[str, str, str]]:
        """(person id, name, birthday) of every active person with a birthday."""

        async def run(conn: Conn) -> list[tuple[str, str, str]]:
            rows = await fetch_all(
                conn,
                "SELECT id, display_name, birthday FROM person WHERE status = 'active' AND birthday IS NOT NULL",
            )
            return [(r[0], r[1], r[2]) for r in rows]

        return await self.db.read(run)

    async def rhythms(self, *, since: str, min_count: int, limit: int, days: int) -> list[Rhythm]:
        """People without a cadence of their own who were in touch since ``since``: (id, name, own cadence,
        effective cadence, the latest ``days`` distinct days they had an interaction on, newest first)."""

        async def run(conn: Conn) -> list[Rhythm]:
            people = await fetch_all(
                conn,
                "SELECT pk, id, display_name, cadence_days, effective_cadence_days FROM person "
                "WHERE status = 'active' AND cadence_days IS NULL AND interaction_count >= %s "
                "AND last_interaction_at >= %s ORDER BY interaction_count DESC, pk LIMIT %s",
                (min_count, since, limit),
            )
            if not people:
                return []
            pks: Sequence[int] = [r[0] for r in people]
            found: dict[int, list[str]] = {}
            for r in await fetch_all(
                conn,
                f"SELECT ip.person_pk, substr(i.occurred_at, 1, 10) AS day FROM interaction_person ip "
                f"JOIN interaction i ON i.pk = ip.interaction_pk WHERE ip.person_pk IN ({placeholders(len(pks))}) "
                f"GROUP BY ip.person_pk, day ORDER BY ip.person_pk, day DESC",
                list(pks),
            ):
                got = found.setdefault(r[0], [])
                if len(got) < days:
                    got.append(r[1])
            return [Rhythm(r[1], r[2], r[3], r[4], found.get(r[0], [])) for r in people]

        return await self.db.read(run)
