"""The store's contract for organisations (specs/ORGANISATIONS.md): the organisation's side (OrgRecords: its
members, the records they share, the people those records describe, policies, introductions) and a member's
side (MemberOrg: consent settings, what was sent). Both live in the account's own graph store
(GraphStore.org, GraphStore.org_member); node/org_port.py is their only caller.

Rules every engine keeps (node/store/sqlite/org.py says how SQLite does):
- The organisation's people are derived, never edited: a record joins the person of any record sharing one of
  its merging identifiers, and a record that goes takes its person apart again where it was the only bridge;
  nothing a member withdrew survives in a person's name, organisation or identities.
- What the organisation deletes (a withdrawal, a member leaving, a lowered cap) is not left readable in the
  storage (``scrub``).
- Every method is one transaction or one consistent read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "IncomingRecord",
    "MemberOrg",
    "OrgRecords",
    "PersonInput",
    "SentRow",
    "ShareInputs",
    "fold",
    "words",
]

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, kw_only=True, slots=True)
class IncomingRecord:
    """One verified shared record, flattened for storage (node/org_port.py builds it)."""

    record_id: str
    level: str
    version: int
    name: str
    organization: str | None
    strength: float | None
    bucket: str
    explained: str | None
    last_contact: str | None
    last_channel: str | None
    record: str  # the JSON as signed
    identities: Sequence[tuple[str, bool]]  # (uri, merges)
    interactions: Sequence[tuple[str, str, str]] = ()  # (occurred_at, channel, initiated_by)
    notes: Sequence[str] = ()


@dataclass(slots=True)
class PersonInput:
    """One active person of the graph, with what sharing may draw on."""

    pk: int
    id: str
    name: str
    organization: str | None
    identities: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)  # (uri, kind, sources)
    circles: list[str] = field(default_factory=list)
    interactions: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (occurred_at, channel, initiated_by)
    notes: list[tuple[str, str]] = field(default_factory=list)  # chosen notes: (note id, body)


@dataclass(slots=True)
class ShareInputs:
    level: str
    rules: dict[tuple[str, str], str]  # (scope, target folded) -> level
    people: list[PersonInput]


@dataclass(frozen=True, slots=True)
class SentRow:
    person_id: str
    record_id: str
    digest: str
    version: int
    level: str


def words(text: str) -> list[str]:
    """The words of a name for search: case and accents gone (any script kept)."""
    if text.isascii():  # most names: nothing to decompose (ranking calls this for every candidate)
        return _WORD.findall(text.lower())
    plain = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(c for c in plain if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """A name for comparison: its words, single-spaced."""
    return " ".join(words(text))


class OrgRecords(Protocol):
    """An organisation's account: its settings, members, the records they share and the people derived from
    them, who knows whom, the timeline, contact policies and introductions. Times are ISO-8601 UTC text, as
    the signed records carry them."""

    async def settings(self) -> dict[str, Any]: ...

    async def set_settings(self, values: dict[str, Any]) -> None: ...

    async def member(self, actor: str) -> dict[str, Any] | None: ...

    async def members(self, states: Iterable[str] = ("active",)) -> list[dict[str, Any]]:
        """Members in ``states`` with the level they share at (the highest level among their records)."""
        ...

    async def add_member(
        self, actor: str, *, acct: str | None, name: str | None, role: str, now: str
    ) -> None:
        """A member joins (again: a former member's row becomes active, their old role forgotten)."""
        ...

    async def set_role(self, actor: str, role: str) -> None: ...

    async def end_member(self, actor: str, *, state: str, now: str) -> int:
        """The member left or was removed: their row ends, and every record they shared is deleted (with the
        people only those records held). Returns how many records were deleted."""
        ...

    async def apply(self, member: str, records: Sequence[IncomingRecord], now: str) -> tuple[int, int]:
        """Store ``member``'s records, each replacing the member's earlier version of it; a record no newer
        than what is held (or than its withdrawal) is left out. Returns (new, replaced)."""
        ...

    async def withdraw(self, member: str, removals: Sequence[tuple[str, int]], now: str) -> int:
        """``member`` no longer shares these records (id, version of the withdrawal). Returns how many went."""
        ...

    async def purge(
        self, *, now: str, uris: Sequence[str] = (), hosts: Sequence[str] = (), above: str | None = None
    ) -> int:
        """Delete records the organisation must not hold any more: about a colleague (an identity among
        ``uris``, or an address on one of ``hosts``), or shared above the level ``above`` (the cap was
        lowered). Returns how many records went."""
        ...

    async def records_of(self, member: str) -> int: ...

    async def record(self, record_id: str) -> dict[str, Any] | None: ...

    async def find_people(
        self,
        *,
        uris: Sequence[str] = (),
        name: str | None = None,
        company: str | None = None,
        limit: int = 50,
    ) -> list[tuple[int, str]]:
        """People by an address they hold, by name or by company: (person pk, how they matched)."""
        ...

    async def who_knows(self, people: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
        """Each person with the members who know them: strength (exact from level interactions, else the
        middle of the bucket shared), bucket, last contact (from level last-contact), level, the explanation
        (where shared) and the notes (level notes). The best-connected first."""
        ...

    async def timeline(self, pks: Sequence[int], *, limit: int = 200) -> list[dict[str, Any]]:
        """Every shared interaction with these people, newest first; a record shared at level last-contact
        gives its last contact only."""
        ...

    async def candidates(self, pks: Sequence[int], *, exclude: Sequence[str]) -> list[dict[str, Any]]:
        """Who could introduce someone to these people: each member's record of them, strongest first."""
        ...

    async def last_contacts(
        self, *, uris: Sequence[str] = (), company_query: str | None = None
    ) -> str | None:
        """The latest last contact any member shared with the person holding ``uris`` or anyone at the
        company (for a cool-down)."""
        ...

    async def person_identities(self, pk: int) -> list[str]: ...

    async def policies(self) -> list[dict[str, Any]]: ...

    async def policy(self, kind: str, target: str) -> dict[str, Any] | None: ...

    async def save_policy(self, row: dict[str, Any]) -> None: ...

    async def delete_policy(self, kind: str, target: str) -> bool: ...

    async def add_intro(self, intro: dict[str, Any], asks: Sequence[dict[str, Any]]) -> None: ...

    async def intro(self, intro_id: str) -> dict[str, Any] | None: ...

    async def ask(self, ask_id: str) -> dict[str, Any] | None: ...

    async def intros(self, *, requester: str | None = None) -> list[dict[str, Any]]: ...

    async def answer_ask(self, ask_id: str, *, state: str, now: str) -> None: ...

    async def set_intro(
        self, intro_id: str, *, state: str, now: str, introducer: str | None = None, note: str | None = None
    ) -> None: ...

    async def stale_intros(self, before: str) -> list[str]: ...

    async def scrub(self) -> None:
        """Make sure what was just deleted cannot be read back from the storage either (on SQLite: deleted rows
        are overwritten, secure_delete, and the write-ahead log is emptied into the file and truncated)."""
        ...

    async def counts(self) -> dict[str, int]: ...


class MemberOrg(Protocol):
    """A member's side: consent settings per organisation, what it last told, what was last sent for each
    person, and introductions. Times are ISO-8601 UTC text."""

    async def memberships(self) -> list[dict[str, Any]]: ...

    async def membership(self, org: str) -> dict[str, Any] | None: ...

    async def ensure(self, org: str, now: str) -> None: ...

    async def save_info(self, org: str, info: dict[str, Any], updated: str) -> bool:
        """Keep what the organisation told, unless what is held is newer. True when it was kept."""
        ...

    async def shares_deleted(self, org: str, count: int, when: str) -> None: ...

    async def set_level(self, org: str, level: str) -> None: ...

    async def set_rule(self, org: str, scope: str, target: str, level: str | None) -> None:
        """An override for one circle or one person (``level`` None: back to the default)."""
        ...

    async def rules(self, org: str) -> list[dict[str, str]]: ...

    async def choose_note(self, org: str, note_id: str, shared: bool) -> None: ...

    async def note_exists(self, note_id: str) -> bool: ...

    async def chosen_notes(self, org: str) -> list[str]: ...

    async def inputs(self, org: str) -> ShareInputs:
        """Everything sharing with ``org`` may draw on, read in one snapshot."""
        ...

    async def fingerprint(self, org: str) -> str:
        """A digest of everything sharing with ``org`` depends on: when it equals the one stored by the last
        reconcile, nothing needs sending. Counts, latest changes, sums of keys and of the lengths of the text
        shared, so that a deletion, an edit and a move between circles each change it; cheap (scans of a few
        columns) enough for the quiet loop. An edit it cannot see (a name changed to another of the same
        length within the same second) is shared by the periodic full pass (federation/org_share.py)."""
        ...

    async def reconciled(self, org: str) -> str | None: ...

    async def sent(self, org: str) -> dict[str, SentRow]: ...

    async def take_versions(self, org: str, count: int) -> int:
        """Reserve ``count`` versions for the changes about to be sent; the first. Written before they are
        queued, so that a crash between can only skip versions, never give one twice."""
        ...

    async def mark_sent(
        self,
        org: str,
        *,
        upserts: Sequence[SentRow],
        removed: Sequence[str],
        fingerprint: str | None,
        now: str,
    ) -> None:
        """Record what was just queued (after it was queued: a crash before this only sends it again)."""
        ...

    async def forget_sent(self, org: str) -> int:
        """The membership ended: the organisation deletes what it held, so nothing is left to compare with."""
        ...

    async def person_for_record(self, org: str, record_id: str) -> str | None: ...

    async def save_intro(self, row: dict[str, Any]) -> None: ...

    async def intros(self, org: str | None = None) -> list[dict[str, Any]]: ...

    async def intro(self, intro_id: str) -> dict[str, Any] | None: ...
