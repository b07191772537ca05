"""The graph store's contract, part five: what federation's graph port (node/federation_port.py) needs beyond
people: who may see the owner's card (circles of an actor's identity), a peer's card replacing what that card
said before, and relationship records signed with a peer, keyed by the record's id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from node.store.people import IdentityInput, PersonFields, RelationshipInput

__all__ = ["Peers"]


class Peers(Protocol):
    async def circles_of_identity(self, uri: str, *, source: str | None = None) -> list[str] | None:
        """The circle names of the person holding ``uri``; None when no person holds it (or, with ``source``,
        when that source never vouched for the identity: only an actor's own document may say whose actor it
        is when what the owner discloses depends on it)."""
        ...

    async def identities_from_source(
        self, source: str, kind: str, circles: Iterable[str] | None
    ) -> list[str]:
        """Active identity uris of ``kind`` seen through ``source`` whose (active) person is in one of
        ``circles`` (None: any person; an empty list: nobody), sorted."""
        ...

    async def replace_from_record(
        self,
        person_id: str,
        *,
        source: str,
        source_record_id: str,
        identities: Sequence[IdentityInput],
        fields: PersonFields,
        now: datetime,
    ) -> None:
        """Make ``identities`` exactly what ``source_record_id`` says of this person: attach the new ones,
        withdraw that record's provenance from the others (deleting identities no other source vouches for),
        and set the non-empty ``fields`` (display_name, organization, title, photo_url)."""
        ...

    async def upsert_record_relationship(
        self,
        *,
        rel_id: str,
        person_id: str,
        record: Mapping[str, Any],
        relationship: RelationshipInput,
        now: datetime,
    ) -> None:
        """Store a signed relationship record (its ``id`` names it) on the person, replacing an earlier one
        with the same record id; ``rel_id`` names a new one."""
        ...

    async def set_record_status(self, record_id: str, status: str, now: datetime) -> None:
        """NotFound when no relationship carries that record."""
        ...
