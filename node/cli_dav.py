"""`kith app-password` and `kith circle publish|unpublish`: what a phone's address book signs in with, and which
circles it sees as address books of their own (the CardDAV service, node/dav.py).

    kith app-password add NAME      prints a new password once (--json: {"name", "password"})
    kith app-password list          names, when made, when last used
    kith app-password revoke NAME   the app signed in with it is refused from its next request on

Written straight into the account's database (WAL lets this run beside a live node); the node reads app passwords
on every request, so a revocation takes effect at once.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from node.app_passwords import add_app_password
from node.cli import CliError, _with_ctx
from node.context import AccountContext
from node.dav_target import DAV_ROOT

__all__ = ["circle_publish", "register"]


async def _cmd_app_password(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        dav = ctx.store.dav
        if args.action == "add":
            password = await add_app_password(ctx.store, args.name or "", ctx.graph.now())
            if args.json:
                print(json.dumps({"name": args.name, "password": password}))
            else:
                print(f"app password {args.name!r} for account {ctx.name}: {password}")
                print("It is shown this once. In the phone's address book settings, use:")
                print(f"  server: this node's address ({DAV_ROOT} is found from /.well-known/carddav)")
                print(f"  user name: {ctx.name}")
                print("  password: the one above")
            return 0
        if args.action == "revoke":
            await dav.revoke_password(args.name or "")
            if args.json:
                print(json.dumps({"revoked": args.name}))
            else:
                print(f"revoked app password {args.name!r}; the app signed in with it is refused from now on")
            return 0
        items = await dav.passwords()
        if args.json:
            print(
                json.dumps(
                    {
                        "items": [
                            {"name": p.name, "created_at": p.created_at, "last_used_at": p.last_used_at}
                            for p in items
                        ]
                    }
                )
            )
        else:
            for p in items:
                print(f"{p.name:<20} made {p.created_at}   last used {p.last_used_at or 'never'}")
            if not items:
                print("no app passwords; make one for a phone: kith app-password add phone")
        return 0

    if args.action in ("add", "revoke") and not args.name:
        raise CliError(f"kith app-password {args.action} needs a NAME (e.g. phone)")
    return await _with_ctx(args, run)


async def circle_publish(args: argparse.Namespace, *, published: bool) -> int:
    """`kith circle publish NAME` / `unpublish NAME` (called by node.cli's circle command)."""

    async def run(ctx: AccountContext) -> int:
        book = await ctx.store.dav.publish(args.name or "", ctx.graph.now(), published=published)
        if args.json:
            print(json.dumps({"circle": book.name, "book": book.id, "published": published}))
        elif published:
            print(
                f"circle {book.name} is now an address book of its own: {DAV_ROOT}addressbooks/{ctx.name}/{book.id}/"
            )
        else:
            print(
                f"circle {book.name} is no longer an address book of its own (its people stay in All people)"
            )
        return 0

    return await _with_ctx(args, run)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "app-password", help="passwords for address book apps (CardDAV): add NAME | list | revoke NAME"
    )
    p.add_argument("action", choices=("add", "list", "revoke"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(fn=_cmd_app_password)
