"""``kith password``: the web UI's sign-in password (the owner token also signs in).

    kith password set [--stdin]    asks twice (or reads one line from standard input); stores an scrypt hash
    kith password clear            only the owner token signs in afterwards
    kith password status

The password is written straight into the node's database (WAL lets this run beside a live node); signing in
uses it at once. Setting or clearing it also ends every web session, so that a leaked session dies with the old
password.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from node.cli import CliError, _account, _config
from node.context import AccountContext
from node.web.sessions import MIN_PASSWORD, Sessions, clear_password, has_password, set_password

__all__ = ["register"]


def _read_password(args: argparse.Namespace) -> str:
    if args.stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
    else:
        password = getpass.getpass("New web password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ; nothing was changed")
    if len(password) < MIN_PASSWORD:
        raise CliError(f"the password must be at least {MIN_PASSWORD} characters long; nothing was changed")
    return password


async def _cmd_password(args: argparse.Namespace) -> int:
    config = _config(args)
    password = _read_password(args) if args.action == "set" else ""
    ctx = await AccountContext.open(config, account=_account(args), load_keys=False)
    try:
        if args.action == "status":
            is_set = await has_password(ctx.store)
            if args.json:
                print(json.dumps({"password_set": is_set}))
            else:
                print("a web password is set" if is_set else "no web password is set")
            return 0
        if args.action == "set":
            await set_password(ctx.store, password)
        else:
            await clear_password(ctx.store)
        sessions = Sessions(ctx.store)
        await sessions.load()
        ended = await sessions.end_all_but(None)
    finally:
        await ctx.close()
    what = "set" if args.action == "set" else "cleared"
    if args.json:
        print(json.dumps({"password": what, "sessions_ended": ended}))
        return 0
    print(f"web password {what}; {ended} web session{'s' if ended != 1 else ''} ended")
    if args.action == "set":
        print(f"Sign in at {config.base_url}/login with it (or with the owner token).")
    return 0


def register(subparsers: Any) -> None:
    """Add ``kith password`` to the ``kith`` parser's subcommands."""
    p = subparsers.add_parser("password", help="the web UI's sign-in password: set | clear | status")
    p.add_argument("action", choices=("set", "clear", "status"))
    p.add_argument("--stdin", action="store_true", help="with set: read the password from standard input")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(fn=_cmd_password)
