"""The `kith` command line.

Graph commands open the node's SQLite file directly (WAL lets them run beside a running node); federation
commands (node/cli_federation.py) talk to the running node's owner API. Every command that prints something
takes ``--json`` and then prints one JSON document instead of text (a test walks the parser), except ``serve``
and ``worker``, which run until stopped, and ``export``, whose output is the export itself in the format ``--format`` names.
Errors print one line saying what to do and exit non-zero (1 for errors, 2 for usage).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from node.config import (
    SCHEMA,
    Config,
    ConfigError,
    account_from_env,
    default_data_dir,
    load_config,
    passphrase_from_env,
    write_config,
)
from node.context import AccountContext
from node.errors import NodeError
from node.files import write_private
from node.keys import KeyError_, save_node_key
from node.models import Page, Person, as_json
from node.serve_url import ServeUrl
from protocol.errors import KithError

__all__ = ["CliError", "build_parser", "main", "restored_said"]


class CliError(Exception):
    """A user-facing error: printed as one line, exit 1."""


def _out(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(as_json(data), ensure_ascii=False, indent=2))
    else:
        human()


def _config(args: argparse.Namespace) -> Config:
    data_dir: Path = args.data or default_data_dir()
    if not (data_dir / "kith.toml").exists():
        raise CliError(
            f"no Kith node in {data_dir}; create one with `kith --data {data_dir} init --username NAME`"
        )
    return load_config(data_dir)


def _say(message: str) -> None:
    """Progress of start-up work (a long migration) on stderr, so that stdout stays the command's output."""
    print(f"kith: {message}", file=sys.stderr, flush=True)


def _account(args: argparse.Namespace) -> str | None:
    """The account a command acts for: --account, else KITH_ACCOUNT, else the server's default (None)."""
    name: str | None = getattr(args, "account_name", None) or account_from_env()
    return name


async def _with_ctx(args: argparse.Namespace, fn: Callable[[AccountContext], Awaitable[int]]) -> int:
    ctx = await AccountContext.open(
        _config(args),
        account=_account(args),
        passphrase=passphrase_from_env(),
        load_keys=False,
        progress=_say,
    )
    try:
        return await fn(ctx)
    finally:
        await ctx.close()


def _person_line(p: Person) -> str:
    org = f" · {p.organization}" if p.organization else ""
    idents = ", ".join(i.display for i in p.identities[:3])
    more = f" (+{len(p.identities) - 3})" if len(p.identities) > 3 else ""
    strength = f" [{p.tie_strength:.2f}]" if p.tie_strength is not None else ""
    return f"{p.id}  {p.display_name}{org}{strength}  {idents}{more}"


def _print_people(page: Page) -> None:
    if not page.items:
        print("no people")
    for p in page.items:
        print(_person_line(p))
    if page.next_offset is not None:
        print(f"… more: --offset {page.next_offset}")


def _print_person(p: Person) -> None:
    print(f"{p.display_name}  ({p.id}, {p.status})")
    for label, value in (
        ("organisation", p.organization),
        ("title", p.title),
        ("nickname", p.nickname),
        ("birthday", p.birthday),
        ("met on", p.met_on),
        ("circles", ", ".join(p.circles)),
        ("cadence", f"every {p.effective_cadence_days} days" if p.effective_cadence_days else None),
        ("due", p.due_at),
        ("last touch", p.last_interaction_at),
        ("merged into", p.merged_into),
    ):
        if value:
            print(f"  {label:<13}{value}")
    for i in p.identities:
        sources = ", ".join(sorted({pr.source for pr in i.provenance})) or "owner"
        print(f"  · {i.display:<40} {i.kind:<9} {i.verification:<12} from {sources}")


def _print_tie_strength(p: Person) -> None:
    """The score people are listed by, and the parts it is the sum of (node/store/sqlite/tie_strength.py)."""
    if p.tie_strength is None or not p.tie_strength_parts:
        return
    parts = " + ".join(f"{part.name} {part.points:.2f}" for part in p.tie_strength_parts)
    print(f"  {'tie strength':<13}{p.tie_strength:.2f} = {parts}")
    for part in p.tie_strength_parts:
        print(f"    {part.name:<12} {part.value:.2f} × {part.weight:.2f}  {part.detail}  ({part.rule})")


# -- commands --------------------------------------------------------------------------------------------------
async def _cmd_init(args: argparse.Namespace) -> int:
    """Create a server in the data folder and its first account (the one-command start of scripts/start)."""
    from node.server import Server

    data_dir: Path = args.data or default_data_dir()
    if (data_dir / "kith.toml").exists() and not args.force:
        raise CliError(
            f"a node already exists in {data_dir}; use it with `kith serve`, add accounts with "
            "`kith account add NAME`, or pass --force to rewrite its configuration"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    base = load_config(data_dir)
    node_values: dict[str, Any] = {"username": args.username}
    server_values: dict[str, Any] = {}
    if args.domain:
        node_values["domain"] = args.domain
        host, _, port = args.domain.rpartition(":")
        if port.isdigit() and host in ("127.0.0.1", "localhost", "[::1]"):
            server_values["port"] = int(port)  # a loopback node is served at the port its URLs name
    if args.display_name:
        node_values["display_name"] = args.display_name
    if args.organization:
        node_values["actor_type"] = "Organization"
    config = base.with_values(node=node_values, server=server_values)
    _validate_identity(config)
    write_config(config)
    passphrase = passphrase_from_env()
    if not (data_dir / "keys" / "node-rsa.pem").exists():
        from protocol.keys import generate_rsa_key

        save_node_key(data_dir, generate_rsa_key(), passphrase)
    server = await Server.open(config, passphrase=passphrase)
    try:
        if not await server.accounts.list():
            await server.accounts.meta_set("keys_sealed", "1" if passphrase else "0")
        existing = await server.accounts.find(args.username)
        if existing is not None:
            token = None
        else:
            _row, token = await server.add_account(
                args.username,
                organization=args.organization,
                display_name=args.display_name or "",
            )
    finally:
        await server.close()

    def human() -> None:
        print(f"Created a Kith node for acct:{config.node.username}@{config.node.domain} in {data_dir}")
        if token is not None:
            print(f"  owner API token: {token}")
        print(
            f"  keys are {'encrypted with KITH_PASSPHRASE' if passphrase else 'not encrypted (set KITH_PASSPHRASE)'}"
        )
        print(
            f"Next: kith --data {data_dir} serve   (then open {config.base_url}/ and sign in with the token)"
        )
        print(
            f"      kith --data {data_dir} password set   lets you sign in to the web UI with a password instead"
        )
        print(f"      kith --data {data_dir} account add NAME   adds another account to this server")

    _out(
        args,
        {
            "address": f"acct:{config.node.username}@{config.node.domain}",
            "account": config.node.username,
            "data_dir": str(data_dir),
            "url": config.base_url,
            "token": token,
            "keys_encrypted": bool(passphrase),
        },
        human,
    )
    return 0


def _validate_identity(config: Config) -> None:
    """The flags of `kith init`, checked by the rules the config file is read by (node/config.py)."""
    import re

    from node.config import DOMAIN_PATTERN, DOMAIN_SHAPE, USERNAME_PATTERN, USERNAME_SHAPE

    if not re.fullmatch(USERNAME_PATTERN, config.node.username):
        raise CliError(f"--username must be {USERNAME_SHAPE}")
    if not re.fullmatch(DOMAIN_PATTERN, config.node.domain):
        raise CliError(f"--domain must be {DOMAIN_SHAPE}")


async def _cmd_worker(args: argparse.Namespace) -> int:
    from node.server import Server
    from node.worker import run_worker

    if not 1 <= args.concurrency <= 1024:
        raise CliError(f"--concurrency must be from 1 to 1024, got {args.concurrency}")
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.:@%-]{1,100}", args.name):
        raise CliError("--name must be 1-100 letters, digits and _.:@%- (e.g. worker-1)")
    config = _config(args)
    try:
        server = await Server.open(config, passphrase=passphrase_from_env(), progress=_say)
        server.node_key  # noqa: B018  (deliveries and fetches are signed: a missing or sealed key is said now)
    except KeyError_ as exc:
        raise CliError(str(exc)) from None

    def ready(name: str) -> None:
        print(
            f"Kith worker {name} for {config.node.domain} working the queues; stop with Ctrl-C.", flush=True
        )

    done = await run_worker(server, name=args.name, concurrency=args.concurrency, ready=ready)
    print(f"Kith worker {done['worker']} stopped: {done['delivered']} deliveries made.", flush=True)
    return 0


async def _cmd_serve(args: argparse.Namespace) -> int:
    from node.app import run_node
    from node.server import Server, read_token

    config = _config(args)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    if not 0 <= port <= 65535:
        raise CliError(f"--port must be a port number from 0 to 65535, got {port}")
    config = config.with_values(server={"host": host, "port": port})
    try:
        server = await Server.open(config, passphrase=passphrase_from_env(), progress=_say)
        server.node_key  # noqa: B018  (a missing or sealed key is said now, not at the first fetch)
    except KeyError_ as exc:
        raise CliError(str(exc)) from None
    accounts = await server.accounts.list(states=("active", "suspended"))
    runtime = ServeUrl(config.data_dir)  # one live process of the folder names itself (node/serve_url.py)

    def ready(url: str) -> None:
        runtime.publish(url)
        print(f"Kith server for {config.node.domain} listening on {url}", flush=True)
        print(f"  web UI:          {url}/", flush=True)
        print(f"  owner API:       {url}/api/  (Authorization: Bearer <the account's token>)", flush=True)
        print(f"  data folder:     {config.data_dir}", flush=True)
        for row in accounts:
            try:
                token = read_token(config.data_dir, row.name)
            except FileNotFoundError:
                token = "(no token file: kith --account NAME token rotate)"
            print(f"  account {row.name:<10} acct:{row.name}@{config.node.domain}  token {token}", flush=True)
        if not accounts:
            print("  no accounts yet: kith account add NAME", flush=True)
        print("Stop with Ctrl-C.", flush=True)

    try:
        await run_node(server, host=host, port=port, ready=ready, workers=not args.no_workers)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another with --port or --host"
        ) from None
    finally:
        runtime.withdraw()
    return 0


async def _cmd_people_add(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        data: dict[str, Any] = {"display_name": args.name, "identities": args.identity or []}
        for key in ("org", "title", "nickname", "birthday"):
            value = getattr(args, key)
            if value is not None:
                data["organization" if key == "org" else key] = value
        if args.circle:
            data["circles"] = args.circle
        person = await ctx.graph.create_person(data)
        _out(args, person, lambda: print(f"added {_person_line(person)}"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_people_list(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        page = await ctx.graph.list_people(
            status="archived" if args.archived else "active",
            circle=args.circle,
            order=args.order,
            offset=args.offset,
            limit=args.limit,
        )
        _out(
            args,
            {"items": page.items, "total": page.total, "next_offset": page.next_offset},
            lambda: _print_people(page),
        )
        return 0

    return await _with_ctx(args, run)


async def _cmd_people_search(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        page = await ctx.graph.search(
            args.query, circle=args.circle, due_within_days=args.due, offset=args.offset, limit=args.limit
        )
        _out(args, {"items": page.items, "next_offset": page.next_offset}, lambda: _print_people(page))
        return 0

    return await _with_ctx(args, run)


async def _cmd_people_show(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        person = await ctx.graph.get_person(args.id)
        notes = await ctx.graph.notes(args.id)
        rels = await ctx.graph.relationships(args.id)
        timeline = await ctx.graph.interactions(args.id, limit=20)

        def human() -> None:
            _print_person(person)
            _print_tie_strength(person)
            for r in rels:
                print(f"  ~ {r.type} ({r.direction}, {r.status}){' since ' + r.since if r.since else ''}")
            for n in notes:
                print(f"  # {n.body}")
            for i in timeline.items:
                print(f"  > {i.occurred_at} {i.channel:<8} {i.initiated_by:<7} {i.summary}")

        _out(
            args,
            {**as_json(person), "notes": notes, "relationships": rels, "interactions": timeline.items},
            human,
        )
        return 0

    return await _with_ctx(args, run)


async def _cmd_people_edit(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        data: dict[str, Any] = {}
        for arg, field in (
            ("name", "display_name"),
            ("given", "given_name"),
            ("family", "family_name"),
            ("nickname", "nickname"),
            ("org", "organization"),
            ("title", "title"),
            ("birthday", "birthday"),
            ("photo", "photo_url"),
            ("priority", "priority"),
        ):
            value = getattr(args, arg)
            if value is not None:
                data[field] = value
        if not data:
            raise CliError("nothing to change: pass --name, --org, --title, --priority, ... (see --help)")
        person = await ctx.graph.update_person(args.id, data)
        _out(args, person, lambda: _print_person(person))
        return 0

    return await _with_ctx(args, run)


async def _cmd_people_archive(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        person = await ctx.graph.archive(args.id, not args.undo)
        _out(args, person, lambda: print(f"{person.display_name} is now {person.status}"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_people_delete(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        await ctx.graph.delete_person(args.id)
        _out(args, {"deleted": args.id}, lambda: print(f"deleted {args.id}"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_identity_add(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        person = await ctx.graph.add_identity(args.person, args.uri, kind=args.kind, label=args.label)
        _out(args, person, lambda: _print_person(person))
        return 0

    return await _with_ctx(args, run)


async def _cmd_identity_remove(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        person = await ctx.graph.remove_identity(args.person, args.uri)
        _out(args, person, lambda: _print_person(person))
        return 0

    return await _with_ctx(args, run)


async def _cmd_merge(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        evidence = [{"kind": "owner", "detail": args.reason}] if args.reason else ()
        record = await ctx.graph.merge(args.survivor, args.merged, evidence=evidence)
        _out(
            args,
            record,
            lambda: print(f"merged {record.merged} into {record.survivor}; undo: kith unmerge {record.id}"),
        )
        return 0

    return await _with_ctx(args, run)


async def _cmd_unmerge(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        record = await ctx.graph.unmerge(args.merge_id)
        _out(
            args, record, lambda: print(f"undone: {record.survivor} and {record.merged} are two people again")
        )
        return 0

    return await _with_ctx(args, run)


async def _cmd_merges(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        records = await ctx.graph.merges(args.person)

        def human() -> None:
            for r in records:
                state = f"undone {r.undone_at}" if r.undone_at else "active"
                print(f"{r.id}  {r.merged} → {r.survivor}  by {r.decided_by}  {r.created_at}  {state}")
            if not records:
                print("no merges")

        _out(args, {"items": records}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_suggest(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        if args.accept:
            record = await ctx.graph.accept_suggestion(args.accept)
            _out(args, record, lambda: print(f"merged; undo: kith unmerge {record.id}"))
            return 0
        if args.dismiss:
            await ctx.graph.dismiss_suggestion(args.dismiss)
            _out(args, {"dismissed": args.dismiss}, lambda: print(f"dismissed {args.dismiss}"))
            return 0
        new = await ctx.graph.suggest_merges()
        page = await ctx.graph.suggestions(limit=args.limit)

        def human() -> None:
            print(f"{new} new suggestion(s)")
            for s in page.items:
                ev = "; ".join(f"{e['kind']}: {e['detail']}" for e in s.evidence)
                print(f"{s.id}  [{s.tier}]  {s.a_name} ({s.a})  ≈  {s.b_name} ({s.b})  — {ev}")
            if page.items:
                print("merge one: kith suggest-merges --accept ID   ·   dismiss: --dismiss ID")

        _out(args, {"new": new, "items": page.items}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_interaction_add(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        data = {
            "people": args.people,
            "channel": args.channel,
            "initiated_by": args.by,
            "summary": args.summary or "",
        }
        if args.at:
            data["occurred_at"] = args.at
        item = await ctx.graph.log_interaction(data)
        _out(
            args,
            item,
            lambda: print(f"logged {item.channel} with {', '.join(item.people)} at {item.occurred_at}"),
        )
        return 0

    return await _with_ctx(args, run)


async def _cmd_interaction_list(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        page = await ctx.graph.interactions(args.person, offset=args.offset, limit=args.limit)

        def human() -> None:
            for i in page.items:
                print(
                    f"{i.id}  {i.occurred_at}  {i.channel:<8} {i.initiated_by:<7} {', '.join(i.people)}  {i.summary}"
                )
            if not page.items:
                print("no interactions")

        _out(args, {"items": page.items, "next_offset": page.next_offset}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_note_add(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        note = await ctx.graph.add_note(args.person, args.text)
        _out(args, note, lambda: print(f"noted ({note.id})"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_note_list(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        notes = await ctx.graph.notes(args.person)

        def human() -> None:
            for n in notes:
                print(f"{n.id}  {n.created_at}  {n.body}")

        _out(args, {"items": notes}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_circle(args: argparse.Namespace) -> int:
    if args.action in ("publish", "unpublish"):
        from node.cli_dav import circle_publish

        _need(args.name, "NAME")
        return await circle_publish(args, published=args.action == "publish")

    async def run(ctx: AccountContext) -> int:
        g = ctx.graph
        if args.action == "list":
            circles = await g.circles()

            def human() -> None:
                for c in circles:
                    cad = f"every {c.cadence_days} days" if c.cadence_days else "no cadence"
                    print(f"{c.name:<24} {c.members:>6} people   {cad}")
                if not circles:
                    print("no circles; make one: kith circle add NAME [--cadence DAYS]")

            _out(args, {"items": circles}, human)
        elif args.action == "add":
            circle = await g.create_circle(_need(args.name, "NAME"), args.cadence)
            _out(args, circle, lambda: print(f"circle {circle.name} ready"))
        elif args.action == "remove":
            await g.delete_circle(_need(args.name, "NAME"))
            _out(args, {"removed": args.name}, lambda: print(f"removed circle {args.name}"))
        else:
            person_id, name = _need(args.name, "PERSON"), _need(args.target, "CIRCLE")
            person = await g.set_membership(person_id, name, member=args.action == "join")
            _out(
                args,
                person,
                lambda: print(f"{person.display_name}: {', '.join(person.circles) or 'no circles'}"),
            )
        return 0

    return await _with_ctx(args, run)


def _need(value: str | None, what: str) -> str:
    if not value:
        raise CliError(f"{what} is required here (see kith circle --help)")
    return value


def _days(text: str) -> int | None:
    if text.lower() in ("0", "none", "off", "clear"):
        return None
    try:
        return int(text)
    except ValueError:
        raise CliError(f"DAYS must be a number of days or 'none', got {text!r}") from None


async def _cmd_cadence(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        days = _days(args.days)
        if args.circle:
            circle = await ctx.graph.set_circle_cadence(args.target, days)
            _out(
                args, circle, lambda: print(f"circle {circle.name}: every {circle.cadence_days or '-'} days")
            )
        else:
            person = await ctx.graph.set_person_cadence(args.target, days)
            _out(args, person, lambda: print(f"{person.display_name}: due {person.due_at or 'never'}"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_due(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        within = args.within if args.within is not None else ctx.config.stay_in_touch.due_within_days
        page = await ctx.graph.due(within_days=within, offset=args.offset, limit=args.limit)

        def human() -> None:
            for e in page.items:
                when = (
                    f"{e.days_overdue:.0f} days overdue"
                    if e.days_overdue >= 0
                    else f"due in {-e.days_overdue:.0f} days"
                )
                print(f"{e.person.id}  {e.person.display_name:<30} {when}")
            if not page.items:
                print(f"nobody is due within {within} days")

        _out(args, {"items": page.items, "next_offset": page.next_offset}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_fading(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        items = await ctx.graph.fading(limit=args.limit)

        def human() -> None:
            for e in items:
                print(
                    f"{e.person.id}  {e.person.display_name:<30} {e.recent_rate:.0f} lately vs {e.past_rate:.1f} per 90 days before"
                )
            if not items:
                print("no relationship is fading")

        _out(args, {"items": items}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_layers(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        layers = await ctx.graph.layers()

        def human() -> None:
            for layer in layers:
                warn = "  ⚠ over budget" if layer.over_budget else ""
                print(
                    f"{layer.name:<16} cadence ≤ {layer.max_cadence_days:>3} days: {layer.count:>4} / {layer.budget}{warn}"
                )

        _out(args, {"items": layers}, human)
        return 0

    return await _with_ctx(args, run)


async def _cmd_export(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        from node.exporting import people_csv, vcards

        if args.format == "json":
            text = json.dumps(await ctx.graph.export_json(), ensure_ascii=False)
        elif args.format == "csv":
            text = await people_csv(ctx.graph)
        else:
            text = await vcards(ctx.graph)
        if args.output in (None, "-"):
            sys.stdout.write(text)
        else:
            out = Path(args.output)
            tmp = out.with_name(out.name + ".partial")
            write_private(tmp, text)  # the whole graph: the owner's alone
            tmp.replace(out)
            print(f"exported to {out} ({len(text.encode())} bytes)", file=sys.stderr)
        return 0

    return await _with_ctx(args, run)


async def _cmd_restore(args: argparse.Namespace) -> int:
    # The owner's own file: no request-size limit applies (POST /api/import/json is bounded by max_body_bytes,
    # which a real graph's export exceeds).
    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CliError(
            f"{args.file} is not a Kith JSON export ({exc}); make one with `kith export`"
        ) from None
    except RecursionError:
        raise CliError(f"{args.file} is nested too deeply to be a Kith JSON export") from None
    if args.into_account is not None:
        from node.cli_accounts import restore_into_account

        return await restore_into_account(args, doc)

    async def run(ctx: AccountContext) -> int:
        counts = await ctx.graph.import_json(doc)

        def human() -> None:
            print(f"restored {restored_said(counts)} from {args.file}")
            if counts.get("bridge_link"):
                print(
                    "live-sync tokens were restored sealed: sync with the KITH_PASSPHRASE they were sealed "
                    "with; links whose token was left out are revoked: link them again (kith link SOURCE ...)"
                )
            if (ctx.config.data_dir / "serve.url").exists():
                print(
                    "a node is serving this folder: restart it (kith serve) so that it applies the restored "
                    "blocks and follows",
                    file=sys.stderr,
                )

        _out(args, counts, human)
        return 0

    return await _with_ctx(args, run)


def restored_said(counts: dict[str, int]) -> str:
    """What a restore wrote, in the owner's words."""
    said = [f"{counts.get('person', 0)} people"]
    for what, tables in (
        ("relationships", ("relationship",)),
        ("interactions", ("interaction",)),
        ("notes", ("note",)),
        ("circles", ("circle",)),
        ("blocks", ("blocked_address", "fed_blocks")),
        ("follows", ("fed_follows",)),
        ("relationship offers", ("fed_offers",)),
        ("live-sync links", ("bridge_link",)),
    ):
        n = sum(counts.get(t, 0) for t in tables)
        if n:
            said.append(f"{n} {what}")
    if counts.get("card"):
        said.append("your card and who may see it")
    return ", ".join(said)


async def _cmd_backup(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        from node.graph import iso

        stamp = iso(ctx.graph.clock()).replace(":", "").replace("-", "")
        default = ctx.config.data_dir / "backups" / f"{ctx.name}-{stamp}{ctx.store.backup_suffix}"
        dest = Path(args.output) if args.output else default
        await ctx.store.backup(dest)
        size = dest.stat().st_size
        _out(args, {"path": str(dest), "bytes": size}, lambda: print(f"backed up to {dest} ({size:,} bytes)"))
        return 0

    return await _with_ctx(args, run)


async def _cmd_token(args: argparse.Namespace) -> int:
    from node.server import new_token, read_token

    async def run(ctx: AccountContext) -> int:
        if args.action == "show":
            try:
                token = read_token(ctx.config.data_dir, ctx.name)
            except FileNotFoundError as exc:
                raise CliError(str(exc)) from None
        else:
            token = new_token()
            await ctx.set_token(token)
            print("the old token no longer works (a running node notices within 2 seconds)", file=sys.stderr)
        shown = {"account": ctx.name, "token": token} | ({"rotated": True} if args.action == "rotate" else {})
        _out(args, shown, lambda: print(token))
        return 0

    return await _with_ctx(args, run)


async def _cmd_config(args: argparse.Namespace) -> int:
    from node.config import config_table_markdown

    if args.table:
        options = [
            {"key": o.key, "environment": o.env, "type": o.type, "default": o.default, "help": o.help}
            for o in SCHEMA
        ]
        _out(args, options, lambda: print(config_table_markdown()))
        return 0
    config = _config(args)
    values = {opt.key: opt.shown(opt.read(config)) for opt in SCHEMA}

    def human() -> None:
        for key, value in values.items():
            print(f"{key} = {value!r}")

    _out(args, {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}, human)
    return 0


# -- parser ----------------------------------------------------------------------------------------------------
def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _paging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--limit", type=int, default=50)


def build_parser() -> argparse.ArgumentParser:
    from node.config import config_table_markdown

    parser = argparse.ArgumentParser(
        prog="kith",
        description="Kith: your contact graph, federated. Data folder: --data, else $KITH_DATA, else ~/.local/share/kith.",
        epilog="Configuration (kith.toml in the data folder; KITH_* environment variables override):\n"
        + config_table_markdown(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, help="the node's data folder")
    parser.add_argument(
        "--account",
        dest="account_name",
        metavar="NAME",
        help="the account a command acts for (else KITH_ACCOUNT, else server.default_account, else the only one)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", help="create a node: config, keys, database, owner token")
    p.add_argument("--username", required=True, help="the owner's username (acct:USERNAME@DOMAIN)")
    p.add_argument("--domain", help="HOST[:PORT] the node is reached at (default 127.0.0.1:8700)")
    p.add_argument("--display-name", help="the owner's name")
    p.add_argument(
        "--organization", action="store_true", help="an organisation's node (actor type Organization)"
    )
    p.add_argument(
        "--force", action="store_true", help="rewrite the config of an existing node (keys are kept)"
    )
    _json_flag(p)
    p.set_defaults(fn=_cmd_init)

    p = sub.add_parser("serve", help="run the node (web UI, owner API, federation)")
    p.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default from config: 8700)")
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="web UI, owner API and inbox intake only: `kith worker` processes work the queues "
        "(docs/DEPLOYMENT.md)",
    )
    p.set_defaults(fn=_cmd_serve)

    p = sub.add_parser(
        "worker",
        help="work the queues beside `kith serve --no-workers`: inbox, deliveries, digests, syncs, retention",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="deliveries in flight at once in this process (default 32)",
    )
    p.add_argument(
        "--name",
        help="this worker's name, unique among the server's workers and stable across its restarts (a worker "
        "that starts takes back what its name held at once); default: worker@HOST:PID",
    )
    p.set_defaults(fn=_cmd_worker)

    people = sub.add_parser("people", help="add, list, search, show, edit, archive, delete people")
    psub = people.add_subparsers(dest="action", metavar="ACTION")
    psub.required = True
    p = psub.add_parser("add", help="add a person")
    p.add_argument("name")
    p.add_argument("--identity", action="append", metavar="URI", help="an address (repeatable)")
    p.add_argument("--org")
    p.add_argument("--title")
    p.add_argument("--nickname")
    p.add_argument("--birthday")
    p.add_argument("--circle", action="append")
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_add)
    p = psub.add_parser("list", help="list people by tie strength")
    p.add_argument("--circle")
    p.add_argument("--order", choices=("strength", "name", "recent", "created"), default="strength")
    p.add_argument("--archived", action="store_true")
    _paging(p)
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_list)
    p = psub.add_parser("search", help="full-text search (prefix matching)")
    p.add_argument("query")
    p.add_argument("--circle")
    p.add_argument("--due", type=int, metavar="DAYS", help="only people due within DAYS")
    _paging(p)
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_search)
    p = psub.add_parser("show", help="one person in full")
    p.add_argument("id")
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_show)
    p = psub.add_parser("edit", help="change a person's fields")
    p.add_argument("id")
    for flag in ("name", "given", "family", "nickname", "org", "title", "birthday", "photo"):
        p.add_argument(f"--{flag}")
    p.add_argument("--priority", type=int, choices=range(4), help="0-3, the owner's own priority")
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_edit)
    p = psub.add_parser("archive", help="archive (or --undo)")
    p.add_argument("id")
    p.add_argument("--undo", action="store_true")
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_archive)
    p = psub.add_parser("delete", help="delete a person for good")
    p.add_argument("id")
    _json_flag(p)
    p.set_defaults(fn=_cmd_people_delete)

    ident = sub.add_parser("identity", help="attach or detach addresses")
    isub = ident.add_subparsers(dest="action", metavar="ACTION")
    isub.required = True
    p = isub.add_parser("add", help="attach an address to a person")
    p.add_argument("person")
    p.add_argument("uri")
    p.add_argument("--kind", help="acct, email, tel, web, x, linkedin, bluesky, url (guessed when omitted)")
    p.add_argument("--label")
    _json_flag(p)
    p.set_defaults(fn=_cmd_identity_add)
    p = isub.add_parser("remove", help="detach an address")
    p.add_argument("person")
    p.add_argument("uri")
    _json_flag(p)
    p.set_defaults(fn=_cmd_identity_remove)

    p = sub.add_parser("merge", help="merge MERGED into SURVIVOR (undo with kith unmerge)")
    p.add_argument("survivor")
    p.add_argument("merged")
    p.add_argument("--reason")
    _json_flag(p)
    p.set_defaults(fn=_cmd_merge)
    p = sub.add_parser("unmerge", help="undo a merge exactly")
    p.add_argument("merge_id")
    _json_flag(p)
    p.set_defaults(fn=_cmd_unmerge)
    p = sub.add_parser("merges", help="merge history")
    p.add_argument("--person")
    _json_flag(p)
    p.set_defaults(fn=_cmd_merges)
    p = sub.add_parser("suggest-merges", help="find probable duplicates; accept or dismiss them")
    p.add_argument("--accept", metavar="ID")
    p.add_argument("--dismiss", metavar="ID")
    p.add_argument("--limit", type=int, default=50)
    _json_flag(p)
    p.set_defaults(fn=_cmd_suggest)

    inter = sub.add_parser("interaction", help="log and list interactions")
    intsub = inter.add_subparsers(dest="action", metavar="ACTION")
    intsub.required = True
    p = intsub.add_parser("add", help="log an interaction (resets the stay-in-touch clock)")
    p.add_argument("people", nargs="+", metavar="PERSON")
    p.add_argument(
        "--channel", default="message", choices=("message", "email", "call", "meeting", "comment", "other")
    )
    p.add_argument("--by", default="owner", choices=("owner", "them", "unknown"), help="who initiated")
    p.add_argument("--at", help="when (ISO-8601; default now)")
    p.add_argument("--summary")
    _json_flag(p)
    p.set_defaults(fn=_cmd_interaction_add)
    p = intsub.add_parser("list", help="the timeline, newest first")
    p.add_argument("person", nargs="?")
    _paging(p)
    _json_flag(p)
    p.set_defaults(fn=_cmd_interaction_list)

    note = sub.add_parser("note", help="notes on people")
    nsub = note.add_subparsers(dest="action", metavar="ACTION")
    nsub.required = True
    p = nsub.add_parser("add")
    p.add_argument("person")
    p.add_argument("text")
    _json_flag(p)
    p.set_defaults(fn=_cmd_note_add)
    p = nsub.add_parser("list")
    p.add_argument("person")
    _json_flag(p)
    p.set_defaults(fn=_cmd_note_list)

    p = sub.add_parser(
        "circle",
        help="circles: list | add NAME | remove NAME | join PERSON CIRCLE | leave PERSON CIRCLE | "
        "publish NAME | unpublish NAME (an address book of its own for phones, CardDAV)",
    )
    p.add_argument("action", choices=("list", "add", "remove", "join", "leave", "publish", "unpublish"))
    p.add_argument("name", nargs="?")
    p.add_argument("target", nargs="?")
    p.add_argument("--cadence", type=int, help="with add: days between touches for the circle")
    _json_flag(p)
    p.set_defaults(fn=_cmd_circle)

    p = sub.add_parser(
        "cadence", help="set a stay-in-touch cadence: PERSON DAYS, or --circle NAME DAYS ('none' clears)"
    )
    p.add_argument("target", metavar="PERSON|CIRCLE")
    p.add_argument("days")
    p.add_argument("--circle", action="store_true", help="TARGET is a circle name")
    _json_flag(p)
    p.set_defaults(fn=_cmd_cadence)

    p = sub.add_parser("due", help="who is due for a message, most overdue first")
    p.add_argument(
        "--within", type=int, metavar="DAYS", help="also those due within DAYS (default from config)"
    )
    _paging(p)
    _json_flag(p)
    p.set_defaults(fn=_cmd_due)
    p = sub.add_parser("fading", help="relationships tapering off")
    p.add_argument("--limit", type=int, default=50)
    _json_flag(p)
    p.set_defaults(fn=_cmd_fading)
    p = sub.add_parser("layers", help="Dunbar layers and over-budget warnings")
    _json_flag(p)
    p.set_defaults(fn=_cmd_layers)

    p = sub.add_parser(
        "export", help="export everything (json: restorable with kith restore) or people (vcard, csv)"
    )
    p.add_argument("--format", choices=("json", "vcard", "csv"), default="json")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(fn=_cmd_export)
    p = sub.add_parser(
        "restore",
        help="load a `kith export` JSON file into this new, empty node (every value checked; all or nothing)",
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--account",
        dest="into_account",
        metavar="NAME",
        help="restore into this account of the server, creating it if it does not exist (an account moving "
        "here from another server: see `kith account export`)",
    )
    p.add_argument(
        "--organization",
        action="store_true",
        help="with --account: create an organisation's account (default: what the export says)",
    )
    _json_flag(p)
    p.set_defaults(fn=_cmd_restore)
    p = sub.add_parser("backup", help="online copy of the database (safe while the node runs)")
    p.add_argument("--output", "-o")
    _json_flag(p)
    p.set_defaults(fn=_cmd_backup)

    p = sub.add_parser("token", help="the account's owner API token: show | rotate")
    p.add_argument("action", choices=("show", "rotate"))
    _json_flag(p)
    p.set_defaults(fn=_cmd_token)
    p = sub.add_parser("config", help="print the effective configuration (or --table for the docs)")
    p.add_argument("--table", action="store_true")
    _json_flag(p)
    p.set_defaults(fn=_cmd_config)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[Any], None]]:
    """The command groups kept in modules of their own, registered in this order."""
    from node import (
        cli_accounts,
        cli_bridge,
        cli_capture,
        cli_card,
        cli_dav,
        cli_federation,
        cli_import,
        cli_migrate,
        cli_org,
        cli_relationship,
        cli_storage,
        cli_web,
    )

    return [
        cli_accounts.register,
        cli_dav.register,
        cli_import.register,
        cli_migrate.register,
        cli_capture.register,
        cli_federation.register,
        cli_card.register,
        cli_web.register,
        cli_relationship.register,
        cli_org.register,
        cli_storage.register,
        cli_bridge.register,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "func"):  # synchronous commands that talk to a running node over HTTP
            sync_code: int = args.func(args)
            return sync_code
        code: int = asyncio.run(args.fn(args))
        return code
    except (CliError, ConfigError, KeyError_) as exc:
        print(f"kith: {exc}", file=sys.stderr)
    # NodeError includes the store's errors (node/store/errors.py), whose messages say what to do next.
    except (NodeError, KithError) as exc:
        where = f" ({exc.field})" if exc.field else ""
        print(f"kith: {exc.message}{where}", file=sys.stderr)
    except OSError as exc:  # a file or folder given on the command line that cannot be written or read
        where = f": {exc.filename}" if exc.filename else ""
        print(f"kith: {exc.strerror or exc}{where}", file=sys.stderr)
    except KeyboardInterrupt:
        print("kith: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
