"""The contact graph's records as the owner sees them: plain frozen dataclasses, JSON-ready via ``as_json``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "PERSON_FIELDS",
    "STATES_WITH_GRAPH",
    "VERIFICATION_LEVELS",
    "AccountRow",
    "Circle",
    "DueEntry",
    "FadingEntry",
    "Identity",
    "Interaction",
    "LayerReport",
    "MergeRecord",
    "MergeSuggestion",
    "Note",
    "Page",
    "Person",
    "Provenance",
    "Relationship",
    "TieStrength",
    "TieStrengthPart",
    "as_json",
]

#: Strongest first. "signed": a record signed by the identity's owner; "two-way": rel=me / alsoKnownAs both ways;
#: "email-match": the same normalised e-mail from two sources; "bridged": a bridge's actor vouches for the silo
#: account it bridges (node/federation_port.py; specs/PROTOCOL.md "Verification levels"); "claimed": a source says
#: so; "guessed": a heuristic.
VERIFICATION_LEVELS = ("signed", "two-way", "email-match", "bridged", "claimed", "guessed")

#: A person's own fields, the ones the owner (and, most of them, an import) may set.
PERSON_FIELDS = (
    "display_name",
    "given_name",
    "family_name",
    "nickname",
    "organization",
    "title",
    "birthday",
    "photo_url",
    "priority",
    "cadence_days",
    "met_on",
)


#: The account states whose contact graph exists (a purged account keeps only its name).
STATES_WITH_GRAPH = ("active", "suspended", "removed")


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountRow:
    """One account of the server: an actor (Person or Organization) with its own contact graph."""

    pk: int
    name: str
    type: str
    display_name: str
    state: str  # protocol.states.ACCOUNT
    graph_file: str  # relative to the data folder
    created_at: str
    updated_at: str
    removed_at: str | None = None
    purge_after: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Provenance:
    source: str
    source_record_id: str
    seen_at: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    uri: str
    kind: str
    display: str
    label: str | None
    verification: str
    state: str
    moved_to: str | None
    source: str  # the first source it came from; every source is in ``provenance``
    provenance: tuple[Provenance, ...]
    created_at: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TieStrengthPart:
    """One part of a tie-strength score: its ``value`` in [0, 1], its ``weight``, ``points`` = weight × value
    (the score is the sum of the parts' points), what this person's rows say (``detail``) and how the value is
    made (``rule``)."""

    name: str
    weight: float
    value: float
    points: float
    detail: str
    rule: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TieStrength:
    score: float
    parts: tuple[TieStrengthPart, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Person:
    id: str
    display_name: str
    given_name: str | None
    family_name: str | None
    nickname: str | None
    organization: str | None
    title: str | None
    birthday: str | None
    photo_url: str | None
    priority: int
    cadence_days: int | None
    effective_cadence_days: int | None
    last_interaction_at: str | None
    due_at: str | None
    interaction_count: int
    met_on: str | None
    status: str
    merged_into: str | None
    created_at: str
    updated_at: str
    identities: tuple[Identity, ...] = ()
    circles: tuple[str, ...] = ()
    tie_strength: float | None = None
    #: The parts of ``tie_strength`` where one person is shown in full (lists leave them out: None).
    tie_strength_parts: tuple[TieStrengthPart, ...] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Relationship:
    """A typed relationship: ``person_id`` is ``other_person_id``'s ``type`` ("Ann is Bob's mentor"); without
    another person, ``person_id`` is the owner's ``type`` ("Ann is my friend"). ``status`` is ``local`` for the
    owner's own records, else where a record signed with a Kith peer stands."""

    id: str
    person_id: str
    other_person_id: str | None
    type: str
    iri: str
    direction: str
    since: str | None
    how_we_met: str | None
    status: str
    created_at: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Interaction:
    id: str
    occurred_at: str
    channel: str
    initiated_by: str
    summary: str
    source: str
    people: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Note:
    id: str
    person_id: str
    body: str
    created_at: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Circle:
    id: str
    name: str
    cadence_days: int | None
    members: int


@dataclass(frozen=True, kw_only=True, slots=True)
class MergeSuggestion:
    id: str
    a: str
    b: str
    a_name: str
    b_name: str
    tier: str
    evidence: tuple[dict[str, str], ...]
    status: str
    created_at: str


@dataclass(frozen=True, kw_only=True, slots=True)
class MergeRecord:
    id: str
    survivor: str
    merged: str
    decided_by: str
    evidence: tuple[dict[str, str], ...]
    created_at: str
    undone_at: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class DueEntry:
    person: Person
    due_at: str
    days_overdue: float


@dataclass(frozen=True, kw_only=True, slots=True)
class FadingEntry:
    person: Person
    recent_rate: float  # interactions per 90 days, last 90 days
    past_rate: float  # interactions per 90 days over the year before


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerReport:
    name: str
    max_cadence_days: int
    budget: int
    count: int
    over_budget: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Page:
    items: tuple[Any, ...]
    total: int | None  # None where counting would cost more than the page itself (search, timelines)
    offset: int
    limit: int
    next_offset: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def uncounted(cls, items: Iterable[Any], *, offset: int, limit: int, more: bool) -> Page:
        """A page whose total is not counted; ``more`` (a row past ``limit`` was read) says a next one exists."""
        return cls(
            items=tuple(items),
            total=None,
            offset=offset,
            limit=limit,
            next_offset=offset + limit if more else None,
        )


def as_json(obj: Any) -> Any:
    """Dataclasses (nested), tuples and lists as plain JSON values."""
    if hasattr(obj, "__dataclass_fields__"):
        # Field by field: dataclasses.asdict deep-copies every nested value first, which tripled the cost of
        # serialising a page of people.
        return {f.name: as_json(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list | tuple):
        return [as_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: as_json(v) for k, v in obj.items()}
    return obj
