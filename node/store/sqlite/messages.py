"""SQLite implementation of the store's fediverse messages (node/store/messages.py): direct messages and
mentions in the graph (issue 16; migration 0011): each note once, beside the interaction it made, in the
conversation of the note it answers when that note is known here.

The interaction and the message row are written in one transaction, keyed by the note's id: a note delivered
twice, or by two routes (its Create and a reply's fetch), makes one interaction. No text of a note is stored
(issue 16 §1: capture keeps no body); the interaction's summary says which way it went and links to it.
"""

from __future__ import annotations

import aiosqlite

from node.store.messages import MessageRow
from node.store.row_records import message_from_row
from node.store.sqlite.db import Database
from node.store.sqlite.people import person_pk, recompute_people
from node.store.sqlite.rows import fetch_all, fetch_one

__all__ = ["SqliteMessages", "message_summary"]


def message_summary(direction: str, url: str, *, private: bool, thread_url: str | None) -> str:
    """What the timeline shows of a message: which way, a link, and the conversation it continues."""
    if direction == "out":
        head = f"Fediverse message sent: {url}"
    elif private:
        head = f"Fediverse message from them: {url}"
    else:
        head = f"Mentioned you on the fediverse: {url}"
    return head if thread_url is None else f"{head} (in reply, in the conversation of {thread_url})"


_SELECT = (
    "SELECT m.object_id, i.id, m.direction, m.actor_id, m.url, m.in_reply_to, m.conversation, m.private, "
    "i.occurred_at FROM fedi_message m JOIN interaction i ON i.pk = m.interaction_pk"
)


class SqliteMessages:
    def __init__(self, db: Database) -> None:
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

        async def run(conn: aiosqlite.Connection) -> tuple[MessageRow, bool]:
            known = await fetch_one(conn, _SELECT + " WHERE m.object_id = ?", (object_id,))
            if known is not None:
                return message_from_row(known), False
            pk = await person_pk(conn, person_id)
            parent = None
            if in_reply_to is not None:
                parent = await fetch_one(
                    conn, "SELECT conversation FROM fedi_message WHERE object_id = ?", (in_reply_to,)
                )
            conversation = str(parent[0]) if parent is not None else object_id
            thread_url = None
            if parent is not None:
                root = await fetch_one(
                    conn, "SELECT url FROM fedi_message WHERE object_id = ?", (conversation,)
                )
                thread_url = str(root[0]) if root is not None else conversation
            summary = message_summary(direction, url, private=private, thread_url=thread_url)
            cur = await conn.execute(
                "INSERT INTO interaction (id, occurred_at, channel, initiated_by, summary, source, "
                "source_record_id, created_at) VALUES (?, ?, 'message', ?, ?, 'fediverse', ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    interaction_id,
                    occurred_at,
                    "owner" if direction == "out" else "them",
                    summary,
                    object_id,
                    now,
                ),
            )
            if cur.rowcount == 0:  # an interaction of this note from before its message row (a restore)
                row = await fetch_one(
                    conn,
                    "SELECT pk FROM interaction WHERE source = 'fediverse' AND source_record_id = ?",
                    (object_id,),
                )
                assert row is not None
                ipk = int(row[0])
            else:
                ipk = int(cur.lastrowid or 0)
            await conn.execute(
                "INSERT OR IGNORE INTO interaction_person (person_pk, interaction_pk) VALUES (?, ?)",
                (pk, ipk),
            )
            await conn.execute(
                "INSERT INTO fedi_message (object_id, interaction_pk, direction, actor_id, url, in_reply_to, "
                "conversation, private) VALUES (?,?,?,?,?,?,?,?)",
                (object_id, ipk, direction, actor_id, url, in_reply_to, conversation, int(private)),
            )
            await recompute_people(conn, [pk])
            row = await fetch_one(conn, _SELECT + " WHERE m.object_id = ?", (object_id,))
            assert row is not None
            return message_from_row(row), True

        return await self.db.write(run)

    async def conversation(self, conversation: str) -> list[MessageRow]:
        """The messages of one conversation, oldest first."""

        async def run(conn: aiosqlite.Connection) -> list[MessageRow]:
            rows = await fetch_all(
                conn, _SELECT + " WHERE m.conversation = ? ORDER BY i.occurred_at, i.pk", (conversation,)
            )
            return [message_from_row(r) for r in rows]

        return await self.db.read(run)
