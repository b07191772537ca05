"""Upgrading a data folder made before accounts (one owner, ``kith.sqlite3``) into a server of one account.

What the old folder holds, and where each thing goes:
- ``kith.sqlite3``, the owner's graph and federation state: it stays where it is and becomes the account's graph
  database (its schema migrates on first open, as always);
- ``kith.toml``'s ``node.username``, ``display_name`` and ``actor_type``: the account's name, display name and type;
- ``keys/owner-rsa.pem`` and ``keys/owner-ed25519.pem``: the account's keys, moved into the server database as
  they are (encrypted with the passphrase if they were); the files stay, unread, until the owner removes them;
- the owner API token's digest (in the graph's meta table) and the ``token`` file: the account's token;
- ``keys/node-rsa.pem``: still the server's Application actor key.

The server database is built under a temporary name and renamed into place only when it is complete, so a kill
part-way leaves the old folder as it was and the next start upgrades again from the beginning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from node.config import Config
from node.keys import LEGACY_OWNER_FILES, KeyError_
from node.store.sqlite.accounts import SqliteAccounts
from node.store.sqlite.db import SERVER_MIGRATIONS, Database
from node.store.sqlite.driver import sqlite
from protocol.errors import LocalError
from protocol.keys import load_private_key_pem

__all__ = ["LEGACY_DATABASE", "upgrade_one_owner_folder"]

_log = logging.getLogger("kith.upgrade")

LEGACY_DATABASE = "kith.sqlite3"


def _legacy_token_digest(path: Path) -> str | None:
    conn = sqlite.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'owner_token_sha256'").fetchone()
        except sqlite.Error:
            return None
        return None if row is None else str(row[0])
    finally:
        conn.close()


def _sealed(pem: str) -> bool:
    try:
        load_private_key_pem(pem.encode(), None)
    except LocalError:
        return True
    return False


async def upgrade_one_owner_folder(config: Config, passphrase: str | None) -> bool:
    """Make ``server.sqlite3`` for a one-owner folder; False when there was nothing to upgrade."""
    from node.server import SERVER_FILE, write_token

    data_dir = config.data_dir
    target = data_dir / SERVER_FILE
    legacy = data_dir / LEGACY_DATABASE
    if target.exists() or not legacy.exists():
        return False
    name = config.node.username
    keys_dir = data_dir / "keys"
    pems: dict[str, str] = {}
    for purpose, file in LEGACY_OWNER_FILES.items():
        try:
            pems[purpose] = (keys_dir / file).read_text()
        except FileNotFoundError:
            raise KeyError_(
                f"{keys_dir / file} is missing: this folder's owner keys are needed to upgrade it; "
                "restore them from a backup"
            ) from None
    sealed = _sealed(pems["rsa"])
    if sealed and not passphrase:
        raise KeyError_("this folder's keys are encrypted: set KITH_PASSPHRASE to upgrade it")
    partial = target.with_name(target.name + ".partial")
    for f in (partial, partial.with_name(partial.name + "-wal"), partial.with_name(partial.name + "-shm")):
        f.unlink(missing_ok=True)
    db = await Database.open(partial, schema=SERVER_MIGRATIONS, reader_count=1)
    try:
        accounts = SqliteAccounts(db)
        from node.graph import iso, utcnow

        now = iso(utcnow())
        await accounts.create(
            name=name,
            type=config.node.actor_type,
            display_name=config.node.display_name,
            graph_file=LEGACY_DATABASE,
            token_sha256=_legacy_token_digest(legacy),
            keys=pems,
            now=now,
        )
        await accounts.meta_set("keys_sealed", "1" if sealed else "0")
        await accounts.meta_set("upgraded_from", f"a one-owner folder (schema of {LEGACY_DATABASE})")
    finally:
        await db.close()
    os.replace(partial, target)
    old_token = data_dir / "token"
    if old_token.exists():
        write_token(data_dir, name, old_token.read_text().strip())
        old_token.unlink()
    _log.info("upgraded %s: a server with one account, %s", data_dir, name)
    return True
