"""Everything a running node holds, opened once and passed down (no globals, no os.environ reads)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from node.config import Config, ConfigError
from node.files import tighten
from node.graph import Clock, Graph, utcnow
from node.import_jobs import ImportJobs
from node.keys import KeyRing
from node.store import Database, GraphStore

__all__ = ["TOKEN_FILE", "NodeContext", "TokenCheck", "new_token", "read_token", "write_token"]

TOKEN_FILE = "token"
_TOKEN_META = "owner_token_sha256"
_log = logging.getLogger("kith.node")


def _private_data_dir(data_dir: Path) -> list[Path]:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return tighten(data_dir)


def new_token() -> str:
    return "kith_" + secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_token(data_dir: Path, token: str) -> Path:
    path = data_dir / TOKEN_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
    return path


def read_token(data_dir: Path) -> str:
    path = data_dir / TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing; run `kith token rotate` to make a new owner token"
        ) from None


@dataclass
class TokenCheck:
    """Compares presented tokens with the digest in the database; re-reads it every few seconds, so that a
    `kith token rotate` run beside a live node takes effect without a restart."""

    store: GraphStore
    ttl: float = 2.0
    _digest: str | None = None
    _read_at: float = field(default=-1e9)

    async def set(self, token: str) -> None:
        await self.store.misc.meta_set(_TOKEN_META, _digest(token))
        self._digest, self._read_at = _digest(token), time.monotonic()

    async def check(self, presented: str) -> bool:
        if time.monotonic() - self._read_at > self.ttl:
            self._digest = await self.store.misc.meta_get(_TOKEN_META)
            self._read_at = time.monotonic()
        return self._digest is not None and hmac.compare_digest(self._digest, _digest(presented))


@dataclass
class NodeContext:
    config: Config
    db: Database
    store: GraphStore
    graph: Graph
    keys: KeyRing | None
    tokens: TokenCheck
    started_at: float = field(default_factory=time.monotonic)
    imports: ImportJobs = field(init=False)  # background imports, from the API and the web page alike

    def __post_init__(self) -> None:
        self.imports = ImportJobs(self.store, self.graph.clock, self.graph.phone_region)

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        passphrase: str | None = None,
        clock: Clock = utcnow,
        load_keys: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> NodeContext:
        """Open the node's files. Anything in the data folder that other users of the machine could read is
        made the owner's alone first, said in one log line (node/files.py); ``progress`` is told what a long
        migration is doing (Database.open)."""
        if config.storage.backend != "sqlite":
            # Refused rather than ignored: an operator who names PostgreSQL must not find the data in SQLite.
            raise ConfigError(
                "storage.url names PostgreSQL, which this version of Kith cannot use yet (specs/POSTGRESQL.md); "
                "leave storage.url empty to use the embedded SQLite database"
            )
        changed = await asyncio.to_thread(_private_data_dir, config.data_dir)
        if changed:
            _log.warning(
                "%d files and folders in %s could be read by other users of this machine; they are now the "
                "owner's alone (folders 0700, files 0600): %s",
                len(changed),
                config.data_dir,
                ", ".join(str(p.relative_to(config.data_dir)) or "." for p in changed[:10])
                + (" …" if len(changed) > 10 else ""),
            )
        db = await Database.open(config.database_path, progress=progress)
        store = GraphStore.sqlite(db)
        keys = KeyRing.load(config.data_dir, passphrase) if load_keys else None
        return cls(
            config=config, db=db, store=store, graph=Graph(store, clock), keys=keys, tokens=TokenCheck(store)
        )

    async def close(self) -> None:
        await self.imports.close()
        await self.db.close()
