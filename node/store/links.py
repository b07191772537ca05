"""The graph store's contract, part six: linked live accounts on silos (node/sync.py) and where each
interrupted sync resumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final, Protocol

__all__ = ["KEEP", "Keep", "LinkRow", "Links"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkRow:
    """A link to the owner's account ``account`` on ``source``; ``secret`` holds its credentials (sealed with
    the passphrase when one is set: node/link_secrets.py). Times are ISO 8601 UTC text."""

    source: str
    account: str
    base_url: str
    secret: str
    status: str  # active or revoked
    resume_at: str | None  # a silo's rate limit: no sync before this
    last_sync_at: str | None
    last_error: str | None
    created_at: str
    updated_at: str


class Keep(Enum):
    """The value of a field :meth:`Links.update` leaves as it is (None would clear it)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


class Links(Protocol):
    async def put(self, *, source: str, account: str, base_url: str, secret: str, now: datetime) -> None:
        """Create or replace a link; a new secret makes a revoked link active again and clears its limits."""
        ...

    async def get(self, source: str, account: str | None) -> list[LinkRow]:
        """The links of ``source`` (only ``account``'s when given), oldest first."""
        ...

    async def update(
        self,
        source: str,
        account: str,
        now: datetime,
        *,
        secret: str | Keep = KEEP,
        status: str | Keep = KEEP,
        resume_at: datetime | Keep | None = KEEP,
        last_sync_at: datetime | Keep | None = KEEP,
        last_error: str | Keep | None = KEEP,
    ) -> None:
        """Change the fields given (ValueError when none is)."""
        ...

    async def cursor(self, source: str, account: str, direction: str) -> dict[str, Any] | None:
        """Where the interrupted sync of ``direction`` resumes (the silo's own cursor), or None."""
        ...

    async def set_cursor(
        self, source: str, account: str, direction: str, cursor: dict[str, Any] | None, now: datetime
    ) -> None:
        """Keep ``cursor`` (None: the list was read to its end, forget it)."""
        ...
