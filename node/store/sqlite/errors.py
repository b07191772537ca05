"""SQLite's errors mapped into the store's own tree (node/store/errors.py), at the one seam where the store's
calls meet the driver (Database's open, read, write and backup), so that nothing above the storage package ever
sees or catches a driver's exception.

The mapping goes by SQLite's own result code (``sqlite_errorname``: both sqlite3 and pysqlite3 carry it), with
the exception's class as the fallback: a busy or locked database is "try again", a damaged or foreign file is
"restore a backup", a full disk or an I/O error is "free space / check the disk", a broken constraint is a
StoreConflict, and anything else (a statement the schema does not know: a bug, or a database changed by hand)
is a plain StoreError that names the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.store.errors import StoreConflict, StoreError, StoreUnavailable

__all__ = ["store_error"]

_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_PLACE = ("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_READONLY", "SQLITE_AUTH")


def store_error(exc: BaseException, path: Path | str, module: Any) -> StoreError:
    """The StoreError that says what ``exc`` (an error of ``module``, the SQLite library in use) means for the
    database at ``path``, and what to do next."""
    if isinstance(exc, OSError):  # the file or its folder, before SQLite got to it
        return StoreUnavailable(
            f"the database {path} could not be created or opened ({exc.strerror or exc}); check that the data "
            "folder exists and belongs to the user running Kith"
        )
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    code = "_".join(name.split("_")[:2])  # the primary code: SQLITE_IOERR_WRITE is an SQLITE_IOERR
    if code in _BUSY:
        return StoreUnavailable(
            f"the database {path} is busy (another process holds it: a `kith` command or an import); "
            "try again in a moment"
        )
    if code in _DAMAGED or (not name and type(exc) is getattr(module, "DatabaseError", None)):
        return StoreUnavailable(
            f"the database {path} is damaged or is not a Kith database ({exc}); restore a copy made by "
            "`kith backup`"
        )
    if code == "SQLITE_FULL":
        return StoreUnavailable(f"the disk holding {path} is full; free some space and try again")
    if code == "SQLITE_IOERR":
        return StoreUnavailable(
            f"the database {path} could not be read or written ({exc}); check the disk, then try again"
        )
    if code in _PLACE:
        return StoreUnavailable(
            f"the database {path} could not be opened or written ({exc}); check that the data folder exists "
            "and belongs to the user running Kith"
        )
    if code == "SQLITE_CONSTRAINT" or isinstance(exc, getattr(module, "IntegrityError", ())):
        return StoreConflict(f"the change breaks a rule of the database ({exc}); nothing of it was written")
    return StoreError(
        f"the database {path} could not be used ({exc}); nothing of the failed change was written. If this "
        "repeats, report it with the node's log"
    )
