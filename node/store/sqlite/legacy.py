"""The server database for a data folder made before accounts: one owner's graph in ``kith.sqlite3`` becomes
the graph of the server's one account, where it lies (node/upgrade.py reads the owner's keys and token, and
says what moves where; specs/STORAGE.md §1).

The server database is built under a temporary name and renamed into place only when it is complete, so a kill
part-way leaves the old folder as it was and the next start upgrades again from the beginning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from node.store.sqlite.accounts import SqliteAccounts
from node.store.sqlite.db import SERVER_MIGRATIONS, Database
from node.store.sqlite.driver import sqlite
from node.store.sqlite.store import SERVER_FILE

__all__ = ["LEGACY_DATABASE", "create_server_from_legacy", "legacy_pending"]

LEGACY_DATABASE = "kith.sqlite3"


def legacy_pending(data_dir: Path) -> bool:
    """A one-owner folder not yet upgraded: its graph database, and no server database."""
    return (data_dir / LEGACY_DATABASE).exists() and not (data_dir / SERVER_FILE).exists()


def _legacy_token_digest(path: Path) -> str | None:
    conn = sqlite.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'owner_token_sha256'").fetchone()
        except sqlite.Error:
            return None  # a graph older than owner tokens: the upgrade makes the account a new one
        return None if row is None else str(row[0])
    finally:
        conn.close()


async def create_server_from_legacy(
    data_dir: Path,
    *,
    name: str,
    type: str,
    display_name: str,
    keys: Mapping[str, str],
    sealed: bool,
    now: datetime,
) -> None:
    """The server database of one account, ``name``, whose graph is the old folder's database (its owner
    token's digest comes along from it), with the owner's ``keys`` as they were (``sealed``: encrypted)."""
    target = data_dir / SERVER_FILE
    partial = target.with_name(target.name + ".partial")
    for f in (partial, partial.with_name(partial.name + "-wal"), partial.with_name(partial.name + "-shm")):
        f.unlink(missing_ok=True)
    db = await Database.open(partial, schema=SERVER_MIGRATIONS, reader_count=1)
    try:
        accounts = SqliteAccounts(db)
        await accounts.create(
            name=name,
            type=type,
            display_name=display_name,
            graph_file=LEGACY_DATABASE,
            token_sha256=_legacy_token_digest(data_dir / LEGACY_DATABASE),
            keys=keys,
            now=now,
        )
        await accounts.meta_set("keys_sealed", "1" if sealed else "0")
        await accounts.meta_set("upgraded_from", f"a one-owner folder (schema of {LEGACY_DATABASE})")
    finally:
        await db.close()
    os.replace(partial, target)
