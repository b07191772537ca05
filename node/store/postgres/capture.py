"""Mail capture's storage on PostgreSQL (node/store/capture.py; the SQLite engine's node/store/sqlite/capture.py,
statement for statement): messages seen (by Message-ID), their participants, correspondents and the people
proposed from them, written a batch at a time together with the folder's resume point (issue 16).

A batch is one write transaction (the graph's lock held: node/store/postgres/db.py), so the keys it gives
its messages and interactions (the first free ones, read in the transaction) are its own; the identity
sequences are moved past them before it commits (``advance_keys``), so that a row inserted later without a
key does not take one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from node.errors import NotFound
from node.store.capture import MailBatch, MailRow, Proposal
from node.store.postgres.db import PgDatabase
from node.store.postgres.keys import advance_keys
from node.store.postgres.links import save_cursor
from node.store.postgres.people import recompute_people
from node.store.postgres.rows import Conn, fetch_all, fetch_one

__all__ = ["PgCapture"]


async def _known_people(conn: Conn, uris: Sequence[str]) -> dict[str, int]:
    rows = await fetch_all(
        conn,
        "SELECT i.uri, i.person_pk FROM identity i JOIN person p ON p.pk = i.person_pk "
        "WHERE i.uri = ANY(%s) AND p.status != 'merged'",
        (list(uris),),
    )
    return {r[0]: int(r[1]) for r in rows}


class PgCapture:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def email_people(self) -> dict[str, int]:
        """Every e-mail identity of a person, keyed by its folded form (plus-addressing and case folded)."""

        async def run(conn: Conn) -> dict[str, int]:
            rows = await fetch_all(
                conn,
                "SELECT i.uri, i.person_pk FROM identity i JOIN person p ON p.pk = i.person_pk "
                "WHERE i.kind = 'email' AND p.status != 'merged'",
            )
            out: dict[str, int] = {}
            for uri, pk in rows:
                local, _, host = str(uri)[7:].lower().rpartition("@")
                out.setdefault(f"mailto:{local.split('+', 1)[0]}@{host}", int(pk))
            return out

        return await self.db.read(run)

    async def record_mail(
        self,
        rows: Sequence[MailRow],
        *,
        people: Mapping[str, int],
        interaction_ids: Sequence[str],
        cursor: tuple[str, str, str, dict[str, Any]] | None,
        now: str,
    ) -> MailBatch:
        """Store a batch of messages and what they make, and the cursor ``(source, account, folder, value)``
        after them, in one transaction. ``people``: folded address → person pk (from :meth:`email_people`);
        ``interaction_ids``: at least one fresh id per row."""

        async def run(conn: Conn) -> MailBatch:
            seen: set[str] = {
                r[0]
                for r in await fetch_all(
                    conn,
                    "SELECT message_id FROM mail_message WHERE message_id = ANY(%s)",
                    ([r.message_id for r in rows],),
                )
            }
            fresh: list[MailRow] = []
            for r in rows:
                if r.message_id not in seen:
                    seen.add(r.message_id)
                    fresh.append(r)
            if not fresh:
                if cursor is not None:
                    await save_cursor(
                        conn,
                        source=cursor[0],
                        account=cursor[1],
                        direction=cursor[2],
                        cursor=cursor[3],
                        now=now,
                    )
                return MailBatch(messages=0, interactions_added=0, people_proposed=0)
            # Who started a thread: a reply takes its parent's initiator when the parent is known (stored, or
            # earlier in this batch), else the other side of the reply. Only the parent is looked at, never a
            # chain, so a loop of In-Reply-To (or a message replying to itself) cannot run on.
            parents = sorted({r.in_reply_to for r in fresh if r.in_reply_to})
            started: dict[str, str] = {
                p[0]: p[1]
                for p in await fetch_all(
                    conn,
                    "SELECT message_id, initiated_by FROM mail_message WHERE message_id = ANY(%s)",
                    (parents,),
                )
            }
            addresses = sorted({uri for r in fresh for uri, _ in r.participants})
            exact = await _known_people(conn, [a for a in addresses if a not in people])
            known = {**exact, **{a: people[a] for a in addresses if a in people}}
            row = await fetch_one(conn, "SELECT coalesce(max(pk), 0) FROM mail_message")
            next_pk = int(row[0]) + 1 if row else 1
            messages: list[tuple[Any, ...]] = []
            participants: list[tuple[str, int]] = []
            counts: dict[str, list[Any]] = {}  # address -> [name, sent, received, first, last]
            pks: list[int] = []
            for r in fresh:
                if r.in_reply_to and r.in_reply_to in started:
                    initiated = started[r.in_reply_to]
                elif r.in_reply_to:
                    initiated = "them" if r.from_owner else "owner"
                else:
                    initiated = "owner" if r.from_owner else "them"
                started.setdefault(r.message_id, initiated)
                pk = next_pk
                next_pk += 1
                pks.append(pk)
                messages.append(
                    (pk, r.message_id, r.occurred_at, int(r.from_owner), initiated, r.in_reply_to, r.subject)
                )
                # Kept for correspondents who are no one's yet: accepting one of them links these messages.
                participants.extend((uri, pk) for uri, _name in r.participants if uri not in known)
                if r.personal:
                    targets = r.participants if r.from_owner else r.participants[:1]  # the sender comes first
                    for uri, name in targets:
                        c = counts.setdefault(uri, ["", 0, 0, r.occurred_at, r.occurred_at])
                        c[0] = name or c[0]
                        c[1 if r.from_owner else 2] += 1
                        c[3], c[4] = min(c[3], r.occurred_at), max(c[4], r.occurred_at)
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO mail_message (pk, message_id, occurred_at, from_owner, initiated_by, in_reply_to, "
                    "subject) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    messages,
                )
                await advance_keys(conn, "mail_message")
                if participants:
                    await cur.executemany(
                        "INSERT INTO mail_participant (address, message_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        participants,
                    )
                if counts:
                    upsert = (
                        "INSERT INTO mail_correspondent AS c (address, name, sent, received, first_at, last_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (address) DO UPDATE SET "
                        "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE c.name END, "
                        "sent = c.sent + excluded.sent, received = c.received + excluded.received, "
                        "first_at = least(c.first_at, excluded.first_at), "
                        "last_at = greatest(c.last_at, excluded.last_at)"
                    )
                    await cur.executemany(
                        upsert, [(a, c[0], c[1], c[2], c[3], c[4]) for a, c in counts.items()]
                    )
            # Interactions with the people the owner knows, written two statements for the whole batch: keys
            # are given here (the batch is one transaction of the one writer), and a message that made an
            # interaction before (a backfill) is left as it is.
            wanted = [
                (r, initiated, sorted({known[uri] for uri, _ in r.participants if uri in known}))
                for r, (_pk, _mid, _at, _fo, initiated, _irt, _subj) in zip(fresh, messages, strict=True)
                if not (r.broadcast or r.bulk)
            ]
            wanted = [w for w in wanted if w[2]]
            made: set[str] = {
                x[0]
                for x in await fetch_all(
                    conn,
                    "SELECT source_record_id FROM interaction WHERE source = 'imap' AND source_record_id = ANY(%s)",
                    ([r.message_id for r, _i, _w in wanted],),
                )
            }
            row = await fetch_one(conn, "SELECT coalesce(max(pk), 0) FROM interaction")
            next_ipk = int(row[0]) + 1 if row else 1
            ids = iter(interaction_ids)
            inserts: list[tuple[Any, ...]] = []
            links: list[tuple[int, int]] = []
            touched: set[int] = set()
            for r, initiated, who in wanted:
                if r.message_id in made:
                    continue
                inserts.append((next_ipk, next(ids), r.occurred_at, initiated, r.subject, r.message_id, now))
                links.extend((p, next_ipk) for p in who)
                touched.update(who)
                next_ipk += 1
            async with conn.cursor() as cur:
                if inserts:
                    await cur.executemany(
                        "INSERT INTO interaction (pk, id, occurred_at, channel, initiated_by, summary, source, "
                        "source_record_id, created_at) VALUES (%s, %s, %s, 'email', %s, %s, 'imap', %s, %s)",
                        inserts,
                    )
                    await advance_keys(conn, "interaction")
                if links:
                    await cur.executemany(
                        "INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING",
                        links,
                    )
            added = len(inserts)
            if touched:
                await recompute_people(conn, touched)
            candidates = [a for a in counts if a not in known]
            cur = await conn.execute(
                "UPDATE mail_correspondent SET status = 'proposed' WHERE address = ANY(%s) AND status = 'seen' "
                "AND sent > 0 AND received > 0",
                (candidates,),
            )
            proposed = max(cur.rowcount, 0)
            if cursor is not None:
                await save_cursor(
                    conn, source=cursor[0], account=cursor[1], direction=cursor[2], cursor=cursor[3], now=now
                )
            return MailBatch(messages=len(fresh), interactions_added=added, people_proposed=proposed)

        return await self.db.write(run)

    async def proposals(self, *, status: str = "proposed", limit: int = 200) -> list[Proposal]:
        """Correspondents proposed as people (or accepted, dismissed), those the owner writes to most first.
        An address that became a person's since it was proposed is left out."""

        async def run(conn: Conn) -> list[Proposal]:
            rows = await fetch_all(
                conn,
                "SELECT address, name, sent, received, first_at, last_at, status FROM mail_correspondent c "
                "WHERE status = %s AND NOT EXISTS (SELECT 1 FROM identity i JOIN person p ON p.pk = i.person_pk "
                "WHERE i.uri = c.address AND p.status != 'merged') "
                "ORDER BY least(sent, received) DESC, sent + received DESC, address LIMIT %s",
                (status, limit),
            )
            return [
                Proposal(
                    address=r[0],
                    name=r[1],
                    sent=r[2],
                    received=r[3],
                    first_at=r[4],
                    last_at=r[5],
                    status=r[6],
                )
                for r in rows
            ]

        return await self.db.read(run)

    async def proposal(self, address: str) -> Proposal:
        async def run(conn: Conn) -> Proposal:
            r = await fetch_one(
                conn,
                "SELECT address, name, sent, received, first_at, last_at, status FROM mail_correspondent "
                "WHERE address = %s",
                (address,),
            )
            if r is None:
                raise NotFound(f"no correspondent {address[7:]!r} in the captured mail", field="address")
            return Proposal(
                address=r[0], name=r[1], sent=r[2], received=r[3], first_at=r[4], last_at=r[5], status=r[6]
            )

        return await self.db.read(run)

    async def set_proposal_status(self, address: str, status: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "UPDATE mail_correspondent SET status = %s WHERE address = %s", (status, address)
            )

        await self.db.write(run)

    async def backfill(
        self, address: str, person_id: str, *, interaction_ids: Sequence[str], now: str
    ) -> int:
        """The captured messages with ``address`` become interactions with the person (a message that already
        made an interaction with others gains the person). Returns how many messages were linked."""

        async def run(conn: Conn) -> int:
            prow = await fetch_one(
                conn, "SELECT pk FROM person WHERE id = %s AND status != 'merged'", (person_id,)
            )
            if prow is None:
                raise NotFound(f"no person with id {person_id!r}", field="person")
            person = int(prow[0])
            rows = await fetch_all(
                conn,
                "SELECT m.message_id, m.occurred_at, m.initiated_by, m.subject, i.pk FROM mail_participant mp "
                "JOIN mail_message m ON m.pk = mp.message_pk "
                "LEFT JOIN interaction i ON i.source = 'imap' AND i.source_record_id = m.message_id "
                "WHERE mp.address = %s",
                (address,),
            )
            ids = iter(interaction_ids)
            linked = 0
            for mid, at, initiated, subject, ipk in rows:
                if ipk is None:
                    made = await fetch_one(
                        conn,
                        "INSERT INTO interaction (id, occurred_at, channel, initiated_by, summary, source, "
                        "source_record_id, created_at) VALUES (%s, %s, 'email', %s, %s, 'imap', %s, %s) RETURNING pk",
                        (next(ids), at, initiated, subject, mid, now),
                    )
                    ipk = made[0] if made else None
                cur = await conn.execute(
                    "INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (person, ipk),
                )
                linked += max(cur.rowcount, 0)
            await recompute_people(conn, [person])
            await conn.execute(
                "UPDATE mail_correspondent SET status = 'accepted' WHERE address = %s", (address,)
            )
            return linked

        return await self.db.write(run)

    async def messages_seen(self) -> int:
        async def run(conn: Conn) -> int:
            row = await fetch_one(conn, "SELECT count(*) FROM mail_message")
            return int(row[0]) if row else 0

        return await self.db.read(run)

    async def participant_count(self, address: str) -> int:
        async def run(conn: Conn) -> int:
            row = await fetch_one(
                conn, "SELECT count(*) FROM mail_participant WHERE address = %s", (address,)
            )
            return int(row[0]) if row else 0

        return await self.db.read(run)
