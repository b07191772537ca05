"""The graph store's contract for what the stay-in-touch loop keeps besides captured mail (issue 16;
node/digest.py, node/reach.py and the Today page are its callers): reminders the owner snoozed or marked done,
the digests claimed and sent per period, the owner's preferred channel per person, and the reads a digest is
made of.

Rules every engine keeps (node/store/sqlite/outreach.py says how SQLite does):
- A digest period is sent at most once: ``claim_digest`` gives it to one caller; a claim left sending (a crash
  mid-send) is never taken again; a failed send is tried again, up to MAX_ATTEMPTS tries in all, each no
  sooner than the caller's ``retry_before``.
- Times are ISO-8601 UTC text and compare as text (the digest's periods and reminders' items are the caller's
  keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = ["MAX_ATTEMPTS", "DigestRow", "Outreach", "Rhythm"]

#: How many times in all a digest period is tried when its sending fails.
MAX_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class DigestRow:
    period: str
    state: str  # sending, sent or failed
    attempts: int
    error: str | None
    updated_at: str


class Rhythm(NamedTuple):
    """A person without a cadence of their own, and the days they were in touch."""

    person_id: str
    name: str
    cadence_days: int | None
    effective_cadence_days: int | None
    days: list[str]  # the latest distinct days (YYYY-MM-DD) with an interaction, newest first


class Outreach(Protocol):
    async def set_reminder(self, item: str, state: str, until: str | None, now: str) -> None:
        """Mark ``item`` done, or snoozed ``until``."""
        ...

    async def hidden(self, now: str) -> set[str]:
        """Items done, or snoozed until after ``now``."""
        ...

    async def claim_digest(self, period: str, now: str, retry_before: str) -> bool:
        """Claim ``period`` for sending: True for the first claim, or for a retry of a failed send last tried
        before ``retry_before``."""
        ...

    async def finish_digest(self, period: str, *, error: str | None, now: str) -> None: ...

    async def digests(self, limit: int = 20) -> list[DigestRow]:
        """The latest digest periods claimed, newest first."""
        ...

    async def set_preferred(self, person_id: str, uri: str | None, now: str) -> None:
        """The owner's preferred way to reach the person (None forgets it)."""
        ...

    async def preferred(self, person_id: str) -> str | None: ...

    async def birthdays(self) -> list[tuple[str, str, str]]:
        """(person id, name, birthday) of every active person with a birthday."""
        ...

    async def rhythms(self, *, since: str, min_count: int, limit: int, days: int) -> list[Rhythm]:
        """People without a cadence of their own with at least ``min_count`` interactions, in touch since
        ``since``, most interactions first (at most ``limit``), each with their latest ``days`` days in touch."""
        ...
