"""`kith migrate`: bring the storage of this server up to this Kith, the server's own schema and every account's
graph, on the engine ``storage.url`` names (SQLite or PostgreSQL), saying what it does as it goes.

Opening a store migrates it anyway (node/store/factory.py); this command does all of it at once and before the
server starts (the store alone: what the server does at its start besides, `kith serve` still does), so that an operator upgrading Kith sees each migration, and a database written by a newer Kith
is refused with the store's own error (SchemaTooNew: upgrade Kith or restore a backup) before anything serves.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from node.cli import _config
from node.config import passphrase_from_env
from node.models import STATES_WITH_GRAPH
from node.storage_url import redact_url
from node.store import open_server_store
from node.upgrade import upgrade_one_owner_folder

__all__ = ["register"]


async def _migrate(args: argparse.Namespace) -> int:
    config = _config(args)
    applied: list[str] = []

    def say(message: str) -> None:
        # the store says "migrating X: NNNN_name.sql (i of n)…" before and "migrated X: ..." after each one
        if message.startswith("migrated "):
            applied.append(message)
        if not args.json:
            print(f"kith: {message}", file=sys.stderr, flush=True)

    engine = "PostgreSQL" if config.storage.backend == "postgresql" else "SQLite"
    where = redact_url(config.storage.url) if config.storage.url else str(config.data_dir)
    if not args.json:
        print(f"kith: migrating the {engine} storage at {where}", file=sys.stderr, flush=True)
    # A folder made before accounts becomes a server's first, as `kith serve` would make it (SQLite only).
    await upgrade_one_owner_folder(config, passphrase_from_env())
    store = await open_server_store(config, progress=say)
    accounts: list[dict[str, Any]] = []
    try:
        rows = [r for r in await store.accounts.list() if r.state in STATES_WITH_GRAPH]
        for n, row in enumerate(rows, 1):
            before = len(applied)
            graph = await store.open_graph(row.graph_file)
            await graph.close()
            done = len(applied) - before
            accounts.append({"name": row.name, "migrations_applied": done})
            if not args.json:
                state = f"{done} migration{'s' if done != 1 else ''} applied" if done else "up to date"
                print(f"kith: [{n}/{len(rows)}] {row.name}: {state}", file=sys.stderr, flush=True)
    finally:
        await store.close()
    if args.json:
        print(json.dumps({"engine": engine, "applied": len(applied), "accounts": accounts}, indent=2))
    else:
        print(
            f"migrated: the server and {len(accounts)} account graph{'s' if len(accounts) != 1 else ''} are "
            f"up to date with this Kith ({len(applied)} migration{'s' if len(applied) != 1 else ''} applied)"
        )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "migrate",
        help="apply this Kith's storage migrations to the server and every account (SQLite or PostgreSQL)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=_migrate)
