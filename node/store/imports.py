"""The graph store's contract, part eight: imports (docs/ARCHITECTURE.md §7, specs/IMPORTS.md).

node/importer.py drives an import and node/import_resolve.py decides what each row becomes; the store reads
what they ask for and writes the rows they hand over, a chunk at a time, in ONE transaction per import:

- ``Imports.transaction(now, fn)`` runs ``fn(session)``; if it raises, nothing it wrote remains (a kill, a
  crash or a bad export part-way leaves the graph exactly as it was).
- The importer gives the rows their integer keys itself (``ImportSession.next_keys``: the first free ones,
  read once in the transaction, which no other writer enters), so a chunk's rows need no read-back.
- ``ImportSession.write(rows)`` takes a chunk's rows as plain typed tuples (``ChunkRows``) and writes them all;
  whatever search needs for the new people (names, identities, notes) is the store's to make from those rows.
  The rows are taken at the call and written when the result is awaited, so that a backend puts them in the
  form it writes (SQLite: JSON text for one statement) while the previous chunk's write still runs.
- Look-ups read the graph as the import found it while ``session.snapshot`` is true, so that they may run
  beside a chunk's write; after an automatic merge (which changes rows the import read) the importer sets it
  false and they read through the import's own transaction.
- Runs are recorded (``start_run``, ``finish_run``) and claimed (``claim``): a run whose claim nobody holds any
  more was left behind by a process that ended part-way, and ``sweep`` marks it failed with INTERRUPTED.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from node.models import PERSON_FIELDS

__all__ = [
    "INTERRUPTED",
    "PERSON_IMPORT_FIELDS",
    "ChunkRows",
    "ImportRun",
    "ImportSession",
    "Imports",
    "KnownIdentity",
    "KnownPerson",
    "KnownRecord",
    "RelatedRow",
    "RunClaim",
    "SuggestionRow",
]

T = TypeVar("T")

#: The person columns an import may set. The owner's own judgements (priority, cadence) are never imported, and
#: met_on is handled apart: it only ever moves earlier.
PERSON_IMPORT_FIELDS = tuple(f for f in PERSON_FIELDS if f not in ("priority", "cadence_days", "met_on"))
INTERRUPTED = (
    "interrupted: the node stopped before this import finished, and nothing of it was kept; "
    "import the export again"
)


class KnownIdentity(NamedTuple):  # one per address an import meets: built three times faster than a dataclass
    pk: int
    person_pk: int | None
    verification: str
    label: str | None


class KnownRecord(NamedTuple):  # one per imported row
    person_pk: int
    digest: str
    fields: dict[str, Any]


class KnownPerson(NamedTuple):
    fields: dict[str, Any]  # PERSON_IMPORT_FIELDS and met_on
    placeholder: bool  # the name is only one of the person's addresses (an import knew no name)


#: (relationship id, person, other person, type, IRI, direction, the same fact's type seen from the other side
#: or None): "person is other's type" (vCard RELATED).
RelatedRow = tuple[str, int, int, str, str, str, str | None]
#: (suggestion id, person a, person b with a < b, tier, evidence).
SuggestionRow = tuple[str, int, int, str, Sequence[Mapping[str, str]]]


@dataclass(slots=True)
class ChunkRows:
    """One chunk's rows, each table's as plain tuples (an import makes hundreds of thousands: a tuple is built
    several times faster than a record), in the order they are written: each table after every table it
    references. Keys are the importer's (``ImportSession.next_keys``)."""

    # pk, id, *PERSON_IMPORT_FIELDS, met_on
    people: list[tuple[Any, ...]] = field(default_factory=list)
    # pk, the changed columns (among PERSON_IMPORT_FIELDS and met_on; never None: an import never empties one)
    person_updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # pk, person, uri, kind, display, label, verification
    identities: list[tuple[int, int, str, str, str, str | None, str]] = field(default_factory=list)
    # person, verification, label, identity pk (the last one of an identity wins)
    identity_updates: list[tuple[int, str, str | None, int]] = field(default_factory=list)
    # identity pk, source, source record id (an existing one is kept)
    provenance: list[tuple[int, str, str]] = field(default_factory=list)
    # source, record id, person, digest, fields as JSON text
    records: list[tuple[str, str, int, str, str]] = field(default_factory=list)
    record_updates: list[tuple[str, str, int, str, str]] = field(
        default_factory=list
    )  # the same, seen before
    circle_members: list[tuple[int, int]] = field(default_factory=list)  # circle, person
    notes: list[tuple[str, int, str]] = field(
        default_factory=list
    )  # id, person, body (an existing id is kept)
    # id, person, type, iri, direction, since: the owner's relationship with the person
    relationships: list[tuple[Any, ...]] = field(default_factory=list)
    # pk, id, occurred at (an aware datetime), channel, initiated by, summary, source, source record id
    interactions: list[tuple[Any, ...]] = field(default_factory=list)
    interaction_people: list[tuple[int, int]] = field(default_factory=list)  # person, interaction
    blocks: list[tuple[str, str]] = field(default_factory=list)  # uri, source
    # People written before whose names, addresses or notes this chunk changed: what search finds them by is
    # made again once the chunk's rows are in.
    refresh: list[int] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportRun:
    """A recorded import: ``status`` running, done or failed; ``summary`` node.importer.summary_json's."""

    id: str
    source: str
    name: str
    status: str
    summary: dict[str, Any] | None
    error: str | None
    started_at: str
    finished_at: str | None


class RunClaim(Protocol):
    """Held by the process that runs (or will run) an import; it goes with that process however it ends."""

    def release(self, *, remove: bool = True) -> None:
        """Drop the claim (``remove``: and its trace: the run is over, recorded as done or failed)."""
        ...


class ImportSession(Protocol):
    """The import transaction, with the look-ups and bulk writes the importer needs (the module's rules)."""

    snapshot: bool

    async def next_keys(self) -> tuple[int, int, int]:
        """The first free person, identity and interaction keys."""
        ...

    async def identities(self, uris: Sequence[str]) -> dict[str, KnownIdentity]: ...

    async def records(self, source: str, record_ids: Sequence[str]) -> dict[str, KnownRecord]:
        """What earlier imports of ``source`` made of these records."""
        ...

    async def known_interactions(self, source: str, record_ids: Sequence[str]) -> set[str]: ...

    async def people(self, pks: Sequence[int]) -> dict[int, KnownPerson]: ...

    async def relationship_types(self, pks: Sequence[int]) -> set[tuple[int, str]]:
        """(person, type) of the owner's relationships with these people."""
        ...

    async def people_named(self, names: Sequence[str]) -> dict[str, list[int]]:
        """Active people whose display name is exactly one of ``names``, for "ask" suggestions."""
        ...

    async def add_related(self, rows: Sequence[RelatedRow]) -> int:
        """Relationships between two people; one the graph holds already, either way round, is not added
        again. Returns how many were."""
        ...

    async def circle(self, circle_id: str, name: str) -> tuple[int, bool]:
        """The circle's key (made if missing) and whether it has a cadence (members then need a due date)."""
        ...

    async def merge_refused(self, a: int, b: int) -> bool:
        """True when the owner has undone a merge of these two or dismissed the suggestion to merge them."""
        ...

    async def merge(
        self, *, merge_id: str, survivor: int, merged: int, evidence: Sequence[Mapping[str, str]]
    ) -> None:
        """An automatic merge, as Merges.merge makes it."""
        ...

    async def suggest(self, rows: Sequence[SuggestionRow]) -> int:
        """Queue merge suggestions; a pair already known keeps its state. Returns how many are new."""
        ...

    def write(self, rows: ChunkRows) -> Awaitable[None]:
        """Take the chunk's rows now; write them when the result is awaited (await each write before the
        next is made)."""
        ...

    async def added(self) -> dict[str, int]:
        """How many rows the writes that may meet rows already there added so far: provenance,
        circle_members, notes, relationships, blocks."""
        ...

    async def finish(self, *, refresh: Iterable[int], stats: Iterable[int], due: Iterable[int]) -> None:
        """Search for the people the import changed after writing them, statistics and due dates of people who
        got interactions (``stats``) or circles with a cadence (``due``)."""
        ...

    async def save_cursor(
        self, *, source: str, account: str, direction: str, cursor: dict[str, Any] | None
    ) -> None:
        """A live sync's cursor, kept with the page it follows (Links.set_cursor in this transaction)."""
        ...

    async def run_finished(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: datetime
    ) -> None:
        """Record how the run ended, in the import's own transaction."""
        ...


class Imports(Protocol):
    """Import runs and the transaction an import runs in."""

    async def transaction(
        self, now: datetime, fn: Callable[[ImportSession], Awaitable[T]], *, off_loop: bool = False
    ) -> T:
        """Run ``fn`` in one write transaction; if it raises, nothing it wrote remains. ``off_loop``: ``fn``
        and everything it reads run in a thread of their own, on an event loop of that thread, so that the
        caller's loop (the node's server) only waits for the end."""
        ...

    @property
    def folder(self) -> Path:
        """Where this graph's runs keep their claims and uploads (one folder per run id)."""
        ...

    async def claim(self, run_id: str) -> RunClaim:
        """Claim run ``run_id`` for this process (before its record or upload exists, so that a sweep never
        mistakes a run being set up for one left behind); RuntimeError if another process holds it."""
        ...

    async def start_run(self, *, run_id: str, source: str, name: str, now: datetime) -> None:
        """Record a run as running (again, if the node recorded it when it accepted the job)."""
        ...

    async def sweep(self, now: datetime) -> list[str]:
        """Mark failed (INTERRUPTED) the runs nobody's claim holds any more and remove their files; returns
        their ids."""
        ...

    async def finish_run(
        self, *, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None, now: datetime
    ) -> None: ...

    async def recent_runs(self, limit: int = 20) -> list[ImportRun]:
        """The last ``limit`` runs (at most 1,000), newest first."""
        ...

    async def get_run(self, run_id: str) -> ImportRun | None: ...
