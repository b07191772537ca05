"""The graph store's contract for fediverse direct messages and mentions (issue 16; node/messaging.py and
node/federation_port.py are its callers): each note once, beside the interaction it made, in the conversation
of the note it answers when that note is known here.

Rules every engine keeps (node/store/sqlite/messages.py says how SQLite does):
- ``record`` writes the interaction and the message in one transaction, keyed by the note's id: a note
  delivered twice, or by two routes (its Create and a reply's fetch), makes one interaction.
- A reply to a known note joins that note's conversation; otherwise the note starts its own.
- No text of a note is stored (issue 16 §1: capture keeps no body).

Times are ISO-8601 UTC text, as the interactions' occurred_at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["MessageRow", "Messages"]


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageRow:
    object_id: str
    interaction_id: str
    direction: str  # "in" or "out"
    actor_id: str
    url: str
    in_reply_to: str | None
    conversation: str  # the object id of the conversation's first note known here
    private: bool
    occurred_at: str


class Messages(Protocol):
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
        it is new. The person's last interaction and due date move with it."""
        ...

    async def conversation(self, conversation: str) -> list[MessageRow]:
        """The messages of one conversation, oldest first."""
        ...
