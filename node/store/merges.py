"""The graph store's contract, part four: merging two people into one, undoing it exactly, and the queue of
merge suggestions (docs/ARCHITECTURE.md §7: every merge records its evidence and can be undone).

Rules every backend keeps:
- A merge moves everything of the merged person (identities, relationships either way, interactions, notes,
  circles, import records) onto the survivor, fills the survivor's empty fields from the merged one, and keeps
  the merged person (status ``merged``, ``merged_into`` the survivor) so that links to them still resolve.
- Undo puts both people back exactly as they were and returns to the merged person exactly what was theirs;
  whatever was added to the survivor after the merge stays with the survivor. Undoing twice is a Conflict,
  and so is undoing a merge whose survivor was merged away later (undo that one first).
- A suggestion names a pair once (either way round); the owner's decision (merged, dismissed) is never
  overwritten by a later suggestion of the same pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from node.models import MergeRecord, MergeSuggestion, Page

__all__ = ["IdentityIndexEntry", "Merges", "PersonName", "SuggestionInput"]


class IdentityIndexEntry(NamedTuple):
    """One identity of an active person, as merge suggestions compare them."""

    person_id: str
    kind: str
    uri: str
    display: str


class PersonName(NamedTuple):
    person_id: str
    display_name: str


class SuggestionInput(NamedTuple):
    """A pair that is probably one human: ``tier`` "suggested" (weaker evidence) or "ask" (a name alone)."""

    id: str
    a: str
    b: str
    tier: str
    evidence: Sequence[Mapping[str, str]]


class Merges(Protocol):
    async def merge(
        self,
        *,
        merge_id: str,
        survivor_id: str,
        merged_id: str,
        decided_by: str,
        evidence: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> MergeRecord:
        """Conflict when the two are one person; NotFound when either is not a live person."""
        ...

    async def unmerge(self, merge_id: str, now: datetime) -> MergeRecord: ...

    async def list_merges(self, person_id: str | None) -> list[MergeRecord]:
        """The merges a person took part in (either side), or all; oldest first."""
        ...

    async def identity_index(self) -> list[IdentityIndexEntry]:
        """Every identity of every active person."""
        ...

    async def active_names(self) -> list[PersonName]:
        """Every active person's display name (two columns, not whole people: a suggestion run reads them
        all)."""
        ...

    async def save_suggestions(self, suggestions: Sequence[SuggestionInput], now: datetime) -> int:
        """Queue pairs; a pair already queued keeps its status (an open one takes the new tier and evidence).
        NotFound when a person is not live. Returns how many pairs are new."""
        ...

    async def list_suggestions(self, *, status: str, offset: int, limit: int) -> Page:
        """Suggestions in ``status`` (open ones only while both people are active), strongest tier first;
        uncounted."""
        ...

    async def get_suggestion(self, suggestion_id: str) -> MergeSuggestion: ...

    async def set_suggestion_status(self, suggestion_id: str, status: str) -> None: ...
