"""`kith storage copy --to URL`: move a server to another storage engine, losslessly (issue #14;
node/storage_copy.py says how, specs/POSTGRESQL.md §12 when).

Progress goes to stderr (a bar redrawn in place on a terminal, a line a second elsewhere); the summary goes to
stdout, as text or with ``--json`` as one JSON object.
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

__all__ = ["CopyBar", "register"]


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
