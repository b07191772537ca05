"""Google Contacts CSV, both header generations (docs/SILOS.md §1).

Rules kept:
- The generation is told by its name columns: ``First Name`` (current) or ``Given Name`` (legacy).
- Numbered groups are found by pattern (``E-mail N - Value``, ``Phone N - Value``, ``Website N - Value``,
  ``Relation N - Value``), never by position; one cell may hold several values joined with `` ::: ``.
- A leading ``* `` marks the primary value or a system label; labels become circles, minus Google's own
  (myContacts, starred, "System Group: ...").
- ``Relation N`` values are names: RelatedDraft with the label's word (bridges/_related.py), linked by the
  importer to the person of that name, or kept as a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import ClassVar

from bridges._files import Source
from bridges._related import related_term
from bridges._util import Columns, classify_url, parse_date, stable_id, table
from bridges.base import (
    YEAR_UNKNOWN,
    Bridge,
    ContactDraft,
    IdentityDraft,
    ImportItem,
    RelatedDraft,
    Skipped,
)

__all__ = ["GoogleContactsBridge", "parse_google_birthday"]

_GROUP = re.compile(r"^(e-mail|phone|website|relation) (\d+) - (value|label|type)$")
_KINDS = {"e-mail": "email", "phone": "tel", "website": "web"}
_SYSTEM_LABELS = {"mycontacts", "my contacts", "starred", "friends_and_family"}
_SEP = " ::: "


def _is_header(c: Columns) -> bool:
    current = c.has_all(("First Name", "Last Name")) and any(
        n in c for n in ("Labels", "E-mail 1 - Value", "Phone 1 - Value", "Organization Name", "File As")
    )
    legacy = c.has_all(("Given Name", "Family Name")) and ("Name" in c or "Group Membership" in c)
    return current or legacy


def _values(cell: str) -> list[str]:
    return [v.strip() for v in cell.split(_SEP) if v.strip()]


def _label(cell: str) -> str | None:
    label = cell.strip().removeprefix("*").strip()
    return label.lower() or None


def _circles(cell: str) -> tuple[str, ...]:
    out: dict[str, None] = {}  # an ordered set: a list's ``in`` made a cell of many labels quadratic
    for raw in _values(cell):
        label = raw.removeprefix("*").strip()
        if not label or label.lower() in _SYSTEM_LABELS or label.lower().startswith("system group:"):
            continue
        out[label] = None
    return tuple(out)


def parse_google_birthday(text: str) -> date | None:
    """``1985-04-12``, or ``--04-12`` without a year (stored in YEAR_UNKNOWN)."""
    text = text.strip()
    if text.startswith("--"):
        got = parse_date(f"{YEAR_UNKNOWN}-{text[2:]}", ("%Y-%m-%d", "%Y-%m%d"))
        return got
    return parse_date(text, ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"))


class GoogleContactsBridge(Bridge):
    name: ClassVar[str] = "google"
    scheme: ClassVar[str] = "email"
    description: ClassVar[str] = "Google Contacts CSV (Google CSV export, current or legacy headers)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        with Source(path) as src:
            if not src.is_single_file or not src.names()[0].lower().endswith(".csv"):
                return False
            first = src.head_text(src.names()[0], 8192)
            return _is_header(Columns(first.splitlines()[0].split(","))) if first else False

    def parse_export(self, path: Path) -> Iterator[ImportItem]:
        with Source(path) as src:
            for name in src.names():
                if name.lower().endswith(".csv"):
                    yield from _rows(src, name)


def _groups(c: Columns) -> list[tuple[str, int, int | None]]:
    """(field, value column, label column) for every numbered group in the header."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    for i, head in enumerate(c.header):
        m = _GROUP.match(Columns.key(head))
        if m:
            found.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = i
    out = []
    for (fieldname, _n), cols in sorted(found.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
        if "value" in cols:
            out.append((fieldname, cols["value"], cols.get("label", cols.get("type"))))
    return out


def _rows(src: Source, name: str) -> Iterator[ImportItem]:
    shown = src.display(name)
    groups: list[tuple[str, int, int | None]] | None = None
    for rec in table(src, name, _is_header):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, c, row = rec
        if groups is None:
            groups = _groups(c)
        legacy = "Given Name" in c

        def cell(col: str, c: Columns = c, row: list[str] = row) -> str:
            return c.get(row, col)

        given = cell("Given Name" if legacy else "First Name")
        middle = cell("Additional Name" if legacy else "Middle Name")
        family = cell("Family Name" if legacy else "Last Name")
        ids: list[IdentityDraft] = []
        notes: list[str] = []
        related: list[RelatedDraft] = []
        for fieldname, vcol, lcol in groups:
            label = _label(row[lcol]) if lcol is not None and lcol < len(row) else None
            for value in _values(row[vcol] if vcol < len(row) else ""):
                if fieldname == "relation":
                    word = label or "related"
                    related.append(RelatedDraft(value=value, type=related_term(word), label=word, text=True))
                else:
                    kind = classify_url(value) if fieldname == "website" else _KINDS[fieldname]
                    ids.append(IdentityDraft(address=value, kind=kind, label=label))
        display = (cell("Name") if legacy else "") or " ".join(p for p in (given, middle, family) if p)
        display = display or cell("File As") or cell("Nickname")
        org = cell("Organization 1 - Name" if legacy else "Organization Name")
        if not display and not ids and not org:
            yield Skipped(file=shown, line=line, reason="no name, e-mail address or phone number")
            continue
        if cell("Notes"):
            notes.insert(0, cell("Notes"))
        photo = cell("Photo")
        yield ContactDraft(
            source_record_id="google:"
            + stable_id(display, org, next((i.address.lower() for i in ids), None)),
            display_name=display or org or None,
            given_name=given or None,
            family_name=family or None,
            nickname=cell("Nickname") or None,
            organization=org or None,
            title=cell("Organization 1 - Title" if legacy else "Organization Title") or None,
            birthday=parse_google_birthday(cell("Birthday")),
            photo_url=photo if photo.startswith(("https://", "http://")) else None,
            identities=tuple(ids),
            circles=_circles(cell("Group Membership" if legacy else "Labels")),
            notes=tuple(notes),
            related=tuple(related),
        )
