"""The store's exception tree: what any backend raises when storage itself fails (docs/ARCHITECTURE.md §3.4).

    NodeError (node/errors.py)
    └── StoreError         500  storage failed; nothing of the failed call was written
        ├── StoreUnavailable 503  the database cannot be opened or used now: missing, locked, damaged, disk
        │                         full, unreachable; the message says what to do
        ├── SchemaTooNew     503  the database was written by a newer Kith: upgrade Kith or restore a backup
        ├── MigrationFailed  503  a schema migration failed and was rolled back: the database is unchanged
        └── StoreConflict    409  a write broke one of the database's own rules (a unique key, a reference)

Each backend maps its driver's errors into this tree at its seam (the SQLite one in node/store/sqlite/errors.py),
the way httpx maps its transports' errors, so that nothing above the storage package catches or even names a
driver's exception: the CLI prints a StoreError's message, and the HTTP edge answers its status, as it does for
every NodeError. Errors of the caller's making (a missing person, an address that belongs to someone else) are
node.errors' NotFound, Conflict and BadInput, raised by every backend alike.
"""

from __future__ import annotations

from node.errors import NodeError

__all__ = ["MigrationFailed", "SchemaTooNew", "StoreConflict", "StoreError", "StoreUnavailable"]


class StoreError(NodeError):
    """Storage failed. The call that raised it wrote nothing (each store call is one transaction)."""

    status_hint = 500


class StoreUnavailable(StoreError):
    """The database cannot be opened or used right now; the message says why and what to do next."""

    status_hint = 503


class SchemaTooNew(StoreError):
    """The database was written by a newer Kith; refusing to touch it."""

    status_hint = 503


class MigrationFailed(StoreError):
    """A schema migration failed and was rolled back; the database is as it was."""

    status_hint = 503


class StoreConflict(StoreError):
    """A write broke one of the database's own rules (a unique key or a reference) that no check above caught."""

    status_hint = 409
