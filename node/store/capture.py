"""The graph store's contract for mail capture (issue 16; node/capture/imap.py and node/capture/proposals.py are
its callers): messages seen by Message-ID, their participants, the correspondents counted from them and the
people proposed from those.

Rules every engine keeps (node/store/sqlite/capture.py says how SQLite does):
- ``record_mail`` writes a batch of messages, the interactions they make, the correspondents' counts and the
  folder's resume point (a sync cursor, as Links.cursor reads it) in one transaction: a sync cut off between
  batches keeps every batch before it and repeats nothing.
- A message is stored once per Message-ID: a batch seen again (a folder read twice, the same message in two
  folders) adds nothing, but still moves the cursor.
- No body is stored; a subject only where the caller passes one.

Times are ISO-8601 UTC text, as node/capture/ builds them (the interactions' occurred_at).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = ["Capture", "MailBatch", "MailRow", "Proposal"]


class MailRow(NamedTuple):
    message_id: str
    occurred_at: str
    from_owner: bool
    participants: tuple[tuple[str, str], ...]  # (folded mailto: uri, name), the owner left out
    broadcast: bool
    personal: bool
    bulk: bool
    in_reply_to: str | None
    subject: str


@dataclass(frozen=True, slots=True)
class MailBatch:
    """What one batch added."""

    messages: int  # new messages (not seen before under their Message-ID)
    interactions_added: int
    people_proposed: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Proposal:
    address: str
    name: str
    sent: int
    received: int
    first_at: str
    last_at: str
    status: str


class Capture(Protocol):
    async def email_people(self) -> dict[str, int]:
        """Every e-mail identity of a person, keyed by its folded form (plus-addressing and case folded), to
        the person's key as ``record_mail`` takes it."""
        ...

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
        after them, in one transaction. ``people``: from :meth:`email_people`; ``interaction_ids``: at least
        one fresh id per row."""
        ...

    async def proposals(self, *, status: str = "proposed", limit: int = 200) -> list[Proposal]:
        """Correspondents proposed as people (or accepted, dismissed), those the owner writes to most first.
        An address that became a person's since it was proposed is left out."""
        ...

    async def proposal(self, address: str) -> Proposal:
        """One correspondent (NotFound if the captured mail has none at ``address``)."""
        ...

    async def set_proposal_status(self, address: str, status: str) -> None: ...

    async def backfill(
        self, address: str, person_id: str, *, interaction_ids: Sequence[str], now: str
    ) -> int:
        """The captured messages with ``address`` become interactions with the person (a message that already
        made an interaction with others gains the person); the correspondent is accepted. Returns how many
        messages were linked."""
        ...

    async def messages_seen(self) -> int: ...

    async def participant_count(self, address: str) -> int: ...
