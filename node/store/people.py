"""The graph store's contract, part one: people and everything attached to one person (identities with their
provenance, circles, notes, relationships, interactions). docs/ARCHITECTURE.md §1 says what they mean.

Rules every backend keeps (tests/node/store/contract/ checks them on each):
- Each method is one transaction or one consistent read; a method that raises has written nothing.
- An identity (its normalised ``uri``) belongs to at most one person of the graph: attaching one that another
  person holds raises Conflict (merge the two people instead).
- A person id that does not exist, or names a merged person where only live ones are meant, raises NotFound.
- Derived values are the store's to keep: interaction counts, the last interaction, the effective cadence (the
  person's own, else the shortest of their circles'), the due date, and whatever search needs.
- Values in are plain and validated by the graph (node/graph.py): text, numbers, and moments as aware
  datetimes. Records out are node.models', whose times are ISO 8601 UTC text as the API shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from node.models import Circle, Interaction, Note, Page, Person, Relationship

__all__ = [
    "PERSON_ORDERS",
    "IdentityInput",
    "InteractionInput",
    "People",
    "PersonFields",
    "RelationshipInput",
]

#: A person's own fields to set: keys among node.models.PERSON_FIELDS (a store refuses others with ValueError),
#: values already validated (text, whole numbers, dates as text like 1990-04-01 or --04-01, or None to clear).
PersonFields = Mapping[str, Any]

#: How list_people orders: by name (case-insensitive), by last interaction (never last), newest first, or by
#: tie strength (strongest first). Ties are broken the same way on every backend, so pages never disagree.
PERSON_ORDERS = ("name", "recent", "created", "strength")


@dataclass(frozen=True, kw_only=True, slots=True)
class IdentityInput:
    """A normalised identity to attach (protocol.addresses made ``uri``, ``kind`` and ``display``), with where
    it was seen (``source`` and the record there) and how strongly it is verified (node.models'
    VERIFICATION_LEVELS). Attaching it again keeps the stronger verification and adds the provenance."""

    uri: str
    kind: str
    display: str
    label: str | None
    verification: str
    source: str
    source_record_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RelationshipInput:
    """A relationship's own fields: ``type`` and its ``iri`` from protocol/vocab.py, ``direction`` (outgoing,
    incoming or mutual), ``since`` (a date as text), how the two met, and ``status`` (``local`` for the owner's
    own, else where a record signed with a Kith peer stands)."""

    type: str
    iri: str
    direction: str
    since: str | None = None
    how_we_met: str | None = None
    status: str = "local"


@dataclass(frozen=True, kw_only=True, slots=True)
class InteractionInput:
    """One conversation: when (an aware datetime), on which channel (protocol.vocab.CHANNELS), who began it
    (owner, them or unknown), a summary, and where it came from (``owner``, or an import's source and record)."""

    occurred_at: datetime
    channel: str
    initiated_by: str
    summary: str = ""
    source: str = "owner"
    source_record_id: str | None = None


class People(Protocol):
    """People, identities, circles, notes, relationships and interactions of one account's graph."""

    async def insert_person(
        self,
        *,
        person_id: str,
        fields: PersonFields,
        identities: Sequence[IdentityInput],
        now: datetime,
        circles: Sequence[tuple[str, str]] = (),
        notes: Sequence[tuple[str, str]] = (),
    ) -> Person:
        """A new person with identities, circle memberships ((id for the circle if it is new, name)) and notes
        ((note id, body)), all in one transaction. ``display_name`` must be among ``fields``."""
        ...

    async def update_person(self, person_id: str, fields: PersonFields, now: datetime) -> Person:
        """Set the given fields (the others stay); the due date follows a changed cadence."""
        ...

    async def set_status(self, person_id: str, status: str, now: datetime) -> Person:
        """``active`` or ``archived``."""
        ...

    async def delete_person(self, person_id: str) -> None:
        """The person, with the people merged into them, their identities, notes, memberships, relationships,
        the interactions only they took part in, and their merge history."""
        ...

    async def get_person(
        self, person_id: str, *, include_merged: bool = True, strength_at: datetime | None = None
    ) -> Person:
        """One person with identities and circles; with ``strength_at``, also their tie strength at that
        moment and its parts (node.models.TieStrength)."""
        ...

    async def person_for_identity(self, uri: str) -> Person | None:
        """Whoever holds this identity (merged people included), or None."""
        ...

    async def add_identity(self, person_id: str, ident: IdentityInput, now: datetime) -> Person: ...

    async def remove_identity(self, person_id: str, uri: str) -> Person:
        """NotFound unless the person holds ``uri``."""
        ...

    async def set_identity_state(
        self, uri: str, *, state: str, moved_to: str | None, verification: str | None, now: datetime
    ) -> bool:
        """Mark an identity ``active``, ``moved`` (to ``moved_to``) or ``gone``; ``verification`` replaces the
        stored one when given. False when no one holds ``uri``."""
        ...

    async def list_people(
        self, *, status: str, circle: str | None, order: str, offset: int, limit: int, now: datetime
    ) -> Page:
        """A counted page of people in ``status`` (and ``circle``), in an order of PERSON_ORDERS; each with their
        tie strength at ``now``."""
        ...

    async def ensure_circle(self, *, circle_id: str, name: str, now: datetime) -> Circle:
        """The circle named ``name``, made (with ``circle_id``) if there is none."""
        ...

    async def set_circle_cadence(self, name: str, cadence_days: int | None) -> Circle:
        """The circle's cadence; its members' effective cadences and due dates follow."""
        ...

    async def delete_circle(self, name: str) -> None: ...

    async def set_membership(
        self, person_id: str, *, circle_id: str, name: str, member: bool, now: datetime
    ) -> Person:
        """Join (the circle made if new) or leave; NotFound when leaving a circle the person is not in."""
        ...

    async def list_circles(self) -> list[Circle]:
        """Every circle by name (case-insensitive), each with its count of active members."""
        ...

    async def add_note(self, person_id: str, *, note_id: str, body: str, now: datetime) -> Note: ...

    async def list_notes(self, person_id: str) -> list[Note]:
        """Oldest first (merged people's too: their notes stay readable where their history is)."""
        ...

    async def delete_note(self, note_id: str) -> None: ...

    async def add_relationship(
        self,
        *,
        rel_id: str,
        person_id: str,
        other_person_id: str | None,
        relationship: RelationshipInput,
        now: datetime,
    ) -> Relationship:
        """ "PERSON is OTHER's TYPE", or without another person "PERSON is the owner's TYPE"."""
        ...

    async def delete_relationship(self, rel_id: str, *, local_only: bool = False) -> None:
        """``local_only``: Conflict for a record signed with a peer (only ending it with them removes it)."""
        ...

    async def list_relationships(self, person_id: str | None) -> list[Relationship]:
        """A person's relationships either way round, or every relationship; oldest first."""
        ...

    async def add_interaction(
        self, *, interaction_id: str, person_ids: Sequence[str], interaction: InteractionInput, now: datetime
    ) -> Interaction:
        """An interaction with these (live) people; their counts, last interaction and due dates follow."""
        ...

    async def delete_interaction(self, interaction_id: str) -> None: ...

    async def list_interactions(self, person_id: str | None, *, offset: int, limit: int) -> Page:
        """Newest first, uncounted (node.models.Page.uncounted)."""
        ...
