"""`kith card`: the owner's profile card and per-circle disclosure, set through the running node so that a
change reaches the peers allowed to see it at once."""

from __future__ import annotations

import argparse
import json
from typing import Any

from node.cli_federation import account_of, call
from node.config import default_data_dir

__all__ = ["register"]


def _data(args: argparse.Namespace) -> Any:
    return args.data or default_data_dir()


def _show(args: argparse.Namespace) -> int:
    answer = call(_data(args), "GET", "/api/card", account=account_of(args))
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    card, rules = answer["card"], answer["disclosure"]
    if not card:
        print("no card yet: kith card set --name 'Your Name' --email you@example.org ...")
    for field, value in card.items():
        seen = ", ".join(rules.get(field, [])) or "nobody"
        print(f"{field:<13} {value}   (seen by: {seen})")
    return 0


def _set(args: argparse.Namespace) -> int:
    current = call(_data(args), "GET", "/api/card", account=account_of(args))["card"]
    for field in ("name", "summary", "organization", "title", "photo"):
        value = getattr(args, field)
        if value is not None:
            current[field] = value
    for field in ("email", "phone", "website", "identities"):
        values = getattr(args, field)
        if values is not None:
            current[field] = values
    answer = call(_data(args), "PUT", "/api/card", current, account=account_of(args))
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    sent = answer.get("published_to")
    print(f"card saved{f'; sent to {sent} peer(s)' if sent else ''}")
    return 0


def _disclose(args: argparse.Namespace) -> int:
    rules = call(_data(args), "GET", "/api/card", account=account_of(args))["disclosure"]
    rules[args.field] = args.circles
    answer = call(_data(args), "PUT", "/api/card/disclosure", rules, account=account_of(args))
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    who = ", ".join(args.circles) or "nobody"
    sent = answer.get("published_to")
    print(f"{args.field} is now seen by: {who}{f'; card sent to {sent} peer(s)' if sent else ''}")
    return 0


def register(subparsers: Any) -> None:
    card = subparsers.add_parser(
        "card", help="your profile card and what each circle may see (needs the node running: kith serve)"
    )
    sub = card.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("show", help="the card and who sees each field")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_show)
    p = sub.add_parser("set", help="change card fields (lists replace the old list)")
    for field in ("name", "summary", "organization", "title", "photo"):
        p.add_argument(f"--{field}")
    for field in ("email", "phone", "website", "identities"):
        p.add_argument(f"--{field}", action="append", metavar=field.upper().rstrip("S"))
    p.add_argument("--json", action="store_true", help="print the saved card as JSON")
    p.set_defaults(func=_set)
    p = sub.add_parser(
        "disclose",
        help="which circles see FIELD ('*' = every peer; '@public' = anyone: your fediverse profile; none = nobody)",
    )
    p.add_argument(
        "field",
        choices=(
            "name",
            "summary",
            "email",
            "phone",
            "website",
            "organization",
            "title",
            "photo",
            "identities",
        ),
    )
    p.add_argument("circles", nargs="*", metavar="CIRCLE")
    p.add_argument("--json", action="store_true", help="print the disclosure rules as JSON")
    p.set_defaults(func=_disclose)
