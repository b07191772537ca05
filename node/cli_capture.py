"""The stay-in-touch loop on the command line (issue 16): `kith link imap|caldav`, `kith sync imap|caldav`
(dispatched here from node/cli_import.py, which owns `link` and `sync`), `kith proposals`, `kith digest`,
`kith reach` and `kith cadence-suggestions`.

Passwords are read from standard input (``--password-stdin``), never from the command line, and sealed with
KITH_PASSPHRASE when it is set. Progress goes to stderr; results to stdout, as text or with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import aiohttp

from node.capture.caldav import sync_caldav
from node.capture.imap import CaptureResult, sync_imap
from node.capture.links import CAPTURE_SOURCES, caldav_links, imap_links, link_caldav, link_imap
from node.capture.proposals import accept_proposal, dismiss_proposal, list_proposals
from node.cli import CliError, _out, _with_ctx
from node.config import passphrase_from_env, smtp_password_from_env
from node.context import AccountContext
from node.digest import (
    FREQUENCIES,
    build_digest,
    cadence_suggestions,
    get_settings,
    mark_done,
    send_digest,
    set_settings,
    snooze,
)
from node.importer import Importer
from node.models import as_json
from node.reach import actions, reach, set_preferred

__all__ = ["CAPTURE_SOURCES", "cmd_link_capture", "cmd_sync_capture", "register", "register_link_flags"]

_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=15)


def register_link_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `kith link imap` and `kith link caldav`, on the `link` parser node/cli_import.py makes."""
    g = p.add_argument_group("imap and caldav")
    g.add_argument("--host", help="imap: the mail server, like imap.example.org")
    g.add_argument("--port", type=int, help="imap: the port (default 993 with --tls, else 143)")
    g.add_argument("--user", help="imap, caldav: the login name")
    g.add_argument(
        "--password-stdin", action="store_true", help="read the password (or app password) from stdin"
    )
    g.add_argument(
        "--folder", action="append", default=[], help="imap: a folder to read (default: INBOX and Sent)"
    )
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--tls", dest="security", action="store_const", const="tls", help="imap: TLS (default)")
    mode.add_argument(
        "--starttls", dest="security", action="store_const", const="starttls", help="imap: STARTTLS"
    )
    mode.add_argument(
        "--plain", dest="security", action="store_const", const="plain", help="imap: no TLS (loopback only)"
    )
    g.add_argument(
        "--me", action="append", default=[], help="an address of yours besides the login (repeatable)"
    )
    g.add_argument("--subjects", action="store_true", help="imap: keep subjects as interaction summaries")
    g.add_argument("--ca-file", help="imap, caldav: a CA certificate file, for a server with a private CA")
    g.add_argument("--url", help="caldav: the calendar collection's address")


def _password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise CliError(
            "pass --password-stdin and give the password on standard input (never on the command line)"
        )
    return sys.stdin.readline().rstrip("\r\n")


async def cmd_link_capture(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        passphrase = passphrase_from_env()
        listing = args.host is None and args.url is None
        if listing:
            links: list[Any] = list(
                await (imap_links(ctx.store) if args.source == "imap" else caldav_links(ctx.store))
            )

            def human() -> None:
                for link in links:
                    where = (
                        link.url if args.source == "caldav" else f"{link.host}:{link.port} ({link.security})"
                    )
                    print(
                        f"{args.source} {link.account} at {where}; last sync {link.last_sync_at or 'never'}"
                    )
                    if link.last_error:
                        print(f"  last error: {link.last_error}")
                if not links:
                    print(f"no {args.source} link; see `kith link {args.source} --help`")

            _out(args, {"items": links}, human)
            return 0
        if args.source == "imap":
            if not args.host or not args.user:
                raise CliError("kith link imap needs --host and --user (and --password-stdin)")
            link: Any = await link_imap(
                ctx.store,
                host=args.host,
                port=args.port,
                security=args.security or "tls",
                user=args.user,
                password=_password(args),
                folders=args.folder,
                me=args.me,
                subjects=args.subjects,
                ca_file=args.ca_file,
                passphrase=passphrase,
                now=ctx.graph.now(),
            )
        else:
            if not args.url or not args.user:
                raise CliError("kith link caldav needs --url and --user (and --password-stdin)")
            link = await link_caldav(
                ctx.store,
                url=args.url,
                user=args.user,
                password=_password(args),
                me=args.me,
                ca_file=args.ca_file,
                passphrase=passphrase,
                now=ctx.graph.now(),
            )
        _out(
            args,
            link,
            lambda: print(f"Linked {args.source} {link.account}; read it with `kith sync {args.source}`"),
        )
        if not link.encrypted:
            print(
                "warning: the password is stored unencrypted; set KITH_PASSPHRASE and link again to seal it",
                file=sys.stderr,
            )
        return 0

    return await _with_ctx(args, run)


def _progress(source: str) -> Any:
    tty = sys.stderr.isatty()

    def show(where: str, done: int, total: int) -> None:
        start, end = ("\r\x1b[2K", "") if tty else ("", "\n")
        sys.stderr.write(f"{start}{source} {where}: {done:,} / {total:,}{end}")
        sys.stderr.flush()

    return show


def _print_results(results: list[CaptureResult]) -> None:
    for r in results:
        print(f"{r.source} {r.account}: {r.status}. {r.message}")
        for folder, count in r.folders.items():
            print(f"  {folder}: {count:,} new messages")


async def cmd_sync_capture(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        passphrase = passphrase_from_env()
        if args.source == "imap":
            results = await sync_imap(
                ctx.store,
                passphrase=passphrase,
                account=args.account,
                clock=ctx.graph.clock,
                progress=_progress("imap"),
            )
        else:
            importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
            async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as http:
                results = await sync_caldav(
                    ctx.store,
                    importer,
                    session=http,
                    passphrase=passphrase,
                    account=args.account,
                    clock=ctx.graph.clock,
                    progress=_progress("caldav"),
                )
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        if args.json:
            totals = {
                key: sum(getattr(r, key) for r in results)
                for key in ("messages", "interactions_added", "people_proposed")
            }
            print(json.dumps({**totals, "links": as_json(results)}, indent=2, ensure_ascii=False))
        else:
            _print_results(results)
        return 0 if all(r.status == "complete" for r in results) else 1

    return await _with_ctx(args, run)


async def _cmd_proposals(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        if args.accept:
            person, linked = await accept_proposal(ctx.graph, args.accept, name=args.name)
            _out(
                args,
                {"person": person, "messages_linked": linked},
                lambda: print(f"added {person.display_name} ({person.id}) with {linked:,} past messages"),
            )
            return 0
        if args.dismiss:
            await dismiss_proposal(ctx.graph, args.dismiss)
            _out(
                args,
                {"address": args.dismiss, "status": "dismissed"},
                lambda: print(f"{args.dismiss} will not be proposed again"),
            )
            return 0
        found = await list_proposals(ctx.graph, limit=args.limit)

        def human() -> None:
            for p in found:
                name = f"{p.name} " if p.name else ""
                print(
                    f"{name}<{p.address[7:]}>  you wrote {p.sent}, they wrote {p.received}; last {p.last_at[:10]}"
                )
            print(
                "accept: kith proposals --accept ADDRESS   dismiss: kith proposals --dismiss ADDRESS"
                if found
                else "no one proposed; `kith sync imap` reads your mail"
            )

        _out(args, {"items": found}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_digest(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        action = args.action or "preview"
        if action == "preview":
            digest = await build_digest(ctx)

            def human() -> None:
                if digest.empty:
                    print("nothing to act on today")
                for item in digest.items:
                    print(f"[{item.kind}] {item.text}   ({item.key})")

            _out(args, digest, human)
        elif action == "send":
            digest, target = await send_digest(ctx, password=smtp_password_from_env(), to=args.to)
            _out(args, {"to": target, "items": len(digest.items)}, lambda: print(f"digest sent to {target}"))
        elif action == "settings":
            given = (args.every, args.to, args.hour, args.weekday, args.fediverse)
            if all(v is None for v in given):
                settings = await get_settings(ctx)
            else:
                settings = await set_settings(
                    ctx,
                    every=args.every,
                    to=args.to,
                    hour=args.hour,
                    weekday=args.weekday,
                    fediverse=args.fediverse,
                )
            _out(
                args,
                settings,
                lambda: print(
                    f"digest {settings.every}"
                    + (f" to {settings.to} from {settings.hour}:00 UTC" if settings.every != "off" else "")
                    + (f", and as a direct message to {settings.fediverse}" if settings.fediverse else "")
                ),
            )
        elif action in ("snooze", "done"):
            if not args.key:
                raise CliError(f"kith digest {action} KEY (the key in brackets in `kith digest --preview`)")
            # --json prints what the API answers (POST /api/digest/items/{key}/snooze and .../done).
            if action == "snooze":
                until = await snooze(ctx, args.key, args.days)
                state = {"key": args.key, "state": "snoozed", "until": until}
                _out(args, state, lambda: print(f"snoozed until {until}"))
            else:
                await mark_done(ctx, args.key)
                _out(args, {"key": args.key, "state": "done"}, lambda: print("done"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_reach(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        if args.prefer is not None:
            chosen = await set_preferred(ctx.graph, args.person, None if args.prefer < 0 else args.prefer)
            _out(
                args,
                {"preferred": chosen},
                lambda: print(
                    f"preferred: {chosen.label} {chosen.display}" if chosen else "no preferred channel"
                ),
            )
            return 0
        if args.n is None:
            person = await ctx.graph.get_person(args.person)
            found = await actions(ctx.graph, person)

            def human() -> None:
                for a in found:
                    star = "*" if a.preferred else " "
                    dm = f"  (message: {a.message_href})" if a.message_href else ""
                    print(f"{star}{a.n:>3}  {a.label:<18} {a.display:<36} {a.href}{dm}")
                if not found:
                    print(f"{person.display_name} has no address to reach; add one with `kith identity add`")

            _out(args, {"items": found}, human)
            return 0
        href, interaction = await reach(ctx.graph, args.person, args.n, message=args.message)
        _out(args, {"href": href, "interaction": interaction}, lambda: print(href))
        print("logged as an interaction; the stay-in-touch clock starts again", file=sys.stderr)
        return 0

    return await _with_ctx(args, run)


async def _cmd_cadence_suggestions(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        found = await cadence_suggestions(ctx, limit=50)
        if args.accept:
            item = next((i for i in found if i.person_id == args.accept), None)
            if item is None or item.suggest_days is None:
                raise CliError(f"no cadence suggestion for {args.accept}; see `kith cadence-suggestions`")
            person = await ctx.graph.set_person_cadence(args.accept, item.suggest_days)
            _out(args, person, lambda: print(f"{person.display_name}: every {item.suggest_days} days"))
            return 0

        def human() -> None:
            for i in found:
                print(f"{i.text}  accept: kith cadence-suggestions --accept {i.person_id}")
            if not found:
                print("no suggestions: they come from people you talked to at least four times lately")

        _out(args, {"items": found}, human)
        return 0

    return await _with_ctx(args, run)


def register(sub: Any) -> None:
    p = sub.add_parser("proposals", help="people proposed from your mail (mail exchanged both ways)")
    p.add_argument(
        "--accept", metavar="ADDRESS", help="make this correspondent a person, with their past mail"
    )
    p.add_argument("--name", help="with --accept: the person's name (default: the name in their mail)")
    p.add_argument("--dismiss", metavar="ADDRESS", help="never propose this correspondent again")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_cmd_proposals)

    p = sub.add_parser(
        "digest",
        help="today's digest: --preview it, send it, set how often it is mailed, snooze or mark items done",
        description="kith digest --preview [--json] | send [--to ADDR] | settings [--every daily|weekly|off] "
        "[--to ADDR] [--hour H] [--weekday D] [--fediverse @you@server] | snooze KEY [--days N] | done KEY",
    )
    p.add_argument("action", nargs="?", choices=("preview", "send", "settings", "snooze", "done"))
    p.add_argument("key", nargs="?", help="snooze, done: the item's key")
    p.add_argument("--preview", action="store_true", help="print the digest (the default)")
    p.add_argument("--to", help="send, settings: the address digests go to")
    p.add_argument("--every", choices=FREQUENCIES, help="settings: how often the running server mails it")
    p.add_argument("--hour", type=int, help="settings: from which hour (UTC) of the day it goes out")
    p.add_argument("--weekday", type=int, help="settings: weekly digests' day, 0 (Monday) to 6")
    p.add_argument(
        "--fediverse",
        metavar="ACCOUNT",
        help="settings: your own fediverse account (@you@server), sent the digest as a direct message ('' none)",
    )
    p.add_argument("--days", type=int, default=1, help="snooze: for how many days")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_cmd_digest)

    p = sub.add_parser("reach", help="ways to reach a person; `kith reach PERSON N` logs and prints one")
    p.add_argument("person")
    p.add_argument("n", nargs="?", type=int, help="the number of the way to use (from the list)")
    p.add_argument("--message", action="store_true", help="the direct-message link instead of the profile")
    p.add_argument("--prefer", type=int, metavar="N", help="make way N the preferred channel (-1: none)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_cmd_reach)

    p = sub.add_parser(
        "cadence-suggestions", help="cadences drawn from each person's rhythm; --accept PERSON"
    )
    p.add_argument("--accept", metavar="PERSON")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_cmd_cadence_suggestions)
