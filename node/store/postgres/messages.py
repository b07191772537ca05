"""PostgreSQL implementation of the store's fediverse messages (node/store/messages.py): direct messages and
mentions in the graph (issue 16; migration 0011): each note once, beside the interaction it made, in the
conversation of the note it answers when that note is known here.

The interaction and the message row are written in one transaction, keyed by the note's id: a note delivered
twice, or by two routes (its Create and a reply's fetch), makes one interaction. No text of a note is stored
(issue 16 §1: capture keeps no body); the interaction's summary says which way it went and links to it.
"""

from __future__ import annotations

from node.store.messages import MessageRow
from node.store.postgres.db import PgDatabase
from node.store.postgres.people import person_pk, recompute_people
from node.store.postgres.rows import Conn, execute, fetch_all, fetch_one
from node.store.row_records import message_from_row
from node.store.sqlite.messages import message_summary

__all__ = ["PgMessages"]


_SELECT = (
    "SELECT m.object_id, i.id, m.direction, m.actor_id, m.url, m.in_reply_to, m.conversation, m.private, "
    "i.occurred_at FROM fedi_message m JOIN interaction i ON i.pk = m.interaction_pk"
)


class PgMessages:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def record(
        self,
        *,
        person_id: str,
        interaction_id: str,
        object_id: str,
        direction: str,
        actor_id: str,
        url: str,
        in_reply_to: str | None,
        private: bool,
        occurred_at: str,
        now: str,
    ) -> tuple[MessageRow, bool]:
        """Log the message as an interaction with the person (once per ``object_id``); the row, and whether
        it is new. The stay-in-touch clock moves with the interaction (recompute_people)."""

        async def run(conn: Conn) -> tuple[MessageRow, bool]:
            known = await fetch_one(conn, _SELECT + " WHERE m.object_id = %s", (object_id,))
            if known is not None:
                return message_from_row(known), False
            pk = await person_pk(conn, person_id)
            parent = None
            if in_reply_to is not None:
                parent = await fetch_one(
                    conn, "SELECT conversation FROM fedi_message WHERE object_id = %s", (in_reply_to,)
                )
            conversation = str(parent[0]) if parent is not None else object_id
            thread_url = None
            if parent is not None:
                root = await fetch_one(
                    conn, "SELECT url FROM fedi_message WHERE object_id = %s", (conversation,)
                )
                thread_url = str(root[0]) if root is not None else conversation
            summary = message_summary(direction, url, private=private, thread_url=thread_url)
            made = await fetch_one(
                conn,
                "INSERT INTO interaction (id, occurred_at, channel, initiated_by, summary, source, "
                "source_record_id, created_at) VALUES (%s, %s, 'message', %s, %s, 'fediverse', %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING pk",
                (
                    interaction_id,
                    occurred_at,
                    "owner" if direction == "out" else "them",
                    summary,
                    object_id,
                    now,
                ),
            )
            if made is None:  # an interaction of this note from before its message row (a restore)
                row = await fetch_one(
                    conn,
                    "SELECT pk FROM interaction WHERE source = 'fediverse' AND source_record_id = %s",
                    (object_id,),
                )
                assert row is not None
                ipk = int(row[0])
            else:
                ipk = int(made[0])
            await execute(
                conn,
                "INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (pk, ipk),
            )
            await execute(
                conn,
                "INSERT INTO fedi_message (object_id, interaction_pk, direction, actor_id, url, in_reply_to, "
                "conversation, private) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (object_id, ipk, direction, actor_id, url, in_reply_to, conversation, int(private)),
            )
            await recompute_people(conn, [pk])
            row = await fetch_one(conn, _SELECT + " WHERE m.object_id = %s", (object_id,))
            assert row is not None
            return message_from_row(row), True

        return await self.db.write(run)

    async def conversation(self, conversation: str) -> list[MessageRow]:
        """The messages of one conversation, oldest first."""

        async def run(conn: Conn) -> list[MessageRow]:
            rows = await fetch_all(
                conn, _SELECT + " WHERE m.conversation = %s ORDER BY i.occurred_at, i.pk", (conversation,)
            )
            return [message_from_row(r) for r in rows]

        return await self.db.read(run)
