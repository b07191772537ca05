"""psycopg's errors mapped into the store's own tree (node/store/errors.py) at the one seam where the store's
calls meet the driver (PgDatabase's open, read and write), like node/store/sqlite/errors.py for SQLite: nothing
above the storage package ever sees or catches a driver's exception.

The mapping goes by SQLSTATE class: a broken constraint (23) is a StoreConflict; a serialisation failure or a
deadlock (40), a server that is unreachable, shutting down or out of connections (08, 53, 57, a pool timeout) is
"try again"; refused credentials or rights (28, 42501) say to check ``storage.url``; anything else (a statement
the schema does not know: a bug, or a database changed by hand) is a plain StoreError. Messages name the
database by its URL with the password hidden (node/storage_url.py).
"""

from __future__ import annotations

from typing import Any

from node.storage_url import redact_url
from node.store.errors import StoreConflict, StoreError, StoreUnavailable

__all__ = ["store_error"]

_AGAIN = ("08", "40", "53", "57", "58")


def store_error(exc: BaseException, url: str) -> StoreError:
    """The StoreError that says what ``exc`` (a psycopg or psycopg_pool error) means for the database at
    ``url``, and what to do next."""
    where = redact_url(url)
    state = str(getattr(exc, "sqlstate", "") or "")
    kind = type(exc).__name__
    if kind == "PoolTimeout" or kind == "PoolClosed":
        return StoreUnavailable(
            f"no connection to the PostgreSQL database {where} could be had in time ({exc}); check that the "
            "server runs and accepts connections, and that storage.url names it, then try again"
        )
    if state.startswith("23"):
        return StoreConflict(
            f"the change breaks a rule of the database ({_first_line(exc)}); nothing of it was written"
        )
    if state.startswith("28") or state == "42501":
        return StoreUnavailable(
            f"the PostgreSQL database {where} refused Kith's user ({_first_line(exc)}); check the user, password "
            "and rights that storage.url gives"
        )
    if state == "53100":
        return StoreUnavailable(
            f"the disk of the PostgreSQL database {where} is full; free some space and try again"
        )
    if state[:2] in _AGAIN or (not state and kind in ("OperationalError", "InterfaceError")):
        return StoreUnavailable(
            f"the PostgreSQL database {where} could not be used now ({_first_line(exc)}); check that it runs "
            "and that storage.url names it, then try again"
        )
    return StoreError(
        f"the PostgreSQL database {where} could not be used ({_first_line(exc)}); nothing of the failed change "
        "was written. If this repeats, report it with the node's log"
    )


def _first_line(exc: Any) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
