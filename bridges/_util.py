"""Small helpers the silo modules share: stable record ids, header lookup by name, lenient date parsing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from urllib.parse import urlsplit

from bridges._files import Source, csv_records
from bridges.base import ExportError, Skipped

__all__ = ["Columns", "classify_url", "parse_date", "parse_datetime", "stable_id", "table", "truncate"]


def stable_id(*parts: str | None) -> str:
    """A short hash of the parts: the record id for rows a silo gives no id of their own."""
    joined = "\x1f".join(p or "" for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:24]


def truncate(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class Columns:
    """A header row mapped by name (case- and space-insensitive): column order and extras never matter."""

    def __init__(self, header: Sequence[str]) -> None:
        self.header = list(header)
        self._index = {self.key(h): i for i, h in reversed(list(enumerate(header)))}
        self._named: dict[str, int | None] = {}
        self._picks: dict[tuple[str, ...], list[int | None]] = {}

    @staticmethod
    def key(name: str) -> str:
        return " ".join(name.replace("\ufeff", "").split()).lower()

    def __contains__(self, name: str) -> bool:
        return self.key(name) in self._index

    def index(self, name: str) -> int | None:
        return self._index.get(self.key(name))

    def get(self, row: Sequence[str], name: str) -> str:
        # Called for every cell of every row: the column of each name asked for is remembered.
        i = self._named.get(name, -1)
        if i == -1:
            i = self._named[name] = self._index.get(self.key(name))
        if i is None or i >= len(row):
            return ""
        return row[i].strip()

    def pick(self, row: Sequence[str], names: tuple[str, ...]) -> list[str]:
        """``get`` for several columns at once: one call a row where a large file's loop reads many cells."""
        at = self._picks.get(names)
        if at is None:
            at = self._picks[names] = [self.index(n) for n in names]
        if len(row) >= len(self.header) and None not in at:  # the usual row: every column there
            return [row[i].strip() for i in at]  # type: ignore[index]
        return [row[i].strip() if i is not None and i < len(row) else "" for i in at]

    def has_all(self, names: Iterable[str]) -> bool:
        return all(self.key(n) in self._index for n in names)


def parse_date(text: str, formats: Sequence[str]) -> date | None:
    text = text.strip()
    if isinstance(formats, tuple):  # an export repeats its dates (strptime costs a third of a CSV row)
        return _parse_date_cached(text, formats)
    return _parse_date(text, formats)


@lru_cache(maxsize=4096)
def _parse_date_cached(text: str, formats: tuple[str, ...]) -> date | None:
    return _parse_date(text, formats)


def _parse_date(text: str, formats: Sequence[str]) -> date | None:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_datetime(text: str, formats: Sequence[str], tz: tzinfo = UTC) -> datetime | None:
    """The first format that fits; a time written without a zone is read in ``tz``."""
    text = text.strip()
    for fmt in formats:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=tz)
    return None


def table(
    source: Source, name: str, is_header: Callable[[Columns], bool], *, search_rows: int = 20
) -> Iterator[tuple[int, Columns, list[str]] | Skipped]:
    """Data rows of a CSV member under the first row that ``is_header`` accepts: preambles are skipped by
    content, not by counting lines. Blank lines are dropped; Skipped reports pass through."""
    cols: Columns | None = None
    seen = 0
    for rec in csv_records(source, name):
        if isinstance(rec, Skipped):
            yield rec
            continue
        line, row = rec
        if cols is None:
            seen += 1
            candidate = Columns(row)
            if is_header(candidate):
                cols = candidate
            elif seen >= search_rows:
                break
            continue
        if not "".join(row).strip():  # blank: every cell empty or spaces (one join, not a generator a row)
            continue
        yield line, cols, row
    if cols is None:
        raise ExportError(f"{source.display(name)}: no header row found; is this the right file?")


_SILO_HOSTS = {
    "linkedin.com": "linkedin",
    "twitter.com": "x",
    "x.com": "x",
    "bsky.app": "bluesky",
}


def classify_url(url: str, default: str = "web") -> str:
    """The identity kind of a profile URL, by its host (linkedin.com/in/..., x.com/..., bsky.app/...)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return default
    for suffix in ("www.", "mobile.", "m."):
        host = host.removeprefix(suffix)
    return _SILO_HOSTS.get(host, default)
