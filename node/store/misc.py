"""The graph store's contract, part three: the account's small settings (key/value meta rows: the owner's card,
web password and sessions) and the addresses the owner blocked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["BlockedAddress", "Misc"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BlockedAddress:
    uri: str
    source: str  # "owner", or the import that brought the block
    created_at: str


class Misc(Protocol):
    async def meta_get(self, key: str) -> str | None: ...

    async def meta_set(self, key: str, value: str) -> None: ...

    async def meta_change(
        self, values: Mapping[str, str], *, record: str, advance: Callable[[str | None], str]
    ) -> str:
        """Set ``values`` and the change record ``record`` (``advance(its old value)``) in ONE transaction: a
        change and the record that it must be sent on cannot be separated by a crash (the owner's card and its
        version, node/owner_card.py). Returns the new record."""
        ...

    async def block(self, uri: str, source: str, now: datetime) -> bool:
        """False when ``uri`` was blocked already."""
        ...

    async def unblock(self, uri: str) -> bool:
        """False when ``uri`` was not blocked."""
        ...

    async def blocked(self) -> list[BlockedAddress]:
        """By address."""
        ...
