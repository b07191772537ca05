"""The SQLite library the store runs on: one per process, chosen here.

Where the ``pysqlite3-binary`` wheel exists (Linux x86-64, a dependency there), the store uses it: a current
SQLite built with the lookaside allocator, and with ``jsonb_each`` (SQLite 3.51), which reads an import chunk's
rows without parsing each row's JSON text again for every column (node/store/sqlite/imports.py). On 100,000
people that is a third less SQLite work per imported LinkedIn row than Debian's SQLite 3.40 (specs/IMPORTS.md,
"Speed"). Elsewhere the standard library's ``sqlite3`` does the same work more slowly; the database file is the
same either way (the schema uses nothing newer than SQLite 3.37), so a node's data moves between machines.

Everything that opens the node's database goes through :func:`connect` (aiosqlite over the chosen module) or
:data:`sqlite` (blocking), and catches :data:`sqlite.Error`: two SQLite libraries in one process must not open
the same file, because POSIX file locks belong to the process and closing one library's descriptor drops the
other's locks. ``KITH_SQLITE=stdlib`` in the environment forces the standard library (to compare, or to test
that path).
"""

from __future__ import annotations

import os
import sqlite3 as _stdlib
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import aiosqlite

__all__ = ["connect", "has_jsonb_each", "modules", "sqlite"]


def _choose() -> ModuleType:
    if os.environ.get("KITH_SQLITE", "").strip().lower() == "stdlib":
        return _stdlib
    try:
        import pysqlite3.dbapi2 as bundled  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return _stdlib
    return bundled  # type: ignore[no-any-return, unused-ignore]


#: The blocking DB-API module: ``sqlite.connect``, ``sqlite.Error``, ``sqlite.Row``, ``sqlite.sqlite_version``.
sqlite: Any = _choose()


def modules() -> list[ModuleType]:
    """Every SQLite module this machine can run the store on (the tests run the import paths on each)."""
    found = [sqlite]
    if sqlite is not _stdlib:
        found.append(_stdlib)
    return found


def connect(path: Path | str, *, module: Any = None, **kwargs: Any) -> aiosqlite.Connection:
    """An aiosqlite connection (await it) on ``module``, by default the process's :data:`sqlite`."""
    return aiosqlite.Connection(partial((module or sqlite).connect, str(path), **kwargs), iter_chunk_size=64)


def has_jsonb_each(version: str) -> bool:
    """Whether a SQLite of this version (``sqlite_version()``) has the ``jsonb_each`` table function."""
    major, minor, *_ = (int(p) for p in version.split("."))
    return (major, minor) >= (3, 51)
