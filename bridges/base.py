"""What every bridge produces and the small base class every silo module fills in (docs/ARCHITECTURE.md §3.7).

A bridge reads a silo's data (an export file or a live API) and yields *drafts*: plain records that say what the
silo knows, with the silo's own record ids so that a re-import can be recognised. Bridges never touch the node's
storage; the node's importer (node/importer.py) resolves drafts against the graph (docs/ARCHITECTURE.md §7).

Drafts are named tuples: immutable and hashable as frozen dataclasses are, and built three times faster (a
frozen dataclass sets each field through ``object.__setattr__``). An export makes one or two per row, and building
them was a tenth of a LinkedIn import's Python time. Build them with keywords, as every bridge does.

Identity strings in drafts are raw addresses as the silo wrote them (``https://www.linkedin.com/in/Jane-Doe/``,
``@jane@example.social``, ``jane@example.com``); the importer normalises them with protocol.addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple

__all__ = [
    "YEAR_UNKNOWN",
    "BlockDraft",
    "Bridge",
    "ContactDraft",
    "ExportError",
    "IdentityDraft",
    "ImportItem",
    "Initiator",
    "InteractionDraft",
    "OwnerDraft",
    "Skipped",
    "Verification",
]

Verification = Literal["signed", "two-way", "email-match", "claimed", "guessed"]
Initiator = Literal["owner", "them", "unknown"]
Follow = Literal["following", "follower"]

#: A birthday without a year is stored in this year (Apple's convention: 1604 is a leap year, so 29 Feb fits).
YEAR_UNKNOWN = 1604


class ExportError(ValueError):
    """The file is not what it claims to be, or is over a limit. The message says what to do next."""


class IdentityDraft(NamedTuple):
    address: str
    kind: str | None = None  # a hint for protocol.addresses.normalize ("x", "linkedin", "email", "tel"...)
    label: str | None = None  # "work", "home", a handle to show beside a numeric id
    verification: Verification = "claimed"


class ContactDraft(NamedTuple):
    source_record_id: str  # stable within the source: a re-import of the same export yields the same ids
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    organization: str | None = None
    title: str | None = None
    birthday: date | None = None
    photo_url: str | None = None
    identities: tuple[IdentityDraft, ...] = ()
    circles: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    met_on: date | None = None  # "Connected On", the date an invitation was accepted
    relationship: str | None = None  # a vocabulary term when the silo implies one ("contact", "colleague")
    # A follow edge the silo records: "following" (the owner follows them) or "follower" (they follow the
    # owner). The same account can arrive twice, once per direction, under two source_record_ids.
    follow: Follow | None = None


class InteractionDraft(NamedTuple):
    source_record_id: str
    occurred_at: datetime  # timezone-aware
    channel: str  # one of protocol.vocab.CHANNELS
    initiated_by: Initiator
    participants: tuple[IdentityDraft, ...]  # the other people in it (never the owner)
    summary: str = ""


class BlockDraft(NamedTuple):
    identity: IdentityDraft
    source_record_id: str
    action: Literal["block", "mute"] = "block"


class Skipped(NamedTuple):
    file: str
    line: int | None
    reason: str
    # "warning": nothing was dropped but the owner should know (a file decoded as cp1252, a photo left out).
    severity: Literal["skipped", "warning"] = "skipped"


class OwnerDraft(NamedTuple):
    """Who the export belongs to, as far as the export says: the owner's own identities on this silo."""

    display_name: str | None = None
    identities: tuple[IdentityDraft, ...] = ()


ImportItem = ContactDraft | InteractionDraft | BlockDraft | Skipped


@dataclass
class Bridge:
    """Base class for one silo. Subclasses set the constants and implement ``parse_export``."""

    name: ClassVar[str]  # "linkedin", "x", ...
    scheme: ClassVar[str]  # the identity kind this silo owns
    description: ClassVar[str] = ""
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def detect(cls, path: Path) -> bool:
        """True when ``path`` (a file, folder or ZIP) looks like this silo's export."""
        return False

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        raise ExportError(f"{self.name} has no export importer")

    def owner(self, path: Path) -> OwnerDraft | None:
        """The export owner's own identities when the export names them (account.js, SENT messages)."""
        return None

    def preview(self, items: Iterable[ImportItem]) -> dict[str, int]:
        """Dry run: count what an import would bring in, without writing anything."""
        counts = {"contacts": 0, "interactions": 0, "blocks": 0, "skipped": 0, "warnings": 0}
        for item in items:
            if isinstance(item, ContactDraft):
                counts["contacts"] += 1
            elif isinstance(item, InteractionDraft):
                counts["interactions"] += 1
            elif isinstance(item, BlockDraft):
                counts["blocks"] += 1
            elif item.severity == "warning":
                counts["warnings"] += 1
            else:
                counts["skipped"] += 1
        return counts
