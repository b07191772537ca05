"""What every bridge produces and the small base class every silo module fills in (docs/ARCHITECTURE.md §3.7).

A bridge reads a silo's data (an export file or a live API) and yields *drafts*: plain records that say what the
silo knows, with the silo's own record ids so that a re-import can be recognised. Bridges never touch the node's
storage; the node's importer (node/importer.py) resolves drafts against the graph (docs/ARCHITECTURE.md §7).

Drafts are named tuples: immutable and hashable as frozen dataclasses are, and built three times faster (a
frozen dataclass sets each field through ``object.__setattr__``). An export makes one or two per row, and building
them was a tenth of a LinkedIn import's Python time. Build them with keywords, as every bridge does.

Identity strings in drafts are raw addresses as the silo wrote them (``https://www.linkedin.com/in/Jane-Doe/``,
``@jane@example.social``, ``jane@example.com``); the importer normalises them with protocol.addresses.

Every bridge fails the same way (docs/ARCHITECTURE.md §3.4, §7): with ExportError, whose message says what is
wrong and what to do. ``Bridge`` wraps each subclass's ``parse_export``, ``owner`` and ``detect`` so that no
other exception type leaves a bridge, whatever a hostile file makes a parser raise, and so that an export in
which nothing could be read (every row skipped, or no row at all) is an error rather than an import of nothing
reported as a success.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar

from bridges._clean import printable

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
    "RelatedDraft",
    "Skipped",
    "Verification",
]

Verification = Literal["signed", "two-way", "email-match", "bridged", "claimed", "guessed"]
Initiator = Literal["owner", "them", "unknown"]
Follow = Literal["following", "follower"]

#: A birthday without a year is stored in this year (Apple's convention: 1604 is a leap year, so 29 Feb fits).
YEAR_UNKNOWN = 1604


class ExportError(ValueError):
    """The file is not what it claims to be, or is over a limit. The message says what to do next. It may
    quote the file (a member's name, a key), so it is made printable (bridges/_clean.py)."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


class IdentityDraft(NamedTuple):
    address: str
    kind: str | None = None  # a hint for protocol.addresses.normalize ("x", "linkedin", "email", "tel"...)
    label: str | None = None  # "work", "home", a handle to show beside a numeric id
    verification: Verification = "claimed"


class RelatedDraft(NamedTuple):
    """Someone a contact is related to: vCard ``RELATED`` (RFC 6350 §6.6.6), Apple's related names, Google's
    "Relation". As in vCard and XFN, the related one is the contact's ``type``: ``type="parent"`` on Alice's
    card names Alice's parent."""

    value: str  # a URI (urn:uuid:, mailto:, tel:, https:, acct:...) or, when ``text``, a name or a sentence
    type: str | None  # a relationship term (protocol.vocab), or None when the silo's word maps to none
    label: str  # the silo's own word for it ("spouse", "Mother", "assistant"), shown when no term fits
    text: bool = False  # ``value`` is free text, not a URI
    record: str | None = None  # the source record the value names when it is another card's UID


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
    related: tuple[RelatedDraft, ...] = ()


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


_T = TypeVar("_T")


def _failure(bridge: type[Bridge], path: Path, exc: Exception) -> ExportError:
    """The ExportError for an exception a parser did not expect, saying what to do."""
    what = f"{path.name} could not be read (expected: {bridge.description or bridge.name + ' export'})"
    if isinstance(exc, RecursionError):
        return ExportError(f"{what}: its data is nested too deeply to be a real export")
    if isinstance(exc, MemoryError):
        return ExportError(f"{what}: it needs more memory than this node has; split it or free memory")
    return ExportError(
        f"{what} ({type(exc).__name__}: {exc}); the file may be damaged or of another kind: download the "
        f"export again, or name its source (kith import SOURCE FILE)"
    )


def _guard(bridge: type[Bridge], fn: Callable[..., _T], path: Path) -> Callable[[], _T]:
    def call() -> _T:
        try:
            return fn()
        except ExportError:
            raise
        except Exception as exc:
            raise _failure(bridge, path, exc) from exc

    return call


def _guarded_parse(
    bridge: type[Bridge], parse: Callable[[Bridge, Path], Iterator[ImportItem]]
) -> Callable[[Bridge, Path], Iterator[ImportItem]]:
    @functools.wraps(parse)
    def parse_export(self: Bridge, path: Path) -> Iterator[ImportItem]:
        first_skips: list[Skipped] = []
        skips = 0
        try:
            items = parse(self, path)
            for item in items:
                yield item
                if not isinstance(item, Skipped):
                    # Something to import: the rest is handed on as it comes, without a look at each row.
                    yield from items
                    return
                if item.severity == "skipped":
                    skips += 1
                    if len(first_skips) < 3:
                        first_skips.append(item)
        except ExportError:
            raise
        except Exception as exc:
            raise _failure(bridge, path, exc) from exc
        raise _nothing(bridge, path, skips, first_skips)

    return parse_export


def _nothing(bridge: type[Bridge], path: Path, skips: int, first: list[Skipped]) -> ExportError:
    what = bridge.description or f"{bridge.name} export"
    if not skips:
        return ExportError(
            f"found nothing to import in {path.name} (expected: {what}); if that is what it is, it holds no "
            "one yet"
        )
    shown = "; ".join(f"{s.file}{f':{s.line}' if s.line else ''}: {s.reason}" for s in first)
    more = "; ..." if skips > len(first) else ""
    return ExportError(
        f"found nothing to import in {path.name}: all {skips} rows were skipped ({shown}{more}). Check it is "
        f"the right file (expected: {what})"
    )


@dataclass
class Bridge:
    """Base class for one silo. Subclasses set the constants and implement ``parse_export``.

    A subclass's ``parse_export``, ``owner`` and ``detect`` are wrapped when the class is made (the rules at the
    top of this module): whatever they raise reaches callers as ExportError."""

    name: ClassVar[str]  # "linkedin", "x", ...
    scheme: ClassVar[str]  # the identity kind this silo owns
    description: ClassVar[str] = ""
    options: dict[str, str] = field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "parse_export" in own:
            cls.parse_export = _guarded_parse(cls, own["parse_export"])  # type: ignore[method-assign, assignment]
        if "owner" in own:
            owner = own["owner"]

            @functools.wraps(owner)
            def guarded_owner(self: Bridge, path: Path) -> OwnerDraft | None:
                found: OwnerDraft | None = _guard(type(self), lambda: owner(self, path), path)()
                return found

            cls.owner = guarded_owner  # type: ignore[method-assign]
        if isinstance(own.get("detect"), classmethod):  # as the base declares it; anything else is left as is
            detect = own["detect"].__func__

            @functools.wraps(detect)
            def guarded_detect(klass: type[Bridge], path: Path) -> bool:
                return _guard(klass, lambda: bool(detect(klass, path)), path)()

            cls.detect = classmethod(guarded_detect)  # type: ignore[method-assign, assignment]

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
