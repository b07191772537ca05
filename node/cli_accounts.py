"""`kith account ...`: the accounts of this server. Each works while `kith serve` runs: the server reads the
registry from its database, so a new account answers WebFinger at once, and a suspended one stops within
seconds (docs/ARCHITECTURE.md §8)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from node.cli import CliError, _config, restored_said
from node.config import passphrase_from_env
from node.errors import NodeError
from node.files import write_private
from node.models import AccountRow
from node.restore import account_block
from node.server import Server
from protocol.errors import KithError

__all__ = ["account_json", "register", "restore_into_account"]


def account_json(server: Server, row: AccountRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "actor": f"{server.config.base_url}/users/{row.name}",
        "acct": f"{row.name}@{server.config.node.domain}",
        "type": row.type,
        "display_name": row.display_name,
        "state": row.state,
        "created_at": row.created_at,
        "removed_at": row.removed_at,
        "purge_after": row.purge_after,
    }


async def _with_server(args: argparse.Namespace, fn: Callable[[Server], Awaitable[int]]) -> int:
    server = await Server.open(_config(args), passphrase=passphrase_from_env())
    try:
        return await fn(server)
    finally:
        await server.close()


def _print(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else human)


async def _add(args: argparse.Namespace) -> int:
    async def run(server: Server) -> int:
        row, token = await server.add_account(
            args.name, organization=args.organization, display_name=args.display_name or ""
        )
        data = account_json(server, row) | {"token": token}
        _print(
            args,
            data,
            f"added {row.type.lower()} account {row.name}: acct:{data['acct']}\n"
            f"  owner API token: {token}\n"
            f"  sign in to the web UI with it, or set a password: kith --account {row.name} password set",
        )
        return 0

    return await _with_server(args, run)


async def _list(args: argparse.Namespace) -> int:
    async def run(server: Server) -> int:
        rows = await server.accounts.list()
        items = [account_json(server, r) for r in rows]
        if args.json:
            print(json.dumps(items, ensure_ascii=False, indent=2))
        elif not rows:
            print("no accounts: add one with `kith account add NAME`")
        for r in rows if not args.json else []:
            extra = f" (purged after {r.purge_after})" if r.state == "removed" else ""
            print(f"{r.name:<20} {r.type:<13} {r.state:<10} {r.display_name}{extra}")
        return 0

    return await _with_server(args, run)


def _transition(event: str, verb: str) -> Callable[[argparse.Namespace], Awaitable[int]]:
    async def cmd(args: argparse.Namespace) -> int:
        async def run(server: Server) -> int:
            if event == "remove" and not args.yes:
                raise CliError(
                    f"removing {args.name} announces the deletion of its actor to its followers and peers, "
                    f"keeps a tombstone, and purges its data after {server.config.accounts.purge_after_days} "
                    "days; its name is never reused. Run again with --yes to remove it"
                )
            row = await server.transition(args.name, event)
            extra = f"; its data is purged after {row.purge_after}" if event == "remove" else ""
            _print(args, account_json(server, row), f"{verb} {row.name}{extra}")
            return 0

        return await _with_server(args, run)

    return cmd


async def _export(args: argparse.Namespace) -> int:
    """Everything of one account, with what it is (name, type, display name), as one file that
    `kith restore FILE --account NAME` takes on another server (docs/ARCHITECTURE.md §8)."""

    async def run(server: Server) -> int:
        row = await server.account_by_name(args.name)
        if row is None or row.state in ("removed", "purged"):
            raise CliError(f"no account {args.name} on this server (see `kith account list`)")
        async with server.borrow(row) as ctx:
            doc = await ctx.graph.export_json()
        doc["account"] = {"name": row.name, "type": row.type, "display_name": row.display_name}
        text = json.dumps(doc, ensure_ascii=False)
        out = Path(args.output) if args.output else Path(f"{row.name}.kith-export.json")
        if str(out) == "-":
            sys.stdout.write(text)
            return 0
        tmp = out.with_name(out.name + ".partial")
        write_private(tmp, text)  # the account's whole graph: its owner's alone
        tmp.replace(out)
        people = len(doc["tables"].get("person", {}).get("rows", []))
        _print(
            args,
            {"account": row.name, "path": str(out), "bytes": len(text.encode()), "people": people},
            f"exported account {row.name} ({people} people) to {out}\n"
            f"  on the new server: kith restore {out} --account {row.name}\n"
            f"  then, to take its followers along: there, kith --account {row.name} alias OLD-ADDRESS; "
            f"here, kith --account {row.name} move NEW-ADDRESS",
        )
        return 0

    return await _with_server(args, run)


async def restore_into_account(args: argparse.Namespace, doc: Any) -> int:
    """`kith restore FILE --account NAME`: into that account if it exists (and is still empty), else into a
    new one made for it, of the kind the export names. A restore that fails leaves no account behind."""
    name: str = args.into_account
    try:
        block = account_block(doc)
    except (NodeError, KithError) as exc:
        raise CliError(f"{args.file}: {exc}") from None

    async def run(server: Server) -> int:
        row = await server.account_by_name(name)
        token: str | None = None
        if row is not None and row.state != "active":
            raise CliError(f"account {name} is {row.state}: restore into another name")
        if row is None:
            organization = args.organization or (block is not None and block.type == "Organization")
            row, token = await server.add_account(
                name, organization=organization, display_name=block.display_name if block else ""
            )
        try:
            async with server.borrow(row) as ctx:
                counts = await ctx.graph.import_json(doc)
        except BaseException:
            if token is not None:  # made for this restore: nothing of it may stay
                await server.forget_new_account(row)
            raise
        data: dict[str, Any] = {"account": row.name, "created": token is not None, "restored": counts}
        if token is not None:
            data["token"] = token
        human = f"restored {restored_said(counts)} into account {row.name}"
        if token is not None:
            human += f" (made for it)\n  owner API token: {token}"
        _print(args, data, human)
        return 0

    return await _with_server(args, run)


def register(sub: Any) -> None:
    acc = sub.add_parser(
        "account", help="the accounts of this server: add | list | export | suspend | resume | remove"
    )
    asub = acc.add_subparsers(dest="account_action", metavar="ACTION")
    asub.required = True

    p = asub.add_parser("add", help="create an account with its own keys, contact graph and owner token")
    p.add_argument("name", help="the account's name: its address is acct:NAME@DOMAIN")
    p.add_argument("--organization", action="store_true", help="an organisation's account (Organization)")
    p.add_argument("--display-name", help="the name shown on its actor and card")
    p.add_argument("--json", action="store_true", help="print JSON (with the owner token in `token`)")
    p.set_defaults(fn=_add)

    p = asub.add_parser(
        "export", help="everything of one account in one file, to restore here or on another server"
    )
    p.add_argument("name")
    p.add_argument("--output", "-o", help="file to write (default: NAME.kith-export.json; - for stdout)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=_export)

    p = asub.add_parser("list", help="every account, with its state")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=_list)

    for event, verb, help_text in (
        ("suspend", "suspended", "stop an account (its API, web sign-in and federation) until it is resumed"),
        ("resume", "resumed", "let a suspended account work again"),
        ("remove", "removed", "remove an account for good (announced; its data purged after a grace period)"),
    ):
        p = asub.add_parser(event, help=help_text)
        p.add_argument("name")
        p.add_argument("--json", action="store_true", help="print JSON")
        if event == "remove":
            p.add_argument("--yes", action="store_true", help="really remove it")
        p.set_defaults(fn=_transition(event, verb))
