"""The store's contract for CardDAV (specs/CARDDAV.md): address books, cards and their change log, app
passwords, in the account's graph store (GraphStore.dav). Records are node/dav_records.py's frozen dataclasses.

Rules every engine keeps (node/store/sqlite/dav.py says how SQLite does):
- The change log keeps one entry per card with the account's change counter at its last change, kept when the
  person is archived, merged or deleted, so that a sync report names removed cards; the counter only grows,
  and ``state``'s epoch changes when the counter could have gone back (a restored graph).
- A card is live in a book when its person is active (and, for a circle's book, a member).
- Every method is one transaction or one consistent read; a conditional write (``expect``) is checked again
  inside its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from node.dav_records import AppPassword, Book, CardRef, CardRow, GroupEdit, PersonEdit

__all__ = ["Dav"]


class Dav(Protocol):
    """The account's address books (its circles it published, and All), their cards and change log, and the
    app passwords phones sign in with. Times are ISO-8601 UTC text."""

    async def state(self) -> tuple[str, int]:
        """(the epoch of this database's tokens, the account's change counter now)."""
        ...

    async def books(self) -> list[Book]: ...

    async def publish(self, circle: str, now: str, *, published: bool = True) -> Book: ...

    async def listing(self, book: str) -> list[tuple[str, int]]:
        """(href, seq) of every card in the book now."""
        ...

    async def changes(self, book: str, since: int) -> list[tuple[str, int, bool]]:
        """(href, seq, live) of every card changed after ``since``, oldest change first. A card that left the
        book, or was never in it, is not live: the client forgets it if it had it."""
        ...

    async def lookup(self, book: str, href: str) -> CardRef | None:
        """The card named ``href`` in any state, ``live`` when it is in ``book`` now; None when no card ever had
        that name."""
        ...

    async def by_uid(self, uid: str) -> CardRef | None:
        """The newest card with this UID (a UID is unique among live cards; the All book's view)."""
        ...

    async def cards(self, book: str, hrefs: Sequence[str]) -> list[CardRow]:
        """The cards among ``hrefs`` that are in the book now (the others are missing from the answer)."""
        ...

    async def put_person(
        self, book: str, href: str, uid: str, edit: PersonEdit, *, expect: int | None = None
    ) -> tuple[int, bool]:
        """Create or replace the person card ``href`` as ``edit`` says, in one transaction. Returns (the card's
        seq now, whether it was created). A card created in a circle's book joins that circle. ``expect``: the
        seq the client's condition was checked against (0: no card), checked again here (see _expect)."""
        ...

    async def put_group(
        self, href: str, uid: str, edit: GroupEdit, new_circle_id: str, *, expect: int | None = None
    ) -> tuple[int, bool]:
        """Create or replace the group card ``href`` (a circle and its members), in one transaction."""
        ...

    async def remove(self, book: str, href: str, now: str, *, expect: int | None = None) -> bool:
        """A client deleted a card. From the All book: the person is archived (never deleted: DELETE in a phone
        is too easy to make by mistake), a group card's circle is deleted (its people stay). From a circle's book:
        the person leaves the circle. False when the card is not in the book."""
        ...

    async def provenance(self, person_id: str) -> tuple[str | None, str | None, dict[str, Any]]:
        """(the app password of the last CardDAV edit of this person, when, what that card said that the graph
        has no field for), or (None, None, {})."""
        ...

    async def add_password(self, name: str, hashed: str, now: str) -> None: ...

    async def passwords(self) -> list[AppPassword]: ...

    async def password_hashes(self) -> list[tuple[str, str]]: ...

    async def revoke_password(self, name: str) -> None: ...

    async def password_used(self, name: str, now: str) -> None: ...
