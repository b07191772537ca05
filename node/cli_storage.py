"""`kith migrate` and `kith storage copy`: the server's storage engine (issue #14).

`kith migrate` brings the storage of this server up to this Kith, the server's own schema and every account's
graph, on the engine ``storage.url`` names (SQLite or PostgreSQL), saying what it does as it goes.

Opening a store migrates it anyway (node/store/factory.py); this command does all of it at once and before the
server starts (the store alone: what the server does at its start besides, `kith serve` still does), so that an operator upgrading Kith sees each migration, and a database written by a newer Kith
is refused with the store's own error (SchemaTooNew: upgrade Kith or restore a backup) before anything serves.

`kith storage copy --to URL` moves a server to another engine, losslessly (node/storage_copy.py says how,
specs/POSTGRESQL.md when). Progress goes to stderr (a bar redrawn in place on a terminal, a line a second
elsewhere); the summary goes to stdout, as text or with ``--json`` as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from node.cli import _config, _say
from node.config import passphrase_from_env
from node.storage_copy import copy_storage, destination_config
from node.storage_url import redact_url
from node.store import open_server_store
from node.upgrade import upgrade_one_owner_folder

__all__ = ["CopyBar", "register"]

#: Accounts whose graph exists (a purged account keeps only its name).
_WITH_GRAPH = ("active", "suspended", "removed")


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
        rows = [r for r in await store.accounts.list() if r.state in _WITH_GRAPH]
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


class CopyBar:
    """Rows copied of each database, with the share done."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = -1e9

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and now - self._last < (0.1 if self.tty else 1.0):
            return
        self._last = now
        share = 100.0 if total == 0 else 100.0 * done / total
        text = f"copying {what}: {done:,} of {total:,} rows ({share:.0f}%)"
        if self.tty:
            self.stream.write(f"\r\x1b[2K{text}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


async def _copy(args: argparse.Namespace) -> int:
    config = _config(args)
    dest = destination_config(config, args.to)
    report = await copy_storage(config, dest, passphrase=passphrase_from_env(), progress=CopyBar(), say=_say)
    rows = sum(report.summary.rows.values())
    data: dict[str, Any] = {
        "to": report.to,
        "accounts": report.summary.accounts,
        "rows": report.summary.rows,
        "verified": report.verified,
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(f"copied {rows:,} rows: the server's and {len(report.summary.accounts)} accounts' to {report.to}")
    print(
        f"verified: the full export of each of the {len(report.verified)} accounts is identical on both sides"
    )
    print(
        "next: stop using this data folder's database; set storage.url in "
        f"{config.data_dir / 'kith.toml'} (or KITH_STORAGE_URL) to the new database and start the node"
    )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "migrate",
        help="apply this Kith's storage migrations to the server and every account (SQLite or PostgreSQL)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=_migrate)
    p = sub.add_parser("storage", help="the server's storage engine: copy it to another")
    actions = p.add_subparsers(dest="storage_action", required=True)
    c = actions.add_parser(
        "copy",
        help="copy every account and the server's state to an empty database (stop the node first)",
        description=(
            "Copy the whole server (every account's graph, the registry, keys and federation's state) into the "
            "empty database at --to, then compare every account's full export on both sides. Stop `kith serve` "
            "first: what it writes during the copy would not be carried over."
        ),
    )
    c.add_argument("--to", required=True, metavar="URL", help="postgresql://USER@HOST:PORT/DATABASE (empty)")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.set_defaults(fn=_copy)
