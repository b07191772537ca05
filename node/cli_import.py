"""`kith import`, `kith sync` and `kith link`: bring silo data into the graph from the command line.

Progress goes to stderr (a bar on a terminal, a line every second otherwise, so logs stay readable); the
summary goes to stdout, as text or with ``--json`` as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from bridges.base import Bridge, ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from node.cli import CliError, _with_ctx
from node.context import NodeContext
from node.importer import Importer, ImportProgress, ImportSummary, summary_json

__all__ = ["ProgressBar", "print_summary", "register"]


class ProgressBar:
    """Rows processed and the rate, redrawn in place on a terminal, one line a second elsewhere."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = -1e9

    def __call__(self, event: ImportProgress) -> None:
        now = time.monotonic()
        final = event.phase != "import"
        if not final and now - self._last < (0.1 if self.tty else 1.0):
            return
        self._last = now
        text = f"{self.label}: {event.rows:,} rows, {event.rate:,.0f} rows/s"
        if event.phase == "finish":
            text += ", indexing"
        if self.tty:
            end = "\n" if event.phase == "done" else ""
            self.stream.write(f"\r\x1b[2K{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _choose(words: list[str]) -> tuple[type[Bridge], Path]:
    if len(words) == 1:
        path = Path(words[0])
        return detect(path), path
    if len(words) == 2:
        return bridge_for(words[0]), Path(words[1])
    raise CliError("usage: kith import [SOURCE] PATH")


def print_summary(s: ImportSummary, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    head = "Dry run (nothing written)" if s.dry_run else "Imported"
    print(f"{head}: {s.name} ({s.source}), {s.rows:,} rows in {s.seconds:.2f} s", file=out)
    if s.preview:
        print("  the export holds: " + ", ".join(f"{v:,} {k}" for k, v in s.preview.items()), file=out)
    lines = [
        ("people created", s.people_created),
        ("people updated", s.people_updated),
        ("unchanged records", s.records_unchanged),
        ("identities added", s.identities_added),
        ("merged automatically", s.merged_automatically),
        ("merge suggestions made", s.suggestions_made),
        ("interactions added", s.interactions_added),
        ("interactions already known", s.interactions_known),
        ("circle memberships added", s.circle_memberships_added),
        ("notes added", s.notes_added),
        ("relationships added", s.relationships_added),
        ("blocks added", s.blocks_added),
        ("rows skipped", s.skipped_count),
        ("warnings", s.warnings_count),
    ]
    for label, value in lines:
        print(f"  {label:<28}{value:,}", file=out)
    for row in s.skipped:
        where = f"{row['file']}:{row['line']}" if row["line"] is not None else row["file"]
        print(f"  {row['severity']:<8} {where}: {row['reason']}", file=out)
    hidden = s.skipped_count + s.warnings_count - len(s.skipped)
    if hidden > 0:
        print(f"  … and {hidden:,} more (use --json for the first ones in full)", file=out)
    if s.suggestions_made:
        print("Review the suggestions with `kith suggest-merges`.", file=out)


async def cmd_import(args: argparse.Namespace) -> int:
    try:
        bridge_cls, path = _choose(args.words)
    except ExportError as exc:
        raise CliError(str(exc)) from None

    async def run(ctx: NodeContext) -> int:
        importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
        bar = ProgressBar(f"{bridge_cls.name} {path.name}")
        try:
            summary = await importer.run(bridge_cls(), path, dry_run=args.dry_run, progress=bar)
        except ExportError as exc:
            raise CliError(f"{exc} (nothing was imported)") from None
        if args.json:
            print(json.dumps(summary_json(summary), ensure_ascii=False, indent=2))
        else:
            print_summary(summary)
        return 0

    return await _with_ctx(args, run)


def register(sub: Any) -> None:
    sources = ", ".join(sorted(BRIDGES))
    p = sub.add_parser(
        "import",
        help="import a silo export (file, folder or ZIP); SOURCE may be left out",
        description=f"Import an export into the graph. Sources: {sources}. Re-importing the same export "
        "changes nothing; a newer one updates what changed. An import is all or nothing.",
    )
    p.add_argument("words", nargs="+", metavar="[SOURCE] PATH")
    p.add_argument(
        "--dry-run", action="store_true", help="resolve everything, write nothing, print the summary"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(fn=cmd_import)
