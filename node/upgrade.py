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
part-way leaves the old folder as it was and the next start upgrades again from the beginning
(node/store/sqlite/legacy.py: such folders only ever existed on SQLite; node/store/factory.py asks it).
"""

from __future__ import annotations

import logging

from node.config import Config
from node.graph import utcnow
from node.keys import LEGACY_OWNER_FILES, KeyError_
from node.store.factory import upgrade_one_owner_store, upgrading_one_owner_folder
from protocol.errors import LocalError
from protocol.keys import load_private_key_pem

__all__ = ["upgrade_one_owner_folder"]

_log = logging.getLogger("kith.upgrade")


def _sealed(pem: str) -> bool:
    try:
        load_private_key_pem(pem.encode(), None)
    except LocalError:
        return True
    return False


async def upgrade_one_owner_folder(config: Config, passphrase: str | None) -> bool:
    """Make the server's store for a one-owner folder; False when there was nothing to upgrade."""
    from node.server import write_token

    data_dir = config.data_dir
    if not upgrading_one_owner_folder(config):
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
    await upgrade_one_owner_store(
        config,
        name=name,
        type=config.node.actor_type,
        display_name=config.node.display_name,
        keys=pems,
        sealed=sealed,
        now=utcnow(),
    )
    old_token = data_dir / "token"
    if old_token.exists():
        write_token(data_dir, name, old_token.read_text().strip())
        old_token.unlink()
    _log.info("upgraded %s: a server with one account, %s", data_dir, name)
    return True
