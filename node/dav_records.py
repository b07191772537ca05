"""The records the CardDAV service and its store exchange (node/dav.py, node/store/sqlite/dav.py): plain frozen
values, nothing of SQLite in them, so that a second storage engine implements the same methods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from node.store.people import IdentityInput

__all__ = [
    "ALL_BOOK",
    "AppPassword",
    "Book",
    "CardIdentity",
    "CardRef",
    "CardRow",
    "GroupEdit",
    "NewIds",
    "PersonEdit",
]

#: The id of the address book that holds everyone (every other book is a published circle, named by its id).
ALL_BOOK = "all"


@dataclass(frozen=True, kw_only=True, slots=True)
class Book:
    """An address book: "All people" (id ``all``), or a circle the owner published (id: the circle's id)."""

    id: str
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AppPassword:
    name: str
    created_at: str
    last_used_at: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CardRef:
    """Where a card stands, whatever its state: ``live`` when it is a member of the book it was looked up in."""

    href: str
    uid: str
    seq: int
    live: bool
    person_pk: int | None = None
    person_id: str | None = None
    circle_pk: int | None = None
    circle_name: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CardIdentity:
    uri: str
    kind: str
    display: str
    label: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CardRow:
    """Everything one card shows: a person's fields, identities, notes and circles, or a circle (group card)
    with its members' UIDs; ``extra`` is what the last CardDAV PUT said that the graph has no field for."""

    href: str
    uid: str
    seq: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    identities: tuple[CardIdentity, ...] = ()
    notes: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()
    group: str | None = None  # the circle's name when this is a group card
    members: tuple[str, ...] = ()  # the group's members' UIDs
    extra: Mapping[str, Any] = field(default_factory=dict)
    edited_by: str | None = None
    edited_at: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NewIds:
    """Ids for what a PUT may create (made by node.graph.new_id): the person, a note, one circle per name."""

    person: str
    note: str
    circles: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonEdit:
    """A person card as a client PUT it, already checked by the graph's rules (node/dav_vcard.py).

    ``fields`` replaces the person's card fields; ``identities`` is the card's whole list with the raw lines each
    came from, kept (in ``extra``) when the identity belongs to someone else; identities of ``removable_kinds``
    that the card no longer lists are detached, except verified ones; ``note`` replaces the notes that it does
    not quote; ``circles`` (None: the card has no CATEGORIES) replaces the person's circles."""

    fields: Mapping[str, Any]
    identities: tuple[tuple[IdentityInput, tuple[str, ...]], ...]
    removable_kinds: frozenset[str]
    note: str
    circles: tuple[str, ...] | None
    extra: Mapping[str, Any]
    edited_by: str
    now: str
    ids: NewIds


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupEdit:
    """A group card as a client PUT it: the circle's name and its members' UIDs."""

    name: str
    members: tuple[str, ...]
    edited_by: str
    now: str
