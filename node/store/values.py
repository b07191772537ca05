"""Values as every storage engine writes them, so that each reads back identically on SQLite and PostgreSQL
(the lossless copy's proof is an identical export: specs/POSTGRESQL.md §12): moments as fixed-width ISO-8601
UTC text, JSON as compact sorted text, and the text a person is searched by."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = [
    "NamedRow",
    "dumps",
    "identity_search_text",
    "julian_day",
    "names_search_text",
    "stamp",
    "stamp_or_none",
]


class NamedRow(Protocol):
    """A row read by column name, as both engines can give it: an ``aiosqlite.Row`` or a PostgreSQL dict row
    (what the shared row-to-record functions of node/store/*_rows.py take)."""

    def __getitem__(self, key: str, /) -> Any: ...


def stamp(moment: datetime) -> str:
    """A moment as the graph's tables hold it: ISO 8601 in UTC to the second, ``2026-11-22T15:30:00Z`` (text
    sorts in time order, and SQLite's date functions read it)."""
    if not isinstance(moment, datetime):  # the contract's moments are datetimes; ISO text is the store's own
        raise TypeError(f"a moment given to the store must be a datetime, not {type(moment).__name__}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else stamp(moment)


def julian_day(moment: datetime) -> float:
    """A moment as SQLite's ``julianday()`` counts (what tie strength and overdue days subtract from)."""
    return moment.timestamp() / 86400.0 + 2440587.5


def names_search_text(display: str, given: str | None, family: str | None, nickname: str | None) -> str:
    """How a person's names are indexed for search, exactly as the person_search_text view (migration 0005)
    writes them: the given and family names only when the display name is not just those two."""
    made_of = f"{given or ''} {family or ''}"
    if display == made_of:
        return f"{display} {nickname or ''}"
    return f"{display} {made_of} {nickname or ''}"


def identity_search_text(display: str, uri: str) -> str:
    """How an identity is indexed for search, exactly as the person_search_text view (migration 0005) writes
    it: its display, and its URI without the scheme unless that says the same (mailto:, or only "www." more);
    bulk imports build the same text in Python."""
    at = uri.find("://")
    rest = uri[at + 3 :] if at >= 0 else uri[uri.find(":") + 1 :]
    if rest == display or rest == "www." + display:
        return display
    return f"{display} {rest}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
