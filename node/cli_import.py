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

import aiohttp

from bridges.base import Bridge, ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from node.capture.links import owner_addresses
from node.cli import CliError, _with_ctx
from node.cli_capture import CAPTURE_SOURCES, cmd_link_capture, cmd_sync_capture, register_link_flags
from node.config import passphrase_from_env
from node.context import AccountContext
from node.importer import Importer, ImportProgress, ImportSummary, summary_json
from node.link_secrets import SecretError
from node.models import as_json
from node.sync import DIRECTIONS, SOURCES, Syncer

__all__ = ["ProgressBar", "cmd_import", "cmd_imports", "cmd_link", "cmd_sync", "print_summary", "register"]

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)


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

    async def run(ctx: AccountContext) -> int:
        importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
        bar = ProgressBar(f"{bridge_cls.name} {path.name}")
        bridge = bridge_cls()
        if bridge.name == "ical":  # the owner is not an attendee of their own meetings (bridges/ical.py)
            bridge.options["owner"] = ",".join(a[7:] for a in await owner_addresses(ctx.store))
        try:
            summary = await importer.run(bridge, path, dry_run=args.dry_run, progress=bar)
        except ExportError as exc:
            raise CliError(f"{exc} (nothing was imported)") from None
        if args.json:
            print(json.dumps(summary_json(summary), ensure_ascii=False, indent=2))
        else:
            print_summary(summary)
        return 0

    return await _with_ctx(args, run)


def _syncer(ctx: AccountContext) -> Syncer:
    importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
    return Syncer(ctx.store, importer, passphrase=passphrase_from_env(), clock=ctx.graph.clock)


async def cmd_link(args: argparse.Namespace) -> int:
    if args.source in CAPTURE_SOURCES:  # mailboxes and calendars: node/cli_capture.py
        return await cmd_link_capture(args)

    async def run(ctx: AccountContext) -> int:
        syncer = _syncer(ctx)
        if args.account is None:
            links = await syncer.links(args.source)
            if args.json:
                print(json.dumps(as_json(links), indent=2))
            for link in [] if args.json else links:
                state = link.status + (f", waiting until {link.resume_at}" if link.resume_at else "")
                print(
                    f"{link.source} {link.account} at {link.base_url} ({state}; last sync {link.last_sync_at or 'never'})"
                )
            if not links and not args.json:
                print(f"no {args.source} link; add one with `kith link {args.source} --account ID --token -`")
            return 0
        token = sys.stdin.readline().strip() if args.token == "-" else args.token
        creds: dict[str, Any] = {}
        if args.source == "x":
            creds = {
                "access_token": token,
                "refresh_token": args.refresh_token,
                "expires_at": args.expires_at,
                "client_id": args.client_id,
                "client_secret": args.client_secret,
            }
            if args.token_url:
                creds["token_url"] = args.token_url
        elif token:
            creds = {"token": token}
        link = await syncer.link(
            source=args.source, account=args.account, base_url=args.base_url, credentials=creds
        )
        if args.json:
            print(json.dumps(as_json(link), indent=2))
        else:
            print(
                f"Linked {link.source} account {link.account} at {link.base_url}; sync with `kith sync {link.source}`"
            )
        if creds and not link.encrypted:
            print(
                "warning: the token is stored unencrypted; set KITH_PASSPHRASE and link again to seal it",
                file=sys.stderr,
            )
        return 0

    return await _with_ctx(args, run)


async def cmd_imports(args: argparse.Namespace) -> int:
    """The recent import runs, newest first: running, done, failed (an interrupted one says so)."""

    async def run(ctx: AccountContext) -> int:
        # Runs a killed node or `kith import` left behind are marked first, so that none shows as running.
        await ctx.store.imports.sweep(ctx.graph.clock())
        runs = await ctx.store.imports.recent_runs(args.limit)
        if args.json:
            print(json.dumps(as_json(runs), ensure_ascii=False, indent=2))
            return 0
        if not runs:
            print("no imports yet; import an export with `kith import PATH`")
        for r in runs:
            summary = r.summary or {}
            what = f"{summary.get('rows', 0):,} rows" if r.status == "done" else r.error or "running"
            print(f"{r.id}  {r.started_at}  {r.source:<9} {r.status:<8} {r.name}: {what}")
        return 0

    return await _with_ctx(args, run)


async def cmd_sync(args: argparse.Namespace) -> int:
    if args.source in CAPTURE_SOURCES:
        return await cmd_sync_capture(args)

    async def run(ctx: AccountContext) -> int:
        syncer = _syncer(ctx)
        tty = sys.stderr.isatty()
        links = await syncer.links(args.source, args.account)
        if len(links) == 1 and await ctx.store.links.cursor(args.source, links[0].account, args.direction):
            sys.stderr.write(
                f"{args.source} {args.direction}: resuming the last sync after the last page it kept\n"
            )
        began = time.monotonic()

        def on_page(pages: int, accounts: int) -> None:
            start, end = ("\r\x1b[2K", "") if tty else ("", "\n")
            seconds = time.monotonic() - began
            text = (
                f"{args.source} {args.direction}: {pages} pages, {accounts:,} accounts in {seconds:.0f} s "
                f"({accounts / max(seconds, 1e-3):,.0f}/s)"
            )
            sys.stderr.write(start + text + end)
            sys.stderr.flush()

        try:
            async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as http:
                result = await syncer.sync(
                    args.source, session=http, account=args.account, direction=args.direction, on_page=on_page
                )
        except SecretError as exc:
            raise CliError(str(exc)) from None
        if tty:
            sys.stderr.write("\n")
        if args.json:
            print(json.dumps(as_json(result), indent=2))
        else:
            print(
                f"{result.source} {result.direction} of {result.account}: {result.status}. {result.message}"
            )
            print(
                f"  {result.pages} pages, {result.fetched:,} accounts; people created {result.people_created:,}, "
                f"identities added {result.identities_added:,}, merged automatically {result.merged_automatically:,}, "
                f"merge suggestions {result.suggestions_made:,}"
            )
        return 0 if result.status in ("complete", "capped", "rate-limited", "waiting") else 1

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

    p = sub.add_parser(
        "imports",
        help="list recent imports and how each ended (an import the node was stopped during says so)",
    )
    p.add_argument("--limit", type=int, default=20, help="how many, newest first")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(fn=cmd_imports)

    p = sub.add_parser(
        "sync",
        help="fetch a linked account's follows from a live API, or new mail and meetings (resumes where it stopped)",
    )
    p.add_argument("source", choices=(*SOURCES, *CAPTURE_SOURCES))
    p.add_argument("--account", help="which linked account, when there are several")
    p.add_argument("--direction", choices=DIRECTIONS, default="following")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(fn=cmd_sync)

    p = sub.add_parser(
        "link",
        help="store a live-API link (account, server, token), a mailbox or a calendar; alone, list the links",
        description="Tokens and passwords are encrypted with KITH_PASSPHRASE when it is set. Pass --token - to "
        "read the token from standard input instead of the command line. A mailbox: kith link imap --host H "
        "[--port P] --user U --password-stdin [--folder F]... [--starttls|--tls|--plain]. A calendar: kith link "
        "caldav --url URL --user U --password-stdin.",
    )
    p.add_argument("source", choices=(*SOURCES, *CAPTURE_SOURCES))
    p.add_argument(
        "--account", help="your account: Mastodon id or user@host, Bluesky handle or DID, X user id"
    )
    p.add_argument("--base-url", help="the server (Mastodon: your instance; Bluesky and X have defaults)")
    p.add_argument("--token", help="access token, or - to read it from standard input")
    p.add_argument("--refresh-token", help="X: OAuth 2.0 refresh token")
    p.add_argument("--expires-at", help="X: when the access token expires (ISO 8601)")
    p.add_argument("--client-id", help="X: your app's OAuth 2.0 client id")
    p.add_argument("--client-secret", help="X: your app's client secret (confidential clients)")
    p.add_argument("--token-url", help="X: token endpoint (default https://api.x.com/2/oauth2/token)")
    register_link_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_link)
