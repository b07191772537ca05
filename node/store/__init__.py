"""Storage: the store's contract, and the engines behind it (docs/ARCHITECTURE.md §6, specs/STORAGE.md §3).

Above this package, code holds only the contract: typed Protocols grouped by concept, with plain values in and
typed records out (moments as aware datetimes, rows as frozen dataclasses or named tuples, never an engine's
connection, cursor, row or SQL):

    stores.py    GraphStore (one account's graph: the parts below) and ServerStore (the account registry)
    people.py    people, identities, circles, notes, relationships, interactions
    insights.py  due, fading, layers, search
    merges.py    merges, undo, suggestions
    export.py    every table of an account, and its restore
    misc.py      meta rows, blocked addresses
    peers.py     what federation's graph port needs
    imports.py   bulk imports, a chunk at a time, in one transaction
    links.py     linked live accounts and sync cursors
    dav.py       CardDAV's address books, cards and change log, app passwords
    capture.py   mail capture: messages by Message-ID, correspondents, proposals (the stay-in-touch loop)
    messages.py  fediverse direct messages and mentions, threaded into conversations
    outreach.py  reminders snoozed or done, digests sent, preferred channels, what a digest reads
    org.py       organisations: the organisation's side and a member's side
    accounts.py  the account registry
    bridge.py    the Bluesky bridge's actors, the operator's blocks, stream cursors, its queue and rates
    errors.py    StoreError and its kinds: what any engine raises when storage fails

node/store/factory.py chooses the engine from ``storage.url``; node/store/sqlite/ is the SQLite one (the
default). Only this package imports a database driver (tests/test_layers.py).
"""

from __future__ import annotations

from node.store.errors import MigrationFailed, SchemaTooNew, StoreConflict, StoreError, StoreUnavailable
from node.store.factory import open_graph_at, open_server_store, read_accounts
from node.store.people import IdentityInput, InteractionInput, RelationshipInput
from node.store.stores import GraphStore, ServerStore

__all__ = [
    "GraphStore",
    "IdentityInput",
    "InteractionInput",
    "MigrationFailed",
    "RelationshipInput",
    "SchemaTooNew",
    "ServerStore",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "open_graph_at",
    "open_server_store",
    "read_accounts",
]
