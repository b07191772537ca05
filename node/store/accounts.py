"""The server store's contract: the account registry, the accounts' keys and owner-token digests, and the
server's own settings (specs/STORAGE.md §3).

Rules every backend keeps:
- A name is never reused: a removed or purged account keeps its row (peers still hold follows and records
  that name its actor URL), and creating an account of a name ever used is a Conflict.
- State changes are checked in the same transaction (``set_state``'s ``expect``), so two commands racing
  cannot both win; purging drops an account's keys and token, and keeps its name.
- Only an active account's token digest finds it (``by_token``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from node.models import AccountRow

__all__ = ["Accounts"]


class Accounts(Protocol):
    async def create(
        self,
        *,
        name: str,
        type: str,
        display_name: str,
        graph_file: str,
        token_sha256: str | None,
        keys: Mapping[str, str],
        now: datetime,
    ) -> AccountRow:
        """Register an active account with its token digest and keys (purpose -> PEM) in one transaction."""
        ...

    async def get(self, name: str) -> AccountRow:
        """NotFound unless the account exists (in any state)."""
        ...

    async def get_pk(self, pk: int) -> AccountRow: ...

    async def find(self, name: str) -> AccountRow | None: ...

    async def list(self, *, states: tuple[str, ...] = ()) -> builtins.list[AccountRow]:
        """Every account (only those in ``states`` when given), oldest first."""
        ...

    async def set_state(
        self,
        pk: int,
        *,
        expect: tuple[str, ...],
        state: str,
        now: datetime,
        removed_at: datetime | None = None,
        purge_after: datetime | None = None,
    ) -> AccountRow:
        """Move the account to ``state`` if it is in one of ``expect`` (else Conflict naming its state); the
        caller checked the move against protocol.states.ACCOUNT."""
        ...

    async def forget(self, pk: int) -> None:
        """Delete an account that never served anyone (a ``kith restore --account`` that made it a moment ago
        and then failed): its row and keys go, and so its name is free again. Nothing else references it yet."""
        ...

    async def set_display(self, pk: int, *, display_name: str, type: str, now: datetime) -> AccountRow: ...

    async def set_token(self, pk: int, token_sha256: str, now: datetime) -> None: ...

    async def by_token(self, token_sha256: str) -> AccountRow | None:
        """The active account this token digest belongs to."""
        ...

    async def token_digest(self, pk: int) -> str | None: ...

    async def keys(self, pk: int) -> dict[str, str]:
        """The account's keys, purpose -> PEM (encrypted when the server's keys are sealed)."""
        ...

    async def replace_keys(self, pems: Mapping[int, Mapping[str, str]], now: datetime) -> None:
        """Rewrite the key PEMs of many accounts in one transaction (a passphrase set, changed or removed)."""
        ...

    async def meta_get(self, key: str) -> str | None: ...

    async def meta_set(self, key: str, value: str) -> None: ...
